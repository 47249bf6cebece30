import numpy as np
import pytest
import torch

from ehmam.data.audio import read_audio
from scripts.figures import blank
from scripts.plot_m2d_masks import m2d_views, main, untrained_model


def test_m2d_mask_figure_without_a_checkpoint(valid_utterance, tmp_path):
    out = tmp_path / "m2d_masks.png"
    main(["--audio", str(valid_utterance), "--out", str(out)])
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 10_000


def test_the_drawn_mask_and_losses_are_the_models(valid_utterance):
    model = untrained_model()
    waveform = torch.from_numpy(read_audio(valid_utterance))[:32_000]
    spec, mask, losses = m2d_views(model, waveform, seed=3, standardise=True)
    rows, cols = mask.shape
    assert spec.shape == (80, 16 * cols) and rows == 5
    assert mask.sum() == round(0.7 * mask.size)  # M2D's default ratio
    # the loss map holds a value exactly where a patch is masked
    assert (np.isnan(losses) == ~mask).all() and (losses[mask] >= 0).all() and (losses[mask] <= 4).all()
    # the same seed draws the same mask as the model's own forward
    images = model.log_mel(waveform[None])
    again = model.mask(images, torch.Generator().manual_seed(3)).mask[0].view(rows, cols).numpy()
    assert (again == mask).all()


def test_blank_hides_whole_patches():
    spec = np.arange(4 * 6, dtype=float).reshape(4, 6)
    hidden = np.array([[True, False, False], [False, False, True]])
    out = blank(spec, hidden, (2, 2))
    assert np.isnan(out[:2, :2]).all() and np.isnan(out[2:, 4:]).all()
    assert np.isnan(out).sum() == 8 and (out[~np.isnan(out)] == spec[~np.isnan(out)]).all()


def test_a_foreign_checkpoint_is_refused(pretrained, valid_utterance, tmp_path):
    from ehmam.checkpoints import CheckpointError

    with pytest.raises(CheckpointError, match="'ehmam' model, not an M2D one"):
        main(["--audio", str(valid_utterance), "--checkpoint", str(pretrained),
              "--out", str(tmp_path / "x.png")])
