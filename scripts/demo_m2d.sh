#!/usr/bin/env bash
# The README's M2D demo: set up, synthesize the demo corpus, pretrain a tiny M2D on it through
# fairseq-hydra-train and our user_dir (examples/m2d/config/tiny_cpu.yaml; the corpus's log-mel
# statistics are measured at start-up), plot its learning curves and what its two networks see
# of one utterance, then evaluate its frozen features linearly on generated keyword spotting
# against the same model with random weights (EVAR's protocol). Rerunning resumes from
# checkpoints/m2d_demo/checkpoint_last.pt.
#   bash scripts/demo_m2d.sh [extra hydra overrides, e.g. optimization.max_update=6000]
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
out=$root/outputs/m2d_demo
checkpoint=$root/checkpoints/m2d_demo/checkpoint_last.pt

bash scripts/setup.sh
.venv/bin/python manifests/make_demo_corpus.py --out data/demo

echo "[m2d demo] pretraining a tiny M2D (CPU); checkpoints in checkpoints/m2d_demo, log in $out/hydra_train.log"
start=$(date +%s)
.venv/bin/fairseq-hydra-train \
  --config-dir "$root/examples/m2d/config" --config-name tiny_cpu \
  task.data="$root/data/demo" \
  common.user_dir="$root/user_dir" \
  checkpoint.save_dir="$root/checkpoints/m2d_demo" \
  hydra.run.dir="$out" \
  "$@"
echo "[m2d demo] training took $(( $(date +%s) - start )) s"

.venv/bin/python scripts/plot_pretraining.py "$out/hydra_train.log" --out "$out/learning_curves.png"
utterance="$(sed -n 1p data/demo/valid.tsv)/$(sed -n 2p data/demo/valid.tsv | cut -f1)"  # root / first file
.venv/bin/python scripts/plot_m2d_masks.py --audio "$utterance" --checkpoint "$checkpoint" --out "$out/masks.png"

echo "[m2d demo] linear evaluation (EVAR's protocol) on generated keyword spotting in the Speech Commands V2 layout"
bash scripts/keyword_evaluation.sh "$checkpoint" "M2D demo" "$out"
echo "[m2d demo] done: checkpoints $root/checkpoints/m2d_demo, plots $out/{learning_curves,masks}.png, linear evaluation $out/linear.csv"
echo "[m2d demo] linear evaluation, keyword spotting accuracy (%, mean ± 95 % CI over 3 runs):"
.venv/bin/python -m ehmam.evaluation.linear summary "$out/linear.csv"
