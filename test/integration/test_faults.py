"""Faults and what the server does about them (docs/security.md): the policy
directory vanishes and comes back, the certificate files are deleted, SIGTERM arrives
under load. No request fails, no decision is lost."""
import os
import shutil
import signal
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from agharness import Server, load_review, make_certs, run_tests

REVIEW = load_review("real-pod-create-privileged.json")


def test_policy_directory_vanishes_and_returns():
    with Server() as srv:
        assert srv.review("/validate", REVIEW)["response"]["allowed"] is False
        moved = srv.policies + ".away"
        os.rename(srv.policies, moved)
        time.sleep(2.0)
        # still deciding with the last good policies
        assert srv.review("/validate", REVIEW)["response"]["allowed"] is False
        assert srv.request("GET", "/readyz")[0] == 200
        assert srv.metric("aimguard_policy_reload_failures_total") >= 1
        os.rename(moved, srv.policies)
        time.sleep(2.0)
        assert srv.review("/validate", REVIEW)["response"]["allowed"] is False
        logs = srv.logs()
    assert "policy reload refused" in logs and "No such file or directory" in logs, logs[-2000:]


def test_certificate_files_deleted_then_restored():
    certs = make_certs(os.path.join(srv_tmp(), "certs"))
    srv = Server(certs=certs)
    with srv:
        os.rename(os.path.join(certs, "tls.crt"), os.path.join(certs, "tls.crt.bak"))
        os.rename(os.path.join(certs, "tls.key"), os.path.join(certs, "tls.key.bak"))
        time.sleep(2.0)
        # new connections still get the pair in memory
        assert srv.review("/mutate", REVIEW)["response"]["uid"] == REVIEW["request"]["uid"]
        assert srv.metric("aimguard_tls_reload_failures_total") >= 1
        os.rename(os.path.join(certs, "tls.crt.bak"), os.path.join(certs, "tls.crt"))
        os.rename(os.path.join(certs, "tls.key.bak"), os.path.join(certs, "tls.key"))
        time.sleep(2.0)
        assert srv.review("/mutate", REVIEW)["response"]["uid"] == REVIEW["request"]["uid"]
        logs = srv.logs()
    assert "new certificate refused" in logs and "cannot read" in logs, logs[-2000:]


def srv_tmp():
    import tempfile
    return tempfile.mkdtemp(prefix="ag-fault-")


def test_sigterm_under_load_loses_no_answer():
    srv = Server()
    srv.start()
    stop = threading.Event()
    answered, failures = [0], []

    def load():
        conn = srv.conn()
        while not stop.is_set():
            try:
                r = srv.review("/validate", REVIEW, conn=conn)
                assert r["response"]["uid"] == REVIEW["request"]["uid"]
                answered[0] += 1
            except OSError:
                return  # closed or refused once shutdown began: a client retries elsewhere
            except Exception as e:  # noqa: BLE001 - a half or malformed answer is a failure
                failures.append(repr(e))
                return
    threads = [threading.Thread(target=load) for _ in range(4)]
    for t in threads:
        t.start()
    time.sleep(1.0)
    srv.proc.send_signal(signal.SIGTERM)
    try:
        srv.proc.wait(timeout=20)
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert srv.proc.returncode == 0, srv.logs()[-3000:]
    # every answer that arrived was a complete, well-formed review (no half answers)
    assert not failures, failures[:3]
    assert answered[0] > 50, answered
    srv.stop()
    srv.cleanup()


if __name__ == "__main__":
    run_tests(globals())
