#!/usr/bin/env bash
# The README's linear-evaluation table: generate the four tasks (manifests/make_audio_tasks.py),
# evaluate a checkpoint and the same architecture with random weights on each (EVAR's protocol,
# ehmam.evaluation.linear, mean ± 95 % CI over --runs seeds), print the markdown summary.
#   bash scripts/linear_evaluation.sh [CHECKPOINT] [NAME] [extra `linear run` options]
# Defaults: checkpoints/demo/checkpoint_last.pt, "EH-MAM demo". Results: outputs/linear/results.csv.
set -euo pipefail
cd "$(dirname "$0")/.."
checkpoint=${1:-checkpoints/demo/checkpoint_last.pt}
name=${2:-EH-MAM demo}
shift $(( $# > 2 ? 2 : $# ))
out=outputs/linear
.venv/bin/python manifests/make_audio_tasks.py all --out data/tasks
rm -f "$out/results.csv"
for task in spcv2 vc1 voxforge esc50; do
  for init in "" --random-init; do
    # lr 1e-2: these sets are small (a few mini-batches per epoch); EVAR's 1e-3 default suits 10^4+ clips
    .venv/bin/python -m ehmam.evaluation.linear run "$checkpoint" --name "$name" --task "$task" \
      --data "data/tasks/$task" --lr 0.01 --runs 5 $init --results "$out/results.csv" \
      --cache-dir "$out/cache" --no-progress "$@"
  done
done
.venv/bin/python -m ehmam.evaluation.linear summary "$out/results.csv"
