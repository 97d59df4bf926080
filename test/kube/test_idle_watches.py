"""Idle watches (issue 17, item 5): a real API server may send nothing at all on an idle
watch for minutes. aimguard asks it to end each watch (timeoutSeconds, jittered between
N and 2N), resumes from the last resourceVersion when it ends, and never relists or
warns for that. The test API server here sends no bookmarks (like a real one may) and
ends watches at their timeoutSeconds; the e2e tier checks the same against a real
kube-apiserver (test/e2e/test_e2e_reconciler.py)."""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from agharness import Server, run_tests  # noqa: E402
from test_cluster_view import FakeAPI  # noqa: E402


def lists(api):
    kinds = api.call("GET", "/_admin/stats")["read_kinds"]
    return sum(v for k, v in kinds.items() if k.startswith("LIST "))


def test_idle_watches_end_and_resume_without_relist():
    api = FakeAPI()
    try:
        api.call("POST", "/_admin", {"bookmarks": False})
        api.call("POST", "/api/v1/namespaces", {"metadata": {"name": "team-a"}})
        with Server(extra_args=["--kubeconfig", api.kubeconfig(), "--identity", "r1", "--lease-seconds", "3",
                                "--watch-timeout-seconds", "5",
                                # the background audit lists pods page by page when it judges a
                                # namespace, by design: this test is about the caches' watches
                                "--audit-interval", "0"]) as srv:
            deadline = time.time() + 20
            while srv.metric("aimguard_leader") != 1.0 and time.time() < deadline:
                time.sleep(0.1)
            time.sleep(2)  # every cache has listed
            lists0 = lists(api)
            assert lists0 >= 16, lists0  # 16 shared caches (the cluster view reads namespaces and AIM objects from them)
            api.call("POST", "/_admin", {"reset_counters": True})
            time.sleep(12)  # idle, silent watches: each ends after 5 to 10 s
            watches = api.call("GET", "/_admin")["watch_requests"]
            assert lists(api) == lists0, "an idle watch led to a relist (%d LISTs)" % (lists(api) - lists0)
            assert len(watches) >= 10, watches  # the caches watched again...
            for w in watches:
                assert w["resourceVersion"], w    # ...from their last resourceVersion
                assert 5 <= int(w["timeoutSeconds"]) < 10, w  # asked to end, jittered
            assert len({w["timeoutSeconds"] for w in watches}) > 1, watches
            warnings = [l for l in srv.log_lines() if l.get("level") in ("warn", "error")]
            assert not warnings, warnings
    finally:
        api.stop()


if __name__ == "__main__":
    run_tests(globals())
