"""validate.rbac.clusterReferences end to end: aimguard serve --kubeconfig against the
test API server, AdmissionReviews over the real TLS webhook. The API server's
SubjectAccessReview answers allow and deny; they are cached (the server counts the
reviews it receives); when it stalls or goes away, failClosed decides and the message
says so."""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from agharness import Server, review_for, run_tests
from fakeapi_client import FakeAPI

POLICY = """apiVersion: policy.aimguard.io/v1alpha1
kind: AdmissionPolicy
metadata: {name: catalog}
spec:
  match:
    kinds: [aim.eai.amd.com/AIMService]
  validate:
    rbac:
      clusterReferences: {failClosed: %s}
"""
SVC = {"apiVersion": "aim.eai.amd.com/v1alpha1", "kind": "AIMService",
       "metadata": {"name": "s", "namespace": "team-a"},
       "spec": {"model": {"name": "llama"}, "template": {"name": "tpl"}}}
SLOW = 20 if os.environ.get("AG_VALGRIND") == "1" else 1
TIMEOUT_MS = 3000 if SLOW > 1 else 500  # valgrind: the first TLS handshake to the API is slow
CACHE_S = 20 if SLOW > 1 else 3  # valgrind: long enough for the cached decisions that follow


def decide(srv, user):
    t0 = time.time()
    c = srv.conn(timeout=30)
    r = srv.review("/validate", review_for(SVC, user=user, groups=("ml-team", "system:authenticated")), conn=c)["response"]
    c.close()
    return r, time.time() - t0


def sar_count(api):
    return api.admin_state()["sar_count"]


def write_policy(srv, fail_closed):
    path = os.path.join(srv.policies, "catalog.yaml")
    with open(path + ".tmp", "w") as f:
        f.write(POLICY % ("true" if fail_closed else "false"))
    os.rename(path + ".tmp", path)


def test_sar_allow_deny_cache_unreachable():
    api = FakeAPI()
    try:
        api.call("POST", "/api/v1/namespaces", {"metadata": {"name": "team-a"}})
        api.admin({"reset_counters": True, "sar_rules": [
            {"user": "alice", "verb": "use", "allowed": True, "reason": "RBAC: allowed by ClusterRoleBinding catalog"}]})
        # without the reconciler and the audit: their watch caches listing at start would share the test
        # API server (one Python process) with the short review timeout this test uses
        srv = Server(policies=None, extra_args=["--kubeconfig", api.kubeconfig(), "--sar-timeout-ms", str(TIMEOUT_MS),
                                                "--sar-cache-seconds", str(CACHE_S), "--reconcile", "off",
                                                "--audit-interval", "0"])
        for f in os.listdir(srv.policies):
            os.remove(os.path.join(srv.policies, f))
        write_policy(srv, True)
        with srv:
            # allowed: one review per reference (model, template, the default runtime config)
            r, _ = decide(srv, "alice")
            assert r["allowed"] is True and "warnings" not in r, r
            asked = api.admin_state()
            assert asked["sar_count"] == 3, asked
            got = sorted((q["resourceAttributes"]["resource"], q["resourceAttributes"]["name"]) for q in asked["sar_requests"])
            assert got == [("aimclustermodels", "llama"), ("aimclusterruntimeconfigs", "default"),
                           ("aimclusterservicetemplates", "tpl")], got
            for q in asked["sar_requests"]:
                assert q["user"] == "alice" and q["groups"] == ["ml-team", "system:authenticated"], q
                assert q["resourceAttributes"]["verb"] == "use" and q["resourceAttributes"]["group"] == "aim.eai.amd.com", q
            # cached: the same question asks the API server nothing
            for _ in range(5):
                assert decide(srv, "alice")[0]["allowed"] is True
            assert sar_count(api) == 3
            # denied, and the message says by which policy, rule and field, and what was asked
            r, _ = decide(srv, "bob")
            assert r["allowed"] is False, r
            msg = r["status"]["message"]
            assert ("[policy catalog, rule rbac/clusterReference] AIMService references the AIMClusterModel \"llama\" "
                    "(no AIMModel of that name is known in team-a), and bob may not use it (SubjectAccessReview: "
                    "verb use on aimclustermodels.aim.eai.amd.com \"llama\": denied: no rule) (field spec.model.name)") in msg, msg
            assert "(field spec.template.name)" in msg and "(field spec.runtimeConfigName)" in msg, msg
            assert sar_count(api) == 6
            assert decide(srv, "bob")[0]["allowed"] is False
            assert sar_count(api) == 6
            # after the cache's TTL the API server is asked again: a revoked grant shows
            api.admin({"sar_rules": []})
            time.sleep(CACHE_S + 0.5)
            r, _ = decide(srv, "alice")
            assert r["allowed"] is False and "alice may not use it" in r["status"]["message"], r
            assert sar_count(api) == 9
            api.admin({"sar_rules": [{"user": "alice", "allowed": True}]})
            time.sleep(CACHE_S + 0.5)
            assert decide(srv, "alice")[0]["allowed"] is True
            # a stalled API server: failClosed denies within the timeout and says why;
            # an answer still in the cache keeps deciding
            api.admin({"stall_seconds": TIMEOUT_MS / 1000 + 2})
            r, took = decide(srv, "carol")
            print("stalled API server: denied after %.2f s (timeout %d ms)" % (took, TIMEOUT_MS))
            assert r["allowed"] is False, r
            msg = r["status"]["message"]
            assert "whether carol may use it is unknown: the Kubernetes API could not be reached (" in msg, msg
            assert "failClosed: true denies (field spec.model.name)" in msg, msg
            assert took < 3 * TIMEOUT_MS / 1000 + 1, took
            r, took = decide(srv, "alice")
            assert r["allowed"] is True and took < 1.0 * SLOW, (r, took)
            # failClosed: false admits with a warning saying so (the policy reloads live)
            write_policy(srv, False)
            deadline = time.time() + 15 * SLOW
            while True:
                r, _ = decide(srv, "carol")
                if r["allowed"] or time.time() > deadline:
                    break
                time.sleep(0.2)
            assert r["allowed"] is True, r
            warn = " ".join(r.get("warnings", []))
            assert "admitted without knowing whether carol may use it: the Kubernetes API could not be reached" in warn, r
            assert "failClosed: false admits" in warn, r
            # the API server goes away altogether
            api.admin({"stall_seconds": 0})
            api.proc.terminate()
            api.proc.wait()
            r, took = decide(srv, "dave")
            assert r["allowed"] is True and "could not be reached" in " ".join(r["warnings"]), r
            write_policy(srv, True)
            deadline = time.time() + 15 * SLOW
            while True:
                r, _ = decide(srv, "dave")
                if not r["allowed"] or time.time() > deadline:
                    break
                time.sleep(0.2)
            assert r["allowed"] is False and "could not be reached" in r["status"]["message"], r
            logs = srv.logs()
        assert "sekret" not in logs, logs[-2000:]
    finally:
        api.stop()


if __name__ == "__main__":
    run_tests(globals())
