#!/usr/bin/python3
"""`aimguard eval` over a directory of N manifests (default 1,000) in one process: wall
time, objects per second, peak RSS, and a check that every object got its result line.

The tree is what a kustomize/helm output directory looks like: per team a folder of
Deployments (the ~7 KB AIM inference pod shape, half of them privileged so they are
denied), Pods, Jobs, Services and ConfigMaps, some files holding several documents, one
file per team being a `kind: List`.

usage: /usr/bin/python3 test/bench/eval_dir.py [MANIFESTS] [RUNS]   (after building build/)
"""
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time

SRC = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BIN = os.environ.get("AG_BIN", os.path.join(SRC, "build", "aimguard"))


def deployment(team, i, privileged):
    c = {"name": "inference", "image": "docker.io/amdenterpriseai/aim-base:0.8.4",
         "args": ["--model", "meta-llama/Llama-3.1-8B-Instruct", "--port", "8000"],
         "env": [{"name": "HF_HOME", "value": "/workspace/cache"}, {"name": "VLLM_USE_TRITON_FLASH_ATTN", "value": "0"},
                 {"name": "HF_TOKEN", "valueFrom": {"secretKeyRef": {"name": "hf-credentials", "key": "token"}}}],
         "ports": [{"name": "http", "containerPort": 8000}],
         "resources": {"limits": {"amd.com/gpu": "1", "memory": "64Gi", "cpu": "8"},
                       "requests": {"amd.com/gpu": "1", "memory": "32Gi", "cpu": "4"}},
         "readinessProbe": {"httpGet": {"path": "/health", "port": 8000}, "periodSeconds": 10},
         "volumeMounts": [{"name": "cache", "mountPath": "/workspace/cache"}, {"name": "shm", "mountPath": "/dev/shm"}]}
    if privileged:
        c["securityContext"] = {"privileged": True}
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "llm-%d" % i, "namespace": team, "labels": {"app": "llm-%d" % i, "team": team}},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "llm-%d" % i}},
                     "template": {"metadata": {"labels": {"app": "llm-%d" % i}},
                                  "spec": {"containers": [c],
                                           "volumes": [{"name": "cache", "persistentVolumeClaim": {"claimName": "cache"}},
                                                       {"name": "shm", "emptyDir": {"medium": "Memory", "sizeLimit": "8Gi"}}]}}}}


def small(kind, team, i):
    if kind == "ConfigMap":
        return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg-%d" % i, "namespace": team},
                "data": {"MODEL": "llama", "PORT": "8000"}}
    if kind == "Service":
        return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "svc-%d" % i, "namespace": team},
                "spec": {"selector": {"app": "llm-%d" % i}, "ports": [{"port": 80, "targetPort": 8000}]}}
    if kind == "Job":
        return {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "dl-%d" % i, "namespace": team},
                "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [
                    {"name": "dl", "image": "docker.io/amdenterpriseai/aim-base:0.8.4", "args": ["download"]}]}}}}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "pod-%d" % i, "namespace": team},
            "spec": {"containers": [{"name": "c", "image": "docker.io/amdenterpriseai/aim-base:0.8.4"}]}}


def make_tree(root, n):
    """n objects across 10 team folders; returns the number of objects written."""
    kinds = ["Deployment", "Deployment", "Pod", "Job", "Service", "ConfigMap"]
    objs = {}
    for i in range(n):
        team = "team-%d" % (i % 10)
        kind = kinds[i % len(kinds)]
        o = deployment(team, i, privileged=(i // len(kinds)) % 2 == 0) if kind == "Deployment" else small(kind, team, i)
        objs.setdefault(team, []).append(o)
    written = 0
    for team, items in objs.items():
        d = os.path.join(root, team, "manifests")
        os.makedirs(d)
        # one List per team (kubectl get -o yaml), pairs in multi-document files, the rest one per file
        lst, rest = items[:5], items[5:]
        with open(os.path.join(d, "list.json"), "w") as f:
            json.dump({"apiVersion": "v1", "kind": "List", "items": lst}, f)
        written += len(lst)
        for j in range(0, len(rest), 2):
            pair = rest[j:j + 2]
            with open(os.path.join(d, "m%04d.yaml" % j), "w") as f:
                f.write("---\n".join(json.dumps(o) + "\n" for o in pair))  # JSON is YAML
            written += len(pair)
    return written


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    root = tempfile.mkdtemp(prefix="ag-bench-eval-")
    try:
        total = make_tree(root, n)
        size = sum(os.path.getsize(os.path.join(dp, f)) for dp, _, fs in os.walk(root) for f in fs)
        times = []
        for _ in range(runs):
            t0 = time.perf_counter()
            p = subprocess.run([BIN, "eval", "-p", os.path.join(SRC, "policies", "default"), "-f", root],
                               capture_output=True, text=True)
            times.append(time.perf_counter() - t0)
            assert p.returncode == 1, (p.returncode, p.stderr[-2000:])  # half the Deployments are privileged
            lines = p.stdout.splitlines()
            assert len(lines) == total + 1, (len(lines), total)
            m = re.match(r"(\d+) objects: (\d+) allowed, (\d+) warned, (\d+) denied, (\d+) errors", lines[-1])
            assert m and int(m.group(1)) == total and int(m.group(5)) == 0, lines[-1]
        rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        times.sort()
        med = times[len(times) // 2]
        print("eval of a directory: %d objects in %d files (%.1f MiB), one process" %
              (total, sum(len(fs) for _, _, fs in os.walk(root)), size / 2**20))
        print("  result: %s" % lines[-1])
        print("  wall time: min %.3f s, median %.3f s, max %.3f s over %d runs" % (times[0], med, times[-1], runs))
        print("  throughput (median): %.0f objects/s" % (total / med))
        print("  peak RSS: %.1f MiB" % rss)
    finally:
        shutil.rmtree(root)


if __name__ == "__main__":
    main()
