"""Hard-region diagnostic: the frames the teacher would mask and the student's real losses."""
import math

import pytest
import torch
from scipy.stats import spearmanr

from ehmam.evaluation.diagnostics import hard_regions, rank_correlation
from ehmam.models import EhmamModel, tiny_config


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return EhmamModel(tiny_config())


def test_hard_regions_shapes_budget_and_coverage(model):
    waveform = torch.randn(16000 * 2, generator=torch.Generator().manual_seed(1))
    regions = hard_regions(model, waveform, progress=1.0, repeats=16)
    frames = regions.predicted.shape[0]
    assert frames == 99  # 2 s at 50 Hz (400-sample receptive field)
    assert regions.chosen.shape == regions.real.shape == regions.coverage.shape == (frames,)
    assert int(regions.chosen.sum()) == int(model.cfg.masking.mask_prob * frames)  # all selective at t/T = 1
    assert bool(regions.chosen[regions.predicted.argmax()])  # the hardest-predicted frame is taken
    # 16 random masks of half the frames leave (almost) nothing unmeasured
    assert float((regions.coverage > 0).float().mean()) > 0.97
    known = regions.coverage > 0
    assert torch.isfinite(regions.real[known]).all() and (regions.real[known] > 0).all()
    assert torch.isnan(regions.real[~known]).all()
    assert model.training  # the mode is restored


def test_half_progress_takes_half_the_budget_from_the_teacher(model):
    waveform = torch.randn(16000 * 2, generator=torch.Generator().manual_seed(2))
    regions = hard_regions(model, waveform, progress=0.5, repeats=2)
    assert int(regions.chosen.sum()) == int(int(0.5 * 99) * 0.5)


def test_rank_correlation_skips_unmeasured_frames_and_matches_scipy():
    gen = torch.Generator().manual_seed(3)
    predicted, real = torch.randn(50, generator=gen), torch.randn(50, generator=gen)
    real[[3, 17, 40]] = float("nan")
    keep = ~torch.isnan(real)
    expected = spearmanr(predicted[keep].numpy(), real[keep].numpy()).statistic
    assert rank_correlation(predicted, real) == pytest.approx(expected, abs=1e-6)
    assert math.isnan(rank_correlation(predicted, torch.full((50,), float("nan"))))


def test_rejects_a_batch():
    with pytest.raises(ValueError, match="1-D"):
        hard_regions(EhmamModel(tiny_config()), torch.zeros(2, 16000))
