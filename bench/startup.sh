#!/bin/bash
# Start-up and small-command times of one mgit build, as docs/BENCHMARKS.md ("Start-up") reports them:
#   bench/startup.sh LABEL PATH-TO-MGIT REPOSITORY MODEL-NAME
# Medians of 11 runs (ls --json: 5), wall time from GNU time (/usr/bin/time).
set -euo pipefail
label=$1 mgit=$2 repo=$3 model=$4
median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
timed() { for _ in $(seq "$1"); do /usr/bin/time -f "%e" "${@:2}" 2>&1 >/dev/null | tail -1; done | median; }
echo "$label: --version $(timed 11 "$mgit" --version) s; log $model $(timed 11 "$mgit" -C "$repo" log "$model") s; ls --json $(timed 5 "$mgit" -C "$repo" ls --json) s"
