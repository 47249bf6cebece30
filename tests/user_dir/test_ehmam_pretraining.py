"""EH-MAM through fairseq-hydra-train with examples/ehmam/config/tiny_cpu.yaml: it trains,
the loss falls, the schedules run, checkpoints load without unpickling code, a resumed run
replays the uninterrupted one exactly, and bad runs stop with a clear message."""
import math
import re
from statistics import fmean as mean

import numpy as np
import pytest
import soundfile as sf
import torch

from ehmam.checkpoints import StudentEncoder, load_ehmam_model, load_student_encoder
from ehmam.data.manifest import read_manifest, write_manifest
from ehmam.ema import ema_decay
from ehmam.models import tiny_config
from scripts.plot_pretraining import read_fairseq_log
from tests.user_dir.fairseq_runs import REPO, hydra_train

CONFIG_DIR = REPO / "examples/ehmam/config"
UPDATES = 300  # the reference run; 32 utterances at 4 per batch = 8 updates per epoch
PROBE_MARGIN = 0.03  # frame accuracy; measured 0.228 pretrained against 0.183 random init
LOGGED = ("loss", "reconstruction", "ranking", "selective_share", "ema_decay", "target_std", "prediction_std")


def train(data, save_dir, *overrides, **kwargs):
    return hydra_train(CONFIG_DIR, "tiny_cpu", data, save_dir, "common.log_interval=1", *overrides, **kwargs)


@pytest.fixture(scope="module")
def reference_run(demo_corpus, tmp_path_factory):
    """300 uninterrupted updates, a checkpoint every 10 (all kept)."""
    save_dir = tmp_path_factory.mktemp("reference") / "ckpt"
    log = train(demo_corpus, save_dir, f"optimization.max_update={UPDATES}",
                "checkpoint.save_interval_updates=10", "checkpoint.keep_interval_updates=-1")
    return save_dir, log, read_fairseq_log(save_dir / "hydra/hydra_train.log")


def test_trains_and_the_schedules_run(reference_run):
    save_dir, log, records = reference_run
    assert "model: EhmamFairseqModel" in log and "criterion: EhmamCriterion" in log
    train = records["train_inner"]
    assert [int(r["num_updates"]) for r in train] == list(range(1, UPDATES + 1))
    assert all(math.isfinite(r[key]) for r in train for key in LOGGED)
    # The loss falls while the masks are mostly random, then harder masks push it back up
    # (by design: at the end every masked frame is one the teacher finds hard).
    first, best = mean(r["loss"] for r in train[:10]), min(mean(r["loss"] for r in train[i:i + 20]) for i in range(0, UPDATES - 20))
    print(f"loss: first 10 updates {first:.4f}, best 20-update mean {best:.4f}, last 20 {mean(r['loss'] for r in train[-20:]):.4f}")
    assert best < 0.85 * first
    # the loss predictor learns to rank masked frames by their loss
    accuracy = mean(r["ranking_accuracy"] for r in train[-100:])
    print(f"ranking accuracy, last 100 updates: {accuracy:.3f}")
    assert accuracy > 0.53  # chance is 0.5; measured 0.584 on this corpus
    # easy-to-hard: the selective share grows linearly with t / max_update
    for r in train[::25]:
        assert abs(r["selective_share"] - (r["num_updates"] - 1) / UPDATES) < 0.05, r
    # the EMA decay of update u is the schedule's decay after u - 1 teacher steps
    ema = tiny_config().ema
    for r in train:
        assert r["ema_decay"] == pytest.approx(ema_decay(int(r["num_updates"]) - 1, ema), abs=1e-6)
    assert records["valid"] and all(math.isfinite(r["loss"]) for r in records["valid"])


def test_validation_reports_how_well_predicted_losses_rank_the_real_ones(reference_run):
    valid = reference_run[2]["valid"]  # every 10 updates
    student = [r["predictor_spearman"] for r in valid]
    teacher = [r["teacher_spearman"] for r in valid]
    print(f"validation Spearman, student predictor: first {student[0]:.3f}, last 10 {mean(student[-10:]):.3f}; "
          f"teacher: first {teacher[0]:.3f}, last 10 {mean(teacher[-10:]):.3f}")
    assert all(-1 <= v <= 1 for v in student + teacher)
    # an untrained predictor orders frames at random (rho near 0); the trained one clearly not
    assert abs(student[0]) < 0.2
    assert mean(student[-10:]) > 0.2  # measured 0.30 on this corpus


def test_checkpoint_loads_without_unpickling_and_gives_the_student(reference_run):
    save_dir = reference_run[0]
    path = save_dir / "checkpoint_last.pt"
    state = torch.load(path, map_location="cpu", weights_only=True)  # torch's default since 2.6
    assert state["optimizer_history"][-1]["num_updates"] == UPDATES
    assert int(state["model"]["teacher_updates"]) == UPDATES - 1  # the last EMA step is taken lazily
    assert "_extra_state" not in state["model"]  # masks are keyed by the batch: no generator state

    student = load_student_encoder(path)
    assert isinstance(student, StudentEncoder)
    names = list(student.state_dict())
    assert names and all(n.startswith(("frontend.", "encoder.")) for n in names)
    full = load_ehmam_model(path)
    waveform = torch.randn(2, 16000)
    _, expected = full.encode(waveform)
    _, got = student.encode(waveform)
    torch.testing.assert_close(got.hidden, expected.hidden, rtol=0, atol=0)
    # the teacher is not the student: it trails it by the EMA
    teacher_weight = full.teacher.model["encoder"].layers[0].attention.qkv.weight
    student_weight = full.encoder.layers[0].attention.qkv.weight
    assert not torch.equal(teacher_weight, student_weight)


def test_resumed_run_replays_the_uninterrupted_one(reference_run, demo_corpus, tmp_path):
    ref_dir, _, ref_records = reference_run
    save_dir = tmp_path / "ckpt"
    # Stopped after update 6 of a 300-update run: the schedules keep the run's length.
    pinned = (f"+lr_scheduler.max_update={UPDATES}", f"model.easy_to_hard_updates={UPDATES}")
    train(demo_corpus, save_dir, "optimization.max_update=6", *pinned)
    resumed = train(demo_corpus, save_dir, "optimization.max_update=10", *pinned)
    assert re.search(r"Loaded checkpoint .*checkpoint_last\.pt \(epoch \d+ @ 6 updates\)", resumed)

    records = read_fairseq_log(save_dir / "hydra/hydra_train.log")["train_inner"]
    assert [int(r["num_updates"]) for r in records] == list(range(1, 11))
    for mine, reference in zip(records[6:], ref_records["train_inner"][6:10]):
        for key in LOGGED:
            assert mine[key] == reference[key], (int(mine["num_updates"]), key)

    ours = torch.load(save_dir / "checkpoint_last.pt", map_location="cpu", weights_only=True)
    (ref_path,) = ref_dir.glob("checkpoint_*_10.pt")
    reference = torch.load(ref_path, map_location="cpu", weights_only=True)
    assert ours["model"].keys() == reference["model"].keys()
    for name, tensor in reference["model"].items():
        assert torch.equal(ours["model"][name], tensor), name  # student, teacher, EMA count


def test_non_finite_loss_names_the_update_and_the_files(demo_corpus, tmp_path):
    data = tmp_path / "nan_corpus"
    manifest = read_manifest(demo_corpus / "train.tsv")
    entries = manifest.entries[:4]
    (data / "wav").mkdir(parents=True)
    rows = []
    for i, entry in enumerate(entries):
        audio, rate = sf.read(manifest.audio_path(entry), dtype="float32")
        if i == 2:
            audio[len(audio) // 2:] = np.nan  # a float WAV can hold NaN; its header is fine
        name = f"wav/utt{i}.wav"
        sf.write(data / name, audio, rate, subtype="FLOAT")
        rows.append((name, len(audio)))
    for split in ("train", "valid"):
        write_manifest(data / f"{split}.tsv", data, rows)
    log = train(data, tmp_path / "ckpt", "optimization.max_update=5", expect_success=False)
    assert "NonFiniteLossError: update 1:" in log
    assert str(data / "wav/utt2.wav") in log
    assert (tmp_path / "ckpt/crash.pt").exists()  # fairseq keeps the state for inspection


def test_collapse_guard_stops_training(demo_corpus, tmp_path):
    log = train(demo_corpus, tmp_path / "ckpt", "optimization.max_update=10",
                "model.collapse.min_target_std=100", "model.collapse.warmup_updates=3",
                expect_success=False)
    assert "RepresentationCollapseError: representation collapse at update 3: target std" in log
    assert "min_target_std 100" in log


def test_pretrained_features_beat_random_weights_on_a_phone_probe(reference_run, demo_corpus):
    from ehmam.checkpoints import StudentEncoder
    from ehmam.evaluation.probe import load_split, probe_encoders

    encoder = load_student_encoder(reference_run[0] / "checkpoint_last.pt")
    train = load_split(demo_corpus, "train")
    held_out = tuple(a + b for a, b in zip(load_split(demo_corpus, "valid"), load_split(demo_corpus, "test")))
    result = probe_encoders({"pretrained": encoder, "random init": StudentEncoder.with_random_weights(encoder.cfg, seed=0)}, train, held_out,
                            steps=300)
    print(result.table())
    assert result.best("pretrained") > result.best("random init") + PROBE_MARGIN
