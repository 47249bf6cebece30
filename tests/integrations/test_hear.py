"""HEAR's API over an ehmam checkpoint: its rules checked directly, then PyPI's hearvalidator
run on the module (with a stand-in for the tensorflow it imports only to recognise TF models)."""
import sys
import types

import pytest
import torch

from ehmam.checkpoints import CheckpointError, plain_checkpoint
from ehmam.integrations import hear
from ehmam.models import EhmamModel, tiny_config


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("hear") / "checkpoint_last.pt"
    torch.save(plain_checkpoint(EhmamModel(tiny_config()), steps=1, max_samples=16_000), path)
    return path


@pytest.mark.parametrize("seconds", [0.5, 2.0, 3.74])
def test_timestamp_embeddings_follow_hears_rules(checkpoint, seconds):
    model = hear.load_model(str(checkpoint))
    assert model.sample_rate == 16_000 and model.timestamp_embedding_size == 5 * 64 == model.scene_embedding_size
    audio = torch.rand(3, int(seconds * 16_000)) * 2 - 1
    embeddings, stamps = hear.get_timestamp_embeddings(audio, model)
    frames = (audio.shape[1] - 400) // 320 + 1
    assert embeddings.dtype == torch.float32 and embeddings.shape == (3, frames, 320)
    assert stamps.shape == (3, frames)
    # frame i covers samples [320 i, 320 i + 400): its centre, in milliseconds
    expected = (torch.arange(frames) * 320 + 200) / 16
    assert torch.allclose(stamps, expected.expand(3, -1))
    assert (stamps.diff(dim=1) <= 50).all() and (stamps[:, -1] <= 1000 * seconds).all()
    # each row is the sound alone (no leakage across the batch), the last layers' block is layer -1's
    alone, _ = hear.get_timestamp_embeddings(audio[1:2], model)
    assert torch.allclose(alone[0], embeddings[1], atol=1e-5)
    last = hear.load_model(str(checkpoint), layer=-1)
    assert torch.allclose(hear.get_timestamp_embeddings(audio, last)[0], embeddings[..., -64:], atol=1e-5)


def test_scene_embedding_is_the_mean_of_the_frame_embeddings(checkpoint):
    model = hear.load_model(str(checkpoint))
    audio = torch.rand(2, 40_000) * 2 - 1
    scenes = hear.get_scene_embeddings(audio, model)
    assert scenes.dtype == torch.float32 and scenes.shape == (2, 320)
    assert torch.allclose(scenes, hear.get_timestamp_embeddings(audio, model)[0].mean(dim=1), atol=1e-5)


def test_errors(checkpoint, tmp_path):
    with pytest.raises(ValueError, match="no default weights. Fix: pass the checkpoint"):
        hear.load_model()
    with pytest.raises(CheckpointError, match="does not exist"):
        hear.load_model(str(tmp_path / "missing.pt"))
    with pytest.raises(ValueError, match=r"layer=9"):
        hear.load_model(str(checkpoint), layer=9)
    with pytest.raises(ValueError, match=r"n_sounds x n_samples"):
        hear.get_scene_embeddings(torch.zeros(16_000), hear.load_model(str(checkpoint)))


def test_hearvalidator_accepts_the_module(checkpoint, monkeypatch, capsys):
    """The validator imports tensorflow at the top only to tell TF models from torch ones
    (``isinstance(model, tf.Module)``); a stand-in answers that, the torch path is the real one."""
    stand_in = types.ModuleType("tensorflow")
    stand_in.Module = type("Module", (), {})
    monkeypatch.setitem(sys.modules, "tensorflow", stand_in)
    import importlib

    validate = importlib.import_module("hearvalidator.validate")  # scripts/setup.sh installs it
    validate.ValidateModel("ehmam.integrations.hear", str(checkpoint), device="cpu")()
    out = capsys.readouterr().out
    assert "Received embedding of shape: torch.Size([16, 99, 320])" in out
    assert "Interval between timestamps is 20.0ms" in out
