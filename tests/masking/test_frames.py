"""Easy-to-hard masking against its promises and a brute-force block reference."""

import pytest
import torch

from ehmam.masking.frames import (
    MaskingConfig,
    block_priority,
    easy_to_hard_mask,
    order_keys,
    random_block_mask,
    top_frames,
)


def ranks(values):
    """Rank of each entry within its row (0 = smallest), ties broken by position."""
    order = torch.argsort(values, dim=1, stable=True)
    return torch.empty_like(order).scatter_(1, order, torch.arange(values.shape[1]).expand_as(order))


def padding_for(lengths, frames):
    return torch.arange(frames)[None, :] >= torch.tensor(lengths)[:, None]


def run_lengths(row):
    """Lengths of the runs of True in a 1-D bool tensor."""
    runs, current = [], 0
    for value in row.tolist() + [False]:
        if value:
            current += 1
        elif current:
            runs.append(current)
            current = 0
    return runs


def greedy_blocks(keys, tiebreak, width, length, count):
    """Reference: take blocks [s, s + width) in decreasing key order, adding each block's
    new frames in decreasing tiebreak order, until ``count`` frames are taken."""
    taken = []
    for start in sorted(range(length), key=lambda s: -keys[s]):
        new = [f for f in range(start, min(start + width, length)) if f not in taken]
        for frame in sorted(new, key=lambda f: -tiebreak[f]):
            if len(taken) == count:
                return set(taken)
            taken.append(frame)
    return set(taken)


def test_block_priority_matches_greedy_block_reference():
    gen = torch.Generator().manual_seed(0)
    for trial in range(20):
        frames, width = 40, 1 + trial % 6
        lengths = [40, 31, 17]
        padding = padding_for(lengths, frames)
        keys = ranks(torch.rand(3, frames, generator=gen))
        tiebreak = ranks(torch.rand(3, frames, generator=gen))
        count = 3 + trial % 13
        chosen = top_frames(block_priority(keys, tiebreak, width, padding), count)
        for row, length in enumerate(lengths):
            # the reference sees only the unpadded frames; keys keep their relative order
            expected = greedy_blocks(keys[row].tolist(), tiebreak[row].tolist(), width, length, count)
            assert set(torch.nonzero(chosen[row])[:, 0].tolist()) == expected


@pytest.mark.parametrize("progress", [0.0, 0.3, 1.0])
def test_mask_share_counts_and_padding(progress):
    gen = torch.Generator().manual_seed(1)
    frames, lengths = 500, [500, 480, 450, 500, 499, 300]
    padding = padding_for(lengths, frames)
    predicted = torch.randn(len(lengths), frames, generator=gen)
    cfg = MaskingConfig()
    mask = easy_to_hard_mask(predicted, padding, progress, cfg, gen)
    counts = mask.mask.sum(dim=1)
    assert (counts == counts[0]).all(), "every utterance gets the same number of masked frames"
    assert int(counts[0]) == int(0.5 * min(lengths))
    assert not (mask.mask & padding).any(), "padding is never masked"
    assert not (mask.selective & ~mask.mask).any()
    # the selective share of the budget follows t/T (Algorithm 1)
    assert int(mask.selective[0].sum()) == int(int(counts[0]) * progress)


def test_share_equals_p_without_padding_and_blocks_have_width():
    gen = torch.Generator().manual_seed(2)
    mask = random_block_mask(64, 500, None, mask_prob=0.5, mask_length=5, generator=gen)
    share = mask.float().mean().item()
    assert abs(share - 0.5) < 0.01
    runs = [r for row in mask for r in run_lengths(row)]
    # every run is a union of whole blocks of 5 except one cut block per utterance
    short = sum(r < 5 for r in runs)
    assert short <= 64
    assert sum(runs) / len(runs) > 5


def test_random_masks_are_spread_uniformly():
    gen = torch.Generator().manual_seed(3)
    mask = random_block_mask(2000, 50, None, generator=gen)
    per_frame = mask.float().mean(dim=0)
    # interior frames masked at the promised rate; the first frames are covered by fewer
    # possible block starts, the last frames by more truncated blocks
    assert (per_frame[8:-8] - 0.5).abs().max() < 0.06


def test_top_predicted_frames_are_chosen():
    gen = torch.Generator().manual_seed(4)
    frames = 200
    predicted = torch.randn(8, frames, generator=gen)
    cfg = MaskingConfig(mask_length=5)
    mask = easy_to_hard_mask(predicted, None, 1.0, cfg, gen)
    budget = int(0.5 * frames)
    assert int(mask.selective[0].sum()) == budget
    # the hardest frame is always masked, and the selective set is exactly the greedy
    # union of blocks starting at the hardest frames
    hardest = predicted.argmax(dim=1)
    assert mask.mask[torch.arange(8), hardest].all()
    key = ranks(predicted)
    for row in range(8):
        expected = greedy_blocks(key[row].tolist(), key[row].tolist(), 5, frames, budget)
        assert set(torch.nonzero(mask.selective[row])[:, 0].tolist()) == expected
    # and the selected frames are harder than average
    assert predicted[mask.selective].mean() > predicted[~mask.mask].mean() + 0.5


def test_order_keys_sort_like_the_floats():
    values = torch.tensor([[-3.5, -0.0, 0.0, 1e-30, -1e-30, 2.0, -2.0, 1e30, -1e30, 0.5]])
    keys = order_keys(values)
    assert torch.equal(torch.argsort(keys, stable=True), torch.argsort(values, stable=True))
    assert int(keys.min()) >= 0 and int(keys.max()) < 2**32


def test_nan_predictions_stop_training():
    predicted = torch.randn(2, 50)
    predicted[1, 3] = float("nan")
    with pytest.raises(FloatingPointError, match="predicted losses"):
        easy_to_hard_mask(predicted, None, 0.5, MaskingConfig(), torch.Generator().manual_seed(0))


def test_random_mode_ignores_predicted_loss():
    predicted = torch.randn(4, 100)
    cfg = MaskingConfig(masking="random")
    a = easy_to_hard_mask(predicted, None, 1.0, cfg, torch.Generator().manual_seed(5))
    b = easy_to_hard_mask(-predicted, None, 1.0, cfg, torch.Generator().manual_seed(5))
    assert not a.selective.any()
    assert torch.equal(a.mask, b.mask)


def test_pure_function_of_generator():
    predicted = torch.randn(4, 100)
    cfg = MaskingConfig()
    a = easy_to_hard_mask(predicted, None, 0.4, cfg, torch.Generator().manual_seed(6))
    b = easy_to_hard_mask(predicted, None, 0.4, cfg, torch.Generator().manual_seed(6))
    c = easy_to_hard_mask(predicted, None, 0.4, cfg, torch.Generator().manual_seed(7))
    assert torch.equal(a.mask, b.mask)
    assert not torch.equal(a.mask, c.mask)


def test_padded_predicted_loss_is_never_selected():
    frames = 60
    padding = padding_for([60, 30], frames)
    predicted = torch.zeros(2, frames)
    predicted[:, 40:] = 100.0  # huge predictions inside row 1's padding
    mask = easy_to_hard_mask(predicted, padding, 1.0, MaskingConfig(), torch.Generator().manual_seed(8))
    assert not (mask.mask & padding).any()
    assert mask.selective[0, 40:].any()


def test_bad_inputs_are_refused():
    with pytest.raises(ValueError, match="masking="):
        MaskingConfig(masking="hard")
    with pytest.raises(ValueError, match="mask_prob"):
        MaskingConfig(mask_prob=1.5)
    padding = padding_for([10, 0], 10)
    with pytest.raises(ValueError, match="unpadded frame"):
        easy_to_hard_mask(torch.zeros(2, 10), padding, 0.0, MaskingConfig())
