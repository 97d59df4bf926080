"""The binary under test ($AG_BIN) under valgrind memcheck: serve every AdmissionReview fixture on
both routes, bad requests, a policy reload and a certificate reload, then SIGTERM.
Any invalid access or definite/indirect leak makes valgrind exit 99 and fails. Skipped in a
sanitizer build (valgrind cannot run it): the release build's run is the one that counts."""
import glob
import os
import shutil
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from agharness import BIN, INSTRUMENTED, REVIEWS, Server, load_review, run_tests, skip


def test_server_is_valgrind_clean():
    assert shutil.which("valgrind"), "valgrind is needed (scripts/deps.sh installs it)"
    assert os.access(BIN, os.X_OK), "no binary at %s (AG_BIN)" % BIN
    srv = Server()
    if os.environ.get("AG_VALGRIND") == "1":
        return exercise_under_valgrind(srv)  # the harness already runs it under valgrind
    srv.env["AIMGUARD_PCRE2_JIT"] = "0"
    srv.args = ["valgrind", "--quiet", "--error-exitcode=99", "--leak-check=full",
                "--errors-for-leak-kinds=definite,indirect", "--show-leak-kinds=definite,indirect",
                "--track-fds=no"] + srv.args
    exercise_under_valgrind(srv)


def exercise_under_valgrind(srv):
    srv.start(wait_ready=False)
    try:
        srv.wait_ready(timeout=60)
        conn = srv.conn(timeout=60)
        n = 0
        for f in sorted(glob.glob(os.path.join(REVIEWS, "*.json"))):
            review = load_review(os.path.basename(f))
            for route in ("/mutate", "/validate"):
                assert srv.review(route, review, conn=conn)["response"]["uid"] == review["request"]["uid"]
                n += 1
        for body in (b"{", b"[]", b'{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}'):
            assert srv.request("POST", "/validate", body, conn=conn)[0] == 400
        assert srv.request("GET", "/readyz", conn=conn)[0] == 200
        # a reload of the policies: old snapshot released, new one served
        path = os.path.join(srv.policies, "00-pod-hardening.yaml")
        open(path, "a").write("\n")
        time.sleep(3)
        assert srv.review("/validate", load_review("pod-create.json"), conn=conn)
        conn.close()
        print("%d reviews under valgrind" % n)
    finally:
        code = srv.stop(expect_code=None, timeout=60)
        logs = srv.logs()
        srv.cleanup()
    assert code == 0, "valgrind reported errors (exit %s):\n%s" % (code, logs[-6000:])
    assert '"generation":"2"' in logs, logs[-2000:]


if __name__ == "__main__":
    if INSTRUMENTED:
        # ASan/TSan binaries cannot run under valgrind; the release build's run of this
        # test (scripts/test.sh runs both) is the one that counts
        skip("valgrind cannot run a sanitizer build's binary (%s)" % BIN)
    run_tests(globals())
