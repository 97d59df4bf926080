"""Leader election on a Lease, with two real aimguard processes against the test API
server: exactly one leads; killing the leader (no goodbye) hands over within the lease
duration; a leader that stops cleanly releases the lease for an immediate takeover. The
reconciler is off here: that only the leader reconciles is tested in test/reconcile/."""
import os
import signal
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from agharness import Server, run_tests
from fakeapi_client import FakeAPI

LEASE = 3  # seconds


def leader_of(srv):
    try:
        return srv.metric("aimguard_leader")
    except Exception:  # noqa: BLE001 - a stopped server has no metrics
        return None


def wait_leaders(servers, timeout):
    t0 = time.time()
    while time.time() - t0 < timeout:
        states = [leader_of(s) for s in servers]
        if states.count(1.0) == 1 and all(x is not None for x in states):
            return states.index(1.0), time.time() - t0
        time.sleep(0.1)
    raise AssertionError("no single leader: %s" % [leader_of(s) for s in servers])


def test_one_leader_and_handover():
    api = FakeAPI()
    servers = []
    try:
        kc = api.kubeconfig()
        for ident in ("replica-a", "replica-b"):
            s = Server(extra_args=["--kubeconfig", kc, "--reconcile", "off", "--lease-seconds", str(LEASE), "--identity", ident,
                                   "--system-namespace", "aimguard-system"])
            s.start()
            servers.append(s)
        first, took = wait_leaders(servers, 10 * servers[0].slow)
        # it stays that way: never two leaders
        for _ in range(20):
            assert [leader_of(s) for s in servers].count(1.0) == 1
            time.sleep(0.1)
        lease = api.call("GET", "/apis/coordination.k8s.io/v1/namespaces/aimguard-system/leases/aimguard-leader")
        assert lease["spec"]["holderIdentity"] == ("replica-a", "replica-b")[first], lease
        # the leader dies without releasing: the other takes over once the lease expires
        t0 = time.time()
        servers[first].proc.send_signal(signal.SIGKILL)
        servers[first].proc.wait()
        other = servers[1 - first]
        while leader_of(other) != 1.0:
            assert time.time() - t0 < (LEASE + 4) * other.slow, "no handover within the lease duration"
            time.sleep(0.1)
        handover = time.time() - t0
        print("first leader after %.2f s; handover after the leader was killed: %.2f s (lease %d s)"
              % (took, handover, LEASE))
        assert handover <= (LEASE + 3) * other.slow
        # a clean stop releases the lease: a new replica leads almost at once
        other.stop()
        lease = api.call("GET", "/apis/coordination.k8s.io/v1/namespaces/aimguard-system/leases/aimguard-leader")
        assert lease["spec"]["holderIdentity"] == "", lease  # released on the way out
        third = Server(extra_args=["--kubeconfig", kc, "--reconcile", "off", "--lease-seconds", str(LEASE), "--identity", "replica-c",
                                   "--system-namespace", "aimguard-system"])
        third.start()
        servers.append(third)
        t0 = time.time()
        while leader_of(third) != 1.0:
            # its first attempt takes a released lease; an unreleased one would need LEASE
            assert time.time() - t0 < LEASE * third.slow, "a released lease was not taken at once"
            time.sleep(0.1)
        print("takeover after a clean stop: %.2f s" % (time.time() - t0))
        logs = third.logs()
        assert "became the leader" in logs
    finally:
        for s in servers:
            if s.proc and s.proc.poll() is None:
                s.stop(expect_code=None)
            s.cleanup()
        api.stop()


if __name__ == "__main__":
    run_tests(globals())
