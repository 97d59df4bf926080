#!/usr/bin/env bash
# Installs the Debian packages aimguard needs that are missing (sourced by the README's
# two commands). Usage: scripts/deps.sh build|test
set -euo pipefail
build_pkgs=(gcc make cmake pkg-config openssl curl ca-certificates
  libmicrohttpd-dev libgnutls28-dev libssl-dev libjansson-dev libyaml-dev libpcre2-dev
  libcurl4-openssl-dev)
# tests: python3-* helpers (run with /usr/bin/python3), clang + its runtime for libFuzzer;
# the e2e tier: etcd (etcd-server) and xz (xz-utils) to unpack the shared kube-apiserver
test_pkgs=(python3 python3-yaml python3-jsonpatch clang libclang-rt-14-dev valgrind
  etcd-server xz-utils)
want=("${build_pkgs[@]}")
[[ ${1:-build} == test ]] && want+=("${test_pkgs[@]}")
missing=()
for p in "${want[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
# kubectl renders deploy/ in the tests (kubectl kustomize); the machine image ships one
# (Google Cloud CLI's); otherwise Debian's kubernetes-client provides it
if [[ ${1:-build} == test ]] && ! command -v kubectl >/dev/null; then
  missing+=(kubernetes-client)
fi
if ((${#missing[@]})); then
  echo "installing missing packages: ${missing[*]}"
  sudo=""
  [[ $(id -u) -ne 0 ]] && sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
