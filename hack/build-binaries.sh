#!/usr/bin/env bash
# Builds the real parts the tests run against (kube-apiserver, etcd, and two rqlited versions for
# the local runtime and upgrade tests) from the Go module proxy, through the pinned wrapper
# modules in hack/tools/<name>/, into a cache outside the repository keyed by name, version and
# go.sum hash. A second run reuses the cache.
#
# Usage: hack/build-binaries.sh [name ...]      (default: every tool under hack/tools)
# Prints the folder with kube-apiserver and etcd on its last line of stdout (progress: stderr).
# Env: RQLITE_OPERATOR_CACHE (default ~/.cache/rqlite-operator)
#      KUBEBUILDER_ASSETS: a folder already holding kube-apiserver and etcd; nothing is built.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cache=${RQLITE_OPERATOR_CACHE:-$HOME/.cache/rqlite-operator}
say() { echo "build-binaries: $*" >&2; }
die() { echo "build-binaries: error: $*" >&2; exit 1; }

# envtest users bring kube-apiserver and etcd; rqlited is still built here.
kube_tools=(kube-apiserver etcd)
if [[ -n "${KUBEBUILDER_ASSETS:-}" ]]; then
  for b in "${kube_tools[@]}"; do
    [[ -x "$KUBEBUILDER_ASSETS/$b" ]] || die "KUBEBUILDER_ASSETS=$KUBEBUILDER_ASSETS has no executable $b; unset it to build from source, or point it at an envtest assets folder"
  done
  say "using kube-apiserver and etcd from KUBEBUILDER_ASSETS=$KUBEBUILDER_ASSETS"
  kube_tools=()
fi

# Per tool: the package to build, the module whose version keys the cache, CGO, extra ldflags.
declare -A pkg=(
  [kube-apiserver]=k8s.io/kubernetes/cmd/kube-apiserver
  [etcd]=go.etcd.io/etcd/server/v3
  [rqlited]=github.com/rqlite/rqlite/v8/cmd/rqlited
  [rqlited-prev]=github.com/rqlite/rqlite/v8/cmd/rqlited
)
# rqlited embeds SQLite through cgo, so it needs gcc.
declare -A cgo=([kube-apiserver]=0 [etcd]=0 [rqlited]=1 [rqlited-prev]=1)

module_version() { # <tool> -> the version of the module the wrapper requires
  awk '/^require/ && NF==3 {print $3; exit}' "$here/tools/$1/go.mod"
}

ldflags_for() {
  local v=$1 tool=$2
  if [[ $tool == kube-apiserver ]]; then
    local minor=${v#v1.}; minor=${minor%%.*}
    echo "-s -w -X k8s.io/component-base/version.gitVersion=$v -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor -X k8s.io/component-base/version.gitTreeState=clean"
  elif [[ $tool == rqlited* ]]; then
    echo "-s -w -X github.com/rqlite/rqlite/v8/cmd.Version=$v"
  else
    echo "-s -w"
  fi
}

build_one() {
  local tool=$1 dir="$here/tools/$1"
  [[ -f "$dir/go.mod" ]] || die "unknown tool '$tool' (no $dir/go.mod)"
  local version sum key out log
  version=$(module_version "$tool")
  sum=$(sha256sum "$dir/go.sum" | cut -c1-12)
  key="$tool-$version-$sum"
  out="$cache/bin/$key"
  if [[ -x "$out/$tool" ]]; then
    say "$tool $version: cached at $out"
  else
    [[ ${cgo[$tool]} == 0 ]] || command -v gcc >/dev/null 2>&1 || die "$tool needs cgo and gcc is not on PATH; install it (apt-get install gcc)"
    command -v go >/dev/null 2>&1 || die "$tool is not built yet and the Go toolchain is not on PATH; install Go >= 1.24 (https://go.dev/dl/), or set KUBEBUILDER_ASSETS to a folder with kube-apiserver and etcd"
    say "$tool $version: building (a cold build takes minutes: about 4 for kube-apiserver on 2 cores)"
    mkdir -p "$cache/bin" "$cache/logs"
    log="$cache/logs/$key.log"
    local tmp="$out.tmp.$$"
    rm -rf "$tmp"; mkdir -p "$tmp"
    local started=$SECONDS
    if ! (cd "$dir" && CGO_ENABLED=${cgo[$tool]} GOFLAGS=-mod=readonly go build -trimpath -buildvcs=false \
          -ldflags "$(ldflags_for "$version" "$tool")" -o "$tmp/$tool" "${pkg[$tool]}") >"$log" 2>&1; then
      rm -rf "$tmp"
      local cause
      if grep -qE "dial tcp|proxyconnect|i/o timeout|no such host|403 Forbidden|404 Not Found|410 Gone|not available|reading https://" "$log"; then
        cause="a Go module download failed ($(grep -m1 -E "dial tcp|proxyconnect|i/o timeout|no such host|403|404|410|not available|reading https://" "$log" | cut -c1-200)); check network access to GOPROXY=$(go env GOPROXY)"
      else
        cause="go build failed ($(tail -n1 "$log" | cut -c1-200))"
      fi
      die "$tool $version: $cause. Full log: $log"
    fi
    rm -rf "$out"; mv "$tmp" "$out"
    say "$tool $version: built in $((SECONDS - started)) s into $out"
  fi
  mkdir -p "$cache/assets"
  local binary="${pkg[$tool]##*/}"
  ln -sfn "$out/$tool" "$cache/assets/$tool"
  # rqlited is also found by version, which is how the local runtime maps an image tag to it.
  [[ $binary != rqlited ]] || ln -sfn "$out/$tool" "$cache/assets/rqlited-${version#v}"
}

tools=("$@")
[[ ${#tools[@]} -gt 0 ]] || tools=("${kube_tools[@]}" rqlited rqlited-prev)
for t in "${tools[@]}"; do build_one "$t"; done
# Last line: where kube-apiserver and etcd are (rqlited is always in the cache's assets folder).
echo "${KUBEBUILDER_ASSETS:-$cache/assets}"
