#!/usr/bin/env bash
# A/B of mgit builds on the MiniLM family made by `MGit.Bench family` (its files in /tmp/famfull): the store
# (seven adds into a fresh repository) and the one-command checkout twice, builds taking turns each round.
# usage: bench/ab-builds.sh ROUNDS DIR... (each DIR under /tmp holds a published mgit, e.g. mgit-a0f for /tmp/mgit-a0f/mgit)
set -u
F=/tmp/famfull
rounds=$1; shift
for r in $(seq 1 $rounds); do
  for b in "$@"; do
    M=/tmp/$b/mgit; R=/tmp/ab-repo-$b
    rm -rf $R /tmp/ab-out-$b; $M init $R -q >/dev/null; sync; sleep 1
    s=$(date +%s.%N)
    $M -C $R add $F/base.safetensors --name base -q >/dev/null
    $M -C $R add $F/head-finetune.safetensors --name head-finetune --parent base --how finetune -q >/dev/null
    $M -C $R add $F/full-finetune.safetensors --name full-finetune --parent base --how finetune -q >/dev/null
    $M -C $R add $F/full-finetune-v2.safetensors --name full-finetune --version-of full-finetune -q >/dev/null
    $M -C $R add $F/base-bf16.safetensors --name base-bf16 --parent base --how quantize -q >/dev/null
    $M -C $R add $F/finetune-bf16.safetensors --name finetune-bf16 --parent full-finetune@1 --how quantize -q >/dev/null
    $M -C $R add $F/pruned.safetensors --name pruned --parent base --how prune -q >/dev/null
    e=$(date +%s.%N); store=$(echo "$e - $s" | bc)
    sync; sleep 1
    co1=$( { /usr/bin/time -f "%e %U %S" $M -C $R checkout base head-finetune full-finetune@1 full-finetune@2 base-bf16 finetune-bf16 pruned -o /tmp/ab-out-$b -q; } 2>&1 )
    rm -rf /tmp/ab-out-$b; sync; sleep 1
    co2=$( { /usr/bin/time -f "%e %U %S" $M -C $R checkout base head-finetune full-finetune@1 full-finetune@2 base-bf16 finetune-bf16 pruned -o /tmp/ab-out-$b -q; } 2>&1 )
    echo "$b round $r store $store checkout1 $co1 checkout2 $co2"
  done
done
