#!/usr/bin/python3
"""Reconciler benchmark (not part of ctest): N AIMServices across M namespaces against
the test API server, with one aimguard replica leading.

  /usr/bin/python3 test/bench/reconcile.py [SERVICES] [NAMESPACES]     (default 1000 50)

Reports the wall time from the first AIMService created to the last InferenceService
written and to every service's Provisioned condition, the API writes per object by kind,
the writes of an unchanged world over a few full resyncs (should be 0), and the peak RSS
of aimguard. Run after ./scripts/test.sh has built build/."""
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
os.environ.setdefault("AG_SRC", os.path.abspath(os.path.join(HERE, "..", "..")))
from agharness import Server  # noqa: E402
from fakeapi_client import FakeAPI  # noqa: E402

AIM = "/apis/aim.eai.amd.com/v1alpha1"


def rss_peak(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    return 0.0


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    m = int(sys.argv[2]) if len(sys.argv) > 2 else 50
    api = FakeAPI()
    srv = Server(extra_args=["--kubeconfig", api.kubeconfig(), "--identity", "bench", "--lease-seconds", "5",
                             "--resync-seconds", "5", "--audit-interval", "0", "--log-level", os.environ.get("AG_BENCH_LOG", "warn")])
    try:
        srv.start()
        while srv.metric("aimguard_leader") != 1.0:
            time.sleep(0.1)
        api.call("POST", AIM + "/aimclustermodels", {"metadata": {"name": "llama"},
                                                     "spec": {"image": "docker.io/amdenterpriseai/aim-llama:0.8.5"}})
        api.call("POST", AIM + "/aimclusterservicetemplates", {
            "metadata": {"name": "llama-latency"},
            "spec": {"modelName": "llama", "metric": "latency", "precision": "fp8",
                     "hardware": {"gpu": {"requests": 1, "model": "MI300X"}}}})
        for j in range(m):
            api.call("POST", "/api/v1/namespaces", {"metadata": {"name": "team-%02d" % j}})
        time.sleep(1)
        api.admin({"reset_stats": True})
        t0 = time.time()
        for i in range(n):
            api.call("POST", AIM + "/namespaces/team-%02d/aimservices" % (i % m), {
                "metadata": {"name": "svc-%04d" % i},
                "spec": {"model": {"name": "llama"}, "template": {"name": "llama-latency"}, "replicas": 1,
                         "env": [{"name": "HF_TOKEN", "valueFrom": {"secretKeyRef": {"name": "hf", "key": "t"}}}]}})
        t_created = time.time() - t0

        def count(kind):
            return api.stats()["writes"].get(kind, 0)
        while count("POST inferenceservices") < n:
            time.sleep(0.2)
        t_isvc = time.time() - t0
        while count("PATCH aimservices/status") < n:
            time.sleep(0.2)
        t_status = time.time() - t0
        time.sleep(2)
        stats = api.stats()
        writes = {k: v for k, v in stats["writes"].items()
                  if not k.endswith("leases") and not k.startswith("POST aimservices")}
        reads = {k: v for k, v in stats["read_kinds"].items() if not k.endswith("leases")}
        api.admin({"reset_stats": True})
        time.sleep(12)  # two full resyncs of everything
        idle = {k: v for k, v in api.stats()["writes"].items() if not k.endswith("leases")}
        peak = rss_peak(srv.proc.pid)
        ok = srv.metric('aimguard_reconcile_total{result="success"}')
        err = srv.metric('aimguard_reconcile_total{result="error"}')
        total = sum(writes.values())
        print("| measure | value |\n|---|---|")
        print("| AIMServices / namespaces | %d / %d |" % (n, m))
        print("| test client: all AIMServices created after | %.2f s |" % t_created)
        print("| last InferenceService written after | %.2f s |" % t_isvc)
        print("| last AIMService status (Provisioned) written after | %.2f s |" % t_status)
        print("| API writes by the reconciler | %d (%.2f per AIMService) |" % (total, total / n))
        for k in sorted(writes):
            print("| &nbsp;&nbsp;%s | %d |" % (k, writes[k]))
        print("| API reads by aimguard (Lease renewals aside) | %d (%.2f per AIMService) |"
              % (sum(reads.values()), sum(reads.values()) / n))
        for k in sorted(reads):
            print("| &nbsp;&nbsp;%s | %d |" % (k, reads[k]))
        print("| writes over 12 s of an unchanged world (2 full resyncs) | %d %s |" % (sum(idle.values()), idle or ""))
        print("| reconcile passes ok / failed | %d / %d |" % (ok, err))
        print("| aimguard peak RSS (VmHWM) | %.1f MiB |" % peak)
        srv.stop()
        if os.environ.get("AG_BENCH_LOG"):
            print("server log: %s" % srv.log_path)
        else:
            srv.cleanup()
    finally:
        if srv.proc and srv.proc.poll() is None:
            srv.proc.kill()
        api.stop()


if __name__ == "__main__":
    main()
