"""Every AdmissionReview in shared/conformance/admissionreview through the real server
over TLS: exact response shape, patches applied with an independent RFC 6902
implementation (python3-jsonpatch), idempotence, and the verdicts of the default
policies on the mutated objects."""
import copy
import glob
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
import jsonpatch  # Debian python3-jsonpatch

from agharness import REVIEWS, Server, decode_patch, load_review, run_tests

# file -> (mutate patches?, verdict of /validate on the object after the patch)
EXPECTED = {
    "aimservice-create.json": (False, True),
    # captured from a real kube-apiserver v1.24 (managedFields, last-applied annotation)
    "apiserver124-create-deployment-llama-3-2-1b-predictor.json": (True, True),
    "apiserver124-create-job-once.json": (True, True),
    "apiserver124-create-namespace-capture.json": (False, True),       # no pod spec
    "apiserver124-create-pod-web.json": (True, True),
    "apiserver124-delete-pod-web.json": (False, True),                 # object null
    "apiserver124-update-aimclusterservicetemplate-test-template-discovery-cluster.json": (False, True),
    "apiserver124-update-deployment-label-only.json": (False, True),   # template unchanged
    "apiserver124-update-deployment-replicas.json": (False, True),     # a scale: template unchanged
    "deployment-create.json": (True, True),
    "pod-create-by-replicaset-generatename.json": (True, True),
    "pod-create-dryrun.json": (True, True),
    "pod-create.json": (True, True),
    "pod-delete.json": (False, True),
    "pod-ephemeralcontainers-update.json": (True, False),   # privileged debug container
    "pod-update.json": (False, True),                       # spec unchanged: nothing to judge
    "real-cronjob-create-root-user.json": (True, False),    # runAsUser: 0
    "real-daemonset-create-hostpath.json": (False, True),   # kube-system is excluded
    "real-deployment-create-allow-privilege-escalation.json": (True, False),
    "real-deployment-delete-object-key-absent.json": (False, True),
    "real-deployment-update-kubectl-patch.json": (False, True),   # template unchanged: no rollout

    "real-pod-create-by-replicaset-controller.json": (True, True),
    "real-pod-create-ephemeralcontainers-in-spec.json": (True, False),  # privileged
    "real-pod-create-privileged.json": (True, False),
    "real-pod-delete.json": (False, True),
    "real-replicaset-update-by-deployment-controller.json": (False, True),  # a scale: template unchanged
}

DENY_NAMES = {
    "pod-ephemeralcontainers-update.json": "privileged",
    "real-cronjob-create-root-user.json": "runAsUser",
    "real-deployment-create-allow-privilege-escalation.json": "allowPrivilegeEscalation",
    "real-pod-create-ephemeralcontainers-in-spec.json": "privileged",
    "real-pod-create-privileged.json": "privileged",
}


def check_shape(review, resp, allowed=None):
    assert set(resp) == {"apiVersion", "kind", "response"}, resp.keys()
    assert resp["apiVersion"] == "admission.k8s.io/v1" and resp["kind"] == "AdmissionReview"
    r = resp["response"]
    assert r["uid"] == review["request"]["uid"], (r["uid"], review["request"]["uid"])
    assert isinstance(r["allowed"], bool)
    assert set(r) <= {"uid", "allowed", "status", "patch", "patchType", "warnings", "auditAnnotations"}, r
    if allowed is not None:
        assert r["allowed"] is allowed, r
    if not r["allowed"]:
        assert r["status"]["code"] == 403 and r["status"]["message"], r
        assert "patch" not in r
    if "patch" in r:
        assert r["patchType"] == "JSONPatch"


def pod_specs(obj):
    k = obj.get("kind")
    if k == "Pod":
        return [obj["spec"]]
    if k == "CronJob":
        return [obj["spec"]["jobTemplate"]["spec"]["template"]["spec"]]
    if k in ("Deployment", "ReplicaSet", "StatefulSet", "DaemonSet", "Job"):
        return [obj["spec"]["template"]["spec"]]
    return []


def test_every_review_file_is_covered():
    files = sorted(os.path.basename(f) for f in glob.glob(os.path.join(REVIEWS, "*.json")))
    assert len(files) >= 18, files
    assert files == sorted(EXPECTED), set(files) ^ set(EXPECTED)


def test_reviews_mutate_then_validate():
    with Server() as srv:
        conn = srv.conn()  # one keep-alive connection, as the API server uses
        for name, (patches, allowed) in sorted(EXPECTED.items()):
            review = load_review(name)
            req = review["request"]
            resp = srv.review("/mutate", review, conn=conn)
            check_shape(review, resp, allowed=True)
            patch = decode_patch(resp)
            assert (patch is not None) == patches, (name, patch)
            obj = req.get("object")
            if patch:
                obj = jsonpatch.JsonPatch(copy.deepcopy(patch)).apply(copy.deepcopy(obj))
                if name == "pod-ephemeralcontainers-update.json":
                    # only the container being added may change on a pod UPDATE
                    assert all(op["path"].startswith("/spec/ephemeralContainers/0/") for op in patch), patch
                else:
                    for spec in pod_specs(obj):
                        assert spec["securityContext"]["runAsNonRoot"] is True, name
                        assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
                        for c in spec["containers"] + spec.get("initContainers", []):
                            sc = c["securityContext"]
                            assert "ALL" in sc["capabilities"]["drop"] or "drop" in (
                                load_sc(req["object"], c["name"]).get("capabilities", {})), (name, c)
                            assert "readOnlyRootFilesystem" in sc, (name, c)
                            mounts = [m["mountPath"] for m in c.get("volumeMounts", [])]
                            assert len(mounts) == len(set(mounts)), (name, mounts)
                        vols = [v["name"] for v in spec.get("volumes", [])]
                        assert len(vols) == len(set(vols)), (name, vols)
                # idempotence: the mutated object needs no further change
                again = copy.deepcopy(review)
                again["request"]["object"] = obj
                r2 = srv.review("/mutate", again, conn=conn)
                assert decode_patch(r2) is None, (name, decode_patch(r2))
            after = copy.deepcopy(review)
            after["request"]["object"] = obj
            v = srv.review("/validate", after, conn=conn)
            check_shape(review, v, allowed=allowed)
            if not allowed:
                msg = v["response"]["status"]["message"]
                assert "[policy pod-hardening, rule podSecurity/restricted/" in msg, msg
                assert DENY_NAMES[name] in msg, msg
                assert "(field spec." in msg, msg
        conn.close()


def load_sc(obj, cname):
    for spec in pod_specs(obj):
        for c in spec.get("containers", []) + spec.get("initContainers", []):
            if c["name"] == cname:
                return c.get("securityContext") or {}
    return {}


def test_unhardened_original_is_denied_by_validate():
    # /validate alone judges what it is given: the un-mutated pod breaks restricted
    with Server() as srv:
        review = load_review("pod-create.json")
        r = srv.review("/validate", review)
        check_shape(review, r, allowed=False)
        msg = r["response"]["status"]["message"]
        for check in ("allowPrivilegeEscalation", "runAsNonRoot", "seccompProfile", "capabilities"):
            assert check in msg, (check, msg)


def test_decision_metrics_and_logs():
    with Server() as srv:
        review = load_review("real-pod-create-privileged.json")
        srv.review("/validate", review)
        srv.review("/mutate", load_review("pod-create.json"))
        m = srv.metrics()
        assert 'aimguard_requests_total{route="validate",kind="Pod",operation="CREATE",decision="denied"} 1' in m, m
        assert 'aimguard_requests_total{route="mutate",kind="Pod",operation="CREATE",decision="patched"} 1' in m, m
        assert "aimguard_request_duration_seconds_count{route=\"validate\"} 1" in m
        assert srv.metric("aimguard_policy_generation") == 1
        assert srv.metric("aimguard_tls_cert_expiry_timestamp_seconds") > 1.7e9
        lines = srv.log_lines()
    adm = [l for l in lines if l["msg"] == "admission"]
    assert len(adm) == 2, adm
    denied = [l for l in adm if l["decision"] == "denied"][0]
    for key in ("time", "level", "uid", "kind", "namespace", "name", "decision", "duration_ms"):
        assert key in denied, (key, denied)
    assert denied["uid"] == review["request"]["uid"]


if __name__ == "__main__":
    run_tests(globals())
