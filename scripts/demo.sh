#!/usr/bin/env bash
# The README's demo: set up, synthesize the demo corpus, pretrain a tiny EH-MAM on it through
# fairseq-hydra-train and our user_dir, then plot the learning curves, the masks the teacher
# chooses and the hard-region diagnostic, run the linear phone probe, fine-tune with CTC
# (fairseq's stock wav2vec_ctc) and print the greedy test CER and WER. Rerunning resumes
# from checkpoints/demo/checkpoint_last.pt and checkpoints/demo_ctc/checkpoint_last.pt.
#   bash scripts/demo.sh [extra hydra overrides, e.g. optimization.max_update=600]
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
out=$root/outputs/demo

bash scripts/setup.sh --with-kenlm
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
.venv/bin/python -m ehmam.probe "$root/checkpoints/demo/checkpoint_last.pt" data/demo --max-utterances 300 \
  --json "$out/probe.json"

echo "[demo] CTC fine-tuning with fairseq's stock wav2vec_ctc; checkpoints in checkpoints/demo_ctc, log in $out/finetune/hydra_train.log"
start=$(date +%s)
.venv/bin/fairseq-hydra-train \
  --config-dir "$root/examples/ehmam/config/finetuning" --config-name tiny_cpu \
  task.data="$root/data/demo" \
  model.w2v_path="$root/checkpoints/demo/checkpoint_last.pt" \
  common.user_dir="$root/user_dir" \
  checkpoint.save_dir="$root/checkpoints/demo_ctc" \
  hydra.run.dir="$out/finetune"
echo "[demo] fine-tuning took $(( $(date +%s) - start )) s"
.venv/bin/python scripts/plot_finetuning.py "$out/finetune/hydra_train.log:EH-MAM tiny, pretrained" \
  --out "$out/finetuning.png"
echo "[demo] greedy decoding of the test split (sentences unseen in training)"
.venv/bin/python -m ehmam.decode "$root/checkpoints/demo_ctc/checkpoint_best.pt" --data data/demo --split test \
  --out "$out/decode"
echo "[demo] done: checkpoints $root/checkpoints/demo{,_ctc}, plots $out/*.png, probe $out/probe.json, transcripts $out/decode"
