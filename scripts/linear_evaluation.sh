#!/usr/bin/env bash
# The README's linear-evaluation table: generate the four tasks (manifests/make_audio_tasks.py),
# evaluate each checkpoint given, and the first one's architecture with random weights, on each
# task (EVAR's protocol, ehmam.evaluation.linear: mean ± 95 % CI over 5 seeded runs), then print
# the markdown summary. Results: $OUT/results.csv (started afresh; OUT=outputs/linear by default).
#   [OUT=outputs/m2d_linear] bash scripts/linear_evaluation.sh [CHECKPOINT NAME]...
# Default: checkpoints/demo/checkpoint_last.pt "EH-MAM demo". The README's table adds
#   checkpoints/demo_2000/checkpoint_last.pt "EH-MAM demo, 2000 updates" (pretrained as it says).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ $# -eq 0 ]; then set -- checkpoints/demo/checkpoint_last.pt "EH-MAM demo"; fi
if [ $(( $# % 2 )) -ne 0 ]; then echo "usage: $0 [CHECKPOINT NAME]..." >&2; exit 2; fi
out=${OUT:-outputs/linear}
.venv/bin/python manifests/make_audio_tasks.py all --out data/tasks
rm -f "$out/results.csv"
evaluate() {  # checkpoint name task [--random-init]
  # lr 1e-2: these sets are small (a few mini-batches per epoch); EVAR's 1e-3 default suits 10^4+ clips
  .venv/bin/python -m ehmam.evaluation.linear run "$1" --name "$2" --task "$3" --data "data/tasks/$3" \
    --lr 0.01 --runs 5 --results "$out/results.csv" --cache-dir "$out/cache" --no-progress "${@:4}"
}
for task in spcv2 vc1 voxforge esc50; do
  for ((i = 1; i < $#; i += 2)); do
    j=$((i + 1))
    evaluate "${!i}" "${!j}" "$task"
  done
  evaluate "$1" "$2" "$task" --random-init
done
.venv/bin/python -m ehmam.evaluation.linear summary "$out/results.csv"
