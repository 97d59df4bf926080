#!/usr/bin/python3
"""What aimguard asks of a real API server while nothing changes (issue 17, item 5).

Starts the e2e control plane (test/e2e/kubeenv.py: kube-apiserver 1.24 + etcd), runs
aimguard with the production overlay's RBAC and args, one AIMService world and the
reconciler on, waits until it has settled, then counts for MINUTES what aimguard's
ServiceAccount did according to the API server's audit log: LISTs, WATCHes, writes
(lease renewals apart) and the warnings in its log.

  /usr/bin/python3 test/bench/idle_e2e.py [MINUTES=10] [aimguard serve args...]
Run from a build directory's parent with AG_BUILD/AG_BIN set, or from the checkout with
build/ (defaults)."""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "e2e"))
import kubeenv  # noqa: E402
from aimguard_e2e import aim_world, api_calls, condition, start_aimguard, wait_for, AIM  # noqa: E402


def main():
    minutes = float(sys.argv[1]) if len(sys.argv) > 1 else 10.0
    extra = sys.argv[2:]
    kubeenv.skip_unless_available()
    k = kubeenv.Cluster()
    ok = False
    try:
        k.start()
        k.install_aimguard("production")
        srv = start_aimguard(k, extra=extra, lease=None)  # the production lease (15 s)
        aim_world(k, "idle-team")
        wait_for("the AIMService's status", lambda: condition(k.admin.get(
            AIM + "/namespaces/idle-team/aimservices/test-service"), "Provisioned"), timeout=60)
        time.sleep(10)
        warn0 = sum(1 for l in srv.log_lines() if l.get("level") in ("warn", "error"))
        t0 = time.time()
        print("idle from now for %.1f minutes" % minutes, flush=True)
        time.sleep(minutes * 60)
        time.sleep(2)  # the audit log is written at the end of each request
        calls = api_calls(k, since=t0)
        warn = sum(1 for l in srv.log_lines() if l.get("level") in ("warn", "error")) - warn0
        lists = sum(v for key, v in calls.items() if key.startswith("list "))
        watches = sum(v for key, v in calls.items() if key.startswith("watch "))
        writes = {key: v for key, v in calls.items() if key.split()[0] in ("create", "update", "patch", "delete")}
        lease_writes = sum(v for key, v in writes.items() if "leases" in key)
        print("idle %.1f min: LISTs %d, WATCH requests %d, writes %d (lease renewals %d), warnings %d"
              % (minutes, lists, watches, sum(writes.values()) - lease_writes, lease_writes, warn))
        print("by verb and resource:", dict(sorted(calls.items())))
        ok = True
    finally:
        k.cleanup(ok)


if __name__ == "__main__":
    main()
