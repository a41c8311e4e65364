#!/usr/bin/env bash
# Builds the real parts the tests run against (kube-apiserver, kube-scheduler,
# kube-controller-manager, etcd, and two rqlited versions for
# the local runtime and upgrade tests; cert-manager, the OLM bundle validator, promtool and helm
# for the install tests; for the real cluster of testenv/realCluster.ts, kubelet, kube-proxy,
# CoreDNS, kube-router (its NetworkPolicy firewall), local-path-provisioner, a pause program and
# the rqlite shell; for the install tests, Argo CD's Lua interpreter) from the Go
# module proxy, through the pinned wrapper modules in
# hack/tools/<name>/, into a cache outside the repository keyed by name, version and the hash of
# go.sum, the wrapper's own Go sources and build tags. A second run reuses the cache. CRDs shipped
# inside a pinned module (cert-manager, prometheus-operator, OLM's operator-framework/api) are
# copied to $cache/crds/<name>/ the same way.
#
# Usage: hack/build-binaries.sh [name ...]      (default: every tool under hack/tools)
# Callers name only what they run: the control plane kube-apiserver and etcd (testenv/assets.ts),
# `npm run local` those, kube-scheduler, kube-controller-manager, one rqlited and versitygw (the
# tests' startLocalStack both rqlited versions); each install test its own tool; `npm test`
# builds them all up front. The real cluster's tools (the rqlite shell, kubelet, kube-proxy,
# coredns, kube-router, local-path-provisioner, pause) are built only when
# named, by testenv/realCluster.ts and hack/build-images.sh.
# Prints the folder with kube-apiserver and etcd on its last line of stdout (progress: stderr).
# The named tools build side by side, as many at a time as the machine has cores, all with one Go
# module cache and one build cache (go env GOMODCACHE and GOCACHE, named in each build's log): a
# lone build leaves cores idle while it downloads, links or compiles SQLite's one C file. The
# Kubernetes components are one chain, kube-apiserver first, because the others then find most
# of their packages compiled. A tool another run of this script is building is waited for, not
# built twice (flock, where the machine has it).
# Env: RQLITE_OPERATOR_CACHE (default ~/.cache/rqlite-operator)
#      RQLITE_OPERATOR_BUILD_JOBS: tools built at once (default: the number of cores)
#      RQLITE_OPERATOR_BUILD_NICE: a nice(1) increment for the builds, for one that should take
#      only what the others leave (npm run local's S3 server, which the demo needs last)
#      KUBEBUILDER_ASSETS: a folder already holding kube-apiserver and etcd; those two are not
#      built, even when named.
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
from_envtest() { [[ -n "${KUBEBUILDER_ASSETS:-}" && ($1 == kube-apiserver || $1 == etcd) ]]; }

# Per tool: the package to build, the module whose version keys the cache, CGO, extra ldflags.
declare -A pkg=(
  [kube-apiserver]=k8s.io/kubernetes/cmd/kube-apiserver
  [kube-scheduler]=k8s.io/kubernetes/cmd/kube-scheduler
  [kube-controller-manager]=k8s.io/kubernetes/cmd/kube-controller-manager
  [etcd]=go.etcd.io/etcd/server/v3
  [rqlited]=github.com/rqlite/rqlite/v8/cmd/rqlited
  [rqlited-prev]=github.com/rqlite/rqlite/v8/cmd/rqlited
  [rqlite]=github.com/rqlite/rqlite/v8/cmd/rqlite
  [promtool]=github.com/prometheus/prometheus/cmd/promtool
  [helm]=helm.sh/helm/v3/cmd/helm
  [versitygw]=github.com/versity/versitygw/cmd/versitygw
  [kubelet]=k8s.io/kubernetes/cmd/kubelet
  [kube-proxy]=k8s.io/kubernetes/cmd/kube-proxy
  [local-path-provisioner]=github.com/rancher/local-path-provisioner
  [kube-router]=github.com/cloudnativelabs/kube-router/v2/cmd/kube-router
  # These are small mains of our own in the wrapper, over the pinned module's packages.
  [cert-manager]=.
  [bundle-validate]=.
  [coredns]=.
  [pause]=.
  [argocd-lua]=.
)
# Build tags. promtool without service discovery: the tests check rules and metrics, never a
# scrape config, and Prometheus's own remove_all_sd tag drops the cloud SDKs (AWS, Azure, GCE,
# Kubernetes, ...) that otherwise make most of its build time.
declare -A tags=([promtool]=remove_all_sd)
# rqlited embeds SQLite through cgo, so it needs gcc.
declare -A cgo=([kube-apiserver]=0 [kube-scheduler]=0 [kube-controller-manager]=0 [etcd]=0 [rqlited]=1 [rqlited-prev]=1 [rqlite]=0 [cert-manager]=0 [bundle-validate]=0 [promtool]=0 [helm]=0 [versitygw]=0
  [kubelet]=0 [kube-proxy]=0 [coredns]=0 [local-path-provisioner]=0 [pause]=0 [kube-router]=0 [argocd-lua]=0)
# Wrappers whose go.mod has a require block name the module that versions them.
declare -A version_module=(
  [cert-manager]=github.com/cert-manager/cert-manager
  [bundle-validate]=github.com/operator-framework/api
  [prometheus-operator]=github.com/prometheus-operator/prometheus-operator
  [coredns]=github.com/coredns/coredns
  [argocd-lua]=github.com/yuin/gopher-lua
)
# Wrappers that require no module at all: the version is their own, bumped with main.go.
declare -A own_version=([pause]=v1)
# Folders of CRD YAML inside the pinned module, copied to the cache for the tests to install.
declare -A crd_dir=(
  [cert-manager]=deploy/crds
  [prometheus-operator]=example/prometheus-operator-crd
  [bundle-validate]=crds
)

module_version() { # <tool> -> the version of the module the wrapper requires
  local mod=${version_module[$1]:-}
  if [[ -n ${own_version[$1]:-} ]]; then
    echo "${own_version[$1]}"
  elif [[ -n $mod ]]; then
    awk -v m="$mod" '($1 == m && NF >= 2) {print $2; exit} ($1 == "require" && $2 == m) {print $3; exit}' "$here/tools/$1/go.mod"
  else
    awk '/^require/ && NF==3 {print $3; exit}' "$here/tools/$1/go.mod"
  fi
}

source_hash() { # <tool> -> hash of go.sum, the wrapper's own Go files (not tools.go pins) and its tags
  local dir="$here/tools/$1"
  # Tags are hashed only when set, so that tools without tags keep the keys they had.
  { cat "$dir/go.sum" $(find "$dir" -maxdepth 1 -name '*.go' ! -name tools.go | sort)
    [[ -z ${tags[$1]:-} ]] || echo "tags=${tags[$1]}"; } | sha256sum | cut -c1-12
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
  if [[ $tool == kube-apiserver || $tool == kube-scheduler || $tool == kube-controller-manager || $tool == kubelet || $tool == kube-proxy ]]; then
    local minor=${v#v1.}; minor=${minor%%.*}
    echo "-s -w -X k8s.io/component-base/version.gitVersion=$v -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor -X k8s.io/component-base/version.gitTreeState=clean"
  elif [[ $tool == rqlite* ]]; then
    echo "-s -w -X github.com/rqlite/rqlite/v8/cmd.Version=$v"
  elif [[ $tool == promtool ]]; then
    # Prometheus 3.x publishes release 3.N.P as module version v0.3NN.P; stamp the release, as
    # its own build (promu) does, so `promtool --version` says which one runs.
    local p=${v#v0.}; p=${p%%.*}
    echo "-s -w -X github.com/prometheus/common/version.Version=3.$((10#${p:1})).${v##*.}"
  elif [[ $tool == helm ]]; then
    # As Helm's own Makefile: stamp the release, and the Kubernetes version `helm template` and
    # `helm lint` assume without a cluster (one above client-go's v0.N, i.e. 1.N), which is
    # otherwise a 1.20 that would fail the chart's kubeVersion.
    local cg minor
    cg=$(awk '$1 == "k8s.io/client-go" {print $2; exit}' "$here/tools/helm/go.mod")
    minor=${cg#v0.}; minor=${minor%%.*}
    [[ $minor =~ ^[0-9]+$ ]] || die "helm: cannot read k8s.io/client-go's version from hack/tools/helm/go.mod"
    echo "-s -w -X helm.sh/helm/v3/internal/version.version=$v -X helm.sh/helm/v3/internal/version.gitTreeState=clean" \
      "-X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=$minor" \
      "-X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=$minor"
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
  local lock
  if command -v flock >/dev/null 2>&1; then
    mkdir -p "$cache/locks"
    exec {lock}>"$cache/locks/$key.lock"
    flock "$lock"
  fi
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
    echo "GOMODCACHE=$(go env GOMODCACHE) GOCACHE=$(go env GOCACHE) GOMAXPROCS=${GOMAXPROCS:-$(nproc 2>/dev/null || echo ?)}" >"$log"
    if ! (cd "$dir" && CGO_ENABLED=${cgo[$tool]} GOFLAGS=-mod=readonly ${nice[@]+"${nice[@]}"} go build -trimpath -buildvcs=false -tags "${tags[$tool]:-}" \
          -ldflags "$(ldflags_for "$version" "$tool")" -o "$tmp/$tool" "${pkg[$tool]}") >>"$log" 2>&1; then
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
  [[ -z ${lock:-} ]] || exec {lock}>&-
}

tools=("$@")
[[ ${#tools[@]} -gt 0 ]] || tools=("${kube_tools[@]}" kube-scheduler kube-controller-manager rqlited rqlited-prev cert-manager bundle-validate prometheus-operator promtool helm versitygw argocd-lua)
nice=()
[[ -z ${RQLITE_OPERATOR_BUILD_NICE:-} ]] || nice=(nice -n "$RQLITE_OPERATOR_BUILD_NICE")
parallel=${RQLITE_OPERATOR_BUILD_JOBS:-$(nproc 2>/dev/null || sysctl -n hw.ncpu 2>/dev/null || echo 2)}

# Chains of tools built one after another; the chains run side by side. The Kubernetes
# components share one chain, in the order of kube_family, so that kube-apiserver (the largest)
# fills the build cache the others then read.
kube_family=(kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy)
chains=()
kube_chain=""
for t in "${kube_family[@]}"; do
  for n in "${tools[@]}"; do
    if [[ $n == "$t" ]] && ! from_envtest "$n"; then kube_chain+="$n "; break; fi
  done
done
[[ -z $kube_chain ]] || chains+=("$kube_chain")
for n in "${tools[@]}"; do
  [[ " ${kube_family[*]} " == *" $n "* ]] || from_envtest "$n" || chains+=("$n")
done
# (build_one runs as a plain command in its subshell, not in an || list, so that set -e still
# holds inside it.)
pids=()
failed=0
for chain in "${chains[@]}"; do
  while [[ $(jobs -rp | wc -l) -ge $parallel ]]; do wait -n || failed=1; done
  ( for t in $chain; do build_one "$t"; done ) &
  pids+=($!)
done
for pid in "${pids[@]}"; do wait "$pid" || failed=1; done
[[ $failed -eq 0 ]] || exit 1
# Last line: where kube-apiserver and etcd are (the other binaries are always in the cache's
# assets folder, and CRDs in its crds folder).
echo "${KUBEBUILDER_ASSETS:-$cache/assets}"
