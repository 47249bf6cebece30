"""Frame selection for the hard-region effect: how many frames, which ones, reproducibly."""
import pytest
import torch

from ehmam.asr.error_rates import ErrorCounts
from ehmam.evaluation.hard_region_effect import EffectRow, choose_frames, teacher_predicted_losses
from ehmam.models.ehmam import EhmamModel, tiny_config

pytestmark = pytest.mark.timeout(60)


def test_predicted_rule_takes_the_highest_scores():
    scores = torch.tensor([0.1, 0.9, 0.3, 0.8, 0.2, 0.7, 0.0, 0.5, 0.6, 0.4])
    mask = choose_frames(scores, 0.3, "predicted", torch.Generator().manual_seed(0))
    assert mask.tolist() == [False, True, False, True, False, True, False, False, False, False]
    assert choose_frames(scores, 0.0, "predicted", torch.Generator()).sum() == 0
    assert choose_frames(scores, 1.0, "predicted", torch.Generator()).all()


@pytest.mark.parametrize("share", [0.1, 0.25, 0.5])
def test_random_rule_hides_the_share_uniformly(share):
    frames = 200
    scores = torch.arange(frames, dtype=torch.float)  # the random rule must ignore them
    counts = torch.zeros(frames)
    draws = 2000
    for seed in range(draws):
        mask = choose_frames(scores, share, "random", torch.Generator().manual_seed(seed))
        assert mask.sum() == round(share * frames)
        counts += mask
    rate = counts / draws
    # each frame is hidden with probability `share`: binomial sd sqrt(p(1-p)/2000) <= 0.0112
    assert (rate - share).abs().max() < 5 * 0.0112
    # no preference for the high-score end
    assert abs(rate[: frames // 2].mean() - rate[frames // 2:].mean()) < 0.01


def test_random_rule_is_reproducible_per_seed():
    scores = torch.rand(50)
    a = choose_frames(scores, 0.4, "random", torch.Generator().manual_seed(7))
    b = choose_frames(scores, 0.4, "random", torch.Generator().manual_seed(7))
    c = choose_frames(scores, 0.4, "random", torch.Generator().manual_seed(8))
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_bad_rule_or_share_is_refused():
    with pytest.raises(ValueError, match="rule 'hardest'"):
        choose_frames(torch.rand(5), 0.2, "hardest", torch.Generator())
    with pytest.raises(ValueError, match="share 20"):
        choose_frames(torch.rand(5), 20, "random", torch.Generator())


def test_teacher_scores_one_value_per_frame_and_need_the_teacher():
    torch.manual_seed(0)
    model = EhmamModel(tiny_config())
    waveform = torch.randn(16000)
    scores = teacher_predicted_losses(model, waveform)
    frames = int(model.frontend.extractor.output_lengths(torch.tensor(16000)))
    assert scores.shape == (frames,) and torch.isfinite(scores).all()
    features, _ = model.frontend(torch.nn.functional.layer_norm(waveform, waveform.shape)[None])
    _, expected = model.teacher_pass(features, None)
    torch.testing.assert_close(scores, expected[0], atol=1e-5, rtol=1e-5)
    model.remove_pretraining_modules()
    with pytest.raises(ValueError, match="no teacher or loss predictor"):
        teacher_predicted_losses(model, waveform)


def test_relative_increase_is_against_the_baseline():
    baseline = ErrorCounts.of("A B C D", "A B C X")  # WER 25
    worse = ErrorCounts.of("A B C D", "A X C X")  # WER 50
    row = EffectRow(0.2, "random", worse, baseline)
    assert row.relative_wer_increase == pytest.approx(100.0)
