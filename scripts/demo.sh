#!/usr/bin/env bash
# The README's demo: set up, synthesize the demo corpus, pretrain a tiny EH-MAM on it through
# fairseq-hydra-train and our user_dir, then plot the learning curves, the masks the teacher
# chooses and the hard-region diagnostic, run the linear phone probe and a linear evaluation on
# generated keyword spotting (pretrained against random weights, EVAR's protocol), fine-tune with CTC
# (fairseq's stock wav2vec_ctc), build a 4-gram KenLM, decode the test split greedily and with
# the LM (weights searched on valid), measure the hard-region effect, and print both WERs. Rerunning resumes
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
.venv/bin/python -m ehmam.evaluation.probe "$root/checkpoints/demo/checkpoint_last.pt" data/demo --max-utterances 300 \
  --json "$out/probe.json"

echo "[demo] linear evaluation (EVAR's protocol) on generated keyword spotting in the Speech Commands V2 layout"
bash scripts/keyword_evaluation.sh "$root/checkpoints/demo/checkpoint_last.pt" "EH-MAM demo" "$out"

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
echo "[demo] a 4-gram KenLM on the LM text (every fortune sentence not in valid or test) and its lexicon"
.venv/bin/python -m ehmam.asr.language_model build --text data/demo/lm_text.txt --words data/demo/train.wrd \
  --dict data/demo/dict.ltr.txt --out "$out/lm"
echo "[demo] decoding: LM weight and word score searched on valid, then the test split greedily and with the LM"
.venv/bin/python -m ehmam.asr.decode "$root/checkpoints/demo_ctc/checkpoint_best.pt" --data data/demo --split test \
  --lexicon "$out/lm/lexicon.txt" --lm "$out/lm/4-gram.bin" --tune-split valid --out "$out/decode"
read -r lm_weight word_score < <(.venv/bin/python -c \
  "import json; d = json.load(open('$out/decode/test.kenlm.json')); print(d['lm_weight'], d['word_score'])")
echo "[demo] the fine-tuned model as a HuggingFace transformers folder (Data2VecAudioForCTC, processor, model card)"
.venv/bin/python -m ehmam.export_hf "$root/checkpoints/demo_ctc/checkpoint_best.pt" "$out/hf" --overwrite \
  --results "$out/decode/test.greedy.json" --results "$out/decode/test.kenlm.json"
echo "[demo] hard-region effect: hide the frames the pretrained teacher calls hard, or random ones"
.venv/bin/python scripts/hard_region_effect.py "$root/checkpoints/demo_ctc/checkpoint_best.pt" --data data/demo \
  --split test --out "$out/hard_region_effect" --lexicon "$out/lm/lexicon.txt" --lm "$out/lm/4-gram.bin" \
  --lm-weight "$lm_weight" --word-score="$word_score"
echo "[demo] done: checkpoints $root/checkpoints/demo{,_ctc}, plots $out/*.png and $out/hard_region_effect/effect.png, probe $out/probe.json, linear evaluation $out/linear.csv, transcripts $out/decode, transformers export $out/hf"
.venv/bin/python - "$out/decode" <<'PY'
import json, sys
for method, name in (("greedy", "greedy"), ("kenlm", "4-gram LM")):
    d = json.load(open(f"{sys.argv[1]}/test.{method}.json"))
    extra = f" (LM weight {d['lm_weight']}, word score {d['word_score']}, beam {d['beam']})" if method == "kenlm" else ""
    print(f"[demo] test WER, {name}: {d['wer']:.2f}%  CER {d['cer']:.2f}%{extra}")
PY
echo "[demo] linear evaluation, keyword spotting accuracy (%, mean ± 95 % CI over 3 runs):"
.venv/bin/python -m ehmam.evaluation.linear summary "$out/linear.csv"
