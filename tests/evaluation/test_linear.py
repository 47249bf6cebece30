"""Linear evaluation (EVAR's protocol): the classifier, folds, confidence intervals, the feature
cache, the results CSV and its summary, and the command line on a generated task."""
import csv
import math
import re

import numpy as np
import pytest
import soundfile as sf
import torch

from ehmam.checkpoints import StudentEncoder, plain_checkpoint
from ehmam.evaluation import linear
from ehmam.evaluation.linear import (LinearConfig, Result, append_result, cached_clip_features, evaluate_features,
                                     fit_linear, mean_and_ci95, read_clip, read_results, splits_of, summary_table)
from ehmam.evaluation.tasks import Clip, TaskData
from ehmam.features import EhmamEncoder
from ehmam.models import EhmamModel, tiny_config


def blobs(n_per_class: int, classes: int, dim: int, spread: float, seed: int):
    """Gaussian clusters around well-separated centres: (N x dim features, N labels)."""
    gen = torch.Generator().manual_seed(seed)
    centres = torch.randn(classes, dim, generator=gen) * 4
    y = torch.arange(classes).repeat_interleave(n_per_class)
    x = centres[y] + spread * torch.randn(len(y), dim, generator=gen)
    return x, y


def test_a_separable_toy_task_is_solved_and_shuffled_labels_stay_at_chance():
    x, y = blobs(60, 4, 16, spread=1.0, seed=0)
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(2))
    train, valid, test = order[:140], order[140:180], order[180:]
    fit = fit_linear(x[train], y[train], x[valid], y[valid], 4, LinearConfig(lr=1e-2))
    assert linear.accuracy(fit.classifier, x[test], y[test]) > 0.95
    # the same kind of features with the labels shuffled: nothing to learn, so test accuracy near 1/4
    big_x, big_y = blobs(500, 4, 16, spread=1.0, seed=4)
    noise = big_y[torch.randperm(len(big_y), generator=torch.Generator().manual_seed(5))]
    fit = fit_linear(big_x[:1400], noise[:1400], big_x[1400:1700], noise[1400:1700], 4, LinearConfig(lr=1e-2))
    assert abs(linear.accuracy(fit.classifier, big_x[1700:], noise[1700:]) - 0.25) < 0.08


def test_early_stopping_restores_the_best_epoch_and_standardises_on_train_only():
    x, y = blobs(50, 3, 8, spread=2.5, seed=6)
    valid_x, valid_y = blobs(30, 3, 8, spread=2.5, seed=6)
    cfg = LinearConfig(lr=5e-2, max_epochs=300, patience=5)
    fit = fit_linear(x, y, valid_x + 100.0, valid_y, 3, cfg)  # shifted valid: no say in the statistics
    assert torch.allclose(fit.classifier[0].mean, x.mean(0)) and torch.allclose(fit.classifier[0].std, x.std(0))
    assert fit.epochs - fit.best_epoch <= cfg.patience and fit.epochs < cfg.max_epochs
    assert math.isclose(linear.accuracy(fit.classifier, valid_x + 100.0, valid_y), fit.best_valid_accuracy)


def fold_task(folds: int, per_fold: int) -> TaskData:
    clips = [Clip(f"/x/{f}-{i}.wav", f"c{i % 3}", None, f) for f in range(1, folds + 1) for i in range(per_fold)]
    return TaskData("esc50", "/x", tuple(clips), folds, 5.0)


def test_each_held_out_fold_is_never_seen_in_training_validation_or_standardisation(monkeypatch):
    task = fold_task(5, 20)
    folds = np.array([c.fold for c in task.clips])
    for k, split in enumerate(splits_of(task, 0.1, seed=0), start=1):
        assert set(folds[split.test]) == {k} and len(split.test) == 20
        assert k not in set(folds[split.train]) | set(folds[split.valid])
        assert len(split.valid) == 8 and len(split.train) == 72  # 10 % of the other 80
        assert len(set(split.train) | set(split.valid) | set(split.test)) == 100
    # through evaluate_features: the clips the classifier (and its Standardize) is fitted on
    seen = []
    real_fit = linear.fit_linear

    def spy(train_x, train_y, valid_x, valid_y, *args, **kwargs):
        seen.append((train_x[:, 0].tolist(), valid_x[:, 0].tolist()))
        return real_fit(train_x, train_y, valid_x, valid_y, *args, **kwargs)

    monkeypatch.setattr(linear, "fit_linear", spy)
    features = torch.tensor([[float(c.fold), 1.0] for c in task.clips]) + 0.01 * torch.randn(100, 2)
    score, per_fold = evaluate_features(features, [c.label for c in task.clips], task,
                                        LinearConfig(max_epochs=2), seed=0)
    assert len(per_fold) == 5 and math.isclose(score, float(np.mean(per_fold)))
    for k, (train_first, valid_first) in enumerate(seen, start=1):
        assert all(round(v) != k for v in train_first + valid_first)


def test_fixed_splits_and_a_missing_valid_split():
    clips = ([Clip(f"/t{i}", "a", "train", None) for i in range(30)] + [Clip(f"/v{i}", "a", "valid", None)
                                                                        for i in range(5)]
             + [Clip(f"/e{i}", "a", "test", None) for i in range(7)])
    (split,) = splits_of(TaskData("spcv2", "/", tuple(clips), 1, 1.0), 0.1, seed=0)
    assert (list(split.train), list(split.valid), list(split.test)) == (list(range(30)), list(range(30, 35)),
                                                                      list(range(35, 42)))
    no_valid = [c for c in clips if c.split != "valid"]
    (split,) = splits_of(TaskData("spcv2", "/", tuple(no_valid), 1, 1.0), 0.1, seed=0)
    assert len(split.valid) == 3 and set(split.valid) < set(range(30)) and not set(split.valid) & set(split.train)


def test_ci95_against_scipy():
    stats = pytest.importorskip("scipy.stats")
    for values in ([0.5, 0.7], [0.61, 0.64, 0.58], list(np.linspace(0.2, 0.9, 12)), list(np.linspace(0, 1, 40))):
        mean, half = mean_and_ci95(values)
        n = len(values)
        t = stats.t.ppf(0.975, n - 1) if n <= 31 else 1.96
        assert math.isclose(mean, np.mean(values))
        assert math.isclose(half, t * np.std(values, ddof=1) / math.sqrt(n), rel_tol=2e-3)
    assert mean_and_ci95([0.4]) == (0.4, 0.0)


def test_read_clip_pads_crops_averages_stereo_and_resamples(tmp_path):
    path = tmp_path / "a.wav"
    stereo = np.stack([np.full(8_000, 0.25), np.full(8_000, 0.75)], axis=1)
    sf.write(str(path), stereo, 16_000)
    wav = read_clip(Clip(path, "x", "train", None), 16_000, 10_000)
    assert wav.shape == (10_000,) and torch.allclose(wav[:8_000], torch.full((8_000,), 0.5), atol=1e-4)
    assert not wav[8_000:].any()
    sf.write(str(path), np.sin(np.arange(44_100) / 10.0), 44_100)
    assert read_clip(Clip(path, "x", "train", None), 16_000, 20_000)[:16_000].abs().max() > 0.5
    assert not read_clip(Clip(path, "x", "train", None), 16_000, 20_000)[16_001:].any()
    sf.write(str(path), np.zeros(0), 16_000)
    with pytest.raises(linear.EvaluationError, match=r"a\.wav: empty audio"):
        read_clip(Clip(path, "x", "train", None), 16_000, 100)
    path.write_bytes(b"not audio")
    with pytest.raises(linear.EvaluationError, match=r"a\.wav: unreadable audio.*Fix: re-encode"):
        read_clip(Clip(path, "x", "train", None), 16_000, 100)


@pytest.fixture
def toy_task(tmp_path):
    """Six 0.3 s clips on disk, two classes."""
    clips = []
    for i in range(6):
        path = tmp_path / f"{i}.wav"
        sf.write(str(path), np.random.default_rng(i).normal(size=4_800) * (0.1 + 0.2 * (i % 2)), 16_000)
        clips.append(Clip(path, f"c{i % 2}", ["train", "valid", "test"][i // 2], None))
    return TaskData("spcv2", tmp_path, tuple(clips), 1, 0.3)


def test_features_are_cached_by_checkpoint_and_settings(toy_task, tmp_path, monkeypatch):
    torch.manual_seed(0)
    encoder = EhmamEncoder(StudentEncoder(tiny_config()), training_samples=8_000)
    cache = tmp_path / "cache"
    cache.mkdir()
    first = cached_clip_features(encoder, "ckpt-a", toy_task, "all", 0.3, cache, progress=False)
    assert first.shape == (6, 5 * 64)
    calls = []
    monkeypatch.setattr(linear, "clip_features", lambda *a, **k: calls.append(a) or torch.zeros(6, 320))
    again = cached_clip_features(encoder, "ckpt-a", toy_task, "all", 0.3, cache, progress=False)
    assert torch.equal(first, again) and not calls, "read from the cache"
    cached_clip_features(encoder, "ckpt-b", toy_task, "all", 0.3, cache, progress=False)
    cached_clip_features(encoder, "ckpt-a", toy_task, -1, 0.3, cache, progress=False)
    cached_clip_features(encoder, "ckpt-a", toy_task, "all", 0.2, cache, progress=False)
    assert len(calls) == 3 and len(list(cache.glob("*.pt"))) == 4
    # a file a killed run left truncated is recomputed, not trusted
    (cache / f"spcv2-{linear.cache_key('ckpt-a', toy_task, 'all', 0.3)}.pt").write_bytes(b"truncated")
    assert not cached_clip_features(encoder, "ckpt-a", toy_task, "all", 0.3, cache, progress=False).any()
    assert len(calls) == 4


def test_results_csv_and_summary_table(tmp_path):
    path = tmp_path / "results.csv"
    for model, task, score, ci, runs in (("A", "spcv2", 0.8, 0.01, 3), ("B", "spcv2", 0.5, 0.02, 3),
                                         ("A", "esc50", 0.4, 0.03, 3), ("A", "spcv2", 0.81, 0.02, 1)):
        append_result(path, Result(model, task, score, ci, [score] * runs, 1, "all", "/c.pt"))
    rows = read_results(path)
    assert len(rows) == 4 and list(rows[0]) == list(linear.RESULT_COLUMNS)
    assert summary_table(rows).splitlines() == [
        "| model | spcv2 | esc50 | average |",
        "| --- | --- | --- | --- |",
        "| A | 81.0 ± 2.0 (1 run) | 40.0 ± 3.0 | 60.5 |",  # the latest result of each pair
        "| B | 50.0 ± 2.0 |  |  |",
    ]
    other = tmp_path / "other.csv"
    other.write_text("a,b\n1,2\n")
    with pytest.raises(linear.EvaluationError, match="not a linear-evaluation results file"):
        append_result(other, Result("A", "t", 0.5, 0.0, [0.5], 1, "all", "/c.pt"))
    with path.open("a", newline="") as f:
        csv.writer(f).writerow(["now", "C", "vc1", "n/a", "0", "1", "", "1", "all", "/c.pt", "{}"])
    with pytest.raises(linear.EvaluationError, match=r"results\.csv:6: score 'n/a'"):
        read_results(path)


def test_command_line_run_and_summary(tmp_path, capsys):
    """End to end on a tiny generated Speech Commands set: pretrained-format checkpoint,
    random-init reference, the CSV and the summary."""
    from manifests.make_audio_tasks import make_keywords

    data = tmp_path / "spcv2"
    make_keywords(data, seed=1, classes=3, per_class=12, repetitions=2)
    torch.manual_seed(0)
    ckpt = tmp_path / "plain" / "checkpoint_last.pt"
    ckpt.parent.mkdir()
    torch.save(plain_checkpoint(EhmamModel(tiny_config()), steps=1, max_samples=16_000), ckpt)
    results, cache = tmp_path / "out" / "results.csv", tmp_path / "cache"
    common = ["run", str(ckpt), "--task", "spcv2", "--data", str(data), "--results", str(results),
              "--cache-dir", str(cache), "--runs", "2", "--epochs", "20", "--no-progress"]
    first = linear.main(common)
    second = linear.main(common + ["--random-init"])
    assert first.model == "plain" and second.model == "plain (random init)"
    assert 0.0 <= first.score <= 1.0 and len(first.scores) == 2 and first.layer == "all"
    table = linear.main(["summary", str(results)])
    assert table.splitlines()[2].startswith("| plain | ") and table.splitlines()[3].startswith("| plain (random")
    out = capsys.readouterr().out
    assert "[linear] plain on spcv2 (36 clips, 3 classes, train/valid/test, 1.0 s clips)" in out


@pytest.mark.parametrize("argv, message", [
    (["run", "{missing}", "--task", "spcv2", "--data", "{data}"], r"checkpoint file does not exist"),
    (["run", "{ckpt}", "--task", "spcv2", "--data", "{tmp}/nowhere"], r"nowhere"),
    (["run", "{ckpt}", "--task", "esc50", "--data", "{data}"], r"ROOT/meta/esc50\.csv"),
    (["summary", "{tmp}/none.csv"], r"no such results file"),
])
def test_command_line_errors(tmp_path, capsys, argv, message):
    torch.manual_seed(0)
    ckpt = tmp_path / "c.pt"
    torch.save(plain_checkpoint(EhmamModel(tiny_config()), steps=1), ckpt)
    data = tmp_path / "data"
    data.mkdir()
    argv = [a.format(missing=tmp_path / "missing.pt", ckpt=ckpt, data=data, tmp=tmp_path) for a in argv]
    if argv[0] == "run":
        argv += ["--results", str(tmp_path / "r.csv"), "--cache-dir", str(tmp_path / "cache")]
    with pytest.raises(SystemExit) as exit_:
        linear.main(argv)
    assert exit_.value.code == 1
    assert re.search(message, capsys.readouterr().err)

