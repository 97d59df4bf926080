#!/usr/bin/env bash
# aimguard's benchmark (not part of ctest). Run after ./scripts/test.sh has built build/.
#   ./test/bench/run.sh [SECONDS_PER_RUN]        (default 10)
#   AG_BENCH_BODIES="real-create-deployment ..." (a subset of the bodies, in that order)
#   AG_BENCH_QUICK=1 (only the throughput and fixed-rate runs; docs/benchmarks.md untouched)
#   AG_BENCH_BUILDS="before=/path/to/aimguard after=build/aimguard" (several builds measured
#                   side by side in the same rounds; default: build/aimguard, or AG_BIN)
#   AG_BENCH_ROUNDS=5 (the full-load runs are cut in this many interleaved rounds)
# Starts `aimguard serve` on loopback with the default policies and the dev certs (one per
# build), drives /mutate and /validate with wrk over TLS keep-alive for six bodies (two of
# them reviews captured from a real kube-apiserver, byte for byte; see make_bodies.py),
# measures nginx serving a static answer of the same size over TLS with the same wrk
# script (the ceiling) in the same rounds, and reports throughput and its share of the
# ceiling (over all rounds and in the worst round), latency percentiles, peak RSS, CPU per
# request, cold start, policy reload of 1,000 rules, and a fixed-rate (1,000 req/s)
# latency run. Prints a Markdown table (test/bench/report.py) and writes it to
# docs/benchmarks.md.
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
# the builds to measure: label=path pairs (default: this checkout's build as "aimguard");
# each gets its own server, and all of them are measured in the same interleaved rounds
builds=${AG_BENCH_BUILDS:-"aimguard=$bin"}
labels=()
declare -A BIN PORT PID
for lb in $builds; do
  l=${lb%%=*}; p=${lb#*=}
  [[ -x $p ]] || { echo "run.sh: $p is not an executable (AG_BENCH_BUILDS: $lb)" >&2; exit 1; }
  labels+=("$l"); BIN[$l]=$p
done
for l in "${labels[@]}"; do
  PORT[$l]=$(free_port)
  "${BIN[$l]}" serve --listen "127.0.0.1:${PORT[$l]}" --metrics-listen off --tls-cert "$work/certs/tls.crt" \
    --tls-key "$work/certs/tls.key" --policies "$work/policies" --ready-file "$work/ready-$l" \
    2>"$work/aimguard-$l.log" &
  PID[$l]=$!; pids+=("${PID[$l]}")
  for _ in $(seq 200); do [[ -s $work/ready-$l ]] && break; sleep 0.05; done
  [[ -s $work/ready-$l ]] || { cat "$work/aimguard-$l.log"; exit 1; }
done
sleep 0.5
results=$work/results.jsonl
for l in "${labels[@]}"; do
  echo "{\"kind\":\"idle\",\"label\":\"$l\",\"kb\":$(awk '/VmRSS/ {print $2}' "/proc/${PID[$l]}/status")}" >>"$results"
done

wrk_run() { # url body seconds [conns] [delay_ms] -> JSON line
  BODY=$2 DELAY_MS=${5:-0} wrk -t2 -c"${4:-16}" -d"${3}s" --timeout 5s -s test/bench/post.lua "$1" | tail -1
}
cpu_ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)

bodies=${AG_BENCH_BODIES:-"real-create-deployment real-update-replicas pod-small aim-deployment-8k pod-50-containers aimservice"}
quick=${AG_BENCH_QUICK:-0}
rounds=${AG_BENCH_ROUNDS:-5}
slice=$(( secs / rounds > 0 ? secs / rounds : 1 ))

# nginx, the ceiling: a static answer of the same size as aimguard's /mutate answer (a one-
# second probe of the first build: wrk's bytes per request, less nginx's longer headers),
# same TLS, same wrk script
ngport=$(free_port)
mkdir -p "$work/nginx"
for b in $bodies; do
  j=$(wrk_run "https://127.0.0.1:${PORT[${labels[0]}]}/mutate" "$work/bodies/$b.json" 1)
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
ngstop() { kill "$(cat "$work/nginx/nginx.pid" 2>/dev/null)" 2>/dev/null || true; }
trap 'ngstop; cleanup' EXIT
sleep 0.3

# Full load, in rounds: each round measures nginx, then every build's /mutate and
# /validate, for `slice` seconds each, so that a machine whose speed drifts (shared cores)
# moves the ceiling and the builds alike; the report sums the rounds.
for b in $bodies; do
  for ((k = 1; k <= rounds; k++)); do
    j=$(wrk_run "https://127.0.0.1:$ngport/$b.json" "$work/bodies/$b.json" "$slice")
    echo "{\"kind\":\"nginx\",\"body\":\"$b\",\"round\":$k,\"wrk\":$j}" >>"$results"
    for l in "${labels[@]}"; do
      for route in mutate validate; do
        t0=$(cpu_ticks "${PID[$l]}")
        j=$(wrk_run "https://127.0.0.1:${PORT[$l]}/$route" "$work/bodies/$b.json" "$slice")
        t1=$(cpu_ticks "${PID[$l]}")
        echo "{\"kind\":\"load\",\"label\":\"$l\",\"body\":\"$b\",\"route\":\"$route\",\"round\":$k,\"cpu\":$((t1 - t0)),\"wrk\":$j}" >>"$results"
      done
    done
  done
done
ngstop

# fixed rate: 2 connections x 1 request per 2 ms = up to 1,000 req/s, both routes, on each
# real review (and the hand-made 8 KB Deployment of earlier runs), for every build
for b in real-create-deployment real-update-replicas aim-deployment-8k; do
  [[ " $bodies " == *" $b "* ]] || continue
  for l in "${labels[@]}"; do
    for route in mutate validate; do
      j=$(wrk_run "https://127.0.0.1:${PORT[$l]}/$route" "$work/bodies/$b.json" "$secs" 2 2)
      echo "{\"kind\":\"fixed\",\"label\":\"$l\",\"body\":\"$b\",\"route\":\"$route\",\"wrk\":$j}" >>"$results"
    done
  done
done
for l in "${labels[@]}"; do
  echo "{\"kind\":\"peak\",\"label\":\"$l\",\"kb\":$(awk '/VmHWM/ {print $2}' "/proc/${PID[$l]}/status")}" >>"$results"
done

reload=""; compile=""; startup=""
if [[ $quick != 1 ]]; then
# policy reload of 1,000 rules, end to end (write -> new generation on /readyz), on the
# first build
reload=$(/usr/bin/python3 - "$work/policies" "${PORT[${labels[0]}]}" "$work/certs/ca.crt" <<'PY'
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
for l in "${labels[@]}"; do kill -TERM "${PID[$l]}"; wait "${PID[$l]}" || true; done

[[ $quick != 1 ]] && startup=$(AG_BIN=$bin test/bench/startup.sh 20 | tail -1)

/usr/bin/python3 test/bench/report.py "$results" "$secs" "$rounds" "$hz" "$reload" "$compile" "$startup" > "$work/table.md"
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
