#!/usr/bin/env python
"""Learning curves of a fairseq-hydra-train run, from its log (``common.log_format=json``).

    python scripts/plot_pretraining.py outputs/demo/hydra_train.log --out outputs/demo/learning_curves.png

EH-MAM, four panels against the update: the loss and its reconstruction term (train and
valid), the ranking loss with the loss predictor's pairwise ranking accuracy, the selective
share of the mask with the EMA decay, and the target / prediction spread the collapse guard
watches. A spectrogram method's run (M2D, Audio-MAE, MSM-MAE, the audio JEPA; criterion
``spectrogram_pretraining``), three: the loss (train and valid), the learning rate with the
EMA decay of a method that has a teacher, and the same spreads. A resumed run appends to the
same log; the last record of an update wins.

A log without pretraining records (a CTC fine-tuning log: scripts/plot_finetuning.py plots
those) is refused with exit status 1 instead of drawing empty panels.
"""

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Dict, List

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ehmam.outputs import prepare_output_file  # noqa: E402
from scripts.figures import save_figure  # noqa: E402

RECORD = re.compile(r"\[(train_inner|valid)\]\[INFO\] - (\{.*\})\s*$")
PRETRAINING_KEYS = ("reconstruction", "ranking", "selective_share")  # logged by ehmam's criterion only
SPREAD_KEYS = ("target_std", "prediction_std")  # logged by every teacher-student criterion
FINETUNING_KEYS = ("uer", "wer")  # logged by fairseq's ctc criterion at validation


def _number(value):
    try:
        return float(value)
    except (TypeError, ValueError):
        return value


def read_fairseq_log(path: Path) -> Dict[str, List[dict]]:
    """``{"train_inner": [...], "valid": [...]}``, each a list of records sorted by update,
    values as floats and ``valid_`` prefixes removed. Raises if the log has no JSON records
    (a short run may log validations only: ``common.log_interval`` is larger than its updates)."""
    by_update: Dict[str, Dict[int, dict]] = {"train_inner": {}, "valid": {}}
    for line in Path(path).read_text(errors="replace").splitlines():
        match = RECORD.search(line)
        if not match:
            continue
        kind, record = match.group(1), json.loads(match.group(2))
        record = {key.removeprefix("valid_"): _number(value) for key, value in record.items()}
        by_update[kind][int(record["num_updates"])] = record
    if not by_update["train_inner"] and not by_update["valid"]:
        raise ValueError(f"{path}: no [train_inner] or [valid] JSON records. Fix: pass a fairseq-hydra-train "
                         "log written with common.log_format=json")
    return {kind: [records[u] for u in sorted(records)] for kind, records in by_update.items()}


def log_kind(log: Dict[str, List[dict]]) -> str:
    """``"pretraining"`` (EH-MAM's losses), ``"spectrogram"`` (a spectrogram method's run),
    ``"finetuning"`` (validation UER/WER) or ``"unknown"``."""
    records = log["train_inner"] + log["valid"]
    if any(key in r for r in records for key in PRETRAINING_KEYS):
        return "pretraining"
    if any(key in r for r in records for key in SPREAD_KEYS):
        return "spectrogram"
    if any(key in r for r in log["valid"] for key in FINETUNING_KEYS):
        return "finetuning"
    return "unknown"


def check_pretraining_log(log: Dict[str, List[dict]], path: Path) -> None:
    """Refuse a log this script would draw as empty panels, naming the script that fits it."""
    kind = log_kind(log)
    if kind == "finetuning":
        raise ValueError(f"{path}: a CTC fine-tuning log (validation records with uer/wer, no EH-MAM losses). "
                         f"Fix: plot it with scripts/plot_finetuning.py {path} --out FIGURE.png")
    if not log["train_inner"]:
        raise ValueError(f"{path}: no [train_inner] records to draw (only validations: the run had fewer "
                         "updates than common.log_interval?). Fix: train with a smaller common.log_interval")
    if kind not in ("pretraining", "spectrogram"):
        raise ValueError(f"{path}: no pretraining records (none of {', '.join(PRETRAINING_KEYS + SPREAD_KEYS)} "
                         "is logged). Fix: pass the hydra_train.log of a pretraining run (criterion ehmam or "
                         "spectrogram_pretraining)")


def series(records, key):
    points = [(r["num_updates"], r[key]) for r in records if isinstance(r.get(key), float)]
    return [u for u, _ in points], [v for _, v in points]


def run_name(path: Path) -> str:
    """The run's folder: the log's, or the one above a ``hydra/`` log folder (a
    ``hydra.run.dir=RUN/hydra`` layout, as scripts/jepa_design_study.py writes)."""
    folder = path.resolve().parent
    return folder.parent.name if folder.name == "hydra" else folder.name


def spectrogram_method(path: Path) -> str:
    """The method a spectrogram run trained, from the model fairseq logs at start-up."""
    text = path.read_text(errors="replace")
    model = re.search(r"model: (\w+)FairseqModel", text)
    if model is None:
        return "spectrogram"
    if model.group(1) == "AudioMAE":
        return "MSM-MAE" if "'frontend': 'log_mel'" in text else "Audio-MAE"
    return {"JEPA": "audio JEPA"}.get(model.group(1), model.group(1))


def plot_spectrogram_run(log: Dict[str, List[dict]], out: Path, title: str) -> None:
    train, valid = log["train_inner"], log["valid"]
    fig, axes = plt.subplots(1, 3, figsize=(14, 3.8), sharex=True)
    ax = axes[0]
    ax.plot(*series(train, "loss"), color="tab:blue", label="train loss")
    if valid:
        ax.plot(*series(valid, "loss"), "o-", color="tab:orange", markersize=3, label="valid loss")
    ax.set_ylabel("loss")
    ax.legend(fontsize=8)
    ax = axes[1]
    rates = sorted({k for r in train for k in r if k == "lr" or k.startswith("lr_")})
    has_teacher = any("ema_decay" in r for r in train)
    twin = ax.twinx() if has_teacher else ax
    for key in rates[:1]:  # the composite optimizer logs one rate per group, on one schedule
        twin.plot(*series(train, key), color="tab:green", label="learning rate")
    twin.set_ylabel("learning rate")
    twin.legend(loc="lower right", fontsize=8)
    if has_teacher:
        ax.plot(*series(train, "ema_decay"), color="black", label="EMA decay")
        ax.set_ylabel("EMA decay")
        ax.legend(loc="upper left", fontsize=8)
    ax = axes[2]
    ax.plot(*series(train, "target_std"), label="target std")
    ax.plot(*series(train, "prediction_std"), label="prediction std")
    ax.set_ylabel("std over predicted patches")
    ax.legend(fontsize=8)
    for ax in axes:
        ax.set_xlabel("update")
    fig.suptitle(title)
    save_figure(fig, out, dpi=110)


def plot(log: Dict[str, List[dict]], out: Path, title: str) -> None:
    train, valid = log["train_inner"], log["valid"]
    fig, axes = plt.subplots(2, 2, figsize=(11, 7), sharex=True)
    ax = axes[0, 0]
    for key, style in (("loss", "-"), ("reconstruction", "--")):
        ax.plot(*series(train, key), style, color="tab:blue", label=f"train {key}")
        if valid:
            ax.plot(*series(valid, key), style + "o", color="tab:orange", markersize=3, label=f"valid {key}")
    ax.set_ylabel("loss")
    ax.legend(fontsize=8)
    ax = axes[0, 1]
    ax.plot(*series(train, "ranking"), color="tab:purple", label="ranking loss")
    ax.set_ylabel("ranking loss")
    twin = ax.twinx()
    twin.plot(*series(train, "ranking_accuracy"), color="tab:green", label="ranking accuracy")
    twin.axhline(0.5, color="tab:green", linestyle=":", linewidth=1)
    if valid and "predictor_spearman" in valid[-1]:
        twin.plot(*series(valid, "predictor_spearman"), "o-", color="tab:olive", markersize=3,
                  label="valid Spearman rho, predicted vs real loss")
        twin.axhline(0.0, color="tab:olive", linestyle=":", linewidth=1)
    twin.set_ylabel("rank agreement (chance: accuracy 0.5, rho 0)")
    ax.legend(loc="upper left", fontsize=8)
    twin.legend(loc="upper right", fontsize=8)
    ax = axes[1, 0]
    ax.plot(*series(train, "selective_share"), color="tab:red", label="selective share of the mask")
    ax.set_ylabel("selective share")
    ax.set_ylim(-0.05, 1.05)
    twin = ax.twinx()
    twin.plot(*series(train, "ema_decay"), color="black", label="EMA decay")
    twin.set_ylabel("EMA decay")
    ax.legend(loc="upper left", fontsize=8)
    twin.legend(loc="lower right", fontsize=8)
    ax.set_xlabel("update")
    ax = axes[1, 1]
    ax.plot(*series(train, "target_std"), label="target std")
    ax.plot(*series(train, "prediction_std"), label="prediction std")
    ax.set_ylabel("std over masked frames")
    ax.set_xlabel("update")
    ax.legend(fontsize=8)
    fig.suptitle(title)
    save_figure(fig, out, dpi=110)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("log", type=Path, help="hydra_train.log of a run (in hydra.run.dir)")
    parser.add_argument("--out", type=Path, default=Path("outputs/learning_curves.png"))
    args = parser.parse_args(argv)
    try:
        prepare_output_file(args.out, "--out")
        log = read_fairseq_log(args.log)
        check_pretraining_log(log, args.log)
    except (ValueError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    if log_kind(log) == "spectrogram":
        plot_spectrogram_run(log, args.out, f"{spectrogram_method(args.log)} pretraining, run {run_name(args.log)}")
    else:
        plot(log, args.out, f"EH-MAM pretraining, run {run_name(args.log)}")
    first, last = log["train_inner"][0], log["train_inner"][-1]
    print(f"updates {int(first['num_updates'])}..{int(last['num_updates'])}: "
          f"loss {first['loss']:.4f} -> {last['loss']:.4f}; wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
