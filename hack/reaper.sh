#!/usr/bin/env bash
# Outlives nothing: reads lines on stdin from the process that started a test environment; when
# stdin closes (that process stopped, crashed or was SIGKILLed) it ends and removes what they name:
#   pid N      a process group
#   mntns I    every process in mount namespace I (a real-cluster node: its containerd's shims
#              daemonize out of every process group, but stay in the node's mount namespace)
#   cgroup P   every process in cgroup P and below, in every v1 hierarchy (a node's containers),
#              then the cgroups themselves, deepest first
#   dir D      a folder (after the processes, which may hold files or mounts in it)
# With TESTENV_KEEP_LOGS set to a folder, the *.log files at the top of each removed folder are
# first copied to $TESTENV_KEEP_LOGS/<folder name>/, to read a failed run's component logs later.
pids=(); dirs=(); mntns=(); cgroups=()
while read -r kind val; do
  case $kind in
    pid) pids+=("$val") ;;
    dir) dirs+=("$val") ;;
    mntns) mntns+=("$val") ;;
    cgroup) cgroups+=("$val") ;;
  esac
done
alive() { for p in "${pids[@]}"; do kill -0 -- "-$p" 2>/dev/null && return 0; done; return 1; }
for p in "${pids[@]}"; do kill -TERM -- "-$p" 2>/dev/null; done
for _ in $(seq 50); do alive || break; sleep 0.1; done
for p in "${pids[@]}"; do kill -KILL -- "-$p" 2>/dev/null; done
in_mntns() { # pids of processes in any recorded mount namespace
  local link ns
  for link in /proc/[0-9]*/ns/mnt; do
    ns=$(readlink "$link" 2>/dev/null) || continue
    for want in "${mntns[@]}"; do
      if [[ $ns == "mnt:[$want]" ]]; then link=${link#/proc/}; echo "${link%%/*}"; fi
    done
  done
}
in_cgroups() { # pids in the recorded cgroup trees
  local c
  for c in "${cgroups[@]}"; do
    find /sys/fs/cgroup/*/"${c#/}" -name cgroup.procs -exec cat {} + 2>/dev/null
  done
}
if [[ ${#mntns[@]} -gt 0 || ${#cgroups[@]} -gt 0 ]]; then
  for _ in $(seq 50); do
    victims=$( { [[ ${#mntns[@]} -eq 0 ]] || in_mntns; in_cgroups; } | sort -u)
    [[ -n $victims ]] || break
    kill -KILL $victims 2>/dev/null
    sleep 0.1
  done
  for c in "${cgroups[@]}"; do
    for h in /sys/fs/cgroup/*/; do
      [[ -d $h/${c#/} ]] && find "$h/${c#/}" -depth -type d -exec rmdir {} + 2>/dev/null
    done
  done
fi
for d in "${dirs[@]}"; do
  if [[ -n ${TESTENV_KEEP_LOGS:-} ]] && compgen -G "$d/*.log" >/dev/null; then
    mkdir -p "$TESTENV_KEEP_LOGS/${d##*/}" && cp -p "$d"/*.log "$TESTENV_KEEP_LOGS/${d##*/}/"
  fi
  rm -rf -- "$d"
done
