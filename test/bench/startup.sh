#!/usr/bin/env bash
# Cold start to ready: time from exec of `aimguard serve` (dev certs, default policies)
# until GET /readyz answers 200. Prints min/median/max of N runs (default 20).
# usage: test/bench/startup.sh [RUNS]     (after ./scripts/test.sh has built build/)
set -euo pipefail
cd "$(dirname "$0")/../.."
runs=${1:-20}
bin=${AG_BIN:-build/aimguard}
[[ -x $bin ]] || { echo "build first: ./scripts/test.sh" >&2; exit 1; }
./certs/gen-dev-certs.sh >/dev/null
/usr/bin/python3 - "$bin" "$runs" <<'PY'
import http.client, ssl, subprocess, sys, time, socket, statistics
bin, runs = sys.argv[1], int(sys.argv[2])
ctx = ssl.create_default_context(cafile="certs/dev/ca.crt")
times = []
for i in range(runs):
    s = socket.socket(); s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]; s.close()
    t0 = time.perf_counter()
    p = subprocess.Popen([bin, "serve", "--listen", "127.0.0.1:%d" % port, "--metrics-listen", "off",
                          "--tls-cert", "certs/dev/tls.crt", "--tls-key", "certs/dev/tls.key",
                          "--policies", "policies/default", "--log-level", "warn"])
    while True:
        try:
            c = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=1)
            c.request("GET", "/readyz")
            if c.getresponse().status == 200:
                break
        except OSError:
            time.sleep(0.001)
    times.append(time.perf_counter() - t0)
    p.terminate(); p.wait()
ms = sorted(t * 1000 for t in times)
print("| cold start to /readyz 200 (ms, %d runs) | min | median | max |" % runs)
print("|---|---|---|---|")
print("| aimguard serve, dev certs, policies/default | %.1f | %.1f | %.1f |" % (ms[0], statistics.median(ms), ms[-1]))
PY
