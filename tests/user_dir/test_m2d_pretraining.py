"""M2D through fairseq-hydra-train with examples/m2d/config/tiny_cpu.yaml: it trains, the
loss falls, validation runs, the normalisation statistics are measured and stored, a resumed
run replays the uninterrupted one exactly, the checkpoint serves the feature API, and bad
audio stops the run with the file named."""
import math
import re
from dataclasses import replace
from statistics import fmean as mean

import numpy as np
import pytest
import soundfile as sf
import torch

from ehmam.checkpoints import fairseq_config, read_checkpoint
from ehmam.collapse import RepresentationCollapseError
from ehmam.data.normalization_stats import normalization_stats
from ehmam.ema import ema_decay
from ehmam.features import SpectrogramViTEncoder, load_encoder
from ehmam.models.m2d import tiny_m2d_config
from tests.user_dir.fairseq_runs import (REPO, assert_replayed, copy_corpus, corpus_with_nan_audio, encoder_weights,
                                         hydra_train, reference_training)

CONFIG_DIR = REPO / "examples/m2d/config"
UPDATES = 200  # 32 training utterances at 8 per batch: 4 updates per epoch
LOGGED = ("loss", "target_std", "prediction_std", "ema_decay")


def train(data, save_dir, *overrides, **kwargs):
    return hydra_train(CONFIG_DIR, "tiny_cpu", data, save_dir, "common.log_interval=1",
                       "task.norm_crops=64", *overrides, **kwargs)


@pytest.fixture(scope="module")
def reference_run(demo_corpus, tmp_path_factory):
    """UPDATES uninterrupted updates, a checkpoint (and validation) every 50, all kept."""
    return reference_training(train, demo_corpus, tmp_path_factory.mktemp("m2d_reference") / "ckpt", UPDATES)


def test_trains_the_loss_falls_and_validation_runs(reference_run):
    save_dir, log, records = reference_run
    assert "model: M2DFairseqModel" in log and "criterion: SpectrogramPretrainingCriterion" in log
    assert "train.tsv: 32 utterances" in log and "none shorter than min_sample_size (refused)" in log
    train_records = records["train_inner"]
    assert [int(r["num_updates"]) for r in train_records] == list(range(1, UPDATES + 1))
    assert all(math.isfinite(r[key]) for r in train_records for key in LOGGED)
    first, last = mean(r["loss"] for r in train_records[:10]), mean(r["loss"] for r in train_records[-20:])
    print(f"M2D loss (2 - 2 cos): first 10 updates {first:.4f}, last 20 {last:.4f}")
    assert last < 0.8 * first
    ema = replace(tiny_m2d_config().ema, anneal_updates=UPDATES)  # the run's length
    for r in train_records:  # the decay of update u is the schedule's after u - 1 target steps
        assert r["ema_decay"] == pytest.approx(ema_decay(int(r["num_updates"]) - 1, ema), abs=1e-6)
    # validation every 50 updates (and at each 5-update epoch's end)
    valid = {int(r["num_updates"]): r["loss"] for r in records["valid"]}
    assert {50, 100, 150, 200} <= set(valid) and all(math.isfinite(v) for v in valid.values())
    assert valid[200] < 0.8 * valid[min(valid)]
    # both groups of the composite optimizer step, with the same schedule
    assert all(r["lr_default"] == r["lr_no_decay"] for r in train_records)


def test_statistics_are_measured_logged_and_stored(reference_run, demo_corpus):
    save_dir, log, _ = reference_run
    expected = normalization_stats(demo_corpus / "train.tsv", 64, 51_040 / 16_000, seed=1)
    assert f"mean {expected.mean:.8g}, std {expected.std:.8g}" in log
    frontend = fairseq_config(read_checkpoint(save_dir / "checkpoint_last.pt"))["frontend"]
    assert frontend["norm_mean"] == pytest.approx(expected.mean) and frontend["norm_std"] == pytest.approx(expected.std)


def test_given_statistics_are_used_as_they_are(demo_corpus, tmp_path):
    save_dir = tmp_path / "ckpt"
    log = train(demo_corpus, save_dir, "optimization.max_update=2", "task.norm_mean=-7.5", "task.norm_std=4.25")
    assert "measuring them" not in log
    frontend = fairseq_config(read_checkpoint(save_dir / "checkpoint_last.pt"))["frontend"]
    assert (frontend["norm_mean"], frontend["norm_std"]) == (-7.5, 4.25)
    log = train(demo_corpus, tmp_path / "other", "optimization.max_update=2", "task.norm_mean=-7.5",
                expect_success=False)
    assert "set both" in log
    log = train(demo_corpus, tmp_path / "third", "optimization.max_update=2", "++model.frontend.norm_mean=-3",
                expect_success=False)
    assert "the task writes these; set task.norm_mean and task.norm_std instead" in log


def test_a_resumed_run_replays_the_uninterrupted_one(reference_run, demo_corpus, tmp_path):
    """Stop after update 100 of a 200-update run (the schedules keep the run's length),
    resume to 200: every logged number of updates 101-200, and every weight at the end,
    equals the uninterrupted run's."""
    reference_dir, _, _ = reference_run
    save_dir = tmp_path / "ckpt"
    pinned = (f"model.ema.anneal_updates={UPDATES}", "checkpoint.save_interval_updates=50",
              "dataset.validate_interval_updates=50",
              *(f"+optimizer.groups.{group}.lr_scheduler.max_update={UPDATES}" for group in ("default", "no_decay")))
    train(demo_corpus, save_dir, "optimization.max_update=100", *pinned)
    log = train(demo_corpus, save_dir, f"optimization.max_update={UPDATES}", *pinned)
    assert "checkpoint_last.pt (epoch 26 @ 100 updates)" in log  # resumed across an epoch boundary
    assert_replayed(reference_dir, save_dir, 100, (*LOGGED, "lr_default", "lr_no_decay"))


def test_the_checkpoint_serves_the_feature_api(reference_run):
    save_dir, _, _ = reference_run
    encoder = load_encoder(save_dir / "checkpoint_last.pt")
    assert isinstance(encoder, SpectrogramViTEncoder)
    assert (encoder.feature_dim, encoder.hop, encoder.training_frames) == (5 * 64, 16 * 160, 320)
    # 7 s: chunks of 320 mel frames (3.2 s) -> 20 + 20 + 4 columns of 160 ms
    frames = encoder.frame_features(torch.randn(7 * 16_000) * 0.1, 16_000)
    assert frames.features.shape == (1, 44, 320)
    weights = encoder_weights(save_dir / "checkpoint_last.pt", "m2d.encoder.")
    assert weights.keys() == encoder.vit.state_dict().keys()
    assert all(torch.equal(encoder.vit.state_dict()[k], v) for k, v in weights.items())


def test_the_base_recipe_runs_through_fairseq(demo_corpus, tmp_path):
    """examples/m2d/config/base.yaml as fairseq reads it, shrunk to a CPU: its optimizer
    groups, schedule and task settings are accepted and train."""
    log = hydra_train(CONFIG_DIR, "base", demo_corpus, tmp_path / "ckpt", "common.cpu=true", "common.fp16=false",
                      "common.fp16_no_flatten_grads=false", "distributed_training.distributed_world_size=1",
                      "dataset.batch_size=2", "dataset.num_workers=0", "optimization.max_update=2",
                      "task.norm_crops=16", "++model.encoder.embed_dim=32", "++model.encoder.depth=1",
                      "++model.encoder.heads=2", "++model.predictor.embed_dim=32", "++model.predictor.depth=1",
                      "common.log_interval=1")
    assert "Group : default" in log and "'weight_decay': 0.05" in log and "'weight_decay': 0.0," in log
    assert "num_updates: 2 >= max_update: 2" in log


def test_short_wrong_rate_and_unreadable_audio_stop_the_run_with_the_file_named(demo_corpus, tmp_path):
    data = copy_corpus(demo_corpus, tmp_path / "data")
    lines = (data / "train.tsv").read_text().splitlines()
    short, slow, broken = (lines[i].split("\t")[0] for i in (2, 3, 4))
    sf.write(data / short, np.zeros(1000), 16_000, subtype="PCM_16")
    sf.write(data / slow, np.zeros(16_000), 8_000, subtype="PCM_16")
    (data / broken).write_bytes(b"not a wav file")
    sizes = {short: 1000, slow: 16_000}
    (data / "train.tsv").write_text("\n".join(
        [lines[0]] + [f"{p}\t{sizes.get(p, n)}" for p, n in (line.split("\t") for line in lines[1:])]) + "\n")
    log = train(data, tmp_path / "ckpt", "optimization.max_update=2", expect_success=False)
    assert "ManifestError" in log
    assert f"train.tsv:3: {data / short}: 1000 samples, fewer than min_sample_size=2400 (one patch column" in log
    assert f"train.tsv:4: {data / slow}" in log and "8000 Hz" in log
    assert f"train.tsv:5: {data / broken}" in log


def test_the_collapse_guard_stops_a_collapsed_run(demo_corpus, tmp_path):
    log = train(demo_corpus, tmp_path / "ckpt", "optimization.max_update=5", "model.collapse.warmup_updates=2",
                "model.collapse.min_target_std=100", expect_success=False)
    assert RepresentationCollapseError.__name__ in log and "representation collapse at update 2" in log


def test_nan_audio_stops_the_statistics_and_the_training_with_the_file_named(demo_corpus, tmp_path):
    data, path = corpus_with_nan_audio(demo_corpus, tmp_path / "data")  # line 7
    # the start-up statistics read every file of the split once (64 clips of 32 files)
    log = train(data, tmp_path / "a", "optimization.max_update=2", expect_success=False)
    assert f"train.tsv:7: {path}: NaN or infinite samples" in log
    # given statistics, training reads it in its batch: a whole epoch is 4 updates
    log = train(data, tmp_path / "b", "optimization.max_update=5", "task.norm_mean=-8", "task.norm_std=4",
                expect_success=False)
    assert re.search(rf"NonFiniteLossError: update \d: the loss is nan\. Batch: train: .*{re.escape(str(path))}", log)
