#!/usr/bin/env python
"""The audio JEPA design study at tiny scale: pretrain examples/jepa/config/tiny_cpu.yaml for
a grid of design choices (masking strategy x target domain x training duration; by default
the three strategies and two domains at 3.2 s), then
linear-evaluate every checkpoint, and its architecture with random weights, on the generated
downstream tasks (manifests/make_audio_tasks.py), and print a markdown table like the
paper's Table 1.

    .venv/bin/python scripts/jepa_design_study.py --data data/demo --tasks data/tasks \\
        --out outputs/jepa_study

Each choice trains into ``OUT/<strategy>-<domain>-<duration>/`` with ``fairseq-hydra-train``
(its command is printed; its log is that folder's ``train.log``). The study resumes: a
checkpoint that holds ``--updates`` updates is not trained again, an interrupted one resumes
from its ``checkpoint_last.pt``, and an evaluation already in ``OUT/results.csv`` is not run
again. ``--dry-run`` prints the commands and does nothing.

The table is ``OUT/table.md``; each task's score is the mean ± 95 % CI over ``--runs``
seeded linear probes (EVAR's protocol, ``ehmam.evaluation.linear``).
"""

import argparse
import csv
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional, Sequence

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from ehmam.evaluation import linear  # noqa: E402
from ehmam.models.jepa import DURATION_FRAMES, JEPA_STRATEGIES, TARGET_DOMAINS, clip_samples  # noqa: E402

CONFIG_DIR = REPO / "examples/jepa/config"
TASKS = ("spcv2", "vc1", "voxforge", "esc50")
RANDOM = "random init"


@dataclass(frozen=True)
class Choice:
    strategy: str
    domain: str
    duration: str

    @property
    def name(self) -> str:
        return f"{self.strategy}-{self.domain}-{self.duration}"

    def overrides(self) -> List[str]:
        return [f"model.masking.strategy={self.strategy}", f"model.target_domain={self.domain}",
                f"task.clip.samples={clip_samples(DURATION_FRAMES[self.duration])}"]


def grid(strategies: Sequence[str], domains: Sequence[str], durations: Sequence[str]) -> List[Choice]:
    return [Choice(strategy, domain, duration) for strategy in strategies for domain in domains
            for duration in durations]


def train_command(choice: Choice, data: Path, out: Path, updates: int, extra: Sequence[str] = ()) -> List[str]:
    run_dir = out / choice.name
    return [str(Path(sys.executable).parent / "fairseq-hydra-train"), "--config-dir", str(CONFIG_DIR),
            "--config-name", "tiny_cpu", f"task.data={data.resolve()}", f"common.user_dir={REPO / 'user_dir'}",
            f"checkpoint.save_dir={run_dir.resolve() / 'ckpt'}", f"hydra.run.dir={run_dir.resolve() / 'hydra'}",
            f"optimization.max_update={updates}", *choice.overrides(), *extra]


def trained_updates(checkpoint: Path) -> int:
    """The updates a fairseq checkpoint was saved after; 0 when there is none."""
    if not checkpoint.is_file():
        return 0
    state = torch.load(checkpoint, map_location="cpu", weights_only=False)
    return int(state["optimizer_history"][-1]["num_updates"])


def pretrain(choice: Choice, data: Path, out: Path, updates: int, extra: Sequence[str], dry_run: bool) -> Path:
    checkpoint = out / choice.name / "ckpt" / "checkpoint_last.pt"
    command = train_command(choice, data, out, updates, extra)
    done = trained_updates(checkpoint)
    if done >= updates:
        print(f"[study] {choice.name}: trained already ({done} updates): {checkpoint}")
        return checkpoint
    print(f"[study] {choice.name}: {'resuming from update %d: ' % done if done else ''}{' '.join(command)}",
          flush=True)
    if dry_run:
        return checkpoint
    log = out / choice.name / "train.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("a") as f:
        run = subprocess.run(command, stdout=f, stderr=subprocess.STDOUT, cwd=log.parent)
    if run.returncode != 0:
        tail = "".join(log.read_text().splitlines(keepends=True)[-20:])
        raise SystemExit(f"[study] {choice.name}: training failed (exit {run.returncode}); the end of {log}:\n{tail}")
    return checkpoint


def evaluated(results: Path) -> set:
    if not results.is_file():
        return set()
    with results.open(newline="") as f:
        return {(row["model"], row["task"]) for row in csv.DictReader(f)}


def evaluate(checkpoint: Path, model: str, tasks_root: Path, tasks: Sequence[str], out: Path, runs: int,
             random_init: bool, dry_run: bool) -> None:
    results = out / "results.csv"
    shown = f"{model} ({RANDOM})" if random_init else model
    for task in tasks:
        if (shown, task) in evaluated(results):
            print(f"[study] {shown} on {task}: in {results} already")
            continue
        argv = ["run", str(checkpoint), "--name", model, "--task", task, "--data", str(tasks_root / task),
                "--lr", "0.01", "--runs", str(runs), "--results", str(results), "--cache-dir", str(out / "cache"),
                "--no-progress"] + (["--random-init"] if random_init else [])
        print(f"[study] python -m ehmam.evaluation.linear {' '.join(argv)}", flush=True)
        if not dry_run:
            linear.main(argv)


def study_table(rows: Sequence[dict], choices: Sequence[Choice], tasks: Sequence[str]) -> str:
    """Markdown, one row per choice (then the random-init reference): masking, target domain,
    duration, each task's cell as the linear evaluation's summary writes it, the average; the
    best pretrained score of each task in bold."""
    latest = linear.latest_results(rows)
    pretrained = [choice.name for choice in choices]
    best = {task: max((float(latest[(name, task)]["score"]) for name in pretrained if (name, task) in latest),
                      default=None) for task in tasks}
    lines = ["| masking | target domain | duration | " + " | ".join(tasks) + " | average |",
             "| --- | --- | --- |" + " --- |" * (len(tasks) + 1)]
    reference = choices[0]
    for name, columns in [(c.name, (c.strategy, c.domain, c.duration)) for c in choices] + [
            (f"{reference.name} ({RANDOM})", (RANDOM, "", reference.duration))]:
        cells, average = linear.score_cells(latest, name, tasks)
        if name in pretrained:
            cells = [f"**{cell}**" if cell and float(latest[(name, task)]["score"]) == best[task] else cell
                     for cell, task in zip(cells, tasks)]
        lines.append("| " + " | ".join(columns) + " | " + " | ".join(cells) + f" | {average} |")
    return "\n".join(lines)


def main(argv: Optional[Sequence[str]] = None) -> str:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, required=True, help="the pretraining corpus's manifests (data/demo)")
    p.add_argument("--tasks", type=Path, required=True,
                   help="the generated downstream tasks (manifests/make_audio_tasks.py all --out TASKS)")
    p.add_argument("--out", type=Path, default=Path("outputs/jepa_study"))
    p.add_argument("--strategies", nargs="+", default=list(JEPA_STRATEGIES), choices=JEPA_STRATEGIES)
    p.add_argument("--domains", nargs="+", default=list(TARGET_DOMAINS), choices=TARGET_DOMAINS)
    p.add_argument("--durations", nargs="+", default=["3.2s"], choices=list(DURATION_FRAMES),
                   help="training crop lengths (the paper's 2.1, 3.2 and 6.4 s)")
    p.add_argument("--updates", type=int, default=3000, help="pretraining updates per choice (tiny_cpu's 3000)")
    p.add_argument("--task-names", nargs="+", default=list(TASKS), choices=TASKS)
    p.add_argument("--runs", type=int, default=5, help="seeded linear probes per task")
    p.add_argument("--dry-run", action="store_true", help="print the commands, run nothing")
    p.add_argument("overrides", nargs="*", help="more hydra overrides for every pretraining run")
    args = p.parse_args(argv)
    for task in args.task_names:
        if not (args.tasks / task).is_dir():
            raise SystemExit(f"{args.tasks / task}: no such task folder. Fix: .venv/bin/python "
                             f"manifests/make_audio_tasks.py all --out {args.tasks}")
    choices = grid(args.strategies, args.domains, args.durations)
    args.out.mkdir(parents=True, exist_ok=True)
    for choice in choices:
        checkpoint = pretrain(choice, args.data, args.out, args.updates, args.overrides, args.dry_run)
        evaluate(checkpoint, choice.name, args.tasks, args.task_names, args.out, args.runs, False, args.dry_run)
    # the architecture with random weights: how much of each score pretraining earned
    first = args.out / choices[0].name / "ckpt" / "checkpoint_last.pt"
    evaluate(first, choices[0].name, args.tasks, args.task_names, args.out, args.runs, True, args.dry_run)
    if args.dry_run:
        return ""
    table = study_table(linear.read_results(args.out / "results.csv"), choices, args.task_names)
    (args.out / "table.md").write_text(table + "\n")
    print(table)
    return table


if __name__ == "__main__":
    main()
