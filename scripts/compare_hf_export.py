"""How closely an exported CTC model (``python -m ehmam.export_hf``) follows its fairseq checkpoint.

    python scripts/compare_hf_export.py checkpoints/demo_ctc/checkpoint_best.pt outputs/demo/hf \\
        --data data/demo --split test [--batch-size 8] [--limit N] [--json out.json]

It measures, over the split's utterances (the first ``--limit`` of them):

- single utterances: the largest difference between fairseq's CTC logits (``wav2vec_ctc``
  through ``ehmam.asr.decode``) and the exported ``Data2VecAudioForCTC``'s, and between the
  hidden states of every encoder layer;
- padded batches: the largest difference between the exported model's logits for an utterance
  alone and inside a padded batch of ``--batch-size`` (fairseq's model: none, it zeroes
  padding before each positional conv);
- transcripts: ``pipeline("automatic-speech-recognition")`` at batch size 1 and at
  ``--batch-size`` against ``ehmam.asr.decode``'s greedy hypotheses.

The last line says how many transcripts differ at batch size 1 (the pipeline's default).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from ehmam.asr.decode import load_ctc_model, read_utterances, read_waveform  # noqa: E402
from ehmam.asr.error_rates import ErrorCounts  # noqa: E402
from ehmam.models.frontends.waveform import normalize_waveform  # noqa: E402


@torch.no_grad()
def compare(checkpoint: Path, exported: Path, data: Path, split: str, batch_size: int, limit=None) -> dict:
    from transformers import AutoModelForCTC, AutoProcessor, pipeline

    ctc = load_ctc_model(checkpoint, data)
    utterances = read_utterances(data, split)[:limit]
    waves = [read_waveform(u) for u in utterances]
    hf = AutoModelForCTC.from_pretrained(exported).eval()
    processor = AutoProcessor.from_pretrained(exported)

    logits_diff = hidden_diff = 0.0
    alone, greedy = [], []
    for wave in waves:  # one utterance at a time: both models see the same normalised samples
        source = normalize_waveform(wave[None]) if ctc.normalize else wave[None]
        ours = ctc.model(source=source, padding_mask=None)
        theirs = hf(source, output_hidden_states=True)
        logits_diff = max(logits_diff, float((ctc.model.get_logits(ours)[:, 0] - theirs.logits[0]).abs().max()))
        for mine, hidden in zip(ours["layer_results"], theirs.hidden_states[1:]):
            hidden_diff = max(hidden_diff, float((mine[0] - hidden[0]).abs().max()))
        alone.append(theirs.logits[0])
        # ehmam.asr.decode's greedy search on the same emissions (its padded batches give the same:
        # our model zeroes padding before every positional conv)
        greedy.append(ctc.greedy(ctc.model.get_normalized_probs(ours, log_probs=True)[:, 0]))

    padded_diff = 0.0  # the exported model on padded batches, through its own processor
    for start in range(0, len(waves), batch_size):
        group = range(start, min(start + batch_size, len(waves)))
        inputs = processor([waves[i].numpy() for i in group], sampling_rate=16_000, padding=True,
                           return_tensors="pt")
        logits = hf(inputs.input_values, attention_mask=inputs.attention_mask).logits
        lengths = hf._get_feat_extract_output_lengths(inputs.attention_mask.sum(-1))
        for row, (i, n) in enumerate(zip(group, lengths.tolist())):
            padded_diff = max(padded_diff, float((logits[row, :n] - alone[i][:n]).abs().max()))

    asr = pipeline("automatic-speech-recognition", model=str(exported), device="cpu")
    single = [out["text"] for out in asr([w.numpy() for w in waves])]
    batched = [out["text"] for out in asr([w.numpy() for w in waves], batch_size=batch_size)]
    found = {
        "utterances": len(waves), "batch_size": batch_size,
        "max_logit_diff_single": logits_diff, "max_hidden_diff_single": hidden_diff,
        "max_logit_diff_padded": padded_diff,
        "transcripts_differing_batch_1": sum(a != b for a, b in zip(single, greedy)),
        f"transcripts_differing_batch_{batch_size}": sum(a != b for a, b in zip(batched, greedy)),
        "empty_greedy_hypotheses": sum(not h for h in greedy),
    }
    if all(u.reference is not None for u in utterances):  # corpus error rates, in %
        for name, hyps in (("greedy", greedy), ("pipeline_batch_1", single), (f"pipeline_batch_{batch_size}", batched)):
            counts = sum((ErrorCounts.of(u.reference, h) for u, h in zip(utterances, hyps)), ErrorCounts())
            found[f"wer_{name}"], found[f"cer_{name}"] = round(counts.wer, 2), round(counts.cer, 2)
    return found


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoint", type=Path, help="the fairseq CTC checkpoint that was exported")
    parser.add_argument("exported", type=Path, help="the folder python -m ehmam.export_hf wrote")
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--split", default="test")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--limit", type=int, default=None, help="only the first N utterances")
    parser.add_argument("--json", type=Path, default=None, help="also write the numbers here")
    args = parser.parse_args(argv)
    if args.batch_size < 2:
        parser.error(f"--batch-size {args.batch_size}: needs at least 2 to measure padded batches")
    found = compare(args.checkpoint, args.exported, args.data, args.split, args.batch_size, args.limit)
    if args.json:
        args.json.write_text(json.dumps(found, indent=1) + "\n")
    for key, value in found.items():
        print(f"{key:36s} {value:.4g}" if isinstance(value, float) else f"{key:36s} {value}")
    print(f"{found['transcripts_differing_batch_1']} of {found['utterances']} pipeline transcripts differ from "
          "ehmam.asr.decode's greedy ones at batch size 1")
    return 0


if __name__ == "__main__":
    sys.exit(main())
