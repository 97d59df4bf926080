"""The cluster view end to end: aimguard serve --kubeconfig against the test API
server. A policy selecting namespaces by label follows label changes through the watch
cache; when the API server goes away, the last known labels keep deciding."""
import os
import shutil
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from agharness import Server, review_for, run_tests
from fakeapi_client import FakeAPI

POLICY = """apiVersion: policy.aimguard.io/v1alpha1
kind: AdmissionPolicy
metadata: {name: strict-namespaces}
spec:
  match:
    kinds: [Pod]
    namespaceSelector:
      matchLabels: {aimguard.io/profile: strict}
  validate:
    rules:
      - {name: no-host-network, path: spec.hostNetwork, absent: true}
"""
POD = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "team-a"},
       "spec": {"hostNetwork": True, "containers": [{"name": "a", "image": "i"}]}}


def allowed(srv):
    return srv.review("/validate", review_for(POD))["response"]


def wait_for(srv, want, timeout=5):
    t0 = time.time()
    while time.time() - t0 < timeout:
        if allowed(srv)["allowed"] is want:
            return time.time() - t0
        time.sleep(0.05)
    raise AssertionError("decision did not become allowed=%s" % want)


def test_namespace_labels_follow_the_cluster():
    api = FakeAPI()
    try:
        api.call("POST", "/api/v1/namespaces", {"metadata": {"name": "team-a", "labels": {"owner": "ml"}}})
        # the reconciler's watches would share the injected faults; it has its own tests
        srv = Server(policies=None, extra_args=["--kubeconfig", api.kubeconfig(), "--reconcile", "off"])
        shutil.rmtree(srv.policies)
        os.makedirs(srv.policies)
        open(os.path.join(srv.policies, "p.yaml"), "w").write(POLICY)
        with srv:
            r = wait_for_answer(srv)
            assert r["allowed"] is True and "warnings" not in r, r      # labels known: not strict
            api.call("PATCH", "/api/v1/namespaces/team-a", {"metadata": {"labels": {"aimguard.io/profile": "strict"}}},
                     "application/merge-patch+json")
            took = wait_for(srv, False)
            print("label added -> policy applies after %.2f s" % took)
            api.call("PATCH", "/api/v1/namespaces/team-a", {"metadata": {"labels": {"aimguard.io/profile": None}}},
                     "application/merge-patch+json")
            wait_for(srv, True)
            # a watch stream cut in the middle of an event: the half event is dropped, the
            # cache watches again from the last version it applied and follows the cluster
            assert "watch failed" not in srv.logs(), srv.logs()[-3000:]
            api.admin({"cut_watches": True})
            time.sleep(0.5)
            api.call("PATCH", "/api/v1/namespaces/team-a", {"metadata": {"labels": {"aimguard.io/profile": "strict"}}},
                     "application/merge-patch+json")
            wait_for(srv, False)
            api.call("PATCH", "/api/v1/namespaces/team-a", {"metadata": {"labels": {"aimguard.io/profile": None}}},
                     "application/merge-patch+json")
            wait_for(srv, True)
            cut = [l for l in srv.logs().splitlines() if "watch failed" in l]
            assert cut, srv.logs()[-3000:]
            print("after the cut:", cut[0])
            # a 410 forces a relist; the view survives it
            api.admin({"compact": True, "drop_watches": True})
            api.call("PATCH", "/api/v1/namespaces/team-a", {"metadata": {"labels": {"aimguard.io/profile": "strict"}}},
                     "application/merge-patch+json")
            wait_for(srv, False)
            # a slow API server and one that answers garbage: admission does not wait for it,
            # the watch cache relists when it can, and the labels it knows keep deciding
            api.admin({"stall_seconds": 3, "drop_watches": True})
            t0 = time.time()
            assert allowed(srv)["allowed"] is False
            assert time.time() - t0 < 0.5, "admission waited for the API server"
            api.admin({"stall_seconds": 0, "garbage": 3, "drop_watches": True})
            time.sleep(1.0)
            api.call("PATCH", "/api/v1/namespaces/team-a", {"metadata": {"labels": {"aimguard.io/profile": None}}},
                     "application/merge-patch+json")
            wait_for(srv, True, timeout=10)
            api.call("PATCH", "/api/v1/namespaces/team-a", {"metadata": {"labels": {"aimguard.io/profile": "strict"}}},
                     "application/merge-patch+json")
            wait_for(srv, False, timeout=10)
            # the API server goes away: the last known labels keep deciding
            api.proc.terminate()
            api.proc.wait()
            time.sleep(1.0)
            assert allowed(srv)["allowed"] is False
            # an unknown namespace: the policy applies, and the answer says why
            other = dict(POD, metadata={"name": "p", "namespace": "ghost"})
            r = srv.review("/validate", review_for(other))["response"]
            assert r["allowed"] is False and "labels of namespace ghost are unknown" in r["warnings"][0], r
            logs = srv.logs()
        assert "cluster view on" in logs and "sekret" not in logs, logs[-2000:]
        assert "watch cache:" in logs and "relisting" in logs, logs[-3000:]
    finally:
        api.stop()


def wait_for_answer(srv, timeout=5):
    """The first answer once the watch cache has listed the namespaces."""
    t0 = time.time()
    while True:
        r = allowed(srv)
        if "warnings" not in r or time.time() - t0 > timeout:
            return r
        time.sleep(0.05)


if __name__ == "__main__":
    run_tests(globals())
