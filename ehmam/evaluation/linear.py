"""Linear evaluation of frozen clip features on downstream tasks, by EVAR's protocol.

EVAR (nttcslab/eval-audio-repr), as the M2D paper uses it: every clip is cut or zero-padded
to the task's duration and turned into one frozen clip feature (the mean of its frame
features over time); the features are standardised with the training split's mean and
standard deviation; one linear layer is trained with Adam on mini-batches of at most 200,
validation accuracy is checked after every epoch, training stops after ``patience`` epochs
without a new best, and the best epoch's weights are restored for the test split. Tasks with
folds (ESC-50, UrbanSound8K) run once per held-out fold, with 10 % of the remaining folds held
out for validation; the task's score is the mean over folds. Repeated runs (other seeds) give
the mean and the 95 % confidence interval (Student's t).

    python -m ehmam.evaluation.linear run CHECKPOINT --task spcv2 --data data/tasks/spcv2
    python -m ehmam.evaluation.linear run CHECKPOINT --task spcv2 --data ... --random-init   # untrained reference
    python -m ehmam.evaluation.linear summary results/linear.csv                          # markdown table

Clip features are computed once per (checkpoint, weights, task, clips, layer, duration) and
cached under ``--cache-dir``; scores are appended to ``--results`` (CSV), which ``summary``
turns into a tasks x models table. Audio at another rate is resampled and stereo is averaged
to mono (EVAR's preparation step); anything unreadable or empty stops the run naming the file.
"""
from __future__ import annotations

import argparse
import csv
import hashlib
import json
import math
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import soundfile as sf
import torch
from torch import nn

from ..checkpoints import CheckpointError
from ..features import AudioEncoder, EncoderInputError, concatenate_layers, load_encoder
from ..outputs import OutputError, prepare_output_dir, prepare_output_file
from .probe import Standardize, accuracy
from .tasks import TASKS, Clip, TaskData, TaskError, read_task

FEATURES_VERSION = 1  # part of the cache key: bump when the way features are computed changes
RESULT_COLUMNS = ("time", "model", "task", "score", "ci95", "runs", "scores", "folds", "layer", "checkpoint",
                  "settings")


class EvaluationError(ValueError):
    """Input the linear evaluation cannot use (audio, cache, results file); says how to fix it."""


# ---------------------------------------------------------------------------- the classifier


@dataclass(frozen=True)
class LinearConfig:
    """EVAR's linear-evaluation settings. ``lr``: EVAR's classifier default (sklearn's
    MLPClassifier's 1e-3); M2D's EVAR config lowers it to 3e-5 for 3840-d ViT-B features on
    the full data sets."""

    lr: float = 1e-3
    max_epochs: int = 200
    patience: int = 20  # epochs without a better validation accuracy before stopping
    batch_size: int = 200  # at most; the whole split when smaller
    weight_decay: float = 1e-8
    valid_fraction: float = 0.1  # of the training folds, for tasks with folds


@dataclass
class FitResult:
    classifier: nn.Module  # Standardize (fitted on train only) then the linear layer
    best_epoch: int
    best_valid_accuracy: float
    epochs: int


def fit_linear(train_x: torch.Tensor, train_y: torch.Tensor, valid_x: torch.Tensor, valid_y: torch.Tensor,
               num_classes: int, cfg: LinearConfig = LinearConfig(), seed: int = 0) -> FitResult:
    """One linear layer on standardised features (statistics from ``train_x`` alone), Adam,
    early stopping on validation accuracy with the best epoch's weights restored.
    Features N x D float, labels N int64."""
    gen = torch.Generator().manual_seed(seed)
    standardize = Standardize(train_x.mean(0), train_x.std(0).clamp_min(1e-8))
    linear = nn.Linear(train_x.shape[1], num_classes)
    with torch.no_grad():  # nn.Linear's own init, drawn from our generator so runs repeat exactly
        bound = 1 / math.sqrt(train_x.shape[1])
        linear.weight.uniform_(-bound, bound, generator=gen)
        linear.bias.uniform_(-bound, bound, generator=gen)
    classifier = nn.Sequential(standardize, linear)
    optimizer = torch.optim.Adam(linear.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    batch = min(cfg.batch_size, len(train_x))
    best = (-1.0, 0, {k: v.clone() for k, v in linear.state_dict().items()})
    epoch = 0
    with torch.enable_grad():
        for epoch in range(1, cfg.max_epochs + 1):
            linear.train()
            order = torch.randperm(len(train_x), generator=gen)
            for first in range(0, len(order), batch):
                picked = order[first: first + batch]
                loss = nn.functional.cross_entropy(classifier(train_x[picked]), train_y[picked])
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
            linear.eval()
            score = accuracy(classifier, valid_x, valid_y)
            if score > best[0]:
                best = (score, epoch, {k: v.clone() for k, v in linear.state_dict().items()})
            elif epoch - best[1] >= cfg.patience:
                break
    linear.load_state_dict(best[2])
    return FitResult(classifier.eval(), best[1], best[0], epoch)


# ---------------------------------------------------------------------------- splits and folds


@dataclass(frozen=True)
class Split:
    """Row indices into a task's clips: what the classifier trains on, validates on, is tested on."""

    train: np.ndarray
    valid: np.ndarray
    test: np.ndarray


def splits_of(task: TaskData, valid_fraction: float, seed: int) -> List[Split]:
    """One :class:`Split` per held-out fold (the rest of the folds minus a random
    ``valid_fraction`` of them for validation), or the task's own train/valid/test. A fixed-split
    task without a valid split validates on a random ``valid_fraction`` of train."""
    rng = np.random.default_rng(seed)
    if task.folds > 1:
        folds = np.array([clip.fold for clip in task.clips])
        out = []
        for held_out in range(1, task.folds + 1):
            rest = rng.permutation(np.flatnonzero(folds != held_out))
            n_valid = max(1, round(valid_fraction * len(rest)))
            out.append(Split(np.sort(rest[n_valid:]), np.sort(rest[:n_valid]), np.flatnonzero(folds == held_out)))
        return out
    splits = np.array([clip.split for clip in task.clips])
    train, valid = np.flatnonzero(splits == "train"), np.flatnonzero(splits == "valid")
    if len(valid) == 0:
        shuffled = rng.permutation(train)
        n_valid = max(1, round(valid_fraction * len(train)))
        train, valid = np.sort(shuffled[n_valid:]), np.sort(shuffled[:n_valid])
    return [Split(train, valid, np.flatnonzero(splits == "test"))]


def evaluate_features(features: torch.Tensor, labels: Sequence[str], task: TaskData, cfg: LinearConfig,
                      seed: int) -> Tuple[float, List[float]]:
    """(mean test accuracy over folds, each fold's) of one run with ``seed``."""
    classes = sorted(set(labels))
    index = {c: i for i, c in enumerate(classes)}
    y = torch.tensor([index[label] for label in labels])
    scores = []
    for fold, split in enumerate(splits_of(task, cfg.valid_fraction, seed)):
        tr, va, te = (torch.from_numpy(s) for s in (split.train, split.valid, split.test))
        fit = fit_linear(features[tr], y[tr], features[va], y[va], len(classes), cfg, seed=seed * 1000 + fold)
        scores.append(accuracy(fit.classifier, features[te], y[te]))
    return float(np.mean(scores)), scores


# Student's t at 0.975 for 1..30 degrees of freedom (then the normal 1.96): the 95 % interval
# of a mean over few runs. tests/evaluation/test_linear.py checks it against scipy.
T_975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145,
         2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048,
         2.045, 2.042)


def mean_and_ci95(values: Sequence[float]) -> Tuple[float, float]:
    """Mean and half-width of its 95 % confidence interval (0 for a single value)."""
    values = np.asarray(values, dtype=float)
    if len(values) < 2:
        return float(values.mean()), 0.0
    t = T_975[len(values) - 2] if len(values) - 1 <= len(T_975) else 1.96
    return float(values.mean()), float(t * values.std(ddof=1) / math.sqrt(len(values)))


# ---------------------------------------------------------------------------- clip features


def read_clip(clip: Clip, sample_rate: int, samples: int) -> torch.Tensor:
    """``clip``'s audio as mono float32 at ``sample_rate``, its first ``samples`` samples,
    zero-padded when shorter (EVAR's preparation)."""
    try:
        audio, rate = sf.read(str(clip.path), dtype="float32", always_2d=True)
    except (RuntimeError, sf.LibsndfileError) as err:
        raise EvaluationError(f"{clip.path}: unreadable audio ({str(err).strip()}). Fix: re-encode it as WAV "
                              "or FLAC, or remove it from the data set's metadata") from err
    if audio.shape[0] == 0:
        raise EvaluationError(f"{clip.path}: empty audio (0 samples). Fix: restore the file or remove it "
                              "from the data set's metadata")
    wav = torch.from_numpy(audio).mean(dim=1)  # stereo -> mono, as EVAR's preparation does
    if not bool(torch.isfinite(wav).all()):
        raise EvaluationError(f"{clip.path}: holds NaN or infinite samples. Fix: re-create the file")
    if rate != sample_rate:
        import torchaudio.functional  # the functional part needs no torchcodec

        wav = torchaudio.functional.resample(wav, rate, sample_rate)
    wav = wav[:samples]
    return nn.functional.pad(wav, (0, samples - len(wav)))


def cache_key(encoder_id: str, task: TaskData, layer, unit_sec: float) -> str:
    """What the cached features depend on, hashed: the weights' identity, the clips (paths and
    labels, in order), the layer, the duration and :data:`FEATURES_VERSION`."""
    h = hashlib.sha256()
    h.update(json.dumps([FEATURES_VERSION, encoder_id, task.name, str(layer), unit_sec]).encode())
    for clip in task.clips:
        h.update(f"{clip.path}\t{clip.label}\n".encode())
    return h.hexdigest()[:20]


def checkpoint_identity(path: Path) -> str:
    """A checkpoint's identity for the cache: resolved path, size and modification time (a
    rewritten file, e.g. checkpoint_last.pt of a resumed run, gets new features)."""
    stat = path.stat()
    return f"{path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}"


def clip_features(encoder: AudioEncoder, task: TaskData, layer, unit_sec: float, batch_size: int = 16,
                  progress: bool = True) -> torch.Tensor:
    """N x D clip features of every clip of ``task``; ``layer="all"`` concatenates every
    layer's, N x (L + 1)D, as EVAR does for wav2vec 2.0 and HuBERT (all hidden states)."""
    samples = round(unit_sec * encoder.sample_rate)
    out = []
    clips = task.clips
    bar = _progress(len(clips), f"features {task.name}", progress)
    for first in range(0, len(clips), batch_size):
        batch = torch.stack([read_clip(c, encoder.sample_rate, samples) for c in clips[first: first + batch_size]])
        features = encoder.clip_features(batch, encoder.sample_rate, layer=layer, batch_size=batch_size)
        if layer == "all":
            features = concatenate_layers(features)
        out.append(features.float().cpu())
        bar.update(len(batch))
    bar.close()
    return torch.cat(out)


def cached_clip_features(encoder: AudioEncoder, encoder_id: str, task: TaskData, layer, unit_sec: float,
                         cache_dir: Optional[Path], progress: bool = True) -> torch.Tensor:
    """:func:`clip_features`, read from ``cache_dir`` when an earlier run computed them."""
    if cache_dir is None:
        return clip_features(encoder, task, layer, unit_sec, progress=progress)
    path = cache_dir / f"{task.name}-{cache_key(encoder_id, task, layer, unit_sec)}.pt"
    if path.is_file():
        try:
            cached = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as err:  # a truncated file from a killed run: recompute it
            print(f"[linear] cache {path} unreadable ({err}); recomputing", file=sys.stderr)
        else:
            print(f"[linear] cached features {path}")
            return cached["features"]
    features = clip_features(encoder, task, layer, unit_sec, progress=progress)
    partial = path.with_name(path.name + ".tmp")
    torch.save({"features": features, "encoder": encoder_id}, partial)
    partial.replace(path)
    return features


class _NoBar:
    def update(self, n: int) -> None:
        pass

    def close(self) -> None:
        pass


def _progress(total: int, what: str, enabled: bool):
    if not enabled:
        return _NoBar()
    from tqdm import tqdm

    return tqdm(total=total, desc=what, unit="clip", file=sys.stderr, mininterval=2.0)


# ---------------------------------------------------------------------------- one evaluation


@dataclass
class Result:
    model: str
    task: str
    score: float  # mean over runs of the mean over folds
    ci95: float
    scores: List[float]  # one per run
    folds: int
    layer: str
    checkpoint: str
    settings: Dict[str, object] = field(default_factory=dict)

    def row(self) -> Dict[str, object]:
        return dict(time=time.strftime("%Y-%m-%dT%H:%M:%S"), model=self.model, task=self.task,
                    score=f"{self.score:.6f}", ci95=f"{self.ci95:.6f}", runs=len(self.scores),
                    scores=" ".join(f"{s:.6f}" for s in self.scores), folds=self.folds, layer=self.layer,
                    checkpoint=self.checkpoint, settings=json.dumps(self.settings, sort_keys=True))


def linear_evaluation(encoder: AudioEncoder, encoder_id: str, task: TaskData, model: str, runs: int = 3,
                      layer=None, cfg: LinearConfig = LinearConfig(), cache_dir: Optional[Path] = None,
                      unit_sec: Optional[float] = None, seed: int = 0, progress: bool = True) -> Result:
    """Features once, then ``runs`` evaluations with seeds ``seed``, ``seed + 1``, ...
    ``layer``: an index, "all" (concatenated) or None for the encoder's ``default_layer``."""
    unit_sec = unit_sec or task.unit_sec
    layer = encoder.default_layer if layer is None else layer
    features = cached_clip_features(encoder, encoder_id, task, layer, unit_sec, cache_dir, progress)
    labels = [clip.label for clip in task.clips]
    scores = []
    for run in range(runs):
        score, per_fold = evaluate_features(features, labels, task, cfg, seed + run)
        folds = "" if len(per_fold) == 1 else " (folds " + " ".join(f"{s:.3f}" for s in per_fold) + ")"
        print(f"[linear] {model} {task.name} run {run + 1}/{runs}: {score:.4f}{folds}")
        scores.append(score)
    mean, ci = mean_and_ci95(scores)
    settings = dict(asdict(cfg), unit_sec=unit_sec, seed=seed, data=str(task.root))
    return Result(model, task.name, mean, ci, scores, task.folds, str(layer), encoder_id.split(":")[0], settings)


def check_results_file(path: Path) -> bool:
    """Whether ``path`` holds results already; a file with other columns is refused (checked
    before the work, so no evaluation is lost to it)."""
    if not (path.is_file() and path.stat().st_size > 0):
        return False
    with path.open(newline="") as f:
        header = next(csv.reader(f), [])
    if tuple(header) != RESULT_COLUMNS:
        raise EvaluationError(f"{path}: its header {header} is not a linear-evaluation results file's "
                              f"{list(RESULT_COLUMNS)}. Fix: pass another --results file")
    return True


def append_result(path: Path, result: Result) -> None:
    """One CSV row per evaluation; a file with other columns is refused, not mixed into."""
    exists = check_results_file(path)
    with path.open("a", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=RESULT_COLUMNS)
        if not exists:
            writer.writeheader()
        writer.writerow(result.row())


def read_results(path: Path) -> List[Dict[str, str]]:
    if not path.is_file():
        raise EvaluationError(f"{path}: no such results file. Fix: run `python -m ehmam.evaluation.linear run "
                              f"... --results {path}` first")
    with path.open(newline="") as f:
        reader = csv.DictReader(f)
        if tuple(reader.fieldnames or ()) != RESULT_COLUMNS:
            raise EvaluationError(f"{path}: header {reader.fieldnames} is not a linear-evaluation results "
                                  f"file's {list(RESULT_COLUMNS)}")
        rows = list(reader)
    for line, row in enumerate(rows, start=2):
        try:
            float(row["score"]), float(row["ci95"])
        except (TypeError, ValueError):
            raise EvaluationError(f"{path}:{line}: score {row['score']!r} / ci95 {row['ci95']!r} are not "
                                  "numbers. Fix: remove or repair that line") from None
    return rows


def latest_results(rows: Sequence[Dict[str, str]]) -> Dict[Tuple[str, str], Dict[str, str]]:
    """The latest row of each (model, task) pair."""
    return {(row["model"], row["task"]): row for row in rows}


def score_cells(latest: Dict[Tuple[str, str], Dict[str, str]], model: str, tasks: Sequence[str]):
    """A model's cells for ``tasks``, ``mean ± ci`` in percent (runs in brackets when fewer
    than 3, empty where not evaluated), and the average over tasks ("" unless all are there)."""
    cells, means = [], []
    for task in tasks:
        row = latest.get((model, task))
        if row is None:
            cells.append("")
            continue
        score, ci, runs = 100 * float(row["score"]), 100 * float(row["ci95"]), int(row["runs"])
        means.append(score)
        cells.append(f"{score:.1f} ± {ci:.1f}" + (f" ({runs} run{'s' * (runs > 1)})" if runs < 3 else ""))
    return cells, f"{np.mean(means):.1f}" if len(means) == len(tasks) else ""


def summary_table(rows: Sequence[Dict[str, str]]) -> str:
    """Markdown: one row per model, one column per task, the latest result of each pair as
    ``mean ± ci`` in percent (runs in brackets when fewer than 3), then the average over tasks."""
    latest = latest_results(rows)
    models = list(dict.fromkeys(row["model"] for row in rows))
    tasks = list(dict.fromkeys(row["task"] for row in rows))
    lines = ["| model | " + " | ".join(tasks) + " | average |", "| --- |" + " --- |" * (len(tasks) + 1)]
    for model in models:
        cells, average = score_cells(latest, model, tasks)
        lines.append(f"| {model} | " + " | ".join(cells) + f" | {average} |")
    return "\n".join(lines)


# ---------------------------------------------------------------------------- command line


def _run(args) -> Result:
    if args.results:
        prepare_output_file(args.results, "--results")
        check_results_file(args.results)
    if args.cache_dir:
        prepare_output_dir(args.cache_dir, "--cache-dir")
    encoder = load_encoder(args.checkpoint, device=args.device)
    task = read_task(args.task, args.data)
    encoder_id = checkpoint_identity(args.checkpoint)
    model = args.name or args.checkpoint.parent.name
    if args.random_init:
        encoder = encoder.randomly_initialised(args.seed).to(args.device)
        encoder_id += f":random-init:{args.seed}"
        model += " (random init)"
    layer = None if args.layer is None else args.layer if args.layer == "all" else int(args.layer)
    cfg = LinearConfig(lr=args.lr, max_epochs=args.epochs, patience=args.patience)
    print(f"[linear] {model} on {task.name} ({len(task.clips)} clips, {len(task.classes)} classes, "
          f"{'%d folds' % task.folds if task.folds > 1 else 'train/valid/test'}, {task.unit_sec} s clips)")
    result = linear_evaluation(encoder, encoder_id, task, model, args.runs, layer, cfg, args.cache_dir,
                               seed=args.seed, progress=not args.no_progress)
    print(f"[linear] {model} {task.name}: {100 * result.score:.2f} ± {100 * result.ci95:.2f} % "
          f"(mean ± 95 % CI over {args.runs} runs)")
    if args.results:
        append_result(args.results, result)
        print(f"[linear] appended to {args.results}")
    return result


def main(argv: Optional[Sequence[str]] = None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="evaluate one checkpoint on one task")
    run.add_argument("checkpoint", type=Path, help="any ehmam checkpoint (ehmam.features.load_encoder)")
    run.add_argument("--task", required=True, choices=sorted(TASKS))
    run.add_argument("--data", type=Path, required=True, help="the data set's folder, in its published layout")
    run.add_argument("--name", help="model name in the results (default: the checkpoint's folder)")
    run.add_argument("--random-init", action="store_true", help="the same architecture with random weights")
    run.add_argument("--runs", type=int, default=3, help="repeated runs (seeds) for the mean and 95 %% CI")
    run.add_argument("--seed", type=int, default=0)
    run.add_argument("--layer", help="a layer index (0 = front end, -1 = last) or 'all' (every layer's "
                     "features concatenated); default: the model's (EH-MAM: all, as EVAR runs wav2vec 2.0)")
    run.add_argument("--lr", type=float, default=LinearConfig.lr)
    run.add_argument("--epochs", type=int, default=LinearConfig.max_epochs)
    run.add_argument("--patience", type=int, default=LinearConfig.patience)
    run.add_argument("--cache-dir", type=Path, default=Path("work/cache/linear"))
    run.add_argument("--results", type=Path, default=Path("results/linear.csv"))
    run.add_argument("--device", default="cpu")
    run.add_argument("--no-progress", action="store_true")
    summary = sub.add_parser("summary", help="print the results as a markdown table (tasks x models)")
    summary.add_argument("results", type=Path)
    args = p.parse_args(argv)
    try:
        if args.command == "summary":
            table = summary_table(read_results(args.results))
            print(table)
            return table
        if args.runs < 1:
            raise EvaluationError(f"--runs {args.runs}: expected at least 1. Fix: pass --runs 3 (or more, "
                                  "for a tighter confidence interval)")
        return _run(args)
    except (CheckpointError, TaskError, EvaluationError, EncoderInputError, OutputError) as err:
        print(f"error: {err}", file=sys.stderr)
        raise SystemExit(1) from None


if __name__ == "__main__":
    main()
