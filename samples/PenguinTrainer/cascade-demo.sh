#!/usr/bin/env bash
# The update cascade on a real (small) model family, offline, in about a minute:
#   penguin-base (species) -> penguin-sex (head-only fine-tune) -> penguin-sex-pruned
#                          -> penguin-island (full fine-tune)
# Each derived model is added with the recipe that made it (this folder's PenguinTrainer, a C#
# training program on the Palmer penguins data) and tests that evaluate it. Then the base gets a
# better version, and `mgit cascade` re-derives and re-tests everything below it.
# Usage: samples/PenguinTrainer/cascade-demo.sh [WORK_DIR]   (default: a new temporary folder)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mkdir -p "${1:-$(mktemp -d)}" && cd "${1:-$_}" && pwd)
echo "working in $work"
dotnet build "$root/samples/PenguinTrainer" -c Release -o "$work/bin" -v quiet -nologo
dotnet build "$root/src/MGit.Cli" -c Release -o "$work/mgit" -v quiet -nologo
trainer="dotnet '$work/bin/PenguinTrainer.dll'"      # as a command template: quoted for mgit's word splitting
train() { dotnet "$work/bin/PenguinTrainer.dll" "$@"; }
mgit() { dotnet "$work/mgit/mgit.dll" "$@"; }

mkdir -p "$work/family" && cd "$work/family"
mgit init

# 1. A base model, trained briefly, and tests per model type (metrics: the trainer's JSON line).
train train --epochs 3 --out base.safetensors
mgit add base.safetensors --name penguin-base --type species -m "species classifier, 3 epochs"
mgit test add species-accuracy --for type:species --pass "accuracy >= 0.95" --cmd "$trainer eval --model {model} --task species"
mgit test add sex-accuracy --for type:sex --pass "accuracy >= 0.75" --cmd "$trainer eval --model {model} --task sex"
mgit test add island-accuracy --for type:island --pass "accuracy >= 0.6" --cmd "$trainer eval --model {model} --task island"

# 2. Derived models, each added with the recipe that made it.
sex_recipe="$trainer finetune --base {parent} --task sex --freeze-encoder --epochs 60 --out {output}"
island_recipe="$trainer finetune --base {parent} --task island --epochs 30 --out {output}"
prune_recipe="$trainer prune --in {parent} --fraction 0.5 --out {output}"
train finetune --base base.safetensors --task sex --freeze-encoder --epochs 60 --out sex.safetensors
mgit add sex.safetensors --name penguin-sex --parent penguin-base --how finetune --type sex --recipe "$sex_recipe"
train finetune --base base.safetensors --task island --epochs 30 --out island.safetensors
mgit add island.safetensors --name penguin-island --parent penguin-base --how finetune --type island --recipe "$island_recipe"
train prune --in sex.safetensors --fraction 0.5 --out sex-pruned.safetensors
mgit add sex-pruned.safetensors --name penguin-sex-pruned --parent penguin-sex --how prune --type sex --recipe "$prune_recipe"
mgit test run --all --jobs 2 || echo "(some tests fail before the update)"

# 3. A better base: the cascade replays every recipe on it and re-runs the tests.
train train --epochs 30 --out base-v2.safetensors
mgit add base-v2.safetensors --version-of penguin-base -m "species classifier, 30 epochs"
mgit test run penguin-base
mgit cascade penguin-base@2 --dry-run
mgit cascade penguin-base@2 --jobs 2
mgit test show
mgit log
mgit stats
