#!/usr/bin/env bash
# Outlives nothing: reads "pid N" and "dir D" lines on stdin from the process that started the
# test control plane; when stdin closes (that process stopped, crashed or was SIGKILLed) it
# ends every recorded process group and removes every recorded folder.
pids=(); dirs=()
while read -r kind val; do
  case $kind in pid) pids+=("$val") ;; dir) dirs+=("$val") ;; esac
done
alive() { for p in "${pids[@]}"; do kill -0 -- "-$p" 2>/dev/null && return 0; done; return 1; }
for p in "${pids[@]}"; do kill -TERM -- "-$p" 2>/dev/null; done
for _ in $(seq 50); do alive || break; sleep 0.1; done
for p in "${pids[@]}"; do kill -KILL -- "-$p" 2>/dev/null; done
for d in "${dirs[@]}"; do rm -rf -- "$d"; done
