"""Fine-tuning SpecAugment: span counts and coverage against a brute-force reference,
padding never masked, channels zeroed across all frames, masked frames = mask embedding."""
import math
import random

import pytest
import torch

from ehmam.masking.spec_augment import SpecAugmentConfig, span_mask, spec_augment


def reference_coverage(length: int, prob: float, span: int, min_spans: int, trials: int, seed: int) -> float:
    """Mean masked share by the rule written out with Python loops: floor(p L / span + u)
    spans (at least min_spans), starts uniform over the L - span + 1 positions."""
    rng = random.Random(seed)
    covered = 0
    for _ in range(trials):
        count = max(min_spans, math.floor(prob * length / span + rng.random()))
        masked = [False] * length
        for _ in range(count):
            start = rng.randrange(max(length - span, 0) + 1)
            for t in range(start, min(start + span, length)):
                masked[t] = True
        covered += sum(masked)
    return covered / (trials * length)


@pytest.mark.parametrize("length,prob,span,min_spans", [(500, 0.65, 10, 2), (120, 0.25, 64, 0), (40, 0.05, 10, 2)])
def test_coverage_matches_the_brute_force_rule(length, prob, span, min_spans):
    trials = 4000
    generator = torch.Generator().manual_seed(0)
    lengths = torch.full((trials,), length)
    mask = span_mask(lengths, length, prob, span, generator, min_spans=min_spans)
    expected = reference_coverage(length, prob, span, min_spans, trials, seed=1)
    assert mask.float().mean().item() == pytest.approx(expected, abs=0.01)


def test_wav2vec2_setting_masks_about_half_of_the_frames():
    # 0.65 with spans of 10: 1 - exp(-0.65) ~ 0.48 of a long utterance (spans overlap)
    mask = span_mask(torch.full((2000,), 1000), 1000, 0.65, 10, torch.Generator().manual_seed(0))
    assert mask.float().mean().item() == pytest.approx(1 - math.exp(-0.65), abs=0.01)


def test_spans_stay_inside_each_rows_length():
    lengths = torch.tensor([100, 37, 12, 5])
    mask = span_mask(lengths, 100, 0.65, 10, torch.Generator().manual_seed(3), min_spans=2)
    positions = torch.arange(100)[None, :]
    assert not (mask & (positions >= lengths[:, None])).any()
    assert mask[3, :5].all()  # shorter than a span: the whole row
    assert (mask.sum(dim=1) >= torch.tensor([10, 10, 10, 5])).all()  # at least one full span


def test_zero_probability_masks_nothing():
    assert not span_mask(torch.tensor([50, 20]), 50, 0.0, 10).any()


def test_spec_augment_replaces_frames_and_zeroes_channels():
    cfg = SpecAugmentConfig(mask_prob=0.3, mask_length=4, mask_channel_prob=0.2, mask_channel_length=3)
    features = torch.randn(3, 60, 16)
    padding = torch.zeros(3, 60, dtype=torch.bool)
    padding[1, 40:] = True
    embedding = torch.randn(16)
    out, time, channel = spec_augment(features, padding, embedding, cfg, torch.Generator().manual_seed(0))
    assert time.any() and channel.any()
    assert not (time & padding).any()
    for b in range(3):
        for t in range(60):
            expected = embedding.clone() if time[b, t] else features[b, t].clone()
            expected[channel[b]] = 0.0
            torch.testing.assert_close(out[b, t], expected)
    assert time.sum(dim=1).min() >= cfg.mask_length  # at least one whole span per utterance


def test_same_generator_seed_same_masks():
    cfg = SpecAugmentConfig(mask_channel_prob=0.25, mask_channel_length=4)
    x = torch.randn(2, 80, 32)
    a = spec_augment(x, None, torch.zeros(32), cfg, torch.Generator().manual_seed(5))
    b = spec_augment(x, None, torch.zeros(32), cfg, torch.Generator().manual_seed(5))
    assert torch.equal(a[1], b[1]) and torch.equal(a[2], b[2])


@pytest.mark.parametrize("field,value", [("mask_prob", 1.5), ("mask_channel_prob", -0.1), ("mask_length", 0)])
def test_bad_settings_are_refused(field, value):
    with pytest.raises(ValueError, match=field):
        SpecAugmentConfig(**{field: value})
