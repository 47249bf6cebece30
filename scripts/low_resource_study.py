#!/usr/bin/env python
"""The low-resource study: does pretraining pay off with little labelled speech?

EH-MAM's headline results (Table 2) fine-tune on LibriLight's 10 min and 1 h. This is that
setting in miniature, on synthesized speech (manifests/make_low_resource_corpus.py): a few
hours of unlabelled audio, a labelled hour and its first 10 minutes, speakers and sentences
of valid and test kept apart. Three conditions, each with several seeds:

- ``easy_to_hard``: EH-MAM pretraining on the pool, then CTC fine-tuning;
- ``random``: the data2vec 2.0 ablation (random block masking), everything else equal;
- ``none``: the same architecture fine-tuned from random weights.

Each condition gets its own learning rate, chosen on valid UER with seed 1 at each labelled
size from the grid in the plan (the pretrained one on EH-MAM and used for both maskings).
Every fine-tuned model is decoded on test greedily and with the 4-gram LM whose weights are
searched on valid. Every pretrained checkpoint also gets the frozen-feature phone probe.

    python scripts/low_resource_study.py                  # the study (~2 h on 2 cores)
    python scripts/low_resource_study.py --quick          # the plumbing, tiny, in minutes

Resumable: every finished step leaves a ``result.json`` and is reused; a run stopped in the
middle resumes from its last checkpoint (fairseq's ``checkpoint_last.pt``). Each run records its
recipe (``recipe.json``); a run made with another plan is refused, never reused. Outputs in
``--work``: ``results.json`` (every run and the summary), ``table.md`` and
``wer_vs_minutes.png`` (CER and WER against labelled minutes).

The conditions are compared seed by seed (the same seed's runs paired): the table gives each
difference's mean, sd and 95 % Student-t interval, and calls a difference only when its interval
excludes zero; otherwise the seeds cannot tell the two conditions apart.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from dataclasses import asdict, dataclass
from io import StringIO
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from manifests.make_low_resource_corpus import make_corpus, subset_name  # noqa: E402
from scripts.plot_pretraining import read_fairseq_log  # noqa: E402

CONDITIONS = ("easy_to_hard", "random", "none")
LABELS = {"easy_to_hard": "EH-MAM (easy-to-hard masking)", "random": "random masking (data2vec 2.0)",
          "none": "no pretraining (random weights)"}
SHORT = {"easy_to_hard": "EH-MAM", "random": "random masking", "none": "random weights"}
MASKINGS = CONDITIONS[:2]


@dataclass
class Plan:
    """What the study runs; ``FULL`` and ``QUICK`` below."""
    corpus: dict
    pretrain_config: str
    pretrain_overrides: list
    finetune_config: str
    finetune_updates: dict          # labelled minutes -> max_update
    finetune_overrides: dict        # labelled minutes -> extra overrides (validation interval)
    lrs: dict                       # "pretrained" / "none" -> the learning rates tried with seed 1
    seeds: list
    probe: dict
    lm_weights: str
    word_scores: str


FULL = Plan(
    corpus=dict(pool_utterances=3600, train_utterances=1300, eval_utterances=150, eval_speakers=8, seed=11,
                labelled_minutes=(10, 60)),
    pretrain_config="small_cpu", pretrain_overrides=[],
    finetune_config="small_cpu",
    finetune_updates={10: 600, 60: 1000},
    finetune_overrides={10: ["checkpoint.save_interval_updates=150", "dataset.validate_interval_updates=150"],
                        60: []},
    # random weights get the tuning: two rates on valid; the pretrained models keep the config's
    lrs={"pretrained": [5e-4], "none": [2e-3, 5e-3]},
    seeds=[1, 2, 3],
    probe=dict(steps=200, max_utterances=80),  # per split; the probe fits ten full-batch regressions
    lm_weights="0.5,1,2", word_scores="-1,0,1",
)

QUICK = Plan(
    corpus=dict(pool_utterances=24, train_utterances=24, eval_utterances=6, eval_speakers=4, seed=11,
                labelled_minutes=(0.25, 0.75)),
    pretrain_config="tiny_cpu",
    pretrain_overrides=["optimization.max_update=6", "checkpoint.save_interval_updates=3",
                        "dataset.validate_interval_updates=3", "common.log_interval=1",
                        "lr_scheduler.warmup_updates=2", "model.ema.anneal_updates=4"],
    finetune_config="tiny_cpu",
    finetune_updates={0.25: 4, 0.75: 6},
    finetune_overrides={m: ["checkpoint.save_interval_updates=2", "dataset.validate_interval_updates=2",
                            "model.freeze_finetune_updates=1", "common.log_interval=1"] for m in (0.25, 0.75)},
    lrs={"pretrained": [2e-3], "none": [1e-3, 2e-3]},
    seeds=[1],
    probe=dict(steps=20, max_utterances=6),
    lm_weights="1", word_scores="-1,0",
)


_LOG = threading.Lock()


def log(message: str) -> None:
    with _LOG:  # runs finish on several threads; one whole line each
        sys.stdout.write(f"[study] {message}\n")
        sys.stdout.flush()


def hydra_train(config_dir: Path, config: str, data: Path, run: Path, overrides: list, threads: int) -> float:
    """fairseq-hydra-train into ``run`` (resuming from its checkpoint_last.pt if any) on ``threads``
    CPU threads; seconds taken."""
    cmd = [str(Path(sys.executable).parent / "fairseq-hydra-train"), "--config-dir", str(config_dir),
           "--config-name", config, f"task.data={data}", f"common.user_dir={REPO / 'user_dir'}",
           f"checkpoint.save_dir={run / 'ckpt'}", f"hydra.run.dir={run}", *overrides]
    run.mkdir(parents=True, exist_ok=True)
    resumed = " (resuming its last checkpoint)" if (run / "ckpt/checkpoint_last.pt").is_file() else ""
    log(f"training {run.relative_to(run.parents[1])}{resumed}; progress in {run / 'hydra_train.log'}")
    start = time.time()
    with open(run / "train.out", "a") as out:
        result = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, cwd=run,
                                env={**os.environ, "OMP_NUM_THREADS": str(threads)})
    if result.returncode != 0:
        tail = (run / "train.out").read_text(errors="replace")[-4000:]
        raise SystemExit(f"[study] {run} failed (exit {result.returncode}); rerun to resume from its last "
                         f"checkpoint. The end of {run / 'train.out'}:\n{tail}")
    return time.time() - start


def check_recipe(run: Path, recipe: dict) -> None:
    """Record what a run is made with; refuse to reuse or resume one made differently, so a
    changed plan never mixes with stale runs."""
    path = run / "recipe.json"
    recipe = json.loads(json.dumps(recipe))  # as it reads back: tuples become lists
    if path.is_file():
        recorded = json.loads(path.read_text())
        if recorded != recipe:
            then, now = [], []
            for key in sorted(recipe.keys() | recorded.keys()):
                old, new = recorded.get(key), recipe.get(key)
                if key == "overrides" and old is not None and new is not None:  # name the overrides that differ
                    then += [o for o in old if o not in new]
                    now += [o for o in new if o not in old]
                elif old != new:
                    then.append(f"{key}={old}")
                    now.append(f"{key}={new}")
            raise SystemExit(f"[study] {run} was made with a different plan: {', '.join(then)} there, "
                             f"{', '.join(now)} now. Fix: remove {run} to redo it, or pass another --work")
        return
    run.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(recipe, indent=2) + "\n")


def read_result(run: Path):
    path = run / "result.json"
    return json.loads(path.read_text()) if path.is_file() else None


def write_result(run: Path, result: dict) -> dict:
    tmp = run / "result.json.tmp"
    tmp.write_text(json.dumps(result, indent=2) + "\n")
    tmp.replace(run / "result.json")  # a step counts as done only once this file is whole
    return result


def valid_curve(run: Path) -> list:
    """(update, uer, wer) of every validation in the run's fairseq log."""
    records = read_fairseq_log(run / "hydra_train.log")["valid"]
    return [(int(r["num_updates"]), r["uer"], r["wer"]) for r in records]


# -- the steps ----------------------------------------------------------------------------------------


def build_lm(data: Path, out: Path, largest: str) -> Path:
    if (out / "4-gram.bin").is_file() and (out / "lexicon.txt").is_file():
        log(f"reused the 4-gram LM in {out}")
        return out
    from ehmam.asr.language_model import main as language_model
    if language_model(["build", "--text", str(data / "lm_text.txt"), "--words", str(data / f"{largest}.wrd"),
                       "--dict", str(data / "dict.ltr.txt"), "--out", str(out)]) != 0:
        raise SystemExit(f"[study] building the 4-gram LM into {out} failed (above)")
    return out


@contextmanager
def training_pool(jobs: int):
    """A pool of ``jobs`` threads, each driving one training subprocess. A failure cancels the
    calls not yet started; those running finish and are kept for reuse."""
    with ThreadPoolExecutor(max(1, jobs)) as pool:
        try:
            yield pool
        except BaseException:
            pool.shutdown(cancel_futures=True)
            raise


def in_parallel(jobs: int, calls: list) -> list:
    """Run the zero-argument ``calls`` ``jobs`` at a time; their results in order."""
    with training_pool(jobs) as pool:
        return [f.result() for f in [pool.submit(call) for call in calls]]


def quietly(function, *args):
    """``function(*args)`` with its prints and progress bars kept; shown only if it fails."""
    with redirect_stdout(StringIO()) as printed, redirect_stderr(printed):
        try:
            return function(*args)
        except BaseException:
            sys.__stderr__.write(printed.getvalue()[-4000:])
            raise


def pretrain(plan: Plan, data: Path, work: Path, masking: str, seed: int, threads: int) -> Path:
    """Pretrain one (masking, seed); the run folder."""
    run = work / "pretrain" / f"{masking}_seed{seed}"
    overrides = ["dataset.train_subset=pretrain", "dataset.valid_subset=valid", f"common.seed={seed}",
                 f"model.masking.masking={masking}", *plan.pretrain_overrides]
    check_recipe(run, dict(config=plan.pretrain_config, overrides=overrides, corpus=plan.corpus, probe=plan.probe))
    if (run / "trained.json").is_file():
        return run
    seconds = hydra_train(REPO / "examples/ehmam/config", plan.pretrain_config, data, run, overrides, threads)
    log(f"pretrained {run.name} in {seconds:.0f} s")
    (run / "trained.json").write_text(json.dumps(dict(seconds=round(seconds, 1), threads=threads)) + "\n")
    return run


def probe_pretrained(plan: Plan, data: Path, run: Path, largest: str) -> dict:
    """The frozen-feature phone probe of a pretrained run (in this process, one at a time)."""
    done = read_result(run)
    if done is not None:
        log(f"reused pretraining {run.name} ({done['seconds']:.0f} s)")
        return done
    from ehmam.evaluation.probe import main as probe
    probe_args = [str(run / "ckpt/checkpoint_last.pt"), str(data), "--train-split", largest,
                  "--steps", str(plan.probe["steps"]), "--json", str(run / "probe.json")]
    if plan.probe["max_utterances"]:
        probe_args += ["--max-utterances", str(plan.probe["max_utterances"])]
    quietly(probe, probe_args)
    accuracy = json.loads((run / "probe.json").read_text())["accuracy"]
    log(f"probed {run.name}: phone accuracy {max(accuracy['pretrained']):.3f} "
        f"(random weights {max(accuracy['random init']):.3f})")
    valid = read_fairseq_log(run / "hydra_train.log")["valid"]
    masking, seed = run.name.rsplit("_seed", 1)
    trained = json.loads((run / "trained.json").read_text())
    return write_result(run, dict(masking=masking, seed=int(seed), seconds=trained["seconds"],
                                  threads=trained["threads"], updates=int(valid[-1]["num_updates"]),
                                  probe=max(accuracy["pretrained"]), probe_random_init=max(accuracy["random init"]),
                                  spearman=valid[-1].get("predictor_spearman")))


def finetune(plan: Plan, data: Path, work: Path, condition: str, minutes: float, seed: int, lr: float,
             threads: int) -> dict:
    """Fine-tune (without decoding); the result holds the validation curve."""
    run = work / "finetune" / subset_name(minutes) / f"{condition}_seed{seed}_lr{lr:g}"
    pretrained = "easy_to_hard" if condition == "none" else condition
    w2v = work / "pretrain" / f"{pretrained}_seed{seed}" / "ckpt" / "checkpoint_last.pt"
    overrides = [f"model.w2v_path={w2v}", f"dataset.train_subset={subset_name(minutes)}", "dataset.valid_subset=valid",
                 f"common.seed={seed}", f"optimization.lr=[{lr}]",
                 f"optimization.max_update={plan.finetune_updates[minutes]}", *plan.finetune_overrides[minutes]]
    if condition == "none":  # the pretrained checkpoint only describes the architecture; nothing to keep frozen
        overrides = [o for o in overrides if not o.startswith("model.freeze_finetune_updates=")]
        overrides += ["+model.no_pretrained_weights=true", "model.freeze_finetune_updates=0"]
    check_recipe(run, dict(config=plan.finetune_config, overrides=overrides, lm_weights=plan.lm_weights,
                           word_scores=plan.word_scores))
    done = read_result(run)
    if done is not None:
        log(f"reused fine-tuning {run.parent.name}/{run.name}")
        return done
    seconds = hydra_train(REPO / "examples/ehmam/config/finetuning", plan.finetune_config, data, run, overrides,
                          threads)
    curve = valid_curve(run)
    best = min(c[1] for c in curve)
    log(f"fine-tuned {run.parent.name}/{run.name} in {seconds:.0f} s (best valid UER {best:.1f})")
    return write_result(run, dict(condition=condition, minutes=minutes, seed=seed, lr=lr, seconds=round(seconds, 1),
                                  threads=threads, valid=curve, best_valid_uer=best, run=str(run)))


def decode(plan: Plan, data: Path, lm: Path, finetuned: dict) -> dict:
    """Test WER/CER, greedy and with the 4-gram LM whose weights are searched on valid."""
    run = Path(finetuned["run"])
    out = run / "decode"
    if (out / "test.kenlm.json").is_file():
        log(f"reused the decoding of {run.parent.name}/{run.name}")
    else:
        from ehmam.asr.decode import main as decode_main
        start = time.time()
        rc = quietly(decode_main, [str(run / "ckpt/checkpoint_best.pt"), "--data", str(data), "--split", "test",
                                   "--out", str(out), "--lexicon", str(lm / "lexicon.txt"), "--lm", str(lm / "4-gram.bin"),
                                   "--tune-split", "valid", "--lm-weights", plan.lm_weights,
                                   f"--word-scores={plan.word_scores}"])
        if rc != 0:
            raise SystemExit(f"[study] decoding {run} failed (above)")
        log(f"decoded {run.parent.name}/{run.name} in {time.time() - start:.0f} s")
    greedy = json.loads((out / "test.greedy.json").read_text())
    kenlm = json.loads((out / "test.kenlm.json").read_text())
    return dict(greedy=dict(wer=greedy["wer"], cer=greedy["cer"]),
                kenlm=dict(wer=kenlm["wer"], cer=kenlm["cer"], lm_weight=kenlm["lm_weight"],
                           word_score=kenlm["word_score"]))


def best_lr(tried: dict) -> float:
    """The learning rate whose run reached the lowest valid UER (the smaller one on a tie)."""
    return min(tried, key=lambda lr: (tried[lr]["best_valid_uer"], lr))


# -- summary -----------------------------------------------------------------------------------------


def spread(values: list) -> dict:
    """The values, their mean and their sample standard deviation (0 for a single seed)."""
    return dict(values=values, mean=statistics.mean(values), sd=statistics.stdev(values) if len(values) > 1 else 0.0)


def paired(a: list, b: list) -> dict:
    """``a - b`` seed by seed: the differences, their mean, sample sd and the 95 % Student-t
    interval of the mean (None for a single seed). Pairing by seed removes what the two conditions
    share per seed (fine-tuning order, initialization of the heads) from the comparison."""
    from scipy.stats import t

    differences = [x - y for x, y in zip(a, b, strict=True)]
    out = spread(differences)
    n = len(differences)
    half = t.ppf(0.975, n - 1) * out["sd"] / n ** 0.5 if n > 1 else None
    out["interval"] = None if half is None else [out["mean"] - half, out["mean"] + half]
    return out


def verdict(difference: dict, lower: str, higher: str) -> str:
    """What a paired difference says: ``lower`` or ``higher`` when its interval excludes zero."""
    if difference["interval"] is None:
        return "one seed: no interval"
    low, high = difference["interval"]
    return lower if high < 0 else higher if low > 0 else "cannot tell apart"


def difference_cell(difference: dict, digits: int = 1) -> str:
    """``mean ± sd [95 % interval]``."""
    text = f"{difference['mean']:+.{digits}f} ± {difference['sd']:.{digits}f}"
    if difference["interval"] is not None:
        low, high = difference["interval"]
        text += f" [{low:+.{digits}f}, {high:+.{digits}f}]"
    return text


def same_seeds(a: dict, b: dict, what: str) -> None:
    """Paired differences need the same seeds on both sides, in the same order."""
    if a["seeds"] != b["seeds"]:
        raise ValueError(f"{what}: different seeds, {a['seeds']} and {b['seeds']}")


CONTRASTS = (("easy_to_hard", "random"), ("easy_to_hard", "none"), ("random", "none"))
CONTRASTED = ("greedy_cer", "greedy_wer", "kenlm_wer")


def summarize(runs: list, pretrained: list, corpus: dict) -> dict:
    rows, contrasts = [], []
    for minutes in sorted({r["minutes"] for r in runs}):
        cell = {}
        for condition in CONDITIONS:
            mine = [r for r in runs if r["condition"] == condition and r["minutes"] == minutes]
            row = dict(condition=condition, minutes=minutes, seeds=[r["seed"] for r in mine], lr=mine[0]["lr"])
            for method in ("greedy", "kenlm"):
                for metric in ("wer", "cer"):
                    values = [r["test"][method][metric] for r in mine]
                    row[f"{method}_{metric}"] = spread(values)
            row["valid_uer"] = spread([r["best_valid_uer"] for r in mine])
            rows.append(row)
            cell[condition] = row
        for a, b in CONTRASTS:
            same_seeds(cell[a], cell[b], f"{a} and {b} at {minutes} min")
            contrasts.append(dict(minutes=minutes, a=a, b=b,
                                  **{k: paired(cell[a][k]["values"], cell[b][k]["values"]) for k in CONTRASTED}))
    probes = {}
    for masking in MASKINGS:
        mine = [p for p in pretrained if p["masking"] == masking]
        values = [p["probe"] for p in mine]
        probes[masking] = dict(**spread(values), seeds=[p["seed"] for p in mine],
                               random_init=[p["probe_random_init"] for p in mine],
                               seconds=[p["seconds"] for p in mine], updates=mine[0]["updates"])
    same_seeds(*(probes[m] for m in MASKINGS), "the probes")
    probe_difference = paired(*(probes[m]["values"] for m in MASKINGS))
    return dict(rows=rows, probe=probes, contrasts=contrasts, probe_contrast=probe_difference,
                corpus=dict(hours=corpus["hours"], utterances=corpus["utterances"]))


def table(summary: dict) -> str:
    lines = ["| labelled | condition | lr | test WER, greedy | test CER, greedy | test WER, 4-gram | test CER, 4-gram "
             "| best valid UER |",
             "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for row in summary["rows"]:
        cells = [f"{row[k]['mean']:.1f} ± {row[k]['sd']:.1f}"
                 for k in ("greedy_wer", "greedy_cer", "kenlm_wer", "kenlm_cer", "valid_uer")]
        lines.append(f"| {subset_name(row['minutes'])} | {LABELS[row['condition']]} | {row['lr']:g} | " + " | ".join(cells) + " |")
    lines += ["", "| pretraining | probe accuracy (best layer), per seed | mean ± sd | random-init encoder | minutes per run |",
              "| --- | --- | ---: | ---: | ---: |"]
    for masking, p in summary["probe"].items():
        lines.append(f"| {LABELS[masking]} | " + ", ".join(f"{v:.3f}" for v in p["values"])
                     + f" | {p['mean']:.3f} ± {p['sd']:.3f} | {statistics.mean(p['random_init']):.3f} | "
                     + f"{statistics.mean(p['seconds']) / 60:.1f} |")
    lines += ["", "| labelled | A − B, paired by seed (negative: A makes fewer errors) | greedy CER | greedy WER "
                  "| 4-gram WER | greedy CER says |",
              "| --- | --- | ---: | ---: | ---: | --- |"]
    for c in summary["contrasts"]:
        cells = [difference_cell(c[k]) for k in CONTRASTED]
        says = verdict(c["greedy_cer"], f"{SHORT[c['a']]} better", f"{SHORT[c['b']]} better")
        lines.append(f"| {subset_name(c['minutes'])} | {SHORT[c['a']]} − {SHORT[c['b']]} | " + " | ".join(cells)
                     + f" | {says} |")
    probe = summary["probe_contrast"]
    lines += ["", f"Probe accuracy, EH-MAM − random masking, paired by seed: {difference_cell(probe, 3)} "
                  f"({verdict(probe, 'random masking better', 'EH-MAM better')})."]
    return "\n".join(lines)



def plot(summary: dict, path: Path) -> None:
    """Test error against labelled minutes, one line per condition (mean ± sd over seeds): greedy
    CER, greedy WER and 4-gram WER side by side."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    panels = (("greedy_cer", "test CER, greedy"), ("greedy_wer", "test WER, greedy"),
              ("kenlm_wer", "test WER, 4-gram LM (weights searched on valid)"))
    fig, axes = plt.subplots(1, len(panels), figsize=(14, 4))
    minutes = sorted({r["minutes"] for r in summary["rows"]})
    for ax, (key, title) in zip(axes, panels):
        for condition, color in zip(CONDITIONS, ("tab:red", "tab:blue", "tab:gray")):
            rows = [r for r in summary["rows"] if r["condition"] == condition]
            ax.errorbar([r["minutes"] for r in rows], [r[key]["mean"] for r in rows],
                        yerr=[r[key]["sd"] for r in rows], marker="o", capsize=4, color=color,
                        label=LABELS[condition])
        ax.set_xscale("log")
        ax.set_xticks(minutes, [subset_name(m).removeprefix("train_") for m in minutes])
        ax.minorticks_off()
        ax.set_xlabel("labelled audio")
        ax.set_ylabel("%, mean ± sd over seeds")
        ax.set_title(title, fontsize=10)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def finetune_all(plan: Plan, data: Path, work: Path, jobs: int, threads: int) -> list:
    """Every (size, condition, seed), ``jobs`` runs at a time. Each condition's learning rate is
    the grid's best on valid UER with the first seed; the grid is queued first, and a condition's
    other seeds as soon as its own grid is done, so no run waits for another condition's grid.
    Random masking takes EH-MAM's rate: the ablation changes the masking and nothing else."""
    sizes = sorted(plan.finetune_updates)
    kinds = {"easy_to_hard": plan.lrs["pretrained"], "none": plan.lrs["none"]}
    with training_pool(jobs) as pool:
        def submit(condition, minutes, seed, lr):
            return pool.submit(finetune, plan, data, work, condition, minutes, seed, lr, threads)

        grid = {(m, c, lr): submit(c, m, plan.seeds[0], lr) for m in sizes for c, lrs in kinds.items() for lr in lrs}
        cells = {}
        for m in sizes:
            for kind, lrs in kinds.items():
                tried = {lr: grid[m, kind, lr].result() for lr in lrs}
                lr = best_lr(tried)
                if len(tried) > 1:
                    log(f"{LABELS[kind]}, {subset_name(m)}: lr {lr:g} chosen on valid UER ("
                        + ", ".join(f"{x:g}: {r['best_valid_uer']:.1f}" for x, r in tried.items()) + ")")
                for condition in (kind, "random") if kind == "easy_to_hard" else (kind,):
                    for seed in plan.seeds:
                        reuse = condition == kind and seed == plan.seeds[0]
                        cells[m, condition, seed] = grid[m, kind, lr] if reuse else submit(condition, m, seed, lr)
        return [cells[m, c, seed].result() for m in sizes for c in CONDITIONS for seed in plan.seeds]


def run_study(plan: Plan, data: Path, work: Path, jobs: int = 1) -> dict:
    start = time.time()
    corpus = make_corpus(data, **plan.corpus)
    largest = subset_name(max(plan.corpus["labelled_minutes"]))
    lm = build_lm(data, work / "lm", largest)
    threads = max(1, (os.cpu_count() or 1) // jobs)
    runs = in_parallel(jobs, [lambda m=m, s=s: pretrain(plan, data, work, m, s, threads)
                              for s in plan.seeds for m in MASKINGS])
    pretrained = [probe_pretrained(plan, data, run, largest) for run in runs]
    finetuned = finetune_all(plan, data, work, jobs, threads)
    runs = [{**r, "test": decode(plan, data, lm, r)} for r in finetuned]
    summary = summarize(runs, pretrained, corpus)
    (work / "results.json").write_text(json.dumps(dict(plan=asdict(plan), summary=summary, pretraining=pretrained,
                                                       finetuning=runs), indent=2) + "\n")
    text = table(summary)
    (work / "table.md").write_text(text + "\n")
    plot(summary, work / "wer_vs_minutes.png")
    log(f"done in {time.time() - start:.0f} s: {work / 'results.json'}, {work / 'table.md'}, {work / 'wer_vs_minutes.png'}")
    print(text)
    return summary


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="a tiny corpus and model, a few updates: checks the plumbing")
    p.add_argument("--data", type=Path, default=None, help="the study corpus (default data/low_resource[_quick])")
    p.add_argument("--work", type=Path, default=None, help="runs and results (default outputs/low_resource[_quick])")
    p.add_argument("--seeds", type=int, nargs="+", default=None, help="override the plan's seeds")
    p.add_argument("--jobs", type=int, default=2,
                   help="training runs at a time, each on cores/jobs threads (default 2: small models use "
                        "two single-threaded runs better than one two-threaded run)")
    a = p.parse_args(argv)
    plan = QUICK if a.quick else FULL
    if a.seeds:
        plan = Plan(**{**asdict(plan), "seeds": a.seeds})
    suffix = "_quick" if a.quick else ""
    data = (a.data or REPO / f"data/low_resource{suffix}").resolve()
    work = (a.work or REPO / f"outputs/low_resource{suffix}").resolve()
    work.mkdir(parents=True, exist_ok=True)
    return run_study(plan, data, work, a.jobs)


if __name__ == "__main__":
    main()
