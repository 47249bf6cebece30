#!/usr/bin/env bash
# The demos' linear evaluation: generate keyword spotting in the Speech Commands V2 layout
# (data/tasks/spcv2), then evaluate CHECKPOINT and the same architecture with random weights
# by EVAR's protocol (3 seeded runs each; lr 1e-2, as these small sets need). Appends to
# OUT/linear.csv, features cached in OUT/linear_cache.
#   bash scripts/keyword_evaluation.sh CHECKPOINT NAME OUT
set -euo pipefail
cd "$(dirname "$0")/.."
if [ $# -ne 3 ]; then echo "usage: $0 CHECKPOINT NAME OUT" >&2; exit 2; fi
.venv/bin/python manifests/make_audio_tasks.py keywords --out data/tasks/spcv2
for init in "" --random-init; do
  .venv/bin/python -m ehmam.evaluation.linear run "$1" --name "$2" \
    --task spcv2 --data data/tasks/spcv2 --lr 0.01 --runs 3 $init --results "$3/linear.csv" \
    --cache-dir "$3/linear_cache" --no-progress
done
