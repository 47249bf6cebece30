"""The low-resource study's plumbing (--quick): every condition, size and seed is fine-tuned,
decoded and tabled, the pretrained checkpoints probed, and a second call reuses every run."""
import json
from pathlib import Path

import numpy as np
import pytest

from scripts.low_resource_study import (CONDITIONS, FULL, LABELS, MASKINGS, QUICK, best_lr, main, paired, summarize,
                                        table, verdict)


REPO = Path(__file__).resolve().parents[2]


def checkpoint_stamps(work):
    return {str(p): p.stat().st_mtime_ns for p in sorted(work.rglob("*.pt"))}


@pytest.mark.timeout(900)
def test_quick_study_tables_every_condition_and_reuses_its_runs(tmp_path, capsys, monkeypatch):
    argv = ["--quick", "--data", str(tmp_path / "data"), "--work", str(tmp_path / "work")]
    summary = main(argv)
    first = capsys.readouterr().out
    work = tmp_path / "work"
    seeds, sizes = QUICK.seeds, sorted(QUICK.finetune_updates)
    # two maskings x seeds pretrained and probed; the grid's extra learning rates tried with seed 1
    assert first.count("[study] pretrained ") == first.count("[study] probed ") == 2 * len(seeds)
    extra = len(QUICK.lrs["pretrained"]) - 1 + len(QUICK.lrs["none"]) - 1  # per size; random masking reuses EH-MAM's
    assert first.count("[study] fine-tuned ") == len(sizes) * (len(CONDITIONS) * len(seeds) + extra)
    assert first.count("[study] decoded ") == len(sizes) * len(CONDITIONS) * len(seeds)
    assert "chosen on valid UER" in first

    rows = summary["rows"]
    assert [(r["minutes"], r["condition"]) for r in rows] == [(m, c) for m in sizes for c in CONDITIONS]
    for row in rows:
        assert row["seeds"] == seeds
        for key in ("greedy_wer", "greedy_cer", "kenlm_wer", "kenlm_cer"):
            values = row[key]["values"]
            assert len(values) == len(seeds) and all(v >= 0 for v in values)
            assert row[key]["mean"] == pytest.approx(sum(values) / len(values))
    assert rows[0]["lr"] in QUICK.lrs["pretrained"] and rows[2]["lr"] in QUICK.lrs["none"]
    # random masking uses the learning rate chosen on EH-MAM: everything else equal
    assert rows[0]["lr"] == rows[1]["lr"]
    for masking in ("easy_to_hard", "random"):
        probe = summary["probe"][masking]
        assert len(probe["values"]) == len(seeds) and all(0 < v <= 1 for v in probe["values"])

    table = (work / "table.md").read_text()
    for condition in CONDITIONS:
        assert table.count(f"| {LABELS[condition]} |") == len(sizes) + (condition != "none")
    assert (work / "wer_vs_minutes.png").stat().st_size > 10_000
    saved = json.loads((work / "results.json").read_text())
    assert saved["summary"] == json.loads(json.dumps(summary))
    assert len(saved["finetuning"]) == len(sizes) * len(CONDITIONS) * len(seeds)
    # "none" takes only the architecture from a pretraining checkpoint; the others its weights
    for run in saved["finetuning"]:
        overrides = (tmp_path / run["run"] / ".hydra" / "overrides.yaml").read_text()
        assert ("no_pretrained_weights=true" in overrides) == (run["condition"] == "none")
        assert f"{run['condition'] if run['condition'] != 'none' else 'easy_to_hard'}_seed{run['seed']}" in overrides
    stamps = checkpoint_stamps(work)
    assert len(stamps) > 2 * len(seeds)

    # the second call trains, probes and decodes nothing, and touches no checkpoint
    assert main(argv) == summary
    second = capsys.readouterr().out
    for verb in ("training ", "pretrained ", "probed ", "fine-tuned ", "decoded "):
        assert f"[study] {verb}" not in second
    assert second.count("[study] reused pretraining") == 2 * len(seeds)
    assert checkpoint_stamps(work) == stamps

    # a changed plan is refused by the first run it would touch, not mixed with the finished ones
    updates = QUICK.finetune_updates[sizes[0]]
    monkeypatch.setitem(QUICK.finetune_updates, sizes[0], updates + 1)
    changed = rf"different plan: optimization\.max_update={updates} there, optimization\.max_update={updates + 1} now"
    with pytest.raises(SystemExit, match=changed) as refused:
        main(argv)
    assert "Fix: remove" in str(refused.value)
    assert checkpoint_stamps(work) == stamps


def test_the_full_plan_is_the_one_the_readme_states():
    assert FULL.seeds == [1, 2, 3] and sorted(FULL.corpus["labelled_minutes"]) == [10, 60]
    assert FULL.pretrain_config == "small_cpu" and FULL.finetune_config == "small_cpu"
    assert set(FULL.finetune_updates) == {10, 60}


def test_summary_statistics_and_the_learning_rate_choice():
    runs = []
    for condition, base in (("easy_to_hard", 40.0), ("random", 50.0), ("none", 90.0)):
        for seed in (1, 2, 3):
            test = {m: {"wer": base + seed + (m == "greedy") * 20, "cer": base / 2 + seed} for m in ("greedy", "kenlm")}
            runs.append(dict(condition=condition, minutes=10, seed=seed, lr=1e-3, test=test,
                             best_valid_uer=base + 2 * seed))
    pretrained = [dict(masking=m, seed=s, probe=0.3 + 0.01 * s, probe_random_init=0.2, seconds=60.0, updates=5)
                  for m in MASKINGS for s in (1, 2, 3)]
    summary = summarize(runs, pretrained, dict(hours={}, utterances={}))
    row = {r["condition"]: r for r in summary["rows"]}
    values = np.array([61.0, 62.0, 63.0])
    assert row["easy_to_hard"]["greedy_wer"]["mean"] == pytest.approx(values.mean())
    assert row["easy_to_hard"]["greedy_wer"]["sd"] == pytest.approx(values.std(ddof=1))  # sample sd, as reported
    assert row["none"]["kenlm_cer"]["values"] == [46.0, 47.0, 48.0]
    assert row["random"]["valid_uer"]["mean"] == pytest.approx(54.0) and row["random"]["valid_uer"]["sd"] == pytest.approx(2.0)
    assert summary["probe"]["random"]["mean"] == pytest.approx(0.32)
    assert "| train_10m | EH-MAM (easy-to-hard masking) | 0.001 | 62.0 ± 1.0 |" in table(summary)
    # paired by seed: EH-MAM is 10 below random masking on every seed, so its interval excludes 0
    contrast = {(c["a"], c["b"]): c for c in summary["contrasts"]}
    assert contrast["easy_to_hard", "random"]["greedy_wer"]["values"] == [-10.0, -10.0, -10.0]
    assert contrast["easy_to_hard", "random"]["greedy_wer"]["interval"] == pytest.approx([-10.0, -10.0])
    assert "| train_10m | EH-MAM − random masking | -5.0 ± 0.0 [-5.0, -5.0] | -10.0 ± 0.0 [-10.0, -10.0] |" in table(summary)
    assert summary["probe_contrast"]["values"] == pytest.approx([0.0, 0.0, 0.0])
    assert "(cannot tell apart)" in table(summary)
    # seeds are paired, never zipped blindly: a probe of seed 4 against one of seed 3 is refused
    with pytest.raises(ValueError, match="the probes: different seeds"):
        summarize(runs, pretrained[:-1] + [dict(pretrained[-1], seed=4)], dict(hours={}, utterances={}))
    # the learning rate with the lowest valid UER wins; a tie goes to the smaller one
    assert best_lr({1e-3: {"best_valid_uer": 60.0}, 3e-3: {"best_valid_uer": 55.0}}) == 3e-3
    assert best_lr({1e-3: {"best_valid_uer": 55.0}, 3e-3: {"best_valid_uer": 55.0}}) == 1e-3


def test_paired_differences_against_the_student_t_formula():
    a, b = [30.0, 41.0, 35.5, 38.0], [36.0, 44.5, 35.0, 43.0]
    d = np.array(a) - np.array(b)
    # t(0.975, 3 degrees of freedom) = 3.182446 (statistical tables)
    half = 3.182446 * d.std(ddof=1) / np.sqrt(len(d))
    difference = paired(a, b)
    assert difference["mean"] == pytest.approx(d.mean())
    assert difference["interval"] == pytest.approx([d.mean() - half, d.mean() + half], abs=1e-5)
    assert verdict(difference, "A better", "B better") == "cannot tell apart"  # -3.5 ± 4.55 (half-width): spans 0
    assert verdict(paired([1.0, 2.0, 3.0], [5.0, 5.5, 6.5]), "A better", "B better") == "A better"
    assert verdict(paired([9.0, 8.0, 9.5], [5.0, 5.5, 6.5]), "A better", "B better") == "B better"
    assert paired([1.0], [2.0])["interval"] is None
    with pytest.raises(ValueError):
        paired([1.0, 2.0], [1.0])  # unpaired seeds are an error, not a silent truncation


def test_the_small_model_sits_between_tiny_and_base_at_the_size_the_readme_gives():
    from omegaconf import OmegaConf

    from ehmam.configs import config_from_dict
    from ehmam.models import EhmamConfig, EhmamModel, tiny_config

    yaml = OmegaConf.load(REPO / "examples/ehmam/config/small_cpu.yaml")
    model_block = OmegaConf.to_container(yaml, resolve=True)["model"]
    small = EhmamModel(config_from_dict(EhmamConfig, model_block, ignore=["_name", "easy_to_hard_updates"]))

    def trained(model):
        return sum(p.numel() for p in model.parameters() if p.requires_grad)

    assert trained(EhmamModel(tiny_config())) < trained(small) < trained(EhmamModel(EhmamConfig())) / 100
    assert round(trained(small) / 1e6, 2) == 0.54  # README: "0.54 M trained parameters"
    assert "0.54 M trained parameters" in (REPO / "README.md").read_text()
