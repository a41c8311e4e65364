#!/usr/bin/env bash
# Mints a local CA and a webhook serving certificate for development and tests, laid out as a
# cert-manager Secret mounts them: OUT_DIR/ca.crt, OUT_DIR/tls.crt, OUT_DIR/tls.key.
#
#   certs/mint-local.sh OUT_DIR [SAN...]
#
# SANs that parse as IPv4/IPv6 addresses become IP SANs, the rest DNS SANs; without any, the
# certificate covers 127.0.0.1, ::1 and localhost. A CA already in OUT_DIR (ca.crt + ca.key) is
# reused, so running the script again rotates the serving certificate under the same CA, the way
# cert-manager renews it and clients holding the CA bundle keep trusting the new one.
# VALID_DAYS (default 30) sets the serving certificate's lifetime; the CA lives ten times longer.
set -euo pipefail

die() { echo "mint-local: error: $*" >&2; exit 1; }

[[ $# -ge 1 && $1 != -* ]] || die "usage: $0 OUT_DIR [SAN...] (e.g. $0 .tmp/certs 127.0.0.1 localhost rqlite-operator-webhook.rqlite-system.svc)"
command -v openssl >/dev/null || die "openssl is not on PATH; install it (apt-get install openssl)"

out=$1
shift
sans=("$@")
[[ ${#sans[@]} -gt 0 ]] || sans=(127.0.0.1 ::1 localhost)
days=${VALID_DAYS:-30}
[[ $days =~ ^[1-9][0-9]*$ ]] || die "VALID_DAYS must be a positive whole number of days, got '$days'"

san_list=""
for san in "${sans[@]}"; do
  if [[ $san =~ ^[0-9]+(\.[0-9]+){3}$ || $san == *:* ]]; then entry="IP:$san"; else entry="DNS:$san"; fi
  san_list+="${san_list:+,}$entry"
done

mkdir -p "$out"
work=$(mktemp -d "$out/.mint.XXXXXX")
trap 'rm -rf "$work"' EXIT

ssl() {
  local log
  log=$(openssl "$@" 2>&1) || die "openssl $1 failed: ${log##*$'\n'}"
}

if [[ -f $out/ca.crt && -f $out/ca.key ]]; then
  cp "$out/ca.crt" "$out/ca.key" "$work/"
else
  ssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -sha256 \
    -keyout "$work/ca.key" -out "$work/ca.crt" -days $((days * 10)) -subj "/CN=rqlite-operator-local-ca" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign"
fi

# The first SAN doubles as the subject CN for tools that still print it.
cn=${sans[0]}
cat >"$work/tls.ext" <<EOF
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=$san_list
EOF
ssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
  -keyout "$work/tls.key" -out "$work/tls.csr" -subj "/CN=${cn:0:64}"
ssl x509 -req -in "$work/tls.csr" -CA "$work/ca.crt" -CAkey "$work/ca.key" -set_serial "0x$(openssl rand -hex 16)" \
  -days "$days" -sha256 -extfile "$work/tls.ext" -out "$work/tls.crt"
chmod 600 "$work/ca.key" "$work/tls.key"

# Each file is renamed into place whole, so a server watching OUT_DIR never reads a torn file.
for f in ca.key ca.crt tls.key tls.crt; do mv -f "$work/$f" "$out/$f"; done
echo "mint-local: wrote $out/{ca.crt,tls.crt,tls.key} for ${sans[*]}" >&2
