"""The reconciler never takes what is not its own (issue 17, items 1 and 8), against the
test API server: a team's existing InferenceService, the AIM operator's RoleBinding and
a ServiceAccount with automount off are left exactly as they were, the conflict is in the
AIMService's status and in an Event; and the status fields the reconciler owns are
rewritten, so one it no longer states (routing switched off) goes. The e2e tier
(test/e2e/test_e2e_reconciler.py) runs the same against a real API server."""
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from test_reconcile import AIM, ISVC, ROUTE, SVC, World, basic_service_world, sample, wait_for  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from agharness import run_tests  # noqa: E402

RB = "/apis/rbac.authorization.k8s.io/v1/namespaces/team-a/rolebindings/aim-engine-artifact-status-updater"
SA = "/api/v1/namespaces/team-a/serviceaccounts/aim-artifact-downloader"


def test_foreign_objects_are_never_taken_over():
    with World() as w:
        cm = w.create("/api/v1/namespaces/team-a/configmaps", {"metadata": {"name": "team-app",
                                                                            "namespace": "team-a"}})
        team_isvc = w.create("/apis/serving.kserve.io/v1beta1/namespaces/team-a/inferenceservices", {
            "apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService",
            "metadata": {"name": "test-service", "namespace": "team-a",
                         "ownerReferences": [{"apiVersion": "v1", "kind": "ConfigMap", "name": "team-app",
                                              "uid": cm["metadata"]["uid"]}]},
            "spec": {"predictor": {"containers": [{"name": "c", "image": "team/llama:1",
                                                   "env": [{"name": "TEAM", "value": "1"}]}]}}})
        team_rb = w.create("/apis/rbac.authorization.k8s.io/v1/namespaces/team-a/rolebindings", {
            "metadata": {"name": "aim-engine-artifact-status-updater", "namespace": "team-a"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                        "name": "aim-engine-artifact-status-updater"},
            "subjects": [{"kind": "ServiceAccount", "name": "default", "namespace": "team-a"}]})
        team_sa = w.create("/api/v1/namespaces/team-a/serviceaccounts", {
            "metadata": {"name": "aim-artifact-downloader", "namespace": "team-a"},
            "automountServiceAccountToken": False})
        basic_service_world(w)
        art = sample("aimartifact-s3-env.yaml")
        art["spec"].pop("env", None)
        w.create(AIM + "/namespaces/team-a/aimartifacts", art)
        s = wait_for("Provisioned=False", lambda: (w.condition(w.get(SVC), "Provisioned") or {}).get("reason")
                     == "ChildConflict" and w.get(SVC), timeout=40)
        msg = w.condition(s, "Provisioned")["message"]
        assert "InferenceService team-a/test-service already exists" in msg, msg
        assert s["status"]["status"] == "Failed", s["status"]
        # the artifact's own children are created; the shared identity objects are not ours
        wait_for("the artifact's Job", lambda: w.exists("/apis/batch/v1/namespaces/team-a/jobs/%s-download"
                                                        % art["metadata"]["name"]), timeout=40)
        time.sleep(2.5)  # several resyncs (1 s)
        isvc = w.get(ISVC)
        assert isvc["metadata"]["resourceVersion"] == team_isvc["metadata"]["resourceVersion"], isvc
        assert isvc["metadata"]["ownerReferences"] == team_isvc["metadata"]["ownerReferences"], isvc
        assert w.get(RB)["subjects"] == team_rb["subjects"]
        assert w.get(RB)["metadata"]["resourceVersion"] == team_rb["metadata"]["resourceVersion"]
        assert w.get(SA)["automountServiceAccountToken"] is False
        assert w.get(SA)["metadata"]["resourceVersion"] == team_sa["metadata"]["resourceVersion"]
        assert not w.exists(ROUTE), "an HTTPRoute was made for a service whose InferenceService is not ours"
        events = w.get("/api/v1/namespaces/team-a/events")["items"]
        conflict = [e for e in events if e["reason"] == "ChildConflict"]
        on_svc = [e for e in conflict if e["involvedObject"]["kind"] == "AIMService"]
        assert len(on_svc) == 1 and "test-service" in on_svc[0]["message"], events  # once, not per resync
        shared = {e["involvedObject"]["kind"] for e in conflict if e["involvedObject"]["kind"] != "AIMService"}
        assert shared == {"RoleBinding", "ServiceAccount"}, conflict
        # the team removes its InferenceService: now the AIMService gets its own
        w.api.call("DELETE", ISVC)
        mine = wait_for("our InferenceService", lambda: (w.exists(ISVC) or {}).get("metadata", {})
                        .get("ownerReferences", [{}])[0].get("kind") == "AIMService" and w.get(ISVC), timeout=40)
        assert mine["spec"]["predictor"]["containers"][0]["name"] == "kserve-container"
        wait_for("Provisioned=True", lambda: w.condition(w.get(SVC), "Provisioned")["status"] == "True")


def test_a_patch_of_our_child_keeps_what_others_added():
    """Only the fields aimguard applied are its own: a field another controller (or a
    defaulting webhook) added to our InferenceService survives our next patch, while
    one we set and no longer want goes."""
    with World() as w:
        basic_service_world(w)
        wait_for("the InferenceService", lambda: w.exists(ISVC))
        w.patch(ISVC, {"spec": {"predictor": {"timeout": 60}, "explainer": {"kept": True}}})
        w.patch(SVC, {"spec": {"replicas": 2}})
        isvc = wait_for("two replicas", lambda: w.get(ISVC)["spec"]["predictor"].get("minReplicas") == 2
                        and w.get(ISVC))
        assert isvc["spec"]["predictor"].get("timeout") == 60, isvc["spec"]["predictor"]
        assert isvc["spec"].get("explainer") == {"kept": True}, isvc["spec"]
        applied = json.loads(isvc["metadata"]["annotations"]["aimguard.io/last-applied"])
        assert applied["spec"]["predictor"]["minReplicas"] == 2, applied


def test_owned_status_fields_are_rewritten_not_merged():
    with World() as w:
        basic_service_world(w)
        wait_for("the route", lambda: w.exists(ROUTE))
        s = wait_for("routing.path", lambda: w.get(SVC)["status"].get("routing", {}).get("path") and w.get(SVC))
        # someone else's status field is kept
        w.patch(SVC + "/status", {"status": {"operatorNote": "kept"}})
        w.patch(SVC, {"spec": {"routing": {"enabled": False}}})
        wait_for("the route removed", lambda: not w.exists(ROUTE))
        s = wait_for("routing gone from status", lambda: "routing" not in w.get(SVC)["status"] and w.get(SVC))
        assert s["status"]["operatorNote"] == "kept", s["status"]
        assert s["status"]["observedGeneration"] == s["metadata"]["generation"], s["status"]


if __name__ == "__main__":
    run_tests(globals())
