"""The reconciler on a real kube-apiserver (v1.24 + etcd + the garbage collector, with
OwnerReferencesPermissionEnforcement on as in OpenShift), run as deploy/ runs it: the
production overlay's args (--reconcile=unmanaged), its ClusterRole through a
ServiceAccount token, its webhooks in front of the reconciler's own writes. Each case is
an item of issue 17 that the test API server did not show; the last one measures what
an idle aimguard asks of the API server. One control plane for the file."""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
import kubeenv  # noqa: E402

kubeenv.skip_unless_available()

from aimguard_e2e import (AIM, SA_USER, aim_world, api_calls, condition, ns_create,  # noqa: E402
                          start_aimguard, wait_for)
from kubeenv import ApiError  # noqa: E402

ISVC = "/apis/serving.kserve.io/v1beta1/namespaces/%s/inferenceservices/%s"
ROUTE = "/apis/gateway.networking.k8s.io/v1/namespaces/%s/httproutes/%s"
NP = "/apis/networking.k8s.io/v1/namespaces/%s/networkpolicies/aimguard-default-deny"
SVC = AIM + "/namespaces/%s/aimservices/%s"
GRACE = 45  # --reconcile=unmanaged looks at an object once it is 10 s old; plus backoff


def cond_of(k, path, ctype):
    return condition(k.admin.get(path), ctype)


def artifact(ns, name="weights"):
    return {"apiVersion": "aim.eai.amd.com/v1alpha1", "kind": "AIMArtifact",
            "metadata": {"name": name, "namespace": ns},
            "spec": {"sourceUri": "hf://example/model", "size": "1Gi"}}


def case_children_and_status(k):
    aim_world(k, "team-a", routing=True)
    isvc = wait_for("the InferenceService", lambda: k.admin.maybe(ISVC % ("team-a", "test-service")), timeout=GRACE)
    (ref,) = isvc["metadata"]["ownerReferences"]
    assert ref["kind"] == "AIMService" and ref["controller"] is True and ref["blockOwnerDeletion"] is True, ref
    c = isvc["spec"]["predictor"]["containers"][0]
    assert c["securityContext"]["allowPrivilegeEscalation"] is False, c
    wait_for("the HTTPRoute", lambda: k.admin.maybe(ROUTE % ("team-a", "test-service")))
    s = wait_for("Provisioned=True", lambda: (cond_of(k, SVC % ("team-a", "test-service"), "Provisioned") or {})
                 .get("status") == "True" and k.admin.get(SVC % ("team-a", "test-service")))
    assert s["status"]["routing"]["path"], s["status"]
    wait_for("the default deny", lambda: k.admin.maybe(NP % "team-a"))
    labels = wait_for("Pod Security labels", lambda: k.admin.get("/api/v1/namespaces/team-a")["metadata"]["labels"]
                      .get("pod-security.kubernetes.io/enforce") and
                      k.admin.get("/api/v1/namespaces/team-a")["metadata"]["labels"])
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted", labels
    k.admin.create(AIM + "/namespaces/team-a/aimartifacts", artifact("team-a"))
    wait_for("the download Job", lambda: k.admin.maybe("/apis/batch/v1/namespaces/team-a/jobs/weights-download"),
             timeout=GRACE)
    assert k.admin.maybe("/api/v1/namespaces/team-a/persistentvolumeclaims/weights-cache")
    a = wait_for("artifact status", lambda: cond_of(k, AIM + "/namespaces/team-a/aimartifacts/weights", "Provisioned"))
    assert a["status"] == "True", a


def case_item8_stale_routing_path_removed(k):
    path = SVC % ("team-a", "test-service")
    k.admin.merge(path, {"spec": {"routing": {"enabled": False}}})
    wait_for("the HTTPRoute deleted", lambda: k.admin.maybe(ROUTE % ("team-a", "test-service")) is None)
    s = wait_for("routing gone from status", lambda: "routing" not in k.admin.get(path)["status"] and k.admin.get(path))
    assert s["status"]["observedGeneration"] == s["metadata"]["generation"], s["status"]


def case_item1_never_takes_over_a_teams_objects(k):
    ns_create(k.admin, "team-b")
    team_isvc = k.admin.create("/apis/serving.kserve.io/v1beta1/namespaces/team-b/inferenceservices", {
        "apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService",
        "metadata": {"name": "llama", "namespace": "team-b"},
        "spec": {"predictor": {"containers": [{"name": "kserve-container", "image": "registry.example.com/team/llama:1",
                                               "env": [{"name": "TEAM_SETTING", "value": "1"}]}]}}})
    rb_path = "/apis/rbac.authorization.k8s.io/v1/namespaces/team-b/rolebindings"
    team_rb = k.admin.create(rb_path, {
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
        "metadata": {"name": "aim-engine-artifact-status-updater"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                    "name": "aim-engine-artifact-status-updater"},
        "subjects": [{"kind": "ServiceAccount", "name": "default", "namespace": "team-b"}]})
    team_sa = k.admin.create("/api/v1/namespaces/team-b/serviceaccounts", {
        "apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "aim-artifact-downloader"},
        "automountServiceAccountToken": False})
    aim_world(k, "team-b", name="llama", create_ns=False)
    k.admin.create(AIM + "/namespaces/team-b/aimartifacts", artifact("team-b"))
    path = SVC % ("team-b", "llama")
    cond = wait_for("Provisioned=False ChildConflict", lambda: (cond_of(k, path, "Provisioned") or {})
                    .get("reason") == "ChildConflict" and cond_of(k, path, "Provisioned"), timeout=GRACE)
    assert "InferenceService team-b/llama already exists" in cond["message"], cond
    wait_for("the artifact's Job", lambda: k.admin.maybe("/apis/batch/v1/namespaces/team-b/jobs/weights-download"),
             timeout=GRACE)
    time.sleep(6)  # a resync (5 s) later
    isvc = k.admin.get(ISVC % ("team-b", "llama"))
    assert isvc["metadata"]["resourceVersion"] == team_isvc["metadata"]["resourceVersion"], "the team's isvc changed"
    assert "ownerReferences" not in isvc["metadata"], isvc["metadata"]
    rb = k.admin.get(rb_path + "/aim-engine-artifact-status-updater")
    assert rb["subjects"] == team_rb["subjects"], rb
    sa = k.admin.get("/api/v1/namespaces/team-b/serviceaccounts/aim-artifact-downloader")
    assert sa.get("automountServiceAccountToken") is False and \
        sa["metadata"]["resourceVersion"] == team_sa["metadata"]["resourceVersion"], sa
    events = k.admin.get("/api/v1/namespaces/team-b/events")["items"]
    told = [e for e in events if e["reason"] == "ChildConflict"]
    assert any(e["involvedObject"]["kind"] == "AIMService" and "llama" in e["message"] for e in told), events
    assert any(e["involvedObject"]["kind"] == "RoleBinding" and e["involvedObject"]["name"] ==
               "aim-engine-artifact-status-updater" for e in told), told
    # with garbage collection on, deleting the AIMService leaves the team's InferenceService
    k.admin.delete(path)
    time.sleep(4)
    assert k.admin.maybe(ISVC % ("team-b", "llama")), "the garbage collector deleted the team's InferenceService"


def case_item3_system_and_exempt_namespaces_untouched(k):
    aim_world(k, "kube-system", create_ns=False)
    ns_create(k.admin, "legacy", {"aimguard.io/webhook": "exempt"})
    aim_world(k, "legacy", create_ns=False)
    for ns in ("kube-system", "legacy"):
        cond = wait_for("NamespaceExempt in " + ns, lambda: cond_of(k, SVC % (ns, "test-service"), "Provisioned"),
                        timeout=GRACE)
        assert cond["reason"] == "NamespaceExempt" and cond["status"] == "False", cond
    for ns in ("kube-system", "legacy"):
        assert k.admin.maybe(NP % ns) is None, ns
        assert k.admin.maybe(ISVC % (ns, "test-service")) is None, ns
        labels = k.admin.get("/api/v1/namespaces/" + ns)["metadata"].get("labels", {})
        assert not any(l.startswith("pod-security.kubernetes.io/") for l in labels), (ns, labels)


def case_item2_unmanaged_stands_aside_for_the_aim_operator(k):
    ns_create(k.admin, "operator-team")
    svc = aim_world(k, "operator-team", name="operators", create_ns=False)
    # the AIM operator marks what it manages with its finalizer on first sight
    k.admin.merge(SVC % ("operator-team", "operators"),
                  {"metadata": {"finalizers": ["aim.eai.amd.com/template-cache-cleanup"]}})
    assert svc
    time.sleep(14)
    assert k.admin.maybe(ISVC % ("operator-team", "operators")) is None
    assert "status" not in k.admin.get(SVC % ("operator-team", "operators")), "aimguard wrote the operator's status"


def case_item7_finalizers_rbac_and_refused_writes_in_status(k):
    """OwnerReferencesPermissionEnforcement is on: children with blockOwnerDeletion need
    update on the owner's finalizers. Taking that rule away shows the refusal in status."""
    path = "/apis/rbac.authorization.k8s.io/v1/clusterroles/aimguard"
    role = k.admin.get(path)
    kept = [r for r in role["rules"] if not any(x.endswith("/finalizers") for x in r.get("resources", []))]
    assert len(kept) < len(role["rules"]), "the ClusterRole has no finalizers rule"
    full = role["rules"]
    role["rules"] = kept
    k.admin.call("PUT", path, role)
    try:
        aim_world(k, "team-c")
        cond = wait_for("WriteRefused", lambda: (cond_of(k, SVC % ("team-c", "test-service"), "Provisioned") or {})
                        .get("reason") == "WriteRefused" and cond_of(k, SVC % ("team-c", "test-service"), "Provisioned"),
                        timeout=GRACE)
        assert "blockOwnerDeletion" in cond["message"] or "forbidden" in cond["message"].lower(), cond
    finally:
        role = k.admin.get(path)
        role["rules"] = full
        k.admin.call("PUT", path, role)
    wait_for("provisioned once allowed", lambda: k.admin.maybe(ISVC % ("team-c", "test-service")), timeout=90)


def case_item5_idle_watches_no_list_no_warning(k):
    """Idle since the caches synced (the cases above wrote AIM objects, but several kinds
    stayed silent all along): no LIST beyond the initial one, no watch warning; the
    watches ended (timeoutSeconds) and resumed from their resourceVersion."""
    wait = k.synced_at + 135 - time.time()
    if wait > 0:
        time.sleep(wait)
    time.sleep(1)
    calls = api_calls(k, since=k.synced_at)
    lists = {key: v for key, v in calls.items() if key.startswith("list ")}
    assert not lists, "LISTs after the first sync: %s" % lists
    warns = [l for l in k.main.log_lines() if l.get("level") in ("warn", "error") and "watch cache" in l.get("msg", "")]
    assert not warns, warns
    rewatches = sum(v for key, v in calls.items() if key.startswith("watch "))
    assert rewatches >= 16, calls  # every cache's watch ended at least once and resumed
    print("figure: %.0f s after the first sync: %d LISTs, %d re-watches, writes %s" % (
        time.time() - k.synced_at, 0, rewatches,
        {key: v for key, v in calls.items() if key.split()[0] in ("create", "update", "patch", "delete")}))


def case_item9_paused_leader_writes_nothing_past_its_renew_deadline(k):
    """A leader paused (SIGSTOP) past its renew deadline while another holder took the
    lease must not act on what its watches deliver when it resumes (issue 17, item 9)."""
    import datetime
    import signal
    lease_path = "/apis/coordination.k8s.io/v1/namespaces/aimguard-system/leases/aimguard-leader"
    np = NP % "team-a"
    wait_for("replica-a to lead", lambda: k.admin.get(lease_path)["spec"].get("holderIdentity") == "replica-a")
    assert k.admin.maybe(np)
    k.main.proc.send_signal(signal.SIGSTOP)  # aimguard is the webhook too: change nothing it admits
    try:
        time.sleep(0.3)
        lease = k.admin.get(lease_path)
        now = datetime.datetime.utcnow().strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        lease["spec"].update({"holderIdentity": "replica-z", "acquireTime": now, "renewTime": now,
                              "leaseDurationSeconds": 60})
        k.admin.call("PUT", lease_path, lease)
        k.admin.delete(np)  # what the paused leader's watch delivers when it resumes
        time.sleep(3)  # past the renew deadline (2 s for the 3 s lease)
        resumed = time.time()
    finally:
        k.main.proc.send_signal(signal.SIGCONT)
    time.sleep(5)
    writes = {key: v for key, v in api_calls(k, since=resumed).items()
              if key.split()[0] in ("create", "update", "patch", "delete") and "leases" not in key}
    assert not writes, "the paused leader wrote after another replica held the lease: %s" % writes
    assert k.admin.maybe(np) is None
    # the other holder goes: replica-a leads again and catches up
    k.admin.delete(lease_path)
    wait_for("the default deny restored by the leader", lambda: k.admin.maybe(np), timeout=30)


def main():
    k = kubeenv.Cluster(apiserver_args=["--enable-admission-plugins=OwnerReferencesPermissionEnforcement"])
    ok = False
    try:
        k.start()
        k.start_controller_manager()
        k.install_aimguard("production")
        # the reconciler's story: the background audit (its own LISTs of pods per judged
        # namespace, of its reports, of kinds this cluster lacks) is test_e2e_audit's
        k.main = start_aimguard(k, extra=["--resync-seconds", "5", "--watch-timeout-seconds", "30",
                                          "--audit-interval", "0"])
        wait_for("the reconciler's caches", lambda: any("waiting for the watch caches" in l.get("msg", "") or
                                                        "leader" in l.get("msg", "") for l in k.main.log_lines()),
                 timeout=30)
        time.sleep(3)
        k.synced_at = time.time()
        cases = [(n, f) for n, f in globals().items() if n.startswith("case_")]
        ok = kubeenv.run_cases(cases, k)
        if not ok:
            print(k.main.logs()[-5000:])
    finally:
        k.cleanup(ok)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
