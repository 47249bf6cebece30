"""Patch masks against closed-form counts, brute-force loops over the grid and binomial
frequencies."""

import itertools
import math

import pytest
import torch

from ehmam.masking.patches import (
    STRATEGIES,
    PatchMaskingConfig,
    frequency_mask,
    indices_from_mask,
    mask_from_indices,
    multi_block_mask,
    patch_mask,
    time_frequency_mask,
    time_mask,
    unstructured_mask,
)

GRIDS = [(5, 50), (8, 64), (1, 20), (3, 7)]


def gen(seed):
    return torch.Generator().manual_seed(seed)


def make(strategy, batch, grid, ratio, seed, **kwargs):
    """One call per strategy; time_frequency uses ``ratio`` for both axes unless told."""
    g = gen(seed)
    if strategy == "unstructured":
        return unstructured_mask(batch, grid, ratio, g)
    if strategy == "time":
        return time_mask(batch, grid, ratio, g)
    if strategy == "frequency":
        return frequency_mask(batch, grid, ratio, g)
    if strategy == "time_frequency":
        time_ratio, frequency_ratio = kwargs.get("time_ratio", ratio), kwargs.get("frequency_ratio", ratio)
        return time_frequency_mask(batch, grid, time_ratio, frequency_ratio, g)
    return multi_block_mask(batch, grid, ratio, g, **kwargs)


def expected_masked(strategy, grid, ratio):
    """Closed-form masked count per example."""
    rows, cols = grid
    if strategy in ("unstructured", "multi_block"):
        return round(ratio * rows * cols)
    if strategy == "time":
        return round(ratio * cols) * rows
    if strategy == "frequency":
        return round(ratio * rows) * cols
    n_time, n_freq = round(ratio * cols), round(ratio * rows)
    return rows * cols - (rows - n_freq) * (cols - n_time)


def cell(mask_row, grid, f, t):
    return bool(mask_row[f * grid[1] + t])


def full_columns(mask_row, grid):
    rows, cols = grid
    return {t for t in range(cols) if all(cell(mask_row, grid, f, t) for f in range(rows))}


def full_rows(mask_row, grid):
    rows, cols = grid
    return {f for f in range(rows) if all(cell(mask_row, grid, f, t) for t in range(cols))}


def union_reference(blocks, grid, count):
    """Brute force: add the blocks' patches in block order, each block column by column
    (earliest time first, row 0 first), skipping those already in, until ``count``."""
    cols = grid[1]
    taken = set()
    for row, col, height, width in blocks:
        for t in range(col, col + width):
            for f in range(row, row + height):
                if len(taken) == count:
                    return taken
                taken.add(f * cols + t)
    return taken


def achievable_shapes(grid, block_scale, aspect_ratio, steps=300):
    """(height, width) pairs reachable by some scale and aspect in range, by a fine sweep
    of both with I-JEPA's formulas and clipping to the grid."""
    rows, cols = grid
    shapes = set()
    for i, j in itertools.product(range(steps + 1), repeat=2):
        scale = block_scale[0] + (block_scale[1] - block_scale[0]) * i / steps
        aspect = aspect_ratio[0] + (aspect_ratio[1] - aspect_ratio[0]) * j / steps
        area = scale * rows * cols
        height = min(max(round(math.sqrt(area * aspect)), 1), rows)
        width = min(max(round(math.sqrt(area / aspect)), 1), cols)
        shapes.add((height, width))
    return shapes


# ----------------------------------------------------------------------------- counts


# every (strategy, grid, ratio) but those that would mask a one-row grid's only row, which
# test_ratios_that_leave_nothing_visible_are_refused covers
COUNT_CASES = [
    (strategy, grid, ratio)
    for strategy, grid, ratio in itertools.product(STRATEGIES, GRIDS, [0.0, 0.3, 0.45, 0.8])
    if not (strategy in ("frequency", "time_frequency") and round(ratio * grid[0]) == grid[0])
]


@pytest.mark.parametrize("strategy, grid, ratio", COUNT_CASES)
def test_exact_counts_and_partition(strategy, grid, ratio):
    rows, cols = grid
    n = rows * cols
    result = make(strategy, 6, grid, ratio, seed=11)
    count = expected_masked(strategy, grid, ratio)
    assert result.mask.shape == (6, n) and result.mask.dtype == torch.bool
    assert result.masked.shape == (6, count) and result.visible.shape == (6, n - count)
    assert result.masked.dtype == torch.long and result.visible.dtype == torch.long
    for b in range(6):
        visible, masked = result.visible[b].tolist(), result.masked[b].tolist()
        assert visible == sorted(set(visible)) and masked == sorted(set(masked)), "ascending, no repeats"
        assert sorted(visible + masked) == list(range(n)), "visible and masked partition the grid"
        for i in range(n):
            assert bool(result.mask[b, i]) == (i in masked)


def test_ratio_zero_masks_nothing():
    for strategy in STRATEGIES:
        result = make(strategy, 3, (5, 50), 0.0, seed=1)
        assert not result.mask.any()
        assert result.masked.shape == (3, 0)
        assert torch.equal(result.visible, torch.arange(250).expand(3, 250))


def test_audio_mae_visible_count():
    # Audio-MAE Fig. 6/7: 64 x 8 = 512 patches, 80% masked leaves 102 visible, 70% leaves 154
    assert unstructured_mask(2, (8, 64), 0.8, gen(0)).visible.shape == (2, 102)
    assert unstructured_mask(2, (8, 64), 0.7, gen(0)).visible.shape == (2, 154)


@pytest.mark.parametrize("grid", [(8, 64), (5, 50), (6, 33)])
@pytest.mark.parametrize("time_ratio,frequency_ratio", [(0.3, 0.3), (0.5, 0.2), (0.1, 0.6)])
def test_time_frequency_share_is_the_closed_form(grid, time_ratio, frequency_ratio):
    rows, cols = grid
    result = time_frequency_mask(4, grid, time_ratio, frequency_ratio, gen(2))
    n_time, n_freq = round(time_ratio * cols), round(frequency_ratio * rows)
    share = result.mask.float().mean(dim=1)
    exact = 1 - (1 - n_freq / rows) * (1 - n_time / cols)
    assert torch.allclose(share, torch.full((4,), exact))
    # 1 - (1 - pt)(1 - pf), off only by the rounding of the two counts
    ideal = 1 - (1 - time_ratio) * (1 - frequency_ratio)
    assert abs(exact - ideal) <= 0.5 / cols + 0.5 / rows + 0.25 / (rows * cols) + 1e-12


# ----------------------------------------------------------------------------- structure


@pytest.mark.parametrize("grid", [(5, 50), (8, 64)])
def test_time_masks_are_whole_columns(grid):
    rows, cols = grid
    result = time_mask(8, grid, 0.4, gen(3))
    for row in result.mask:
        masked_columns = full_columns(row, grid)
        assert len(masked_columns) == round(0.4 * cols)
        for f in range(rows):
            for t in range(cols):
                assert cell(row, grid, f, t) == (t in masked_columns)


@pytest.mark.parametrize("grid", [(5, 50), (8, 64)])
def test_frequency_masks_are_whole_rows(grid):
    rows, cols = grid
    result = frequency_mask(8, grid, 0.4, gen(4))
    for row in result.mask:
        masked_rows = full_rows(row, grid)
        assert len(masked_rows) == round(0.4 * rows)
        for f in range(rows):
            for t in range(cols):
                assert cell(row, grid, f, t) == (f in masked_rows)


@pytest.mark.parametrize("grid", [(5, 50), (8, 64)])
def test_time_frequency_is_rows_union_columns(grid):
    rows, cols = grid
    result = time_frequency_mask(8, grid, 0.3, 0.3, gen(5))
    for row in result.mask:
        # a kept row and a kept column exist, so whole masked lines are exactly the chosen ones
        masked_rows, masked_columns = full_rows(row, grid), full_columns(row, grid)
        assert len(masked_rows) == round(0.3 * rows)
        assert len(masked_columns) == round(0.3 * cols)
        for f in range(rows):
            for t in range(cols):
                assert cell(row, grid, f, t) == (f in masked_rows or t in masked_columns)


@pytest.mark.parametrize("grid,ratio", [((5, 50), 0.75), ((8, 64), 0.6), ((16, 16), 0.4), ((3, 7), 0.5)])
def test_multi_block_is_the_cut_union_of_its_blocks(grid, ratio):
    rows, cols = grid
    result = multi_block_mask(8, grid, ratio, gen(6))
    count = round(ratio * rows * cols)
    assert result.blocks.shape[0] == 8 and result.blocks.shape[2] == 4
    for b in range(8):
        blocks = result.blocks[b].tolist()
        for row, col, height, width in blocks:
            assert 0 <= row and row + height <= rows and 0 <= col and col + width <= cols
            assert height >= 1 and width >= 1
        expected = union_reference(blocks, grid, count)
        assert len(expected) == count, "the reported blocks must reach the count"
        assert set(torch.nonzero(result.mask[b])[:, 0].tolist()) == expected
    # more than one block is needed: the union is not a single rectangle
    assert (result.mask.sum(dim=1) > result.blocks[:, 0, 2] * result.blocks[:, 0, 3]).all()


@pytest.mark.parametrize("grid", [(32, 32), (12, 40), (5, 50)])
def test_block_shapes_respect_scale_and_aspect(grid):
    scale, aspect = (0.15, 0.2), (0.75, 1.5)
    result = multi_block_mask(32, grid, 0.6, gen(7), block_scale=scale, aspect_ratio=aspect)
    drawn = {tuple(shape) for shape in result.blocks[..., 2:].reshape(-1, 2).tolist()}
    allowed = achievable_shapes(grid, scale, aspect)
    assert drawn <= allowed, f"shapes outside the bounds: {sorted(drawn - allowed)}"
    assert len(drawn) >= min(3, len(allowed)), "the shapes vary"


def test_swapped_aspect_would_be_caught():
    # the shape check can fail: shapes wide where the bounds ask for tall are refused
    allowed = achievable_shapes((32, 32), (0.15, 0.2), (0.75, 1.5))
    swapped = achievable_shapes((32, 32), (0.15, 0.2), (1 / 1.5, 1 / 0.75))
    assert swapped - allowed


def test_block_positions_are_uniform():
    grid = (16, 24)
    result = multi_block_mask(64, grid, 0.5, gen(8), block_scale=(0.05, 0.1))
    blocks = result.blocks.reshape(-1, 4).double()
    for start, size, length in ((0, 2, grid[0]), (1, 3, grid[1])):
        positions = length - blocks[:, size]  # the largest start that fits
        movable = positions > 0
        share = blocks[movable, start] / positions[movable]
        assert (blocks[:, start] >= 0).all() and (blocks[:, start] <= positions).all()
        # a uniform start on 0..m, scaled by m, has mean 1/2 and variance (m + 2) / (12 m)
        sd = torch.sqrt((positions[movable] + 2) / (12 * positions[movable])).mean() / math.sqrt(int(movable.sum()))
        assert abs(float(share.mean()) - 0.5) < 5 * float(sd)
        assert (share == 0).any() and (share == 1).any(), "both edge positions occur"


def test_multi_block_reaches_high_ratios_exactly():
    result = multi_block_mask(32, (5, 50), 0.95, gen(9))
    assert (result.mask.sum(dim=1) == round(0.95 * 250)).all()


# ----------------------------------------------------------------------------- randomness


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_pure_function_of_the_generator(strategy):
    a = make(strategy, 8, (8, 64), 0.5, seed=20)
    b = make(strategy, 8, (8, 64), 0.5, seed=20)
    c = make(strategy, 8, (8, 64), 0.5, seed=21)
    assert torch.equal(a.mask, b.mask) and torch.equal(a.visible, b.visible)
    assert not torch.equal(a.mask, c.mask)
    assert len({tuple(row.tolist()) for row in a.mask}) > 1, "examples get different masks"


def test_global_rng_is_untouched():
    torch.manual_seed(0)
    before = torch.get_rng_state()
    for strategy in STRATEGIES:
        make(strategy, 4, (5, 50), 0.5, seed=1)
    assert torch.equal(before, torch.get_rng_state())


def within_binomial(rates, p, draws, sd_limit=5.0):
    sd = math.sqrt(p * (1 - p) / draws)
    return float((rates - p).abs().max()) <= sd_limit * sd


def test_unstructured_masks_each_patch_at_the_ratio():
    draws, grid = 4000, (5, 50)
    mask = unstructured_mask(draws, grid, 0.75, gen(30)).mask
    p = round(0.75 * 250) / 250  # exact counts: every patch's marginal is count / N
    assert within_binomial(mask.float().mean(dim=0), p, draws)


@pytest.mark.parametrize("axis", ["time", "frequency"])
def test_line_masks_mask_each_line_at_the_ratio(axis):
    draws, grid = 4000, (8, 64)
    result = (time_mask if axis == "time" else frequency_mask)(draws, grid, 0.3, gen(31))
    cells = result.mask.view(draws, *grid).float()
    size = grid[1] if axis == "time" else grid[0]
    p = round(0.3 * size) / size
    lines = cells[:, 0, :] if axis == "time" else cells[:, :, 0]
    assert within_binomial(lines.mean(dim=0), p, draws)


def test_time_frequency_rows_and_columns_are_independent():
    draws, (rows, cols) = 4000, (8, 64)
    mask = time_frequency_mask(draws, (rows, cols), 0.3, 0.3, gen(32)).mask.view(draws, rows, cols)
    column_hit = mask.all(dim=1).float()  # B x T'
    row_hit = mask.all(dim=2).float()  # B x F'
    pt, pf = round(0.3 * cols) / cols, round(0.3 * rows) / rows
    assert within_binomial(column_hit.mean(dim=0), pt, draws)
    assert within_binomial(row_hit.mean(dim=0), pf, draws)
    joint = (row_hit[:, :, None] * column_hit[:, None, :]).mean(dim=0)
    assert within_binomial(joint, pf * pt, draws)
    assert within_binomial(mask.float().mean(dim=0), 1 - (1 - pt) * (1 - pf), draws)


def test_multi_block_spreads_over_the_grid():
    draws, grid = 2000, (5, 50)
    mask = multi_block_mask(draws, grid, 0.6, gen(33)).mask.float()
    rates = mask.mean(dim=0)
    assert ((rates > 0) & (rates < 1)).all(), "every patch is sometimes masked, sometimes visible"
    # blocks start anywhere they fit, so the middle of the grid is masked at about the ratio
    # or above, and no interior column is favoured much over another
    interior = rates.view(grid)[:, 10:-10]
    assert float(interior.mean()) > 0.6
    assert float(interior.max() - interior.min()) < 0.1


# ----------------------------------------------------------------------------- config and errors


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_config_dispatches_to_the_strategy(strategy):
    cfg = PatchMaskingConfig(strategy=strategy, ratio=0.6, time_ratio=0.2, frequency_ratio=0.4,
                             block_scale_min=0.1, block_scale_max=0.15, aspect_ratio_min=1.0, aspect_ratio_max=2.0)
    got = patch_mask(cfg, 4, (8, 64), gen(40))
    g = gen(40)
    direct = {
        "unstructured": lambda: unstructured_mask(4, (8, 64), 0.6, g),
        "time": lambda: time_mask(4, (8, 64), 0.6, g),
        "frequency": lambda: frequency_mask(4, (8, 64), 0.6, g),
        "time_frequency": lambda: time_frequency_mask(4, (8, 64), 0.2, 0.4, g),
        "multi_block": lambda: multi_block_mask(4, (8, 64), 0.6, g, (0.1, 0.15), (1.0, 2.0)),
    }[strategy]()
    assert torch.equal(got.mask, direct.mask)


def test_config_defaults_are_audio_mae():
    cfg = PatchMaskingConfig()
    assert (cfg.strategy, cfg.ratio, cfg.time_ratio, cfg.frequency_ratio) == ("unstructured", 0.8, 0.3, 0.3)
    assert cfg.block_scale == (0.15, 0.2) and cfg.aspect_ratio == (0.75, 1.5)


def test_config_refuses_bad_values():
    choices = "unstructured, multi_block, time, frequency, time_frequency"
    with pytest.raises(ValueError, match=f"strategy='blocks'.*{choices}"):
        PatchMaskingConfig(strategy="blocks")
    for name, value in (("ratio", 1.0), ("ratio", -0.1), ("time_ratio", 1.2), ("frequency_ratio", 1.0)):
        with pytest.raises(ValueError, match=rf"PatchMaskingConfig\.{name}={value}.*\[0, 1\)"):
            PatchMaskingConfig(**{name: value})
    with pytest.raises(TypeError, match="ratio"):
        PatchMaskingConfig(ratio="0.5")
    with pytest.raises(ValueError, match="block_scale"):
        PatchMaskingConfig(block_scale_min=0.3, block_scale_max=0.2)
    with pytest.raises(ValueError, match="block_scale"):
        PatchMaskingConfig(block_scale_max=1.5)
    with pytest.raises(ValueError, match="aspect_ratio"):
        PatchMaskingConfig(aspect_ratio_min=0.0)


def test_ratios_that_leave_nothing_visible_are_refused():
    with pytest.raises(ValueError, match="unstructured_mask: ratio=0.99 of 50 rounds to 50.*below"):
        unstructured_mask(2, (5, 10), 0.99, gen(0))
    with pytest.raises(ValueError, match="time_mask: ratio=0.95 of 10"):
        time_mask(2, (5, 10), 0.95, gen(0))
    with pytest.raises(ValueError, match="frequency_mask: ratio=0.95 of 5"):
        frequency_mask(2, (5, 10), 0.95, gen(0))
    # Python's round takes halves to even: 0.9 of 5 rows is round(4.5) = 4, one row stays
    assert frequency_mask(2, (5, 10), 0.9, gen(0)).masked.shape == (2, 40)
    with pytest.raises(ValueError, match="frequency_ratio=0.6 of 1"):
        time_frequency_mask(2, (1, 10), 0.3, 0.6, gen(0))
    with pytest.raises(ValueError, match="multi_block_mask: ratio=0.999"):
        multi_block_mask(2, (5, 50), 0.999, gen(0))
    with pytest.raises(ValueError, match="ratio"):
        patch_mask(PatchMaskingConfig(strategy="time", ratio=0.97), 2, (5, 10), gen(0))


def test_bad_calls_are_refused():
    with pytest.raises(TypeError, match="torch.Generator"):
        unstructured_mask(2, (5, 10), 0.5, None)
    with pytest.raises(ValueError, match="grid=\\(0, 10\\)"):
        time_mask(2, (0, 10), 0.5, gen(0))
    with pytest.raises(ValueError, match="max_blocks"):
        multi_block_mask(2, (8, 64), 0.9, gen(0), block_scale=(0.01, 0.01), max_blocks=16)


def test_indices_and_masks_convert_both_ways():
    mask = torch.tensor([[True, False, False, True, False], [False, True, True, False, False]])
    visible, masked = indices_from_mask(mask)
    assert visible.tolist() == [[1, 2, 4], [0, 3, 4]]
    assert masked.tolist() == [[0, 3], [1, 2]]
    assert torch.equal(mask_from_indices(masked, 5), mask)
    assert torch.equal(mask_from_indices(visible, 5), ~mask)
    with pytest.raises(ValueError, match="same count"):
        indices_from_mask(torch.tensor([[True, False], [True, True]]))
