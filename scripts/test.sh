#!/usr/bin/env bash
# The second README command: install what is missing, build (a release build, and a
# build with AddressSanitizer + UndefinedBehaviorSanitizer), and run the whole test
# suite with ctest on both (the e2e tier, a real kube-apiserver, in the release pass only),
# plus the integration, kube and reconcile tests again with every aimguard server under
# valgrind memcheck, and the kube and reconcile tests under ThreadSanitizer. ctest's summary
# is the last thing printed.
#   scripts/test.sh [ctest args...]      e.g. scripts/test.sh -L unit
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/deps.sh test
# The shared test fixtures (conformance, reference): $AG_SHARED if set, else ../shared next
# to this checkout, else ../shared next to the local repository it was cloned from (a
# throw-away clone elsewhere, e.g. in /tmp, tests against the same fixtures).
shared=${AG_SHARED:-}
if [[ -z $shared ]]; then
  shared=../shared
  origin=$(git remote get-url origin 2>/dev/null || true)
  if [[ ! -d $shared/conformance && -d $origin ]]; then
    shared=$origin/../shared
  fi
fi
if [[ ! -d $shared/conformance ]]; then
  echo "error: the test fixtures are missing: no conformance/ in $shared (../shared next to this" \
       "repository or to the one it was cloned from; or set AG_SHARED)" >&2
  exit 1
fi
export AG_SHARED=$(cd "$shared" && pwd)
jobs=$(nproc)
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DAG_SANITIZE=OFF -DAG_FUZZ=OFF -DAG_SHARED="$AG_SHARED" >/dev/null
cmake --build build -j"$jobs"
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DAG_SANITIZE=ON -DAG_SHARED="$AG_SHARED" >/dev/null
cmake --build build-asan -j"$jobs"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:strict_string_checks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
echo "== release build"
(cd build && ctest --output-on-failure -j2 "$@") > build/ctest.log 2>&1 || { cat build/ctest.log; exit 1; }
tail -n 3 build/ctest.log
if [[ $# -eq 0 ]]; then
  echo "== integration, kube and reconcile tests with every server under valgrind memcheck (release build)"
  (cd build && AG_VALGRIND=1 ctest --output-on-failure -j2 -L "integration|kube|reconcile") > build/ctest-valgrind.log 2>&1 \
    || { cat build/ctest-valgrind.log; exit 1; }
  grep -E "tests passed" build/ctest-valgrind.log
fi
if [[ $# -eq 0 ]]; then
  # The threads (watch caches, reconciler workers, leader election, SubjectAccessReview cache)
  # once more under ThreadSanitizer: races are bugs the other passes cannot see.
  echo "== kube and reconcile tests under ThreadSanitizer"
  cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=Debug -DAG_TSAN=ON -DAG_SANITIZE=OFF -DAG_SHARED="$AG_SHARED" >/dev/null
  cmake --build build-tsan -j"$jobs"
  (cd build-tsan && ctest --output-on-failure -j2 -L "kube|reconcile") > build-tsan/ctest.log 2>&1 \
    || { cat build-tsan/ctest.log; exit 1; }
  grep -E "tests passed" build-tsan/ctest.log
fi
echo "== sanitizer build (ASan + UBSan)"
cd build-asan
# The e2e tier (a real kube-apiserver and etcd, test/e2e/) runs in the release pass only:
# it exercises the same code the kube and reconcile tests already run under ASan and
# valgrind, and a second control plane would cost minutes, not findings.
if [[ $# -eq 0 ]]; then
  exec ctest --output-on-failure -j2 -LE e2e
fi
exec ctest --output-on-failure -j2 "$@"
