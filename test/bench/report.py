"""run.sh's report: reads the results it wrote (one JSON object per line) and prints the
Markdown tables of docs/benchmarks.md.
usage: report.py RESULTS.jsonl SECONDS ROUNDS CLK_TCK [RELOAD_MS] [COMPILE_ROWS] [STARTUP_ROW]

Full load is measured in rounds (run.sh): in each round nginx, then every build's /mutate
and /validate. A build's req/s is its requests over its time summed over the rounds, and
its share of the ceiling is that against nginx's, summed the same way; "worst round" is the
lowest share of a single round (its run against the nginx run of the same round)."""
import json
import os
import platform
import statistics
import subprocess
import sys

path, secs, rounds, hz = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
reload_ms = sys.argv[5] if len(sys.argv) > 5 else ""
compile_rows = sys.argv[6] if len(sys.argv) > 6 else ""
startup_row = sys.argv[7] if len(sys.argv) > 7 else ""

rows = [json.loads(line) for line in open(path) if line.strip()]
labels, bodies = [], []
for r in rows:
    if r.get("label") and r["label"] not in labels:
        labels.append(r["label"])
    if r["kind"] == "nginx" and r["body"] not in bodies:
        bodies.append(r["body"])


def rps(d):
    return d["requests"] / (d["duration_us"] / 1e6)


def errs(d):
    return sum(d[k] for k in ("err_connect", "err_read", "err_write", "err_status", "err_timeout"))


def total(runs):
    req = sum(x["wrk"]["requests"] for x in runs)
    us = sum(x["wrk"]["duration_us"] for x in runs)
    return req / (us / 1e6) if us else 0.0, req


cpu = open("/proc/cpuinfo").read()
model = [l.split(":", 1)[1].strip() for l in cpu.splitlines() if l.startswith("model name")][:1]
ram = subprocess.run(["sh", "-c", "free -g | awk '/Mem/ {print $2\" GiB RAM\"}'"], capture_output=True,
                     text=True).stdout.strip()
slice_s = max(1, secs // rounds)
print("Machine: %s, %d CPUs, %s, Linux %s. wrk -t2 -c16 over TLS keep-alive, on the same machine; "
      "full load in %d rounds of %d s per build and route, nginx (the ceiling) measured in every round." %
      (model[0] if model else "?", os.cpu_count(), ram, platform.release(), rounds, slice_s))
print()
print("| build | body | route | req/s | p50 ms | p99 ms | p99.9 ms | CPU ms/req | nginx req/s | "
      "share of nginx | worst round | non-2xx/errors |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|")
for b in bodies:
    ng = [x for x in rows if x["kind"] == "nginx" and x["body"] == b]
    ng_rps, _ = total(ng)
    ng_by_round = {x["round"]: rps(x["wrk"]) for x in ng}
    for l in labels:
        for route in ("mutate", "validate"):
            runs = [x for x in rows if x["kind"] == "load" and x["label"] == l and x["body"] == b and
                    x["route"] == route]
            if not runs:
                continue
            ag_rps, req = total(runs)
            worst = min(rps(x["wrk"]) / ng_by_round[x["round"]] for x in runs)
            cpu_ms = sum(x["cpu"] for x in runs) * 1000.0 / hz / max(1, req)
            print("| %s | %s | /%s | %.0f | %.2f | %.2f | %.2f | %.3f | %.0f | %.0f%% | %.0f%% | %d |" % (
                l, b, route, ag_rps, statistics.median(x["wrk"]["p50_us"] for x in runs) / 1000,
                max(x["wrk"]["p99_us"] for x in runs) / 1000, max(x["wrk"]["p999_us"] for x in runs) / 1000,
                cpu_ms, ng_rps, 100 * ag_rps / ng_rps, 100 * worst, sum(errs(x["wrk"]) for x in runs)))
print()
print("p50: the median of the rounds; p99 and p99.9: the worst round's.")
print()
print("| measure | value |")
print("|---|---|")
for x in rows:
    if x["kind"] != "fixed":
        continue
    f = x["wrk"]
    print("| %s: fixed rate /%s %s (2 conns, 1 req/2 ms each) | %.0f req/s, p50 %.2f ms, p99 %.2f ms, "
          "p99.9 %.2f ms, %d errors |" % (x["label"], x["route"], x["body"], rps(f), f["p50_us"] / 1000,
                                          f["p99_us"] / 1000, f["p999_us"] / 1000, errs(f)))
for x in rows:
    if x["kind"] == "idle":
        print("| %s: RSS idle (after start, default policies) | %.1f MiB |" % (x["label"], x["kb"] / 1024))
for x in rows:
    if x["kind"] == "peak":
        print("| %s: peak RSS (VmHWM) over all runs | %.1f MiB |" % (x["label"], x["kb"] / 1024))
if not reload_ms:
    sys.exit(0)
print("| policy reload of 1,000 rules, file written -> new generation served | %s ms (includes the 150 ms "
      "debounce) |" % reload_ms)
for row in compile_rows.split(";"):
    c = [x.strip() for x in row.strip().strip("|").split("|")]  # set, rules, compile, decide
    print("| compile %s rules, %s (bench_policy) | %s |" % (c[1], c[0], c[2]))
    print("| decide per request with %s rules, %s (bench_policy) | %s |" % (c[1], c[0], c[3]))
s = startup_row.strip().strip("|").split("|")
print("| cold start to /readyz 200 (min / median / max of 20) | %s / %s / %s ms |" % (s[1].strip(), s[2].strip(),
                                                                                    s[3].strip()))
