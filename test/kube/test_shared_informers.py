"""One watch cache per resource (issue 16 part 5): the cluster view and the reconciler
share the process's caches, so the test API server sees each resource listed and
watched once (namespaces used to be listed and watched twice: once for the policies'
namespaceSelector, once for the reconciler), and admission's view of AIM objects does
not depend on the reconciler: with --reconcile off an AIMModel in the namespace still
shadows the AIMClusterModel of that name for clusterReferences (it used to be blind:
the view served AIM objects from the reconciler's caches)."""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from agharness import Server, run_tests  # noqa: E402
from test_cluster_view import FakeAPI  # noqa: E402
from test_cluster_refs import SLOW, decide, sar_count, write_policy  # noqa: E402

AIM = "/apis/aim.eai.amd.com/v1alpha1"


def read_kinds(api, verb):
    kinds = api.call("GET", "/_admin/stats")["read_kinds"]
    return {k.split(" ", 1)[1]: v for k, v in kinds.items() if k.startswith(verb + " ")}


def wait_lists(api, n, timeout=20 * SLOW):
    deadline = time.time() + timeout
    while len(read_kinds(api, "WATCH")) < n and time.time() < deadline:
        time.sleep(0.1)
    return read_kinds(api, "LIST"), read_kinds(api, "WATCH")


def test_each_resource_is_listed_and_watched_once():
    api = FakeAPI()
    try:
        api.call("POST", "/api/v1/namespaces", {"metadata": {"name": "team-a"}})
        # the reconciler's and the view's caches (the audit's: test_audit_shares_the_caches)
        with Server(extra_args=["--kubeconfig", api.kubeconfig(), "--identity", "r1", "--lease-seconds", "3",
                                "--audit-interval", "0"]):
            lists, watches = wait_lists(api, 16)
            time.sleep(1)
            lists, watches = read_kinds(api, "LIST"), read_kinds(api, "WATCH")
            print("reconcile on: LISTs %s; WATCHes %s" % (sorted(lists.items()), sorted(watches.items())))
            assert lists.get("namespaces") == 1, lists     # was 2: the view's cache and the reconciler's
            assert watches.get("namespaces") == 1, watches
            assert len(lists) == 16 and set(lists.values()) == {1}, lists
            assert len(watches) == 16 and set(watches.values()) == {1}, watches
    finally:
        api.stop()


def test_reconcile_off_keeps_the_view_of_aim_objects():
    api = FakeAPI()
    try:
        api.call("POST", "/api/v1/namespaces", {"metadata": {"name": "team-a"}})
        srv = Server(policies=None, extra_args=["--kubeconfig", api.kubeconfig(), "--reconcile", "off",
                                                "--sar-cache-seconds", "1", "--audit-interval", "0"])
        for f in os.listdir(srv.policies):
            os.remove(os.path.join(srv.policies, f))
        write_policy(srv, True)
        with srv:
            lists, watches = wait_lists(api, 4)
            print("reconcile off: LISTs %s" % sorted(lists.items()))
            # what the policies read, and nothing of the reconciler's
            assert lists == {"namespaces": 1, "aimmodels": 1, "aimservicetemplates": 1, "aimruntimeconfigs": 1}, lists
            # nobody may use the cluster catalog: every reference is denied and named
            r, _ = decide(srv, "bob")
            assert r["allowed"] is False and "(field spec.model.name)" in r["status"]["message"], r
            # the team's own AIMModel llama: the reference resolves to it, not to the
            # AIMClusterModel, so it is not a cluster reference any more
            api.call("POST", AIM + "/namespaces/team-a/aimmodels",
                     {"apiVersion": "aim.eai.amd.com/v1alpha1", "kind": "AIMModel",
                      "metadata": {"name": "llama", "namespace": "team-a"}, "spec": {"image": "r/llama:1"}})
            deadline = time.time() + 10 * SLOW
            while True:
                time.sleep(1.1)  # past the answer cache's TTL: every question is asked again
                before = sar_count(api)
                r, _ = decide(srv, "bob")
                if "(field spec.model.name)" not in r["status"]["message"] or time.time() > deadline:
                    break
            msg = r["status"]["message"]
            assert r["allowed"] is False and "(field spec.model.name)" not in msg, msg
            assert "(field spec.template.name)" in msg and "(field spec.runtimeConfigName)" in msg, msg
            asked = api.call("GET", "/_admin")["sar_requests"][before:]
            assert sorted(q["resourceAttributes"]["resource"] for q in asked) == [
                "aimclusterruntimeconfigs", "aimclusterservicetemplates"], asked
            # a namespaced template of that name shadows the cluster one too; the default
            # AIMClusterRuntimeConfig is merged under a namespaced one, so it is still asked
            api.call("POST", AIM + "/namespaces/team-a/aimservicetemplates",
                     {"apiVersion": "aim.eai.amd.com/v1alpha1", "kind": "AIMServiceTemplate",
                      "metadata": {"name": "tpl", "namespace": "team-a"}, "spec": {"modelName": "llama"}})
            deadline = time.time() + 10 * SLOW
            while True:
                r, _ = decide(srv, "bob")
                if "(field spec.template.name)" not in r["status"]["message"] or time.time() > deadline:
                    break
                time.sleep(0.2)
            msg = r["status"]["message"]
            assert r["allowed"] is False and "(field spec.template.name)" not in msg, msg
            assert "(field spec.runtimeConfigName)" in msg and "(field spec.model.name)" not in msg, msg
    finally:
        api.stop()


if __name__ == "__main__":
    run_tests(globals())
