"""The audio JEPA through fairseq-hydra-train with examples/jepa/config/tiny_cpu.yaml: it
trains, the loss falls, validation runs, each design choice is one override that trains, a
resumed run replays the uninterrupted one exactly, the checkpoint serves the feature API and
the whole model, and a collapsed run or NaN audio stops it."""
import math
import re
from dataclasses import replace
from statistics import fmean as mean

import pytest
import torch

from ehmam.checkpoints import CheckpointError, fairseq_config, load_jepa_model, read_checkpoint
from ehmam.collapse import RepresentationCollapseError
from ehmam.ema import ema_decay
from ehmam.features import SpectrogramViTEncoder, load_encoder
from ehmam.models.jepa import JEPAModel, tiny_jepa_config
from tests.user_dir.fairseq_runs import (REPO, assert_replayed, corpus_with_nan_audio, encoder_weights, hydra_train,
                                         reference_training)

CONFIG_DIR = REPO / "examples/jepa/config"
UPDATES = 200  # 32 training utterances at 8 per batch: 4 updates per epoch
LOGGED = ("loss", "target_std", "prediction_std", "ema_decay", "lr")


def train(data, save_dir, *overrides, config="tiny_cpu", **kwargs):
    return hydra_train(CONFIG_DIR, config, data, save_dir, "common.log_interval=1", "task.norm_crops=64",
                       *overrides, **kwargs)


@pytest.fixture(scope="module")
def reference_run(demo_corpus, tmp_path_factory):
    """UPDATES uninterrupted updates, a checkpoint (and validation) every 50, all kept."""
    return reference_training(train, demo_corpus, tmp_path_factory.mktemp("jepa_reference") / "ckpt", UPDATES)


def test_trains_the_loss_falls_and_validation_runs(reference_run):
    save_dir, log, records = reference_run
    assert "model: JEPAFairseqModel" in log and "criterion: SpectrogramPretrainingCriterion" in log
    train_records = records["train_inner"]
    assert [int(r["num_updates"]) for r in train_records] == list(range(1, UPDATES + 1))
    assert all(math.isfinite(r[key]) for r in train_records for key in LOGGED)
    first, last = mean(r["loss"] for r in train_records[:10]), mean(r["loss"] for r in train_records[-20:])
    print(f"JEPA loss (smooth L1): first 10 updates {first:.4f}, last 20 {last:.4f}")
    assert last < 0.8 * first
    ema = replace(tiny_jepa_config().ema, anneal_updates=UPDATES)
    for r in train_records:  # the decay of update u is the schedule's after u - 1 target steps
        assert r["ema_decay"] == pytest.approx(ema_decay(int(r["num_updates"]) - 1, ema), abs=1e-6)
    valid = {int(r["num_updates"]): r["loss"] for r in records["valid"]}
    assert {50, 100, 150, 200} <= set(valid) and all(math.isfinite(v) for v in valid.values())
    assert valid[200] < valid[min(valid)]


def test_a_resumed_run_replays_the_uninterrupted_one(reference_run, demo_corpus, tmp_path):
    """Stop after update 100 of a 200-update run (the schedules keep the run's length),
    resume to 200: every logged number of updates 101-200, and every weight at the end,
    equals the uninterrupted run's."""
    reference_dir, _, _ = reference_run
    save_dir = tmp_path / "ckpt"
    pinned = (f"model.ema.anneal_updates={UPDATES}", f"+lr_scheduler.max_update={UPDATES}",
              "checkpoint.save_interval_updates=50", "dataset.validate_interval_updates=50")
    train(demo_corpus, save_dir, "optimization.max_update=100", *pinned)
    log = train(demo_corpus, save_dir, f"optimization.max_update={UPDATES}", *pinned)
    assert "checkpoint_last.pt (epoch 26 @ 100 updates)" in log  # resumed across an epoch boundary
    assert_replayed(reference_dir, save_dir, 100, LOGGED)


def test_the_checkpoint_serves_the_feature_api_and_the_whole_model(reference_run, tmp_path):
    save_dir, _, _ = reference_run
    checkpoint = save_dir / "checkpoint_last.pt"
    encoder = load_encoder(checkpoint)
    assert isinstance(encoder, SpectrogramViTEncoder)
    assert (encoder.feature_dim, encoder.hop, encoder.training_frames) == (5 * 64, 16 * 160, 320)
    frames = encoder.frame_features(torch.randn(7 * 16_000) * 0.1, 16_000)
    assert frames.features.shape == (1, 44, 320)
    weights = encoder_weights(checkpoint, "jepa.encoder.")
    assert weights.keys() == encoder.vit.state_dict().keys()
    assert all(torch.equal(encoder.vit.state_dict()[k], v) for k, v in weights.items())
    model = load_jepa_model(checkpoint)
    assert isinstance(model, JEPAModel) and not model.training
    frontend = fairseq_config(read_checkpoint(checkpoint))["frontend"]
    assert model.cfg.frontend.norm_mean == frontend["norm_mean"] != 0.0
    # the target encoder trained away from the context encoder by EMA, never by gradient
    target = model.target.model.state_dict()
    assert any(not torch.equal(target[k], v) for k, v in model.encoder.state_dict().items())
    # another model's checkpoint is refused, not half-loaded
    state = read_checkpoint(checkpoint)
    state["cfg"]["model"]["_name"] = "m2d"
    torch.save(state, tmp_path / "m2d.pt")
    with pytest.raises(CheckpointError, match="holds a fairseq 'm2d' model, not an audio JEPA one"):
        load_jepa_model(tmp_path / "m2d.pt")


@pytest.mark.parametrize("overrides", [
    ("model.masking.strategy=multi_block",),
    ("model.masking.strategy=time", "model.target_domain=latent"),
    ("model.loss=l1", "task.clip.samples=33120"),
    ("model.loss=mse", "task.clip.samples=102240"),
], ids=["multi_block", "time_latent", "l1_2.1s", "mse_6.4s"])
def test_each_design_choice_is_one_override_that_trains(demo_corpus, tmp_path, overrides):
    save_dir = tmp_path / "ckpt"
    train(demo_corpus, save_dir, "optimization.max_update=8", "task.norm_mean=-8", "task.norm_std=4", *overrides)
    state = read_checkpoint(save_dir / "checkpoint_last.pt")
    for override in overrides:
        key, value = override.split("=")
        part, *path = key.split(".")
        node = fairseq_config(state, part)
        for name in path[:-1]:
            node = node[name]
        assert str(node[path[-1]]) == value


def test_the_base_recipe_runs_through_fairseq(demo_corpus, tmp_path):
    """examples/jepa/config/base.yaml as fairseq reads it, shrunk to a CPU."""
    log = hydra_train(CONFIG_DIR, "base", demo_corpus, tmp_path / "ckpt", "common.cpu=true", "common.fp16=false",
                      "distributed_training.distributed_world_size=1", "dataset.batch_size=2",
                      "dataset.num_workers=0", "optimization.max_update=2", "task.norm_crops=16",
                      "++model.encoder.embed_dim=32", "++model.encoder.depth=1", "++model.encoder.heads=2",
                      "++model.predictor.embed_dim=32", "++model.predictor.depth=1", "common.log_interval=1")
    assert "'weight_decay': 0.05" in log and "num_updates: 2 >= max_update: 2" in log


def test_the_collapse_guard_stops_a_collapsed_run(demo_corpus, tmp_path):
    log = train(demo_corpus, tmp_path / "ckpt", "optimization.max_update=5", "model.collapse.warmup_updates=2",
                "model.collapse.min_target_std=100", expect_success=False)
    assert RepresentationCollapseError.__name__ in log and "representation collapse at update 2" in log


def test_nan_audio_stops_the_training_with_the_file_named(demo_corpus, tmp_path):
    data, path = corpus_with_nan_audio(demo_corpus, tmp_path / "data")  # line 7
    log = train(data, tmp_path / "b", "optimization.max_update=5", "task.norm_mean=-8", "task.norm_std=4",
                expect_success=False)
    assert re.search(rf"NonFiniteLossError: update \d: the loss is nan\. Batch: train: .*{re.escape(str(path))}", log)
