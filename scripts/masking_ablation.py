#!/usr/bin/env python
"""Easy-to-hard masking against random block masking (data2vec 2.0), side by side.

The same tiny pretraining (examples/ehmam/config/tiny_cpu.yaml) with each masking and
each seed, then the frozen-feature phone probe (``ehmam.evaluation.probe``) on every checkpoint.
Finished runs are reused, so a stopped ablation picks up where it was.

    python scripts/masking_ablation.py --data data/demo --out outputs/ablation --seeds 1 2

Prints a markdown table: per masking, the probe's best-layer frame accuracy per seed and
their mean, the randomly initialised encoder's, and the last validation Spearman of the
loss predictor. ``summary.json`` in ``--out`` holds the same numbers.
"""

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ehmam.evaluation.probe import main as probe  # noqa: E402
from scripts.plot_pretraining import read_fairseq_log  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
MASKINGS = ("easy_to_hard", "random")


def pretrain(data: Path, run: Path, masking: str, seed: int, overrides) -> None:
    hydra_train = Path(sys.executable).parent / "fairseq-hydra-train"
    cmd = [str(hydra_train), "--config-dir", str(REPO / "examples/ehmam/config"), "--config-name", "tiny_cpu",
           f"task.data={data.resolve()}", f"common.user_dir={REPO / 'user_dir'}",
           f"checkpoint.save_dir={run / 'ckpt'}", f"hydra.run.dir={run}",
           f"common.seed={seed}", f"model.masking.masking={masking}", *overrides]
    start = time.time()
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"pretraining {run.name} failed:\n{(result.stdout + result.stderr)[-4000:]}")
    print(f"[ablation] {run.name}: pretrained in {time.time() - start:.0f} s", flush=True)


def run_all(args) -> dict:
    runs = {}
    for seed in args.seeds:
        for masking in MASKINGS:
            run = args.out / f"{masking}_seed{seed}"
            result = run / "probe.json"
            if not result.is_file():
                pretrain(args.data, run, masking, seed, args.overrides)
                probe_args = [str(run / "ckpt/checkpoint_last.pt"), str(args.data), "--json", str(result),
                              "--steps", str(args.probe_steps)]
                if args.probe_max_utterances:
                    probe_args += ["--max-utterances", str(args.probe_max_utterances)]
                probe(probe_args)
            valid = read_fairseq_log(run / "hydra_train.log")["valid"]
            runs[run.name] = dict(masking=masking, seed=seed, probe=json.loads(result.read_text()),
                                  spearman=valid[-1]["predictor_spearman"])
    return runs


def summarize(runs: dict) -> dict:
    summary = {}
    for masking in MASKINGS:
        mine = [r for r in runs.values() if r["masking"] == masking]
        best = [max(r["probe"]["accuracy"]["pretrained"]) for r in mine]
        summary[masking] = dict(seeds=[r["seed"] for r in mine], best_layer=best, mean=statistics.mean(best),
                                random_init=max(mine[0]["probe"]["accuracy"]["random init"]),
                                chance=mine[0]["probe"]["chance"],
                                spearman=[r["spearman"] for r in mine])
    return summary


def table(summary: dict) -> str:
    seeds = summary[MASKINGS[0]]["seeds"]
    lines = ["| masking | " + " | ".join(f"probe, seed {s}" for s in seeds) + " | probe, mean | "
             "random-init encoder | chance | predictor Spearman (last validation) |",
             "| --- |" + " ---: |" * (len(seeds) + 4)]
    for masking, s in summary.items():
        lines.append(f"| {masking} | " + " | ".join(f"{a:.3f}" for a in s["best_layer"])
                     + f" | {s['mean']:.3f} | {s['random_init']:.3f} | {s['chance']:.3f} | "
                     + ", ".join(f"{r:.2f}" for r in s["spearman"]) + " |")
    return "\n".join(lines)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path("data/demo"))
    parser.add_argument("--out", type=Path, default=Path("outputs/ablation"))
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--probe-steps", type=int, default=500)
    parser.add_argument("--probe-max-utterances", type=int, default=None, help="per split (quick runs)")
    parser.add_argument("overrides", nargs="*", help="extra hydra overrides for both runs, e.g. optimization.max_update=800")
    args = parser.parse_args(argv)
    args.out = args.out.resolve()
    summary = summarize(run_all(args))
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    print("frame phone accuracy of a linear probe (best layer) on held-out utterances")
    print(table(summary))
    return summary


if __name__ == "__main__":
    main()
