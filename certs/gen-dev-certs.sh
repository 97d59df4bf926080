#!/usr/bin/env bash
# Makes a development CA and a serving certificate for aimguard with openssl.
# Never use these in production: there, cert-manager issues the certificate (deploy/).
#
# usage: certs/gen-dev-certs.sh [OUT_DIR]        (default: certs/dev)
#   env DAYS (default 365), SERVICE (default aimguard-webhook),
#       NAMESPACE (default aimguard-system), EXTRA_SANS (comma list, e.g. DNS:x,IP:10.0.0.1),
#       CA_DIR (sign with the ca.crt/ca.key found there instead of making a new CA: a
#       rotated serving certificate from the same CA, as cert-manager issues it)
# Writes ca.crt, ca.key, tls.crt, tls.key (keys mode 0600). Existing files are kept
# unless FORCE=1, so a running server is not surprised by a new pair.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$here/dev}
days=${DAYS:-365}
svc=${SERVICE:-aimguard-webhook}
ns=${NAMESPACE:-aimguard-system}
mkdir -p "$out"
if [[ -s $out/tls.crt && -s $out/tls.key && -s $out/ca.crt && ${FORCE:-0} != 1 ]]; then
  echo "dev certificates already in $out (FORCE=1 to make new ones)"
  exit 0
fi
umask 077
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
sans="DNS:localhost,IP:127.0.0.1,IP:::1,DNS:$svc,DNS:$svc.$ns,DNS:$svc.$ns.svc,DNS:$svc.$ns.svc.cluster.local"
[[ -n ${EXTRA_SANS:-} ]] && sans="$sans,$EXTRA_SANS"

if [[ -n ${CA_DIR:-} ]]; then
  cp "$CA_DIR/ca.key" "$CA_DIR/ca.crt" "$tmp/"
else
  openssl ecparam -name prime256v1 -genkey -noout -out "$tmp/ca.key" 2>/dev/null
  openssl req -x509 -new -key "$tmp/ca.key" -sha256 -days "$days" -subj "/CN=aimguard dev CA" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -out "$tmp/ca.crt"
fi
openssl ecparam -name prime256v1 -genkey -noout -out "$tmp/tls.key" 2>/dev/null
openssl req -new -key "$tmp/tls.key" -subj "/CN=$svc.$ns.svc" -out "$tmp/tls.csr"
cat > "$tmp/ext.cnf" <<EXT
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=serverAuth
subjectAltName=$sans
EXT
openssl x509 -req -in "$tmp/tls.csr" -CA "$tmp/ca.crt" -CAkey "$tmp/ca.key" -CAcreateserial \
  -days "$days" -sha256 -extfile "$tmp/ext.cnf" -out "$tmp/tls.crt" 2>/dev/null
chmod 600 "$tmp/ca.key" "$tmp/tls.key"
chmod 644 "$tmp/ca.crt" "$tmp/tls.crt"
mv "$tmp/ca.key" "$tmp/ca.crt" "$tmp/tls.key" "$tmp/tls.crt" "$out/"
echo "dev CA and serving certificate written to $out (SANs: $sans)"
