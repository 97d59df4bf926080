#!/usr/bin/python3
"""Background audit benchmark (not part of ctest): PODS pods across NAMESPACES namespaces
in the test API server, judged by the default policies (policies/default) of one aimguard
replica that leads.

  /usr/bin/python3 test/bench/audit.py [PODS] [NAMESPACES]     (default 10000 100)

One pod in ten is privileged (pod-hardening fails) and one in ten has a literal
credential env var (credentials fails); the rest pass. The objects exist before aimguard
starts. Reports: the first pass (from the server's start: caches listed, objects judged,
reports written) and a second, unchanged pass (--audit-interval), each with its time,
the PolicyReport writes the test API server counted, and the peak RSS of aimguard, plus
its RSS with the same objects and --audit-interval 0 (the watch caches the audit adds
are part of its cost). Run after the release build (build/)."""
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
os.environ.setdefault("AG_SRC", os.path.abspath(os.path.join(HERE, "..", "..")))
from agharness import Server  # noqa: E402
from fakeapi_client import FakeAPI  # noqa: E402

INTERVAL = 30


def rss(pid, field):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024.0
    return 0.0


def pod(ns, i):
    c = {"name": "server", "image": "registry.example.com/aim/llama@sha256:" + "%064x" % i,
         "args": ["--model", "/workspace/model", "--port", "8000"],
         "ports": [{"containerPort": 8000, "name": "http"}],
         "resources": {"requests": {"cpu": "4", "memory": "32Gi"}, "limits": {"amd.com/gpu": "1"}},
         "env": [{"name": "LOG_LEVEL", "value": "info"},
                 {"name": "HF_TOKEN", "valueFrom": {"secretKeyRef": {"name": "hf", "key": "token"}}}],
         "volumeMounts": [{"name": "cache", "mountPath": "/workspace/cache"}],
         "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]},
                             "readOnlyRootFilesystem": True}}
    if i % 10 == 3:
        c["securityContext"]["privileged"] = True
    if i % 10 == 7:
        c["env"].append({"name": "API_KEY", "value": "not-a-real-key"})
    return {"metadata": {"name": "llama-%05d" % i, "labels": {"app": "llama", "pod-template-hash": "5d8f9c7b6"}},
            "spec": {"securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
                     "containers": [c], "volumes": [{"name": "cache", "emptyDir": {}}]}}


def passes(srv):
    return [l for l in srv.log_lines() if l.get("msg") == "audit pass"]


def report_writes(api):
    return sum(v for k, v in api.stats()["writes"].items() if "policyreports" in k)


def run_server(api, extra):
    srv = Server(extra_args=["--kubeconfig", api.kubeconfig(), "--identity", "bench", "--lease-seconds", "5",
                             "--reconcile", "off"] + extra)
    srv.start()
    return srv


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10000
    m = int(sys.argv[2]) if len(sys.argv) > 2 else 100
    api = FakeAPI()
    try:
        api.admin({"bulk": [["/api/v1/namespaces", {"metadata": {"name": "team-%03d" % j}}] for j in range(m)]})
        for start in range(0, n, 1000):
            api.admin({"bulk": [["/api/v1/namespaces/team-%03d/pods" % (i % m), pod("team-%03d" % (i % m), i)]
                                for i in range(start, min(n, start + 1000))]})
        # the caches alone (no audit): what the audit's own state costs on top
        base = run_server(api, ["--audit-interval", "0"])
        time.sleep(8)
        base_rss = rss(base.proc.pid, "VmRSS")
        base.stop()
        base.cleanup()

        api.admin({"reset_stats": True})
        t0 = time.time()
        srv = run_server(api, ["--audit-interval", str(INTERVAL)])
        try:
            while not passes(srv):
                time.sleep(0.2)
            first_wall = time.time() - t0
            first = passes(srv)[0]
            writes1 = report_writes(api)
            reports = sum(len(api.call("GET", "/apis/wgpolicyk8s.io/v1alpha2/namespaces/team-%03d/policyreports"
                                       % j)["items"]) for j in range(m))
            api.admin({"reset_stats": True})
            while len(passes(srv)) < 2:
                time.sleep(0.5)
            second = passes(srv)[1]
            writes2 = report_writes(api)
            peak = rss(srv.proc.pid, "VmHWM")
            now = rss(srv.proc.pid, "VmRSS")
        finally:
            srv.stop()
            srv.cleanup()
        print("| measure (%d pods, %d namespaces, policies/default) | value |\n|---|---|" % (n, m))
        print("| first pass: start of `aimguard serve` to the pass's end (caches listed, every pod judged, "
              "reports written) | %.1f s |" % first_wall)
        print("| first pass itself (listing, judging, writing; from the log) | %s s (aimguard CPU %s s), %s objects, "
              "%s report writes |" % (first["seconds"], first["cpuSeconds"], first["objects"], first["reportWrites"]))
        print("| PolicyReports written by the first pass (counted by the API server) | %d (%d reports) |"
              % (writes1, reports))
        print("| second pass, nothing changed | %s s (aimguard CPU %s s), %s objects, %s report writes (API server: %d) |"
              % (second["seconds"], second["cpuSeconds"], second["objects"], second["reportWrites"], writes2))
        print("| peak RSS of aimguard (VmHWM) | %.1f MiB |" % peak)
        print("| RSS after the passes / with --audit-interval 0 (no audit caches) | %.1f MiB / %.1f MiB |"
              % (now, base_rss))
        assert writes2 == 0, "an unchanged world was written"
    finally:
        api.stop()


if __name__ == "__main__":
    sys.exit(main())
