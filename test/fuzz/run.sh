#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (build-fuzz/) and runs each for SECONDS
# (default 60) on seed corpora made from shared/conformance, the test fixtures, the
# shipped policies and test/fuzz/regressions/<target>/ (libFuzzer runs every seed first,
# so the smoke test replays the regressions). Crashes are written to
# build-fuzz/crashes/<target>/ and fail the run.
#   test/fuzz/run.sh [SECONDS] [TARGET...]
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
secs=${1:-60}
shift || true
if ! command -v clang >/dev/null || ! dpkg-query -W -f='${Status}' libclang-rt-14-dev 2>/dev/null | grep -q "ok installed"; then
  sudo=""; [[ $(id -u) -ne 0 ]] && sudo=sudo
  DEBIAN_FRONTEND=noninteractive $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends clang libclang-rt-14-dev
fi
CC=clang cmake -S . -B build-fuzz -DAG_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
targets=("$@")
if ((${#targets[@]} == 0)); then
  mapfile -t targets < <(cd test/fuzz && ls fuzz_*.c | sed 's/\.c$//')
fi
cmake --build build-fuzz -j"$(nproc)" --target "${targets[@]}" >/dev/null

shared=${AG_SHARED:-$root/../shared}
seeds=build-fuzz/seeds
rm -rf "$seeds"
mkdir -p "$seeds"/{fuzz_review,fuzz_policy,fuzz_yaml,fuzz_imageref,fuzz_watch,fuzz_json}
cp "$shared"/conformance/admissionreview/*.json test/fixtures/reviews/*.json "$seeds/fuzz_review/"
/usr/bin/python3 - "$shared" "$seeds/fuzz_review" <<'PY'
import glob, json, os, sys, yaml
shared, out = sys.argv[1], sys.argv[2]
for i, f in enumerate(sorted(glob.glob(os.path.join(shared, "conformance", "psa", "*", "*", "*.yaml")))):
    pod = yaml.safe_load(open(f))
    r = {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {
        "uid": "u%d" % i, "kind": {"group": "", "version": "v1", "kind": "Pod"},
        "resource": {"group": "", "version": "v1", "resource": "pods"}, "namespace": "team-a",
        "operation": "CREATE", "userInfo": {"username": "u"}, "object": pod}}
    json.dump(r, open(os.path.join(out, "psa-%03d.json" % i), "w"))
PY
find policies -name '*.yaml' -exec cp {} "$seeds/fuzz_policy/" \;
# the rule vocabulary: every cookbook recipe's policy
for f in test/cookbook/*/policy.yaml; do cp "$f" "$seeds/fuzz_policy/cookbook-$(basename "$(dirname "$f")").yaml"; done
cp "$shared"/reference/aim-samples/*.yaml "$seeds/fuzz_yaml/"
i=0; for f in "$shared"/conformance/psa/*/*/*.yaml; do cp "$f" "$seeds/fuzz_yaml/psa-$((i++)).yaml"; done
cp "$shared"/reference/aim-samples/*.yaml "$seeds/fuzz_policy/" 2>/dev/null || true
# image references: every image named in the fixtures, one per file
grep -rhoE '(image|baseImage|modelDownloadImage): *"?[^" ]+' "$shared"/conformance "$shared"/reference/aim-samples test/fixtures 2>/dev/null \
  | sed -E 's/^[a-zA-Z]+: *"?//' | sort -u | awk -v d="$seeds/fuzz_imageref" '{ f = d "/img-" NR; printf "%s", $0 > f; close(f) }'
printf 'docker.io/amdenterpriseai/aim-llama@sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855' > "$seeds/fuzz_imageref/digest"
printf '[::1]:5000/x/y:tag' > "$seeds/fuzz_imageref/ipv6"
# watch streams: events as the API server sends them
printf '\001{"type":"ADDED","object":{"metadata":{"name":"a","resourceVersion":"5"}}}\n{"type":"BOOKMARK","object":{"metadata":{"resourceVersion":"9"}}}\n' > "$seeds/fuzz_watch/events"
printf '\003{"type":"ERROR","object":{"kind":"Status","code":410,"reason":"Expired"}}\n' > "$seeds/fuzz_watch/expired"
# JSON: the real reviews (the shape the prune table is for) and the reader's edge cases
cp "$shared"/conformance/admissionreview/*.json test/fixtures/reviews/*.json "$seeds/fuzz_json/"
j=$seeds/fuzz_json
printf '{"a":1,"a":2}' > "$j/dup"
printf '{"a":{"x":1,"x":2},"b":{"c":{"y":[1,{"z":0,"z":1}]},"d":3}}' > "$j/dup-pruned"
printf '{"a":1,"b":{"c":"x","d":[],"c2":1},"e":{"f":{"g":{"h":1}}},"":{"x":1,"y":2}}' > "$j/prune"
printf '["\\u00e9\\ud83d\\ude00\\u0041\\n\\/\\"\\\\\\b\\f\\r\\t\\u001F\\u007f\\u0080\\u07FF\\u0800\\uFFFF"]' > "$j/escapes"
printf '["\xc2\x80\xdf\xbf\xe0\xa0\x80\xef\xbf\xbf\xf0\x90\x80\x80\xf4\x8f\xbf\xbf\x7f"]' > "$j/utf8"
printf '["\xed\xa0\x80"]' > "$j/utf8-surrogate"
printf '["\\ud800"]' > "$j/lone-high"
printf '[0,-0,-0.0,1e300,1e999,1e-400,0.1,1E+2,-9223372036854775808,9223372036854775807,9223372036854775808,123456789012345678.0,1e-7]' > "$j/numbers"
printf '[true,false,null,{},[],[[]],{"":""}] \n\t\r' > "$j/literals"
printf '{"k\\u0000":1}' > "$j/nul-key"
# inputs that once failed a target (test/fuzz/regressions/<target>/): replayed with the seeds
for d in test/fuzz/regressions/*/; do
  t=$(basename "$d")
  if [[ -d "$seeds/$t" ]]; then cp "$d"* "$seeds/$t/"; fi
done

status=0
for t in "${targets[@]}"; do
  corpus=build-fuzz/corpus/$t
  crashes=build-fuzz/crashes/$t
  mkdir -p "$corpus" "$crashes"
  log=build-fuzz/$t.log
  dict=""; [[ -f test/fuzz/$t.dict ]] && dict="-dict=test/fuzz/$t.dict"
  echo "== $t for ${secs}s"
  # ASan keeps freed memory in quarantine and caches, so a long run's RSS climbs while
  # the live heap stays flat (a release build loading the whole policy corpus 8 times
  # stays at 19.8 MiB): the RSS limit is for runaway inputs, not for that drift.
  if ! AG_SRC=$root ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1:quarantine_size_mb=64 \
      "build-fuzz/test/$t" -max_total_time="$secs" -max_len=262144 -rss_limit_mb=4096 -malloc_limit_mb=1024 \
      -timeout=10 -print_final_stats=1 -artifact_prefix="$crashes/" $dict "$corpus" "$seeds/$t" >"$log" 2>&1; then
    echo "!! $t found a problem:"; tail -40 "$log"; status=1
  fi
  grep -E "^stat::number_of_executed_units|^stat::peak_rss_mb|cov: " "$log" | tail -3 | sed 's/^/   /'
done
exit $status
