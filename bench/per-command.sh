#!/usr/bin/env bash
# Times each add and each checkout of a family on its own, with its page faults: the per-command
# view behind "Where the time goes" in docs/BENCHMARKS.md.
#
# usage: bench/per-command.sh MGIT FAMILY_DIR [REPO]
#   MGIT        an mgit executable (the native build; for mgit.dll use a wrapper script)
#   FAMILY_DIR  the --work folder of `MGit.Bench family` (its base.safetensors, head-finetune..., pruned)
#   REPO        scratch repository (default: a temporary folder, deleted at the end)
# prints: command, model, wall s, user s, sys s, minor page faults (GNU time)
set -euo pipefail
mgit=$1 family=$2 repo=${3:-$(mktemp -d)}
out=$(mktemp -d)
trap 'rm -rf "$out"; [ -n "${3:-}" ] || rm -rf "$repo"' EXIT
rm -rf "$repo" && "$mgit" init "$repo" -q >/dev/null
cd "$repo"
timed() { /usr/bin/time -f "%e %U %S %R" -o "$out/time" "$@" >/dev/null 2>&1; cat "$out/time"; }
add() { local name=$1; shift; sync; printf "add      %-16s %s\n" "$name" "$(timed "$mgit" add "$@" -q)"; }
add base "$family/base.safetensors" --name base
add head-finetune "$family/head-finetune.safetensors" --name head-finetune --parent base
add full-finetune "$family/full-finetune.safetensors" --name full-finetune --parent base
add full-finetune@2 "$family/full-finetune-v2.safetensors" --version-of full-finetune
add base-bf16 "$family/base-bf16.safetensors" --name base-bf16 --parent base
add finetune-bf16 "$family/finetune-bf16.safetensors" --name finetune-bf16 --parent full-finetune@1
add pruned "$family/pruned.safetensors" --name pruned --parent base
for model in base head-finetune full-finetune@1 full-finetune@2 base-bf16 finetune-bf16 pruned; do
  sync
  printf "checkout %-16s %s\n" "$model" "$(timed "$mgit" checkout "$model" -o "$out/$model" -q)"
  rm -f "$out/$model"
done
