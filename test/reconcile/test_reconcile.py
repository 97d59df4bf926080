"""The reconciler end to end: aimguard serve --kubeconfig against the test API server,
fed with the AIM samples from ../shared/reference/aim-samples (adapted where a sample
needs a neighbour it does not ship, as each test says). What it asserts is what a
platform engineer sees with kubectl: the children, their owners and labels, the status
conditions, the number of writes, and that every generated pod spec passes our own
policies through `aimguard eval`."""
import copy
import json
import os
import sys
import tempfile
import time

import yaml

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from agharness import SHARED, SRC, Server, run_cli, run_tests
from fakeapi_client import FakeAPI

AIM = "/apis/aim.eai.amd.com/v1alpha1"
SAMPLES = os.path.join(SHARED, "reference", "aim-samples")
PLANTED = "key-PLANTED-93b2"  # one of the suite's planted secrets: every log is scanned for it


def sample(name):
    with open(os.path.join(SAMPLES, name)) as f:
        return yaml.safe_load(f)


def wait_for(what, fn, timeout=20):
    t0 = time.time()
    last = None
    while time.time() - t0 < timeout:
        try:
            last = fn()
        except Exception as e:  # noqa: BLE001 - 404 while it does not exist yet
            last = e
        else:
            if last:
                return last
        time.sleep(0.1)
    raise AssertionError("timed out waiting for %s (last: %r)" % (what, last))


class World:
    """The test API server and one aimguard replica that leads (and so reconciles)."""

    def __init__(self, extra=()):
        self.api = FakeAPI()
        self.srv = Server(extra_args=["--kubeconfig", self.api.kubeconfig(), "--identity", "replica-1",
                                      "--lease-seconds", "3", "--resync-seconds", "1"] + list(extra))

    def __enter__(self):
        self.srv.start()
        wait_for("leadership", lambda: self.srv.metric("aimguard_leader") == 1.0)
        return self

    def __exit__(self, *exc):
        try:
            self.srv.__exit__(*exc)
        finally:
            self.api.stop()

    def get(self, path):
        return self.api.call("GET", path)

    def exists(self, path):
        try:
            o = self.get(path)
            return o if o.get("kind") != "Status" else None
        except Exception:  # noqa: BLE001 - urllib raises on 404
            return None

    def create(self, path, obj):
        return self.api.call("POST", path, obj)

    def patch(self, path, body):
        return self.api.call("PATCH", path, body, ctype="application/merge-patch+json")

    def stats(self):
        """The reconciler's writes since the last reset (the leader's Lease renewals and the
        background audit's PolicyReports aside: test/kube/test_audit.py counts those)."""
        st = self.api.stats()
        return {k: v for k, v in st["writes"].items() if not k.endswith((" leases", "policyreports"))}

    def reset(self):
        self.api.admin({"reset_stats": True})

    def namespace(self, name):
        self.create("/api/v1/namespaces", {"metadata": {"name": name}})

    def condition(self, obj, ctype):
        for c in obj.get("status", {}).get("conditions", []):
            if c["type"] == ctype:
                return c
        return None


def passes_policies(obj, policies):
    """aimguard eval --mode validate on a generated object: exit 0 and allowed."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(obj, f)
    try:
        code, out, err = run_cli("eval", "-p", policies, "-f", f.name, "--mode", "validate",
                                 "--namespace", obj["metadata"]["namespace"])
    finally:
        os.unlink(f.name)
    assert code == 0, "%s %s denied by %s:\n%s%s" % (obj["kind"], obj["metadata"]["name"], policies, out, err)


def basic_service_world(w):
    """aimservice-basic.yaml with its model (an AIMModel of the name it references, with
    the image of the cluster-model sample) and its template (aimservicetemplate-gpu.yaml);
    routing from aimclusterruntimeconfig-labelprop.yaml."""
    w.namespace("team-a")
    model = {"apiVersion": "aim.eai.amd.com/v1alpha1", "kind": "AIMModel",
             "metadata": {"name": "test-service-model"}, "spec": {"image": sample("aimclustermodel.yaml")["spec"]["image"]}}
    w.create(AIM + "/namespaces/team-a/aimmodels", model)
    w.create(AIM + "/namespaces/team-a/aimservicetemplates", sample("aimservicetemplate-gpu.yaml"))
    w.create(AIM + "/aimclusterruntimeconfigs", sample("aimclusterruntimeconfig-labelprop.yaml"))
    svc = sample("aimservice-basic.yaml")
    svc["metadata"]["labels"] = {"team-ml": "vision", "unrelated": "no", "aim.eai.amd.com/tier": "gold"}
    return w.create(AIM + "/namespaces/team-a/aimservices", svc)


ISVC = "/apis/serving.kserve.io/v1beta1/namespaces/team-a/inferenceservices/test-service"
ROUTE = "/apis/gateway.networking.k8s.io/v1/namespaces/team-a/httproutes/test-service"
SVC = AIM + "/namespaces/team-a/aimservices/test-service"


def test_service_children_status_updates_and_deletion():
    with World() as w:
        svc = basic_service_world(w)
        isvc = wait_for("the InferenceService", lambda: w.exists(ISVC))
        route = wait_for("the HTTPRoute", lambda: w.exists(ROUTE))
        # owned by the AIMService, labelled as AIM labels its children
        for child in (isvc, route):
            (ref,) = child["metadata"]["ownerReferences"]
            assert (ref["kind"], ref["name"], ref["uid"], ref["controller"]) == \
                ("AIMService", "test-service", svc["metadata"]["uid"], True), ref
            labels = child["metadata"]["labels"]
            assert labels["aim.eai.amd.com/service.name"] == "test-service", labels
            assert labels["team-ml"] == "vision" and labels["aim.eai.amd.com/tier"] == "gold", labels
            assert "unrelated" not in labels, labels  # labelPropagation matches team-* only
        assert isvc["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "aim-service-controller"
        assert isvc["metadata"]["annotations"]["serving.kserve.io/deploymentMode"] == "RawDeployment"
        pred = isvc["spec"]["predictor"]
        (c,) = pred["containers"]
        assert c["name"] == "kserve-container" and c["image"] == "ghcr.io/silogen/aim-dummy:0.1.10", c
        assert c["resources"]["limits"]["amd.com/gpu"] == "1" and c["resources"]["requests"]["cpu"] == "4", c
        env = {e["name"]: e.get("value") for e in c["env"]}
        assert env["AIM_METRIC"] == "latency" and env["AIM_PRECISION"] == "fp16", env
        term = pred["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
        assert term["nodeSelectorTerms"][0]["matchExpressions"][0] == \
            {"key": "amd.com/gpu.device-id", "operator": "In", "values": ["74a1"]}, term  # MI300X
        # hardened from birth by the default policies: admission has nothing left to change
        assert pred["securityContext"]["runAsNonRoot"] is True, pred
        assert pred["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}, pred
        sc = c["securityContext"]
        assert sc["allowPrivilegeEscalation"] is False and sc["readOnlyRootFilesystem"] is True, sc
        assert sc["capabilities"]["drop"] == ["ALL"], sc
        assert "/tmp" in [m["mountPath"] for m in c["volumeMounts"]], c["volumeMounts"]
        code, out, _ = run_cli("eval", "-p", os.path.join(SRC, "policies", "default"), "-f", "-",
                               "--mode", "mutate", "-o", "review", stdin=json.dumps(isvc).encode())
        assert code == 0 and "patch" not in json.loads(out)["response"], out  # nothing left to mutate
        rule = route["spec"]["rules"][0]
        assert route["spec"]["parentRefs"] == [{"name": "kserve-ingress-gateway", "namespace": "kgateway-system"}]
        assert rule["matches"][0]["path"] == {"type": "PathPrefix",
                                              "value": "/integration/label-propagation/test-service"}, rule
        assert rule["backendRefs"] == [{"name": "test-service-predictor", "port": 80}], rule

        # status: resolved and provisioned, not ready until KServe says so
        s = wait_for("status", lambda: w.condition(w.get(SVC), "Provisioned") and w.get(SVC))
        assert w.condition(s, "Resolved")["status"] == "True", s["status"]
        assert w.condition(s, "Ready")["status"] == "False", s["status"]
        assert s["status"]["observedGeneration"] == s["metadata"]["generation"], s["status"]
        assert s["status"]["resolvedModel"]["scope"] == "Namespace", s["status"]
        w.patch(ISVC + "/status", {"status": {"conditions": [{"type": "Ready", "status": "True"}]}})
        s = wait_for("Ready", lambda: w.condition(w.get(SVC), "Ready")["status"] == "True" and w.get(SVC))
        assert s["status"]["status"] == "Running", s["status"]

        # namespace guardrails
        np = "/apis/networking.k8s.io/v1/namespaces/team-a/networkpolicies/"
        deny = wait_for("default deny", lambda: w.exists(np + "aimguard-default-deny"))
        assert deny["spec"] == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}, deny
        gw = wait_for("gateway allow", lambda: w.exists(np + "aimguard-allow-gateway"))
        assert gw["spec"]["ingress"][0]["from"] == [
            {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kgateway-system"}}}], gw
        assert w.exists(np + "aimguard-allow-dns") and w.exists(np + "aimguard-allow-egress")
        ns = wait_for("PSS labels", lambda: w.get("/api/v1/namespaces/team-a")["metadata"].get("labels"))
        assert ns["pod-security.kubernetes.io/enforce"] == "restricted", ns

        # an unchanged world: full resyncs every second, and not one write
        time.sleep(1.5)
        w.reset()
        time.sleep(3)
        assert w.stats() == {}, w.stats()
        assert w.srv.metric("aimguard_reconcile_total{result=\"success\"}") > 5

        # a change to the service: one patch of the InferenceService, no re-create
        w.reset()
        w.patch(SVC, {"spec": {"replicas": 2, "env": [{"name": "LOG_LEVEL", "value": "debug"}]}})
        wait_for("two replicas", lambda: w.get(ISVC)["spec"]["predictor"]["minReplicas"] == 2)
        time.sleep(2.5)
        writes = w.stats()
        assert writes.get("PATCH inferenceservices") == 1, writes
        assert not any(k.startswith(("POST", "DELETE", "PUT")) for k in writes), writes
        env = {e["name"]: e.get("value") for e in w.get(ISVC)["spec"]["predictor"]["containers"][0]["env"]}
        assert env["LOG_LEVEL"] == "debug", env
        s = w.get(SVC)
        assert s["status"]["observedGeneration"] == s["metadata"]["generation"] == 2, s["status"]

        # deletion: the children go with their owner; the namespace guardrails stay
        w.api.call("DELETE", SVC)
        wait_for("children gone", lambda: not w.exists(ISVC) and not w.exists(ROUTE))
        time.sleep(1.5)
        assert not w.exists(ISVC), "the reconciler brought a deleted service's child back"
        assert w.exists(np + "aimguard-default-deny")


def test_missing_references_resolve_when_they_appear():
    with World() as w:
        w.namespace("team-b")
        svc = {"apiVersion": "aim.eai.amd.com/v1alpha1", "kind": "AIMService", "metadata": {"name": "later"},
               "spec": {"model": {"name": "later-model"}, "template": {"name": "later-template"},
                        "runtimeConfigName": "later-config"}}
        w.create(AIM + "/namespaces/team-b/aimservices", svc)
        path = AIM + "/namespaces/team-b/aimservices/later"
        s = wait_for("Resolved False", lambda: w.condition(w.get(path), "Resolved"))
        assert (s["status"], s["reason"]) == ("False", "ModelNotFound"), s
        assert "later-model" in s["message"], s
        w.create(AIM + "/aimclustermodels", {"apiVersion": "aim.eai.amd.com/v1alpha1", "kind": "AIMClusterModel",
                                             "metadata": {"name": "later-model"},
                                             "spec": {"image": "docker.io/amdenterpriseai/aim-base:0.8.5"}})
        s = wait_for("TemplateNotFound", lambda: w.condition(w.get(path), "Resolved")["reason"] == "TemplateNotFound"
                     and w.condition(w.get(path), "Resolved"))
        tpl = sample("aimclusterservicetemplate.yaml")
        tpl["metadata"]["name"], tpl["spec"]["modelName"] = "later-template", "later-model"
        w.create(AIM + "/aimclusterservicetemplates", tpl)
        s = wait_for("RuntimeConfigNotFound",
                     lambda: w.condition(w.get(path), "Resolved")["reason"] == "RuntimeConfigNotFound"
                     and w.condition(w.get(path), "Resolved"))
        rc = sample("aimruntimeconfig-routing.yaml")
        rc["metadata"]["name"] = "later-config"
        w.create(AIM + "/namespaces/team-b/aimruntimeconfigs", rc)
        isvc = wait_for("the InferenceService",
                        lambda: w.exists("/apis/serving.kserve.io/v1beta1/namespaces/team-b/inferenceservices/later"))
        assert isvc["spec"]["predictor"]["containers"][0]["image"] == "docker.io/amdenterpriseai/aim-base:0.8.5"
        s = wait_for("resolved status", lambda: w.get(path)["status"].get("resolvedTemplate") and w.get(path))
        assert s["status"]["resolvedModel"]["scope"] == "Cluster", s["status"]
        assert s["status"]["resolvedTemplate"]["kind"] == "AIMClusterServiceTemplate", s["status"]
        route = wait_for("route", lambda: w.exists("/apis/gateway.networking.k8s.io/v1/namespaces/team-b/httproutes/later"))
        assert route["spec"]["rules"][0]["timeouts"] == {"request": "180s"}, route


def artifact_sample():
    """aimartifact-s3-env.yaml with its credentials moved into a Secret reference: the
    sample's literal AWS keys are what the default credentials policy forbids."""
    art = sample("aimartifact-s3-env.yaml")
    for e in art["spec"]["env"]:
        if e["name"] in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
            del e["value"]
            e["valueFrom"] = {"secretKeyRef": {"name": "minio-credentials", "key": e["name"]}}
    return art


def test_artifact_volume_job_identity_and_policies():
    with World() as w:
        w.namespace("team-c")
        art = w.create(AIM + "/namespaces/team-c/aimartifacts", artifact_sample())
        pvc = wait_for("the PVC", lambda: w.exists("/api/v1/namespaces/team-c/persistentvolumeclaims/basic-lifecycle-s3-cache"))
        job = wait_for("the Job", lambda: w.exists("/apis/batch/v1/namespaces/team-c/jobs/basic-lifecycle-s3-download"))
        for child in (pvc, job):
            (ref,) = child["metadata"]["ownerReferences"]
            assert (ref["kind"], ref["uid"]) == ("AIMArtifact", art["metadata"]["uid"]), ref
            assert child["metadata"]["labels"]["aim.eai.amd.com/artifact.name"] == "basic-lifecycle-s3"
        # 2.2Gi plus the default 10% headroom, rounded up to MiB
        assert pvc["spec"]["resources"]["requests"]["storage"] == "2479Mi", pvc["spec"]
        assert pvc["spec"]["accessModes"] == ["ReadWriteMany"], pvc["spec"]
        pod = job["spec"]["template"]["spec"]
        assert pod["serviceAccountName"] == "aim-artifact-downloader", pod
        assert job["spec"]["template"]["metadata"]["labels"]["aim.eai.amd.com/component"] == "download"
        (c,) = pod["containers"]
        assert c["name"] == "model-download" and c["image"] == "ghcr.io/silogen/aim-artifact-downloader:0.2.0"
        env = {e["name"]: e for e in c["env"]}
        assert env["AIM_SOURCE_URI"]["value"] == "s3://models/SmolLM-135M", env
        assert "valueFrom" in env["AWS_SECRET_ACCESS_KEY"], env
        # the dedicated identity and its one binding, shared by the namespace (no owner)
        sa = wait_for("the download SA", lambda: w.exists("/api/v1/namespaces/team-c/serviceaccounts/aim-artifact-downloader"))
        assert "ownerReferences" not in sa["metadata"], sa
        rb = wait_for("the RoleBinding", lambda: w.exists(
            "/apis/rbac.authorization.k8s.io/v1/namespaces/team-c/rolebindings/aim-engine-artifact-status-updater"))
        assert rb["subjects"] == [{"kind": "ServiceAccount", "name": "aim-artifact-downloader", "namespace": "team-c"}]
        assert rb["roleRef"]["name"] == "aim-engine-artifact-status-updater" and "ownerReferences" not in rb["metadata"]
        for policies in ("policies/default", "policies/examples/pss-restricted.yaml"):
            passes_policies(job, os.path.join(SRC, policies))
        path = AIM + "/namespaces/team-c/aimartifacts/basic-lifecycle-s3"
        s = wait_for("Downloading", lambda: w.condition(w.get(path), "Provisioned") and w.get(path))
        assert w.condition(s, "Ready")["status"] == "False" and s["status"]["persistentVolumeClaim"] == pvc["metadata"]["name"]
        w.patch("/apis/batch/v1/namespaces/team-c/jobs/basic-lifecycle-s3-download/status",
                {"status": {"succeeded": 1, "conditions": [{"type": "Complete", "status": "True"}]}})
        s = wait_for("Ready", lambda: w.get(path)["status"]["status"] == "Ready" and w.get(path))
        assert w.condition(s, "Ready")["status"] == "True", s["status"]
        # the finished Job goes with its TTL; the artifact stays Ready and nothing is re-run
        w.api.call("DELETE", "/apis/batch/v1/namespaces/team-c/jobs/basic-lifecycle-s3-download")
        time.sleep(2.5)
        assert not w.exists("/apis/batch/v1/namespaces/team-c/jobs/basic-lifecycle-s3-download")

        # the sample as it ships (literal keys): the policies would deny the Job, so it is
        # not written; the condition says why without the value
        raw = sample("aimartifact-s3-env.yaml")
        raw["metadata"]["name"] = "literal-keys"
        for e in raw["spec"]["env"]:
            if e["name"] == "AWS_SECRET_ACCESS_KEY":
                e["value"] = PLANTED
        w.create(AIM + "/namespaces/team-c/aimartifacts", raw)
        lp = AIM + "/namespaces/team-c/aimartifacts/literal-keys"
        cond = wait_for("PolicyDenied", lambda: w.condition(w.get(lp), "Provisioned"))
        assert (cond["status"], cond["reason"]) == ("False", "PolicyDenied"), cond
        assert "AWS_SECRET_ACCESS_KEY" in cond["message"], cond
        assert PLANTED not in json.dumps(w.get(lp)["status"]), "status echoes the secret"
        assert not w.exists("/apis/batch/v1/namespaces/team-c/jobs/literal-keys-download")
        assert PLANTED not in w.srv.logs()


def test_generated_pod_specs_pass_the_default_policies():
    with World() as w:
        basic_service_world(w)
        w.create(AIM + "/namespaces/team-a/aimartifacts", artifact_sample())
        isvc = wait_for("the InferenceService", lambda: w.exists(ISVC))
        job = wait_for("the Job", lambda: w.exists("/apis/batch/v1/namespaces/team-a/jobs/basic-lifecycle-s3-download"))
        for obj in (isvc, job):
            for policies in ("policies/default", "policies/examples/pss-restricted.yaml"):
                passes_policies(obj, os.path.join(SRC, policies))


def test_only_the_leader_reconciles_and_a_successor_takes_over():
    api = FakeAPI()
    servers = [Server(extra_args=["--kubeconfig", api.kubeconfig(), "--identity", "replica-%d" % i,
                                  "--lease-seconds", "3"]) for i in (1, 2)]
    try:
        for s in servers:
            s.start()

        def leader():
            states = [s.metric("aimguard_leader") for s in servers if s.proc.poll() is None]
            return states.index(1.0) + 1 if states.count(1.0) == 1 else None
        first = wait_for("one leader", leader) - 1
        api.call("POST", "/api/v1/namespaces", {"metadata": {"name": "team-d"}})
        api.call("POST", AIM + "/namespaces/team-d/aimservices",
                 {"metadata": {"name": "one"}, "spec": {"model": {"image": "ghcr.io/silogen/aim-dummy:0.1.10"},
                                                       "overrides": {"hardware": {"gpu": {"requests": 1}}}}})
        wait_for("the first child", lambda: api.call(
            "GET", "/apis/serving.kserve.io/v1beta1/namespaces/team-d/inferenceservices/one").get("kind") == "InferenceService")
        time.sleep(1)
        follower = servers[1 - first]
        assert "reconciler: created" not in follower.logs(), "a follower wrote"
        assert "reconciler: created" in servers[first].logs()
        servers[first].proc.kill()  # no goodbye: the lease must expire
        servers[first].proc.wait()
        t0 = time.time()
        api.call("POST", AIM + "/namespaces/team-d/aimservices",
                 {"metadata": {"name": "two"}, "spec": {"model": {"image": "ghcr.io/silogen/aim-dummy:0.1.10"},
                                                       "overrides": {"hardware": {"gpu": {"requests": 1}}}}})
        try:
            wait_for("the successor's child", lambda: api.call(
                "GET", "/apis/serving.kserve.io/v1beta1/namespaces/team-d/inferenceservices/two").get("kind")
                == "InferenceService", timeout=20 * follower.slow)
        except AssertionError as e:
            raise AssertionError("%s\nsuccessor's log:\n%s" % (e, follower.logs()[-4000:]))
        took = time.time() - t0
        assert took < 3 * 2 + 3 * follower.slow, "handover took %.1fs" % took
        print("handover to the successor, its first child written after %.2fs" % took)
        servers[first].log.close()
        servers[first].cleanup()
        follower.stop()
        follower.cleanup()
    finally:
        for s in servers:
            if s.proc and s.proc.poll() is None:
                s.proc.kill()
                s.proc.wait()
        api.stop()


def test_bad_reconciler_flags_are_refused():
    for flag, value, says in (("--download-egress", "10.0.0.0/33", "CIDR"),
                              ("--pod-security-labels", "enforce=strict", "MODE=LEVEL"),
                              ("--reconcile", "maybe", "on, off or unmanaged"),
                              ("--exempt-namespaces", "Kube_System", "namespace name"),
                              ("--exempt-label", "aimguard.io/webhook", "KEY=VALUE"),
                              ("--gateway-namespaces", "Bad_NS", "namespace name")):
        code, _, err = run_cli("serve", flag, value)
        assert code == 2 and says in err, (flag, code, err)


if __name__ == "__main__":
    run_tests(globals())
