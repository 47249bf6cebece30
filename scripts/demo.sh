#!/usr/bin/env bash
# The README's demo: set up, synthesize the demo corpus, pretrain a tiny EH-MAM on it through
# fairseq-hydra-train and our user_dir, then plot the learning curves, the masks the teacher
# chooses and the hard-region diagnostic, and run the linear phone probe. Rerunning resumes
# from checkpoints/demo/checkpoint_last.pt.
#   bash scripts/demo.sh [extra hydra overrides, e.g. optimization.max_update=600]
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
out=$root/outputs/demo

bash scripts/setup.sh
.venv/bin/python manifests/make_demo_corpus.py --out data/demo

echo "[demo] pretraining a tiny EH-MAM (CPU); checkpoints in checkpoints/demo, log in $out/hydra_train.log"
start=$(date +%s)
.venv/bin/fairseq-hydra-train \
  --config-dir "$root/examples/ehmam/config" --config-name tiny_cpu \
  task.data="$root/data/demo" \
  common.user_dir="$root/user_dir" \
  checkpoint.save_dir="$root/checkpoints/demo" \
  hydra.run.dir="$out" \
  "$@"
echo "[demo] training took $(( $(date +%s) - start )) s"

.venv/bin/python scripts/plot_pretraining.py "$out/hydra_train.log" --out "$out/learning_curves.png"
utterance="$(sed -n 1p data/demo/valid.tsv)/$(sed -n 2p data/demo/valid.tsv | cut -f1)"  # root / first file
.venv/bin/python scripts/plot_masking.py --audio "$utterance" \
  --checkpoint "$root/checkpoints/demo/checkpoint_last.pt" --out "$out/teacher_masks.png"
.venv/bin/python scripts/plot_hard_regions.py --checkpoint "$root/checkpoints/demo/checkpoint_last.pt" \
  --manifest data/demo/valid.tsv --out "$out/hard_regions.png"
echo "[demo] linear phone probe on frozen features: pretrained against the same model with random weights"
.venv/bin/python -m ehmam.probe "$root/checkpoints/demo/checkpoint_last.pt" data/demo --json "$out/probe.json"
echo "[demo] done: checkpoint $root/checkpoints/demo/checkpoint_last.pt, plots $out/*.png, probe $out/probe.json"
