"""Where and for what the reconciler acts (issue 17, items 2, 3 and 4), against the test
API server: system namespaces, aimguard's own and namespaces labelled exempt never get
guardrails or children (their AIM objects say so in their status); with
--default-action=warn the namespace Pod Security labels warn and audit but do not
enforce; --reconcile unmanaged stands aside for AIM objects the AIM operator manages.
The e2e tier (test/e2e/test_e2e_reconciler.py) checks the same on a real API server."""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from test_reconcile import AIM, World, sample, wait_for  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from agharness import run_tests  # noqa: E402

NP = "/apis/networking.k8s.io/v1/namespaces/%s/networkpolicies/aimguard-default-deny"
ISVC = "/apis/serving.kserve.io/v1beta1/namespaces/%s/inferenceservices/%s"


def world_in(w, ns, name="test-service", labels=None, finalizers=None):
    w.create("/api/v1/namespaces", {"metadata": {"name": ns, "labels": labels or {}}})
    model = {"apiVersion": "aim.eai.amd.com/v1alpha1", "kind": "AIMModel", "metadata": {"name": "test-service-model"},
             "spec": {"image": sample("aimclustermodel.yaml")["spec"]["image"]}}
    w.create(AIM + "/namespaces/%s/aimmodels" % ns, model)
    w.create(AIM + "/namespaces/%s/aimservicetemplates" % ns, sample("aimservicetemplate-gpu.yaml"))
    svc = sample("aimservice-basic.yaml")
    svc["metadata"]["name"] = name
    if finalizers:
        svc["metadata"]["finalizers"] = finalizers
    return w.create(AIM + "/namespaces/%s/aimservices" % ns, svc)


def test_system_and_exempt_namespaces_get_nothing_but_a_status():
    with World() as w:
        world_in(w, "team-a")
        for ns, labels, says in (("kube-system", {}, "system namespace"),
                                 ("aimguard-system", {}, "aimguard's own"),
                                 ("legacy", {"aimguard.io/webhook": "exempt"}, "labelled aimguard.io/webhook=exempt")):
            world_in(w, ns, labels=labels)
            path = AIM + "/namespaces/%s/aimservices/test-service" % ns
            cond = wait_for("the status in " + ns, lambda: w.condition(w.get(path), "Provisioned"))
            assert cond["status"] == "False" and cond["reason"] == "NamespaceExempt", cond
            assert says in cond["message"], cond
        wait_for("team-a provisioned", lambda: w.exists(ISVC % ("team-a", "test-service")))
        time.sleep(2)  # resyncs every second
        for ns in ("kube-system", "aimguard-system", "legacy"):
            assert not w.exists(ISVC % (ns, "test-service")), ns
            assert not w.exists(NP % ns), ns
            labels = w.get("/api/v1/namespaces/" + ns)["metadata"].get("labels", {})
            assert not any(k.startswith("pod-security.kubernetes.io/") for k in labels), (ns, labels)


def test_warn_mode_labels_warn_and_audit_only():
    with World(extra=["--default-action", "warn"]) as w:
        world_in(w, "team-a")
        ns = wait_for("PSS labels", lambda: w.get("/api/v1/namespaces/team-a")["metadata"].get("labels", {})
                      .get("pod-security.kubernetes.io/warn") and w.get("/api/v1/namespaces/team-a"))
        labels = ns["metadata"]["labels"]
        assert labels["pod-security.kubernetes.io/audit"] == "restricted", labels
        assert "pod-security.kubernetes.io/enforce" not in labels, labels


def test_unmanaged_mode_stands_aside_for_the_aim_operator():
    with World(extra=["--reconcile", "unmanaged"]) as w:
        world_in(w, "team-a", name="operators", finalizers=["aim.eai.amd.com/template-cache-cleanup"])
        w.create(AIM + "/namespaces/team-a/aimservices", dict(sample("aimservice-basic.yaml"),
                                                              metadata={"name": "ours"}))
        wait_for("ours provisioned after the grace", lambda: w.exists(ISVC % ("team-a", "ours")), timeout=30)
        time.sleep(1.5)
        assert not w.exists(ISVC % ("team-a", "operators"))
        assert "status" not in w.get(AIM + "/namespaces/team-a/aimservices/operators"), "wrote the operator's status"


if __name__ == "__main__":
    run_tests(globals())
