#!/usr/bin/env bash
# aimguard's benchmark (not part of ctest). Run after ./scripts/test.sh has built build/.
#   ./test/bench/run.sh [SECONDS_PER_RUN]        (default 10)
#   AG_BENCH_BODIES="real-create-deployment ..." (a subset of the bodies, in that order)
#   AG_BENCH_QUICK=1 (only the throughput and fixed-rate runs; docs/benchmarks.md untouched)
# Starts `aimguard serve` on loopback with the default policies and the dev certs, drives
# /mutate and /validate with wrk over TLS keep-alive for six bodies (two of them reviews
# captured from a real kube-apiserver, byte for byte; see make_bodies.py), measures
# nginx serving a static answer of the same size over TLS with the same wrk script (the
# ceiling), and reports throughput, latency percentiles, peak RSS, CPU per request, cold
# start, policy reload of 1,000 rules, and a fixed-rate (1,000 req/s) latency run.
# Prints a Markdown table and writes it to docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
secs=${1:-10}
bin=${AG_BIN:-$root/build/aimguard}
[[ -x $bin ]] || { echo "build first: ./scripts/test.sh" >&2; exit 1; }

need=()
for p in wrk nginx-light python3-yaml; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need+=("$p")
done
if ((${#need[@]})); then
  sudo=""; [[ $(id -u) -ne 0 ]] && sudo=sudo
  DEBIAN_FRONTEND=noninteractive $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}"
fi

work=$(mktemp -d /tmp/ag-bench-XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
./certs/gen-dev-certs.sh "$work/certs" >/dev/null
/usr/bin/python3 test/bench/make_bodies.py "$root" "$work/bodies" >/dev/null
cp -r policies/default "$work/policies"

free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
port=$(free_port)
"$bin" serve --listen "127.0.0.1:$port" --metrics-listen off --tls-cert "$work/certs/tls.crt" \
  --tls-key "$work/certs/tls.key" --policies "$work/policies" --ready-file "$work/ready" \
  2>"$work/aimguard.log" &
ag=$!; pids+=("$ag")
for _ in $(seq 200); do [[ -s $work/ready ]] && break; sleep 0.05; done
[[ -s $work/ready ]] || { cat "$work/aimguard.log"; exit 1; }
sleep 0.5
idle_kb=$(awk '/VmRSS/ {print $2}' "/proc/$ag/status")

wrk_run() { # url body [conns] [delay_ms] -> JSON line
  BODY=$2 DELAY_MS=${4:-0} wrk -t2 -c"${3:-16}" -d"${secs}s" --timeout 5s -s test/bench/post.lua "$1" | tail -1
}
cpu_ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)

declare -A AG NG
bodies=${AG_BENCH_BODIES:-"real-create-deployment real-update-replicas pod-small aim-deployment-8k pod-50-containers aimservice"}
quick=${AG_BENCH_QUICK:-0}
for b in $bodies; do
  for route in mutate validate; do
    t0=$(cpu_ticks "$ag")
    AG[$b/$route]=$(wrk_run "https://127.0.0.1:$port/$route" "$work/bodies/$b.json")
    t1=$(cpu_ticks "$ag")
    AG[$b/$route/cpu]=$((t1 - t0))
  done
done

# fixed rate: 2 connections x 1 request per 2 ms = up to 1,000 req/s, both routes, on each
# real review (and the hand-made 8 KB Deployment of earlier runs)
fixed_bodies=""
for b in real-create-deployment real-update-replicas aim-deployment-8k; do
  [[ " $bodies " == *" $b "* ]] && fixed_bodies+=" $b"
done
declare -A FX
for b in $fixed_bodies; do
  for route in mutate validate; do
    FX[$b/$route]=$(wrk_run "https://127.0.0.1:$port/$route" "$work/bodies/$b.json" 2 2)
  done
done
peak_kb=$(awk '/VmHWM/ {print $2}' "/proc/$ag/status")
reload=""; compile=""; startup=""
if [[ $quick != 1 ]]; then

# policy reload of 1,000 rules, end to end (write -> new generation on /readyz)
reload=$(/usr/bin/python3 - "$work/policies" "$port" "$work/certs/ca.crt" <<'PY'
import http.client, json, os, ssl, sys, time
pol, port, ca = sys.argv[1], int(sys.argv[2]), sys.argv[3]
ctx = ssl.create_default_context(cafile=ca)
def gen():
    c = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=5)
    c.request("GET", "/readyz"); return json.loads(c.getresponse().read())["policyGeneration"]
lines = []
for p in range(10):
    lines.append("---\napiVersion: policy.aimguard.io/v1alpha1\nkind: AdmissionPolicy\nmetadata: {name: many-%d}\n"
                 "spec:\n  action: audit\n  match: {kinds: [Pod]}\n  validate:\n    rules:\n" % p)
    for r in range(100):
        lines.append("      - {name: r%d, path: 'podSpec.allContainers[*].image', notMatches: '^evil%d\\\\.example/'}\n" % (r, r))
g0 = gen()
t0 = time.perf_counter()
tmp = os.path.join(pol, ".many.tmp")
open(tmp, "w").write("".join(lines))
os.rename(tmp, os.path.join(pol, "50-many.yaml"))
while gen() == g0:
    time.sleep(0.002)
print("%.0f" % ((time.perf_counter() - t0) * 1000))
PY
)
# the three rule sets' rows (v1alpha1 mix, v1alpha2 vocabulary, cookbook recipes), joined by ';'
compile=$(AG_SRC=$root "$(dirname "$bin")/test/bench_policy" 1000 20000 | tail -3 | paste -sd ';')
fi
kill -TERM "$ag"; wait "$ag" || true

# nginx ceiling: a static answer of the same size as aimguard's, same TLS, same wrk
ngport=$(free_port)
mkdir -p "$work/nginx"
# size each static answer like aimguard's /mutate answer (wrk's byte count per request,
# less nginx's longer headers)
for b in $bodies; do
  j=${AG[$b/mutate]}
  size=$(/usr/bin/python3 -c 'import json,sys; d=json.loads(sys.argv[1]); print(max(1, d["bytes"]//max(1,d["requests"]) - 160))' "$j")
  head -c "$size" /dev/zero | tr '\0' 'x' > "$work/nginx/$b.json"
done
cat > "$work/nginx/nginx.conf" <<NGX
worker_processes 2;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_buffer_size 512k;
  client_max_body_size 4m;
  keepalive_requests 1000000;
  ssl_protocols TLSv1.2 TLSv1.3;
  server {
    listen 127.0.0.1:$ngport ssl;
    ssl_certificate $work/certs/tls.crt;
    ssl_certificate_key $work/certs/tls.key;
    root $work/nginx;
    default_type application/json;
    location / { error_page 405 =200 \$uri; }
  }
}
NGX
nginx -c "$work/nginx/nginx.conf" -p "$work/nginx"
sleep 0.3
for b in $bodies; do
  NG[$b]=$(wrk_run "https://127.0.0.1:$ngport/$b.json" "$work/bodies/$b.json")
done
kill "$(cat "$work/nginx/nginx.pid")" 2>/dev/null || true

[[ $quick != 1 ]] && startup=$(AG_BIN=$bin test/bench/startup.sh 20 | tail -1)

/usr/bin/python3 - "$secs" "$idle_kb" "$peak_kb" "$hz" "$reload" "$compile" "$startup" <<PY > "$work/table.md"
import json, sys, platform, os, subprocess
secs, idle_kb, peak_kb, hz = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
reload_ms, compile_row, startup_row = sys.argv[5], sys.argv[6], sys.argv[7]
AG = {}
NG = {}
FX = {}
$(for b in $fixed_bodies; do for r in mutate validate; do echo "FX['$b/$r'] = json.loads('${FX[$b/$r]}')"; done; done)
$(for b in $bodies; do for r in mutate validate; do echo "AG['$b/$r'] = json.loads('${AG[$b/$r]}'); AG['$b/$r']['cpu'] = ${AG[$b/$r/cpu]}"; done; echo "NG['$b'] = json.loads('${NG[$b]}')"; done)
def rps(d): return d["requests"] / (d["duration_us"] / 1e6)
def errs(d): return sum(d[k] for k in ("err_connect", "err_read", "err_write", "err_status", "err_timeout"))
cpu = open("/proc/cpuinfo").read()
model = [l.split(":", 1)[1].strip() for l in cpu.splitlines() if l.startswith("model name")][:1]
print("Machine: %s, %d CPUs, %s, Linux %s. wrk -t2 -c16 -d%ds over TLS keep-alive, on the same machine." %
      (model[0] if model else "?", os.cpu_count(), subprocess.run(["sh","-c","free -g | awk '/Mem/ {print \$2\" GiB RAM\"}'"],capture_output=True,text=True).stdout.strip(), platform.release(), secs))
print()
print("| body | route | aimguard req/s | p50 ms | p99 ms | p99.9 ms | CPU ms/req | nginx req/s | aimguard/nginx | non-2xx/errors |")
print("|---|---|---|---|---|---|---|---|---|---|")
for b in "$bodies".split():
    for r in ("mutate", "validate"):
        d = AG[b + "/" + r]; n = NG[b]
        cpu_ms = d["cpu"] * 1000.0 / hz / max(1, d["requests"])
        print("| %s | /%s | %.0f | %.2f | %.2f | %.2f | %.3f | %.0f | %.0f%% | %d |" % (
            b, r, rps(d), d["p50_us"] / 1000, d["p99_us"] / 1000, d["p999_us"] / 1000, cpu_ms, rps(n),
            100 * rps(d) / rps(n), errs(d)))
print()
print("| measure | value |")
print("|---|---|")
for k in sorted(FX):
    f = FX[k]
    b, r = k.split("/")
    print("| fixed rate /%s %s (2 conns, 1 req/2 ms each) | %.0f req/s, p50 %.2f ms, p99 %.2f ms, p99.9 %.2f ms, %d errors |" % (
        r, b, rps(f), f["p50_us"] / 1000, f["p99_us"] / 1000, f["p999_us"] / 1000, errs(f)))
print("| aimguard RSS idle (after start, default policies) | %.1f MiB |" % (idle_kb / 1024))
print("| aimguard peak RSS (VmHWM) over all runs | %.1f MiB |" % (peak_kb / 1024))
if not reload_ms:
    sys.exit(0)
print("| policy reload of 1,000 rules, file written -> new generation served | %s ms (includes the 150 ms debounce) |" % reload_ms)
for row in compile_row.split(";"):
    c = [x.strip() for x in row.strip().strip("|").split("|")]  # set, rules, compile, decide
    print("| compile %s rules, %s (bench_policy) | %s |" % (c[1], c[0], c[2]))
    print("| decide per request with %s rules, %s (bench_policy) | %s |" % (c[1], c[0], c[3]))
s = startup_row.strip().strip("|").split("|")
print("| cold start to /readyz 200 (min / median / max of 20) | %s / %s / %s ms |" % (s[1].strip(), s[2].strip(), s[3].strip()))
PY
if [[ $quick == 1 ]]; then cat "$work/table.md"; exit 0; fi
{
  echo "# Benchmarks"
  echo
  echo "Made by \`./test/bench/run.sh $secs\` on $(date -u +%Y-%m-%d). Release build (RelWithDebInfo),"
  echo "default policies (\`policies/default\`), dev certificates (ECDSA P-256), logs at info to a file."
  echo "Targets, profile and what dominates: docs/performance.md."
  echo
  cat "$work/table.md"
} > docs/benchmarks.md
cat docs/benchmarks.md
