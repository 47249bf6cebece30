"""Checkpoints load with weights_only=True, give the student alone, and bad files fail clearly."""
import pytest
import torch

from ehmam.checkpoints import (
    CheckpointError,
    load_ehmam_model,
    load_student_encoder,
    plain_checkpoint,
)
from ehmam.configs import ConfigMismatchError
from ehmam.features import extract_features
from ehmam.models import EhmamModel, tiny_config


@pytest.fixture
def plain_model(tmp_path):
    torch.manual_seed(0)
    model = EhmamModel(tiny_config())
    path = tmp_path / "plain.pt"
    torch.save(plain_checkpoint(model, steps=7), path)
    return model.eval(), path


def test_plain_checkpoint_round_trip(plain_model):
    model, path = plain_model
    assert torch.load(path, weights_only=True)["steps"] == 7
    loaded = load_ehmam_model(path)
    assert loaded.cfg == model.cfg and not loaded.training
    for (name, a), b in zip(model.state_dict().items(), loaded.state_dict().values()):
        assert torch.equal(a, b), name


def test_student_encoder_matches_the_models_encoder(plain_model):
    model, path = plain_model
    student = load_student_encoder(path)
    n_student = sum(p.numel() for p in student.parameters())
    n_parts = sum(p.numel() for m in (model.frontend, model.encoder) for p in m.parameters())
    assert n_student == n_parts  # no teacher, decoder, loss predictor or mask tokens
    waveforms = [torch.randn(16000), torch.randn(12000)]
    expected, got = extract_features(model, waveforms), extract_features(student, waveforms)
    torch.testing.assert_close(got.hidden, expected.hidden, rtol=0, atol=0)
    torch.testing.assert_close(got.padding_mask, expected.padding_mask)


def test_missing_and_foreign_files(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist"):
        load_student_encoder(tmp_path / "nope.pt")
    (tmp_path / "text.pt").write_text("not a checkpoint")
    with pytest.raises(CheckpointError, match="not a readable torch checkpoint|refuses"):
        load_student_encoder(tmp_path / "text.pt")
    torch.save({"weights": torch.zeros(3)}, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="no 'model' entry"):
        load_student_encoder(tmp_path / "other.pt")
    torch.save({"model": {}, "cfg": {"model": {"_name": "wav2vec2"}}}, tmp_path / "w2v.pt")
    with pytest.raises(CheckpointError, match="fairseq 'wav2vec2' model, not an 'ehmam'"):
        load_student_encoder(tmp_path / "w2v.pt")


def test_a_fine_tuned_checkpoint_names_the_pretraining_checkpoint(tmp_path):
    path = tmp_path / "checkpoint_best.pt"
    torch.save({"model": {"w2v_encoder.proj.weight": torch.zeros(9, 4)},
                "cfg": {"model": {"_name": "wav2vec_ctc", "w2v_path": "/runs/pre/checkpoint_last.pt"}}}, path)
    with pytest.raises(CheckpointError) as err:
        load_ehmam_model(path, what="scripts/plot_masking.py")
    assert str(err.value) == (
        f"{path} is a CTC fine-tuned checkpoint (wav2vec_ctc); scripts/plot_masking.py needs the pretraining "
        "checkpoint it was fine-tuned from: /runs/pre/checkpoint_last.pt. Fix: pass that file")
    torch.save({"model": {}, "cfg": {"model": {"_name": "wav2vec_ctc"}}}, path)  # no w2v_path recorded
    with pytest.raises(CheckpointError, match=r"fine-tuned from \(its model.w2v_path; this file does not record it\)"):
        load_student_encoder(path)


class Opaque:  # a class torch.load(weights_only=True) must refuse to rebuild
    pass


def test_pickled_objects_are_refused_not_executed(tmp_path):
    torch.save({"model": {}, "cfg": Opaque()}, tmp_path / "pickled.pt")
    with pytest.raises(CheckpointError, match="weights_only=True"):
        load_student_encoder(tmp_path / "pickled.pt")


def test_mismatched_config_or_weights(plain_model, tmp_path):
    model, path = plain_model
    state = torch.load(path, weights_only=True)
    state["ehmam_config"]["encoder"]["layers"] = 5  # the weights have 4
    torch.save(state, tmp_path / "layers.pt")
    with pytest.raises(CheckpointError, match="missing .*encoder.layers.4"):
        load_student_encoder(tmp_path / "layers.pt")
    state["ehmam_config"]["encoder"]["layers"] = 4
    state["ehmam_config"]["encoder"]["embed_dim"] = 32
    torch.save(state, tmp_path / "dim.pt")
    with pytest.raises(CheckpointError, match="size mismatch"):
        load_student_encoder(tmp_path / "dim.pt")
    state["ehmam_config"]["encoder"]["embed_dim"] = 64
    state["ehmam_config"]["encoder"]["flash"] = True
    torch.save(state, tmp_path / "key.pt")
    with pytest.raises(ConfigMismatchError, match=r"encoder\.flash"):
        load_student_encoder(tmp_path / "key.pt")
