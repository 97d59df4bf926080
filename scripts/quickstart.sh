#!/usr/bin/env bash
# The first README command: install what is missing, build, make dev certificates and
# run aimguard in the foreground on 127.0.0.1:9443 with the default policies.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/deps.sh build
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DAG_SANITIZE=OFF -DAG_FUZZ=OFF >/dev/null
cmake --build build -j"$(nproc)"
./certs/gen-dev-certs.sh
root=$(pwd)
cat <<MSG

aimguard is starting on https://127.0.0.1:9443 with the default policies in policies/default/.
In another terminal, send it a sample AdmissionReview:

  curl -sS --cacert $root/certs/dev/ca.crt -H 'Content-Type: application/json' \\
    --data-binary @$root/test/fixtures/reviews/pod-unhardened.json \\
    https://127.0.0.1:9443/mutate | python3 -m json.tool

and decode the patch it returns:

  curl -sS --cacert $root/certs/dev/ca.crt -H 'Content-Type: application/json' \\
    --data-binary @$root/test/fixtures/reviews/pod-unhardened.json \\
    https://127.0.0.1:9443/mutate | python3 -c 'import json,sys,base64; print(json.dumps(json.loads(base64.b64decode(json.load(sys.stdin)["response"]["patch"])), indent=2))'

Metrics: curl -sS http://127.0.0.1:8443/metrics      Stop: Ctrl-C
MSG
exec ./build/aimguard serve --listen 127.0.0.1:9443 --metrics-listen 127.0.0.1:8443 \
  --metrics-insecure --tls-cert certs/dev/tls.crt --tls-key certs/dev/tls.key --policies policies/default
