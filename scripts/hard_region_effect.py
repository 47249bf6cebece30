#!/usr/bin/env python
"""Hard-region effect (EH-MAM Fig. 2 and 5): hide p% of the frames a fine-tuned CTC model
sees, chosen by the pretrained teacher's loss predictor or at random, and plot and tabulate
the relative WER increase of both.

    python scripts/hard_region_effect.py checkpoints/demo_ctc/checkpoint_best.pt --data data/demo \\
        --split test --out outputs/demo/hard_region_effect [--shares 10,20,30,40,50] \\
        [--pretrained checkpoints/demo/checkpoint_last.pt] [--lexicon L --lm LM --lm-weight W --word-score S]

The pretrained checkpoint defaults to the one the model was fine-tuned from (its
``model.w2v_path``). Decoding is greedy, or lexicon beam search with ``--lexicon``/``--lm``.
Writes ``effect.tsv`` (one row per setting), ``effect.json`` and ``effect.png``; prints the
table. ``ehmam.evaluation.hard_region_effect`` explains the measurement.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import List, Optional

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ehmam.checkpoints import load_ehmam_model  # noqa: E402
from ehmam.asr.decode import (add_beam_search_arguments, beam_search_from_arguments,  # noqa: E402
                          check_beam_search_arguments, load_ctc_model, parse_grid)
from ehmam.evaluation.hard_region_effect import EffectRow, measure_hard_region_effect  # noqa: E402
from ehmam.outputs import prepare_output_dir  # noqa: E402
from scripts.figures import save_figure  # noqa: E402
from scripts.plot_masking import SELECTIVE_COLOUR  # noqa: E402

RANDOM_COLOUR = "tab:gray"


def table(rows: List[EffectRow]) -> List[str]:
    lines = ["share_hidden\trule\twer\tcer\trelative_wer_increase\trelative_cer_increase"]
    for r in rows:
        lines.append(f"{r.share:.2f}\t{r.rule}\t{r.errors.wer:.2f}\t{r.errors.cer:.2f}\t"
                     f"{r.relative_wer_increase:.1f}\t{r.relative_cer_increase:.1f}")
    return lines


def plot(rows: List[EffectRow], out: Path, title: str) -> None:
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    for ax, metric in zip(axes, ("wer", "cer")):
        for rule, colour, label in (("predicted", SELECTIVE_COLOUR, "highest predicted loss (teacher)"),
                                    ("random", RANDOM_COLOUR, "random frames")):
            picked = [r for r in rows if r.rule == rule]
            shares = [100 * r.share for r in picked]
            values = [getattr(r, f"relative_{metric}_increase") for r in picked]
            ax.plot(shares, values, marker="o", color=colour, label=label)
        ax.set_xlabel("frames hidden (%)")
        ax.set_ylabel(f"relative {metric.upper()} increase (%)")
        ax.grid(alpha=0.3)
        baseline = rows[0].baseline
        ax.set_title(f"{metric.upper()} with nothing hidden: {getattr(baseline, metric):.1f}%", fontsize=9)
    axes[0].legend(fontsize=8)
    fig.suptitle(title, fontsize=10)
    save_figure(fig, out)


def main(argv: Optional[List[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("checkpoint", type=Path, help="a wav2vec_ctc checkpoint fine-tuned from an EH-MAM one")
    p.add_argument("--data", type=Path, required=True)
    p.add_argument("--split", default="test")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--pretrained", type=Path, help="the EH-MAM pretraining checkpoint (default: model.w2v_path)")
    p.add_argument("--shares", type=parse_grid, default=[10, 20, 30, 40, 50], help="percent of frames to hide")
    p.add_argument("--seed", type=int, default=0)
    add_beam_search_arguments(p)
    a = p.parse_args(argv)
    check_beam_search_arguments(p, a)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        prepare_output_dir(a.out, "--out")  # before minutes of decoding, not after
        ctc = load_ctc_model(a.checkpoint, a.data)
        pretrained_path = a.pretrained or (Path(ctc.pretrained_from) if ctc.pretrained_from else None)
        if pretrained_path is None:
            raise ValueError(f"{a.checkpoint}: names no pretraining checkpoint (w2v_path). Fix: pass --pretrained")
        pretrained = load_ehmam_model(pretrained_path, what="--pretrained (the hard-region teacher)")
        search = beam_search_from_arguments(a, ctc)
        decoding = "greedy" if search is None else "lexicon"
        if a.lm is not None:
            decoding = f"beam {a.beam}, LM weight {a.lm_weight}, word score {a.word_score}"
        rows = measure_hard_region_effect(ctc, pretrained, a.data, a.split, [s / 100 for s in a.shares], search,
                                          a.seed)
    except (ValueError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    a.out.mkdir(parents=True, exist_ok=True)
    lines = table(rows)
    (a.out / "effect.tsv").write_text("\n".join(lines) + "\n")
    (a.out / "effect.json").write_text(json.dumps({
        "checkpoint": str(a.checkpoint), "pretrained": str(pretrained_path), "split": a.split,
        "decoding": decoding, "seed": a.seed,
        "rows": [{"share": r.share, "rule": r.rule, "wer": r.errors.wer, "cer": r.errors.cer,
                  "relative_wer_increase": r.relative_wer_increase,
                  "relative_cer_increase": r.relative_cer_increase} for r in rows]}, indent=2) + "\n")
    plot(rows, a.out / "effect.png",
         f"Hiding frames from the fine-tuned model ({a.split}, {decoding})")
    print("\n".join(line.replace("\t", "  ") for line in lines))
    print(f"wrote {a.out}/effect.{{tsv,json,png}}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
