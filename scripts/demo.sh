#!/usr/bin/env bash
# The README's demo: set up, synthesize the demo corpus, pretrain a tiny model on it
# through fairseq-hydra-train and our user_dir. Rerunning resumes from the checkpoint.
#   bash scripts/demo.sh [extra hydra overrides, e.g. optimization.max_update=80]
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

bash scripts/setup.sh
.venv/bin/python manifests/make_demo_corpus.py --out data/demo

echo "[demo] pretraining (tiny wav2vec 2.0, CPU); checkpoints in checkpoints/demo"
.venv/bin/fairseq-hydra-train \
  --config-dir "$root/examples/demo" --config-name wav2vec2_tiny \
  task.data="$root/data/demo" \
  common.user_dir="$root/user_dir" \
  checkpoint.save_dir="$root/checkpoints/demo" \
  hydra.run.dir="$root/outputs/demo" \
  "$@"
echo "[demo] done: $(ls "$root"/checkpoints/demo/*.pt | tr '\n' ' ')"
