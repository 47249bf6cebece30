#!/usr/bin/env python
"""Validation UER and WER of CTC fine-tuning runs against the update, one line per run.

    python scripts/plot_finetuning.py outputs/demo/finetune/hydra_train.log:pretrained \
        outputs/demo/finetune_random/hydra_train.log:"random init" --out outputs/demo/finetuning.png

Each argument is a fairseq-hydra-train log (``common.log_format=json``), optionally followed by
``:label``. The curves are the greedy (Viterbi) error rates fairseq's ``ctc`` criterion logs at
every validation. A pretraining log, or one without validation UER/WER, is refused (exit 1)
with the log's name.
"""

import argparse
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ehmam.outputs import prepare_output_file  # noqa: E402
from scripts.figures import save_figure  # noqa: E402
from scripts.plot_pretraining import log_kind, read_fairseq_log  # noqa: E402


def parse_run(argument: str) -> tuple[Path, str]:
    """``path[:label]``; the label defaults to the log's folder name."""
    path, _, label = argument.partition(":")
    return Path(path), label or Path(path).parent.name


def validation_curves(log: Path) -> dict:
    """``{"updates": [...], "uer": [...], "wer": [...]}`` from a fine-tuning log."""
    records = read_fairseq_log(log)
    if log_kind(records) == "pretraining":
        raise ValueError(f"{log}: an EH-MAM pretraining log, no validation records with uer and wer. "
                         f"Fix: plot it with scripts/plot_pretraining.py {log} --out FIGURE.png")
    valid = records["valid"]
    missing = [int(r["num_updates"]) for r in valid
               if not isinstance(r.get("uer"), float) or not isinstance(r.get("wer"), float)]
    if not valid or missing:
        where = f" (updates {missing[:5]} lack them)" if valid else ""
        raise ValueError(f"{log}: no validation records with uer and wer{where}. Fix: pass the hydra_train.log "
                         "of a CTC fine-tuning run (criterion ctc with criterion.post_process=letter)")
    return {key: [r[name] for r in valid] for key, name in (("updates", "num_updates"), ("uer", "uer"), ("wer", "wer"))}


def plot(runs: list[tuple[dict, str]], out: Path) -> None:
    """``runs``: (:func:`validation_curves` of a log, its label) pairs."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), sharex=True)
    for curves, label in runs:
        for ax, metric in zip(axes, ("uer", "wer")):
            ax.plot(curves["updates"], curves[metric], marker="o", markersize=3, label=label)
    for ax, title in zip(axes, ("validation UER (%), greedy", "validation WER (%), greedy")):
        ax.set_title(title)
        ax.set_xlabel("update")
        ax.grid(alpha=0.3)
    axes[0].legend()
    save_figure(fig, out)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("runs", nargs="+", help="hydra_train.log[:label]")
    p.add_argument("--out", type=Path, required=True)
    a = p.parse_args(argv)
    try:
        prepare_output_file(a.out, "--out")
        # every log is read and checked before anything is drawn
        runs = [(validation_curves(path), label) for path, label in map(parse_run, a.runs)]
    except (ValueError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    plot(runs, a.out)
    print(f"wrote {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
