#!/usr/bin/env bash
# Installs the npm dependencies when they are missing or older than package-lock.json, so the
# README's commands work on a fresh clone without a separate `npm ci`. With a command after it,
# runs that command on Node >= 24: the machine's own Node when new enough, else Node 24 from the
# npm registry's distribution package (hack/ensure-node.sh), first on PATH for it and every
# process it starts (the AWS SDK warns on each start under Node < 22).
# Usage: hack/ensure-deps.sh [COMMAND ARGS...]
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cd "$here/.."
if [[ $# -gt 0 ]]; then
  node_dir=$(bash "$here/ensure-node.sh")
  export PATH="$node_dir:$PATH"
fi
marker=node_modules/.package-lock.json
if [[ ! -f $marker || package-lock.json -nt $marker ]]; then
  echo "ensure-deps: installing npm dependencies (npm ci)" >&2
  npm ci --no-audit --no-fund >&2
fi
[[ $# -eq 0 ]] || exec "$@"
