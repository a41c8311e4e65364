#!/usr/bin/env bash
# Measures `npm run local` as a new user meets it: a fresh clone of this checkout's HEAD in a new
# folder, HOME an empty folder (so the npm cache, the node-gyp cache, Go's module and build
# caches and ~/.cache/rqlite-operator are all empty), until the demo is Available and the
# backup lines are printed; then Ctrl-C. Prints the seconds to each milestone and the load
# average sampled every 30 s (the figure means little without it).
# Usage: hack/measure-cold-start.sh [--warm DIR]   (--warm: run again in DIR, a folder this script
#        made before, with its caches as the first run left them)
set -uo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
if [[ ${1:-} == --warm ]]; then
  T=$2
else
  T=$(mktemp -d /tmp/rqo-cold-XXXX)
  mkdir -p "$T/home"
  git clone -q "$repo" "$T/repo"
fi
cd "$T/repo" || exit 1
log="$T/local-$(date +%s).log"
echo "measure: $T (log $log)"
(while sleep 30; do echo "load $(cut -d' ' -f1-3 /proc/loadavg)"; done) >"$log.load" &
loadpid=$!
start=$SECONDS
(HOME="$T/home" setsid npm run local >"$log" 2>&1 & echo $! >"$T/pid"; wait) &
until grep -q "Ctrl-C stops\|^local: error\|npm error" "$log" 2>/dev/null; do
  sleep 2
  if grep -q "is Available" "$log" && [[ -z ${available:-} ]]; then available=$((SECONDS - start)); fi
done
[[ -n ${available:-} ]] || available=$((SECONDS - start))
ready=$((SECONDS - start))
kill -INT -- "-$(cat "$T/pid")" 2>/dev/null
sleep 15
kill "$loadpid"
grep -E "is Available|ready in|^local: error|npm error" "$log"
echo "measure: Available after ${available} s, backup lines after ${ready} s (load: $(sort -t' ' -k2 -n "$log.load" | sed -n '1p;$p' | tr '\n' ' '))"
echo "measure: SDK warnings: $(grep -c NodeVersionSupportWarning "$log")"
