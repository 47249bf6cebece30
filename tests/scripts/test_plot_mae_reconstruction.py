import numpy as np
import pytest
import torch

from ehmam.checkpoints import CheckpointError
from ehmam.data.audio import read_audio
from ehmam.models.audio_mae import AudioMAEModel, tiny_audio_mae_config, tiny_msm_mae_config
from ehmam.models.patches import patchify
from scripts.plot_mae_reconstruction import main, reconstruction_views, training_input


@pytest.mark.parametrize("config, frames", [(tiny_audio_mae_config, 256), (tiny_msm_mae_config, 320)])
def test_the_drawn_views_are_the_models(config, frames, valid_utterance):
    torch.manual_seed(0)
    model = AudioMAEModel(config()).eval()
    waveform = torch.from_numpy(read_audio(valid_utterance))
    spec, mask, picture, loss = reconstruction_views(model, waveform, frames, seed=3)
    rows, cols = mask.shape
    assert spec.shape == picture.shape == (16 * rows, frames) and cols == frames // 16
    assert mask.sum() == round(model.cfg.masking.ratio * mask.size)
    # visible patches are the input's; masked ones are the model's prediction
    flat = mask.reshape(-1)
    ours, theirs = (patchify(torch.from_numpy(x)[None, None], 16)[0] for x in (picture, spec))
    assert torch.allclose(ours[~torch.from_numpy(flat)], theirs[~torch.from_numpy(flat)])
    assert not torch.allclose(ours[torch.from_numpy(flat)], theirs[torch.from_numpy(flat)])
    assert np.isfinite(loss) and loss > 0
    # the same seed draws the model's own mask on the training input
    clip, lengths = training_input(model, waveform, frames)
    again = model.mask(model.spectrogram(clip, lengths), torch.Generator().manual_seed(3)).mask[0]
    assert (again.view(rows, cols).numpy() == mask).all()


def test_the_training_input_is_padded_or_cut_to_the_models_frames():
    model = AudioMAEModel(tiny_audio_mae_config())
    clip, lengths = training_input(model, torch.ones(10_000), 256)
    assert clip.shape == (1, model.frontend.samples_for(256)) and lengths.tolist() == [10_000]
    assert clip[0, 10_000:].abs().sum() == 0
    clip, lengths = training_input(model, torch.ones(100_000), 256)
    assert clip.shape == (1, model.frontend.samples_for(256)) and lengths.tolist() == [clip.shape[1]]


def test_a_foreign_checkpoint_is_refused(pretrained, valid_utterance, tmp_path):
    with pytest.raises(CheckpointError, match="'ehmam' model, not an Audio-MAE / MSM-MAE one"):
        main([str(pretrained), "--audio", str(valid_utterance), "--out", str(tmp_path / "x.png")])


def test_the_figure_from_a_checkpoint(valid_utterance, tmp_path):
    from ehmam.configs import config_to_dict

    torch.manual_seed(1)
    model = AudioMAEModel(tiny_audio_mae_config())
    path = tmp_path / "checkpoint_last.pt"
    torch.save({"model": {f"audio_mae.{k}": v for k, v in model.state_dict().items()},
                "cfg": {"model": {"_name": "audio_mae", "seed": 1, **config_to_dict(model.cfg)},
                        "task": {"clip": {"seconds": None, "samples": 40_960}}}}, path)
    out = tmp_path / "reconstruction.png"
    main([str(path), "--audio", str(valid_utterance), "--out", str(out)])
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 10_000
