#!/usr/bin/env bash
# npm run check: the gate that needs no control plane and no binary (typecheck, Prettier and
# ESLint, the unit tier), its three parts side by side, since none waits for another and the
# machine has more than one core. Each part's output is printed whole, in a fixed order, once all
# are done; the exit status is the first failing part's. Prettier keeps a cache (a file's format
# depends on that file alone). ESLint does not: its type-aware rules judge a file by the types of
# others, which a per-file cache would not see change.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash hack/ensure-deps.sh || exit 1
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
started=$SECONDS
names=(typecheck lint unit)
commands=(
  "npx tsc -p tsconfig.json --noEmit"
  "npx prettier --check --cache --cache-location node_modules/.cache/prettier/.cache . && npx eslint ."
  "npx mocha 'test/unit/**/*.test.ts'"
)
pids=()
for i in "${!names[@]}"; do
  (
    part_start=$SECONDS
    bash -c "${commands[$i]}" >"$out/${names[$i]}" 2>&1
    rc=$?
    echo "== check: ${names[$i]} exited $rc after $((SECONDS - part_start)) s" >>"$out/${names[$i]}"
    exit $rc
  ) &
  pids+=($!)
done
status=0
for i in "${!names[@]}"; do
  wait "${pids[$i]}" || { [[ $status -ne 0 ]] || status=1; }
done
for name in "${names[@]}"; do cat "$out/$name"; done
echo "== check: done in $((SECONDS - started)) s, exit $status"
exit $status
