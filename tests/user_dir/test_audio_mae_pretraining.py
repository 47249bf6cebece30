"""Audio-MAE and MSM-MAE through fairseq-hydra-train with examples/audio_mae/config: the tiny
recipes train and their losses fall, the filter-bank statistics are measured and stored, a
resumed run replays the uninterrupted one exactly, the checkpoints serve the feature API, the
base recipes are accepted, and NaN audio or a collapse stops the run with the cause named."""
import math
import re
from statistics import fmean as mean

import pytest
import torch

from ehmam.checkpoints import (CheckpointError, audio_mae_weights, fairseq_config, load_audio_mae_model,
                               read_checkpoint)
from ehmam.collapse import RepresentationCollapseError
from ehmam.data.normalization_stats import normalization_stats
from ehmam.features import SpectrogramViTEncoder, load_encoder
from ehmam.models.frontends.log_mel import KaldiFbankFrontend
from scripts.plot_pretraining import read_fairseq_log
from tests.user_dir.fairseq_runs import REPO, assert_replayed, corpus_with_nan_audio, encoder_weights, hydra_train

CONFIG_DIR = REPO / "examples/audio_mae/config"
UPDATES = 200  # 32 training utterances at 8 per batch: 4 updates per epoch
LOGGED = ("loss", "target_std", "prediction_std")
RESUMED_KEYS = (*LOGGED, "lr_default", "lr_no_decay")


def train(data, save_dir, *overrides, config="tiny_cpu", **kwargs):
    return hydra_train(CONFIG_DIR, config, data, save_dir, "common.log_interval=1", "task.norm_crops=64",
                       *overrides, **kwargs)


PINNED = (f"+optimizer.groups.default.lr_scheduler.max_update={UPDATES}",
          f"+optimizer.groups.no_decay.lr_scheduler.max_update={UPDATES}",
          "checkpoint.save_interval_updates=50", "dataset.validate_interval_updates=50")


@pytest.fixture(scope="module")
def reference_run(demo_corpus, tmp_path_factory):
    """UPDATES uninterrupted updates of the tiny Audio-MAE, a checkpoint (and validation) every 50."""
    save_dir = tmp_path_factory.mktemp("audio_mae_reference") / "ckpt"
    log = train(demo_corpus, save_dir, f"optimization.max_update={UPDATES}", *PINNED)
    return save_dir, log, read_fairseq_log(save_dir / "hydra/hydra_train.log")


def test_trains_the_loss_falls_and_validation_runs(reference_run):
    save_dir, log, records = reference_run
    assert "model: AudioMAEFairseqModel" in log and "criterion: SpectrogramPretrainingCriterion" in log
    assert "train.tsv: 32 utterances" in log
    train_records = records["train_inner"]
    assert [int(r["num_updates"]) for r in train_records] == list(range(1, UPDATES + 1))
    assert all(math.isfinite(r[key]) for r in train_records for key in LOGGED)
    assert "ema_decay" not in train_records[0]  # no teacher
    first, last = mean(r["loss"] for r in train_records[:10]), mean(r["loss"] for r in train_records[-20:])
    print(f"Audio-MAE loss (norm_pix MSE): first 10 updates {first:.4f}, last 20 {last:.4f}")
    assert last < 0.9 * first
    valid = {int(r["num_updates"]): r["loss"] for r in records["valid"]}
    assert {50, 100, 150, 200} <= set(valid) and valid[200] < valid[min(valid)]


def test_filter_bank_statistics_are_measured_logged_and_stored(reference_run, demo_corpus):
    save_dir, log, _ = reference_run
    frontend = KaldiFbankFrontend(audio_mae_weights(read_checkpoint(save_dir / "checkpoint_last.pt")).cfg.kaldi_fbank)
    expected = normalization_stats(demo_corpus / "train.tsv", 64, 40_960 / 16_000, seed=1, frontend=frontend)
    assert f"kaldi_fbank statistics of {demo_corpus / 'train.tsv'}: mean {expected.mean:.8g}, std {expected.std:.8g}" in log
    stored = fairseq_config(read_checkpoint(save_dir / "checkpoint_last.pt"))["kaldi_fbank"]
    assert stored["norm_mean"] == pytest.approx(expected.mean) and stored["norm_std"] == pytest.approx(expected.std)


def test_statistics_set_on_the_model_by_hand_are_refused(demo_corpus, tmp_path):
    log = train(demo_corpus, tmp_path / "ckpt", "optimization.max_update=2", "++model.kaldi_fbank.norm_mean=-3",
                expect_success=False)
    assert "model.kaldi_fbank.norm_mean=-3.0" in log and "set task.norm_mean and task.norm_std instead" in log


def test_a_resumed_run_replays_the_uninterrupted_one(reference_run, demo_corpus, tmp_path):
    """Stop after update 100 of 200 (an epoch boundary) and resume."""
    reference_dir, _, _ = reference_run
    save_dir = tmp_path / "ckpt"
    train(demo_corpus, save_dir, "optimization.max_update=100", *PINNED)
    log = train(demo_corpus, save_dir, f"optimization.max_update={UPDATES}", *PINNED)
    assert "checkpoint_last.pt (epoch 26 @ 100 updates)" in log  # resumed across an epoch boundary
    assert_replayed(reference_dir, save_dir, 100, RESUMED_KEYS)


def test_a_resumed_msm_mae_run_replays_the_uninterrupted_one(demo_corpus, tmp_path):
    """The MSM-MAE recipe: stop after update 14 of 24 (mid-epoch) and resume."""
    pinned = [f"+optimizer.groups.{group}.lr_scheduler.max_update=24" for group in ("default", "no_decay")]
    pinned += ["checkpoint.save_interval_updates=12", "dataset.validate_interval_updates=12"]
    train(demo_corpus, tmp_path / "reference", "optimization.max_update=24", *pinned, config="msm_mae_tiny_cpu")
    save_dir = tmp_path / "ckpt"
    train(demo_corpus, save_dir, "optimization.max_update=14", *pinned, config="msm_mae_tiny_cpu")
    log = train(demo_corpus, save_dir, "optimization.max_update=24", *pinned, config="msm_mae_tiny_cpu")
    assert "checkpoint_last.pt (epoch 4 @ 14 updates)" in log  # 2 of the epoch's 4 updates done
    assert_replayed(tmp_path / "reference", save_dir, 14, RESUMED_KEYS)


def test_the_checkpoint_serves_the_feature_api_and_the_whole_model(reference_run):
    save_dir, _, _ = reference_run
    encoder = load_encoder(save_dir / "checkpoint_last.pt")
    assert isinstance(encoder, SpectrogramViTEncoder)
    # 8 frequency rows x 64 wide per 160 ms column; chunks of 256 Kaldi frames
    assert (encoder.feature_dim, encoder.hop, encoder.training_frames) == (8 * 64, 16 * 160, 256)
    # 7 s = 698 Kaldi frames: chunks of 256 + 256 + 186 frames -> 16 + 16 + 12 columns
    frames = encoder.frame_features(torch.randn(7 * 16_000) * 0.1, 16_000)
    assert frames.features.shape == (1, 44, 512)
    weights = encoder_weights(save_dir / "checkpoint_last.pt", "audio_mae.encoder.")
    assert weights.keys() == encoder.vit.state_dict().keys()
    assert all(torch.equal(encoder.vit.state_dict()[k], v) for k, v in weights.items())
    model = load_audio_mae_model(save_dir / "checkpoint_last.pt")
    assert torch.equal(model.decoder.mask_token, read_checkpoint(save_dir / "checkpoint_last.pt")["model"]["audio_mae.decoder.mask_token"])
    torch.save({"model": {}, "cfg": {"model": {"_name": "m2d"}}}, save_dir.parent / "other.pt")
    with pytest.raises(CheckpointError, match="not an Audio-MAE / MSM-MAE one"):
        load_audio_mae_model(save_dir.parent / "other.pt")


def test_msm_mae_trains_on_the_log_mel(demo_corpus, tmp_path):
    save_dir = tmp_path / "ckpt"
    log = train(demo_corpus, save_dir, "optimization.max_update=60", config="msm_mae_tiny_cpu",
                *(f"optimizer.groups.{group}.lr_scheduler.warmup_updates=10" for group in ("default", "no_decay")))
    assert "log_mel statistics of" in log
    records = read_fairseq_log(save_dir / "hydra/hydra_train.log")["train_inner"]
    first, last = mean(r["loss"] for r in records[:5]), mean(r["loss"] for r in records[-5:])
    print(f"MSM-MAE loss (raw MSE): first 5 updates {first:.4f}, last 5 {last:.4f}")
    assert last < 0.9 * first
    stored = fairseq_config(read_checkpoint(save_dir / "checkpoint_last.pt"))
    assert stored["frontend"] == "log_mel" and stored["log_mel"]["norm_std"] != 1.0
    encoder = load_encoder(save_dir / "checkpoint_last.pt")
    assert (encoder.feature_dim, encoder.training_frames) == (5 * 64, 320)


@pytest.mark.parametrize("config", ["base", "msm_mae_base"])
def test_the_base_recipes_run_through_fairseq(demo_corpus, tmp_path, config):
    """The papers' recipes as fairseq reads them, shrunk to a CPU: optimizer groups, schedules,
    front ends and task settings (Audio-MAE's: its AudioSet statistics, 10 s clips padded to
    1024 frames) are accepted and train."""
    log = hydra_train(CONFIG_DIR, config, demo_corpus, tmp_path / "ckpt", "common.cpu=true", "common.fp16=false",
                      "common.fp16_no_flatten_grads=false", "distributed_training.distributed_world_size=1",
                      "dataset.batch_size=2", "dataset.num_workers=0", "optimization.max_update=2",
                      "task.norm_crops=16", "++model.encoder.embed_dim=32", "++model.encoder.depth=1",
                      "++model.encoder.heads=2", "++model.decoder.embed_dim=32", "++model.decoder.depth=2",
                      "++model.decoder.heads=2", "common.log_interval=1")
    assert "Group : default" in log and "'weight_decay': 0.0," in log
    assert "num_updates: 2 >= max_update: 2" in log
    if config == "base":
        assert "measuring them" not in log and "'weight_decay': 0.0001" in log


def test_the_collapse_guard_stops_a_collapsed_run(demo_corpus, tmp_path):
    log = train(demo_corpus, tmp_path / "ckpt", "optimization.max_update=5", "model.collapse.warmup_updates=2",
                "model.collapse.min_prediction_std=100", expect_success=False)
    assert RepresentationCollapseError.__name__ in log and "representation collapse at update 2" in log


def test_nan_audio_stops_the_training_with_the_file_named(demo_corpus, tmp_path):
    data, path = corpus_with_nan_audio(demo_corpus, tmp_path / "data")  # line 7
    log = train(data, tmp_path / "a", "optimization.max_update=2", expect_success=False)
    assert f"train.tsv:7: {path}: NaN or infinite samples" in log  # the start-up statistics
    log = train(data, tmp_path / "b", "optimization.max_update=5", "task.norm_mean=-8", "task.norm_std=4",
                expect_success=False)
    assert re.search(rf"NonFiniteLossError: update \d: the loss is nan\. Batch: train: .*{re.escape(str(path))}", log)
