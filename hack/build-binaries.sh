#!/usr/bin/env bash
# Builds the real parts the tests run against (kube-apiserver, etcd, and two rqlited versions for
# the local runtime and upgrade tests; cert-manager and the OLM bundle validator for the install
# tests) from the Go module proxy, through the pinned wrapper modules in hack/tools/<name>/, into
# a cache outside the repository keyed by name, version and the hash of go.sum and the wrapper's
# own Go sources. A second run reuses the cache. CRDs shipped inside a pinned module (cert-manager,
# prometheus-operator) are copied to $cache/crds/<name>/ the same way.
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
  # These two are small mains of our own in the wrapper, over the pinned module's packages.
  [cert-manager]=.
  [bundle-validate]=.
)
# rqlited embeds SQLite through cgo, so it needs gcc.
declare -A cgo=([kube-apiserver]=0 [etcd]=0 [rqlited]=1 [rqlited-prev]=1 [cert-manager]=0 [bundle-validate]=0)
# Wrappers whose go.mod has a require block name the module that versions them.
declare -A version_module=(
  [cert-manager]=github.com/cert-manager/cert-manager
  [bundle-validate]=github.com/operator-framework/api
  [prometheus-operator]=github.com/prometheus-operator/prometheus-operator
)
# Folders of CRD YAML inside the pinned module, copied to the cache for the tests to install.
declare -A crd_dir=(
  [cert-manager]=deploy/crds
  [prometheus-operator]=example/prometheus-operator-crd
)

module_version() { # <tool> -> the version of the module the wrapper requires
  local mod=${version_module[$1]:-}
  if [[ -n $mod ]]; then
    awk -v m="$mod" '($1 == m && NF >= 2) {print $2; exit} ($1 == "require" && $2 == m) {print $3; exit}' "$here/tools/$1/go.mod"
  else
    awk '/^require/ && NF==3 {print $3; exit}' "$here/tools/$1/go.mod"
  fi
}

source_hash() { # <tool> -> hash of go.sum and the wrapper's own Go files (not tools.go pins)
  local dir="$here/tools/$1"
  cat "$dir/go.sum" $(find "$dir" -maxdepth 1 -name '*.go' ! -name tools.go | sort) | sha256sum | cut -c1-12
}

copy_crds() { # <tool> <version> <key>: the pinned module's CRD folder into $cache/crds/<tool>
  local tool=$1 version=$2 key=$3 dir="$here/tools/$1" out="$cache/crds/$3"
  if [[ ! -d $out ]]; then
    local mod=${version_module[$tool]} src
    src=$(cd "$dir" && GOFLAGS=-mod=readonly go mod download -json "$mod" | awk -F'"' '/"Dir":/ {print $4}') \
      || die "$tool $version: go mod download $mod failed; check network access to GOPROXY=$(go env GOPROXY)"
    [[ -d $src/${crd_dir[$tool]} ]] || die "$tool $version: no folder ${crd_dir[$tool]} in $src"
    mkdir -p "$out.tmp.$$"
    cp "$src/${crd_dir[$tool]}"/*.yaml "$out.tmp.$$/"
    chmod -R u+w "$out.tmp.$$"
    rm -rf "$out"; mv "$out.tmp.$$" "$out"
    say "$tool $version: CRDs copied to $out"
  fi
  ln -sfn "$out" "$cache/crds/$tool"
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
  [[ -n $version ]] || die "$tool: cannot read the pinned version from $dir/go.mod"
  sum=$(source_hash "$tool")
  key="$tool-$version-$sum"
  out="$cache/bin/$key"
  mkdir -p "$cache/crds"
  [[ -z ${crd_dir[$tool]:-} ]] || copy_crds "$tool" "$version" "$key"
  [[ -n ${pkg[$tool]:-} ]] || return 0  # CRDs only, nothing to build
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
[[ ${#tools[@]} -gt 0 ]] || tools=("${kube_tools[@]}" rqlited rqlited-prev cert-manager bundle-validate prometheus-operator)
for t in "${tools[@]}"; do build_one "$t"; done
# Last line: where kube-apiserver and etcd are (the other binaries are always in the cache's
# assets folder, and CRDs in its crds folder).
echo "${KUBEBUILDER_ASSETS:-$cache/assets}"
