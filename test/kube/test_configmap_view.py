"""validate.images.allowFrom against a real watch: aimguard serve --kubeconfig reads the
allowed registries from a namespace annotation and from the one ConfigMap the policy
names (recipe 12 of docs/policy-cookbook.md). The ConfigMap is watched alone, with a
field selector, never as part of a watch of every ConfigMap; edits to it and to the
annotation decide the next request; a policy reload naming another ConfigMap starts its
watch at once."""
import os
import shutil
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from agharness import SRC, Server, review_for, run_tests
from fakeapi_client import FakeAPI

RECIPE = os.path.join(SRC, "test", "cookbook", "12-registries-from-cluster")
POD = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "chat", "namespace": "team-a"},
       "spec": {"containers": [{"name": "web", "image": "registry.example.com/team-a/chat-ui:1.4"},
                               {"name": "llm", "image": "docker.io/amdenterpriseai/aim-llama-3-8b:0.8.5"}]}}


def answer(srv):
    return srv.review("/validate", review_for(POD))["response"]


def wait_for(srv, want, timeout=8):
    t0 = time.time()
    while time.time() - t0 < timeout:
        r = answer(srv)
        if r["allowed"] is want:
            return r, time.time() - t0
        time.sleep(0.05)
    raise AssertionError("decision did not become allowed=%s: %s" % (want, r))


def test_registries_follow_the_cluster():
    api = FakeAPI()
    try:
        api.call("POST", "/api/v1/namespaces", {"metadata": {"name": "team-a", "annotations": {
            "aimguard.io/allowed-registries": "registry.example.com/team-a/"}}})
        api.call("POST", "/api/v1/namespaces", {"metadata": {"name": "aimguard-system"}})
        api.call("POST", "/api/v1/namespaces/aimguard-system/configmaps", {
            "metadata": {"name": "allowed-registries", "namespace": "aimguard-system"},
            "data": {"registries": "docker.io/amdenterpriseai/\n"}})
        # a ConfigMap the policy does not name: it must never be sent to aimguard
        api.call("POST", "/api/v1/namespaces/aimguard-system/configmaps", {
            "metadata": {"name": "unrelated", "namespace": "aimguard-system"}, "data": {"x": "y"}})
        srv = Server(policies=None, extra_args=["--kubeconfig", api.kubeconfig(), "--reconcile", "off"])
        shutil.rmtree(srv.policies)
        os.makedirs(srv.policies)
        shutil.copy(os.path.join(RECIPE, "policy.yaml"), os.path.join(srv.policies, "p.yaml"))
        with srv:
            r, took = wait_for(srv, True)                 # both sources known, both images allowed
            print("allowed once the caches listed: %.2f s" % took)
            # the ConfigMap drops the AIM registry: the llm container is denied
            api.call("PATCH", "/api/v1/namespaces/aimguard-system/configmaps/allowed-registries",
                     {"data": {"registries": "registry.example.com/shared/"}}, "application/merge-patch+json")
            r, took = wait_for(srv, False)
            assert 'container "llm"' in r["status"]["message"] and 'container "web"' not in r["status"]["message"], r
            print("ConfigMap edit -> denied after %.2f s" % took)
            # the namespace's annotation takes it over
            api.call("PATCH", "/api/v1/namespaces/team-a", {"metadata": {"annotations": {
                "aimguard.io/allowed-registries": "registry.example.com/team-a/, docker.io/amdenterpriseai"}}},
                "application/merge-patch+json")
            wait_for(srv, True)
            # the ConfigMap was watched alone, never every ConfigMap
            watches = [w for w in api.admin_state()["watch_requests"] if w["resource"] == "configmaps"]
            assert watches, api.admin_state()["watch_requests"]
            assert all(w["fieldSelector"] == "metadata.name=allowed-registries" and
                       w["namespace"] == "aimguard-system" for w in watches), watches
            # a reload naming another ConfigMap: its watch starts, and until it has listed,
            # failClosed decides (here: it exists, so the answer follows its data)
            api.call("POST", "/api/v1/namespaces/aimguard-system/configmaps", {
                "metadata": {"name": "registries-v2", "namespace": "aimguard-system"},
                "data": {"registries": "registry.example.com/team-a/"}})
            text = open(os.path.join(RECIPE, "policy.yaml")).read().replace(
                "name: allowed-registries", "name: registries-v2").replace(
                "namespaceAnnotation: aimguard.io/allowed-registries", "namespaceAnnotation: aimguard.io/none")
            open(os.path.join(srv.policies, "p.yaml"), "w").write(text)
            r, took = wait_for(srv, False)
            assert 'container "llm"' in r["status"]["message"], r
            # the new watch starts after its list (on a slow run, after the answer above)
            deadline = time.time() + 30
            while True:
                watches = [w for w in api.admin_state()["watch_requests"] if w["resource"] == "configmaps"]
                if any(w["fieldSelector"] == "metadata.name=registries-v2" for w in watches) or time.time() > deadline:
                    break
                time.sleep(0.1)
            assert any(w["fieldSelector"] == "metadata.name=registries-v2" for w in watches), watches
            assert all(w["fieldSelector"] for w in watches), watches
    finally:
        api.stop()


if __name__ == "__main__":
    run_tests(globals())
