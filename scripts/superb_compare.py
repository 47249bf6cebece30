#!/usr/bin/env python
"""SUPERB tasks through s3prl's own runner for one checkpoint and its random-weights reference.

For each task and each upstream (the checkpoint; the same architecture with random weights,
``-g examples/superb/random_weights.yaml``) it runs ``python -m ehmam.superb -m train`` (dev
and test scored every ``steps / 5`` steps; the dev-best checkpoint kept), then ``-m evaluate
-e dev-best.ckpt`` on test, and prints a markdown table of the test accuracies::

    python scripts/superb_compare.py --checkpoint checkpoints/demo/checkpoint_last.pt \\
        --tasks ks ic --steps 1000 --out outputs/superb

Resumable: a finished run (its ``test_score.txt``) is not rerun, and a run with a
``dev-best.ckpt`` only re-evaluates. Each run's s3prl log is ``OUT/TASK/NAME/run.log``; the
dev and test curves of every run are drawn in ``OUT/curves.png`` (``--figure`` elsewhere).
The data come from ``python manifests/make_superb_sets.py all --out data/superb``.
"""
from __future__ import annotations

import argparse
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Tuple

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # run as a script: find `scripts`
from scripts.figures import save_figure  # noqa: E402

RANDOM_WEIGHTS = REPO / "examples" / "superb" / "random_weights.yaml"


@dataclass(frozen=True)
class Task:
    downstream: str  # s3prl's downstream expert
    config: str  # ours, under examples/superb
    metric: str  # what "test acc" measures


TASKS: Dict[str, Task] = {
    "ks": Task("speech_commands", "ks.yaml", "accuracy (12 classes)"),
    "ic": Task("fluent_commands", "ic.yaml", "accuracy (all three slots right)"),
}
SCORE = re.compile(r"^test acc: ([0-9.]+)\s*$", re.M)
CURVE = re.compile(r"^(dev|test) at step (\d+): ([0-9.]+)$", re.M)


def overrides(steps: int, lr: Optional[float], workers: int, extra: List[str]) -> str:
    every = max(1, steps // 5)
    items = [f"config.runner.total_steps={steps}", f"config.runner.eval_step={every}",
             f"config.runner.save_step={every}", f"config.runner.log_step={max(1, every // 4)}",
             f"config.downstream_expert.datarc.num_workers={workers}", *extra]
    if lr is not None:
        items.append(f"config.optimizer.lr={lr}")
    return ",,".join(items)


def launch(args: List[str], log: Path) -> str:
    """``python -m ehmam.superb ARGS`` with its output appended to ``log``; the output, or
    SystemExit naming the log when it fails."""
    out = subprocess.run([sys.executable, "-m", "ehmam.superb", *args], cwd=REPO, text=True,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    with log.open("a") as f:
        f.write(f"$ python -m ehmam.superb {' '.join(args)}\n{out.stdout}\n")
    if out.returncode != 0:
        raise SystemExit(f"superb_compare: s3prl's runner failed (exit {out.returncode}); see {log}:\n"
                         + "\n".join(out.stdout.splitlines()[-15:]))
    return out.stdout


def run_one(task: Task, upstream: str, checkpoint: Path, random: bool, expdir: Path, settings: str) -> float:
    """Train (unless dev-best.ckpt exists), evaluate dev-best on test; the test score."""
    done = expdir / "test_score.txt"
    if done.is_file():
        return float(done.read_text())
    expdir.mkdir(parents=True, exist_ok=True)
    log = expdir / "run.log"
    best = expdir / "dev-best.ckpt"
    if not best.is_file():
        args = ["-m", "train", "-u", upstream, "-k", str(checkpoint), "-d", task.downstream,
                "-c", str(REPO / "examples" / "superb" / task.config), "-p", str(expdir), "-o", settings]
        if random:
            args += ["-g", str(RANDOM_WEIGHTS)]
        launch(args, log)
        if not best.is_file():
            raise SystemExit(f"superb_compare: training wrote no {best} (no dev evaluation ran?); see {log}")
    scores = SCORE.findall(launch(["-m", "evaluate", "-e", str(best)], log))
    if len(scores) != 1:
        raise SystemExit(f"superb_compare: expected one 'test acc' line from the evaluation, got {scores}; see {log}")
    done.write_text(scores[0] + "\n")
    return float(scores[0])


def table(results: Dict[str, Dict[str, float]], checkpoint: Path, steps: int) -> str:
    lines = [f"SUPERB through s3prl's runner: {checkpoint}, {steps} steps, test score of the dev-best checkpoint",
             "", "| task | metric | pretrained | random weights | difference |", "|---|---|---|---|---|"]
    for name, scores in results.items():
        lines.append(f"| {name.upper()} | {TASKS[name].metric} | {100 * scores['pretrained']:.1f} | "
                     f"{100 * scores['random']:.1f} | {100 * (scores['pretrained'] - scores['random']):+.1f} |")
    return "\n".join(lines) + "\n"


def curves(expdir: Path) -> Dict[str, List[Tuple[int, float]]]:
    """The dev and test scores the runner logged while training (``log.log``): split -> [(step, score)]."""
    found: Dict[str, List[Tuple[int, float]]] = {"dev": [], "test": []}
    for split, step, score in CURVE.findall((expdir / "log.log").read_text()):
        if int(step) > 0:  # step 0 is -m evaluate's test pass, not training
            found[split].append((int(step), float(score)))
    return found


def plot(out: Path, tasks: List[str], figure: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(tasks), figsize=(4.5 * len(tasks), 3.4), squeeze=False)
    for ax, name in zip(axes[0], tasks):
        for variant, color in (("pretrained", "tab:blue"), ("random", "tab:gray")):
            logged = curves(out / name / variant)
            for split, style in (("dev", "-"), ("test", ":")):
                points = logged[split]
                ax.plot(*zip(*points), style, marker="o", markersize=3, color=color, label=f"{variant}, {split}")
        ax.set(title=f"{name.upper()}: {TASKS[name].metric}", xlabel="step", ylabel="score")
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=8)
    save_figure(fig, figure)


def main(argv: Optional[List[str]] = None) -> Dict[str, Dict[str, float]]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", type=Path, required=True)
    parser.add_argument("--upstream", default="ehmam_local", help="ehmam_local, m2d_local, audio_mae_local, jepa_local")
    parser.add_argument("--tasks", nargs="+", choices=sorted(TASKS), default=["ks", "ic"])
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--lr", type=float, help="Adam's learning rate (default: the config's, SUPERB's 1e-4)")
    parser.add_argument("--workers", type=int, default=2, help="data-loading processes per run")
    parser.add_argument("--override", action="append", default=[], help="more s3prl -o items, e.g. "
                        "config.downstream_expert.datarc.speech_commands_root=DIR")
    parser.add_argument("--out", type=Path, default=Path("outputs/superb"))
    parser.add_argument("--figure", type=Path, help="where to draw the curves (default OUT/curves.png)")
    args = parser.parse_args(argv)
    if not args.checkpoint.is_file():
        parser.error(f"--checkpoint {args.checkpoint}: no such file")
    settings = overrides(args.steps, args.lr, args.workers, args.override)
    results: Dict[str, Dict[str, float]] = {}
    for name in args.tasks:
        task = TASKS[name]
        results[name] = {}
        for variant in ("pretrained", "random"):
            expdir = (args.out / name / variant).resolve()
            print(f"[superb_compare] {name} {variant}: {expdir}", flush=True)
            results[name][variant] = run_one(task, args.upstream, args.checkpoint.resolve(), variant == "random",
                                              expdir, settings)
            print(f"[superb_compare] {name} {variant}: test {100 * results[name][variant]:.1f}", flush=True)
    text = table(results, args.checkpoint, args.steps)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "table.md").write_text(text)
    plot(args.out, args.tasks, args.figure or args.out / "curves.png")
    print(text)
    return results


if __name__ == "__main__":
    main()
