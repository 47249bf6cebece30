"""EH-MAM's losses against hand computations and brute-force loops."""

import math

import pytest
import torch

from ehmam.losses import (
    combine_losses,
    frame_reconstruction_loss,
    instance_norm_over_time,
    masked_mean,
    ranking_loss,
    teacher_targets,
)


def brute_force_ranking_loss(scores, losses, mask):
    per_utterance = []
    for b in range(len(scores)):
        masked = [t for t in range(len(scores[b])) if mask[b][t]]
        terms = []
        for i in masked:
            for j in masked:
                if i == j:
                    continue
                target = 1.0 if losses[b][i] > losses[b][j] else 0.0
                s = 1.0 / (1.0 + math.exp(-(scores[b][i] - scores[b][j])))
                terms.append(-(target * math.log(s) + (1 - target) * math.log(1 - s)))
        if terms:
            per_utterance.append(sum(terms) / len(terms))
    return sum(per_utterance) / len(per_utterance)


def test_ranking_loss_equals_double_loop():
    gen = torch.Generator().manual_seed(0)
    for _ in range(5):
        scores = torch.randn(4, 23, generator=gen, dtype=torch.float64) * 2
        losses = torch.randn(4, 23, generator=gen, dtype=torch.float64)
        losses[0, :5] = 0.3  # ties count as "not greater" both ways (Eq. 4)
        mask = torch.rand(4, 23, generator=gen) < 0.5
        mask[3] = False
        mask[3, 7] = True  # a single masked frame has no pair and no say
        expected = brute_force_ranking_loss(scores.tolist(), losses.tolist(), mask.tolist())
        got = ranking_loss(scores, losses, mask)
        assert got.item() == pytest.approx(expected, rel=1e-5)


def test_ranking_loss_rewards_the_right_order_and_ignores_loss_gradients():
    losses = torch.tensor([[1.0, 2.0, 3.0, 4.0]], requires_grad=True)
    mask = torch.ones(1, 4, dtype=torch.bool)
    right = ranking_loss(torch.tensor([[1.0, 2.0, 3.0, 4.0]]) * 5, losses, mask)
    wrong = ranking_loss(torch.tensor([[4.0, 3.0, 2.0, 1.0]]) * 5, losses, mask)
    assert right < 0.4 < wrong
    scores = torch.zeros(1, 4, requires_grad=True)
    ranking_loss(scores, losses, mask).backward()
    assert losses.grad is None, "targets are detached reconstruction losses"
    assert scores.grad.abs().sum() > 0


def test_instance_norm_by_hand():
    x = torch.tensor([[[1.0, 10.0], [3.0, 10.0], [5.0, 40.0], [100.0, -7.0]]])  # B=1, T=4, D=2
    padding = torch.tensor([[False, False, False, True]])
    y = instance_norm_over_time(x, padding, eps=0.0)
    # channel 0 over the 3 valid frames: mean 3, biased variance 8/3
    std0 = math.sqrt(8 / 3)
    assert y[0, :3, 0].tolist() == pytest.approx([-2 / std0, 0.0, 2 / std0], rel=1e-6)
    # channel 1: mean 20, variance (100 + 100 + 400) / 3 = 200
    std1 = math.sqrt(200)
    assert y[0, :3, 1].tolist() == pytest.approx([-10 / std1, -10 / std1, 20 / std1], rel=1e-6)
    assert y[0, 3].tolist() == [0.0, 0.0]


def test_targets_average_the_top_k_normalised_layers():
    gen = torch.Generator().manual_seed(1)
    layers = [torch.randn(2, 6, 3, generator=gen) * (i + 1) + i for i in range(5)]
    padding = torch.tensor([[False] * 6, [False] * 4 + [True] * 2])
    targets = teacher_targets(layers, padding, top_k=2)
    for b, length in enumerate([6, 4]):
        expected = 0
        for layer in layers[-2:]:
            x = layer[b, :length]
            expected = expected + (x - x.mean(0)) / torch.sqrt(x.var(0, unbiased=False) + 1e-5)
        assert torch.allclose(targets[b, :length], expected / 2, atol=1e-5)
    with pytest.raises(ValueError, match="average_top_k_layers"):
        teacher_targets(layers, padding, top_k=6)


def test_reconstruction_loss_only_counts_masked_frames():
    prediction = torch.zeros(1, 3, 4)
    target = torch.tensor([[[1.0] * 4, [2.0] * 4, [100.0] * 4]])
    frame = frame_reconstruction_loss(prediction, target)
    assert frame[0].tolist() == pytest.approx([4 / 2, 16 / 2, 40000 / 2])  # sum of squares / sqrt(4)
    mask = torch.tensor([[True, True, False]])
    assert masked_mean(frame, mask).item() == pytest.approx(5.0)
    with pytest.raises(ValueError, match="no masked frames"):
        masked_mean(frame, torch.zeros_like(mask))


def test_combine_losses_weights_every_term_and_refuses_nan():
    terms = {"reconstruction": torch.tensor(2.0), "ranking": torch.tensor(0.7)}
    assert combine_losses(terms, {"reconstruction": 1.0, "ranking": 0.05}).item() == pytest.approx(2.035)
    with pytest.raises(ValueError, match="differ"):
        combine_losses(terms, {"reconstruction": 1.0})
    with pytest.raises(FloatingPointError, match="ranking"):
        combine_losses({"ranking": torch.tensor(float("nan"))}, {"ranking": 1.0})


def test_ranking_accuracy_equals_pair_count_by_hand():
    from ehmam.losses import ranking_accuracy

    gen = torch.Generator().manual_seed(2)
    scores = torch.randn(3, 15, generator=gen)
    losses = torch.randn(3, 15, generator=gen)
    losses[1, :4] = 0.0  # tied true losses are left out
    mask = torch.rand(3, 15, generator=gen) < 0.6
    shares = []
    for b in range(3):
        idx = [t for t in range(15) if mask[b, t]]
        decided = [(i, j) for i in idx for j in idx if losses[b, i] != losses[b, j]]
        agree = [(i, j) for i, j in decided if (scores[b, i] - scores[b, j]) * (losses[b, i] - losses[b, j]) > 0]
        shares.append(len(agree) / len(decided))
    assert ranking_accuracy(scores, losses, mask) == pytest.approx(sum(shares) / 3, rel=1e-6)


def test_spearman_correlation_matches_scipy_per_utterance():
    from scipy.stats import spearmanr

    from ehmam.losses import spearman_correlation

    gen = torch.Generator().manual_seed(5)
    scores = torch.randn(4, 20, generator=gen)
    losses = scores + torch.randn(4, 20, generator=gen)  # correlated, so the mean is well above 0
    scores[2, :6] = 0.5  # ties get the mean rank
    mask = torch.rand(4, 20, generator=gen) < 0.6
    mask[3] = False
    mask[3, 7] = True  # one masked frame: no correlation, left out of the mean
    expected = [spearmanr(scores[b][mask[b]].numpy(), losses[b][mask[b]].numpy()).statistic for b in range(3)]
    assert spearman_correlation(scores, losses, mask) == pytest.approx(sum(expected) / 3, abs=1e-5)
    assert sum(expected) / 3 > 0.3


def test_spearman_correlation_is_one_for_a_monotone_predictor_and_nan_without_pairs():
    from ehmam.losses import spearman_correlation

    losses = torch.rand(2, 30, generator=torch.Generator().manual_seed(1))
    mask = torch.ones(2, 30, dtype=torch.bool)
    assert spearman_correlation(torch.exp(3 * losses), losses, mask) == pytest.approx(1.0)
    assert spearman_correlation(-losses, losses, mask) == pytest.approx(-1.0)
    one_each = torch.zeros(2, 30, dtype=torch.bool)
    one_each[:, 0] = True
    assert math.isnan(spearman_correlation(losses, losses, one_each))
