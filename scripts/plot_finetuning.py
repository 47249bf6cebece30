#!/usr/bin/env python
"""Validation UER and WER of CTC fine-tuning runs against the update, one line per run.

    python scripts/plot_finetuning.py outputs/demo/finetune/hydra_train.log:pretrained \
        outputs/demo/finetune_random/hydra_train.log:"random init" --out outputs/demo/finetuning.png

Each argument is a fairseq-hydra-train log (``common.log_format=json``), optionally followed by
``:label``. The curves are the greedy (Viterbi) error rates fairseq's ``ctc`` criterion logs at
every validation.
"""

import argparse
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scripts.figures import save_figure  # noqa: E402
from scripts.plot_pretraining import read_fairseq_log  # noqa: E402


def parse_run(argument: str) -> tuple[Path, str]:
    """``path[:label]``; the label defaults to the log's folder name."""
    path, _, label = argument.partition(":")
    return Path(path), label or Path(path).parent.name


def validation_curves(log: Path) -> dict:
    """``{"updates": [...], "uer": [...], "wer": [...]}`` from a fine-tuning log."""
    valid = read_fairseq_log(log)["valid"]
    missing = [r["num_updates"] for r in valid if "uer" not in r or "wer" not in r]
    if not valid or missing:
        raise ValueError(f"{log}: no validation records with uer and wer (is it a CTC fine-tuning log "
                         "with criterion.post_process set?)")
    return {key: [r[name] for r in valid] for key, name in (("updates", "num_updates"), ("uer", "uer"), ("wer", "wer"))}


def plot(runs: list[tuple[Path, str]], out: Path) -> None:
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), sharex=True)
    for path, label in runs:
        curves = validation_curves(path)
        for ax, metric in zip(axes, ("uer", "wer")):
            ax.plot(curves["updates"], curves[metric], marker="o", markersize=3, label=label)
    for ax, title in zip(axes, ("validation UER (%), greedy", "validation WER (%), greedy")):
        ax.set_title(title)
        ax.set_xlabel("update")
        ax.grid(alpha=0.3)
    axes[0].legend()
    save_figure(fig, out)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("runs", nargs="+", help="hydra_train.log[:label]")
    p.add_argument("--out", type=Path, required=True)
    a = p.parse_args(argv)
    plot([parse_run(r) for r in a.runs], a.out)
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
