import itertools

import pytest
import torch

from ehmam.models.decoders.shifted_window import ShiftedWindowBlock, layer_window
from tests.models.reference_attention import reference_block


def brute_force_allowed(grid, window, shift, mask_wrapped):
    """N x N: may token i attend to token j? Worked out per token pair from the definition:
    roll the grid toward the top-left by ``shift``, cut it into windows from the top-left,
    and (with ``mask_wrapped``) keep apart the rows/columns the roll carried over an edge."""
    rows, cols = grid
    (wr, wc), (sr, sc) = layer_window(grid, window, shift)

    def where(n):
        f, t = divmod(n, cols)
        rf, rt = (f - sr) % rows, (t - sc) % cols  # position after the cyclic roll
        return (rf // wr, rt // wc), (rf >= rows - sr, rt >= cols - sc)

    n = rows * cols
    allowed = torch.zeros(n, n, dtype=torch.bool)
    for i, j in itertools.product(range(n), range(n)):
        (win_i, side_i), (win_j, side_j) = where(i), where(j)
        allowed[i, j] = win_i == win_j and (side_i == side_j or not mask_wrapped)
    return allowed


CASES = [
    ((8, 8), (4, 4), (0, 0), True),
    ((8, 8), (4, 4), (2, 2), True),
    ((8, 8), (4, 4), (2, 2), False),
    ((8, 12), (4, 4), (0, 2), True),     # the released code's time-only shift
    ((5, 10), (4, 4), (2, 2), True),     # not a whole number of windows: padded
    ((3, 12), (4, 4), (2, 2), True),     # fewer rows than the window: one row window, no row shift
]


@pytest.mark.parametrize("grid, window, shift, mask_wrapped", CASES)
def test_window_attention_equals_full_attention_restricted_to_each_window(grid, window, shift, mask_wrapped):
    torch.manual_seed(0)
    block = ShiftedWindowBlock(16, 2, window, shift, mask_wrapped).eval()
    x = torch.randn(2, grid[0] * grid[1], 16)
    allowed = brute_force_allowed(grid, window, shift, mask_wrapped)
    with torch.no_grad():
        expected = reference_block(block, x, allowed[None].expand(2, -1, -1))
        assert torch.allclose(block(x, grid), expected, atol=1e-5)


def influence(block, grid, source, target):
    """Does changing patch ``source`` change the block's output at patch ``target``?"""
    torch.manual_seed(1)
    x = torch.randn(1, grid[0] * grid[1], 16)
    y = x.clone()
    y[0, source] += torch.randn(16)  # not a constant: layer norm would erase that
    with torch.no_grad():
        return not torch.allclose(block(x, grid)[0, target], block(y, grid)[0, target])


def test_shift_is_cyclic_at_the_edges():
    grid = (4, 8)  # one window row; two window columns: 0-3 and 4-7
    last, first = 7, 0
    plain = ShiftedWindowBlock(16, 2, (4, 4), (0, 0)).eval()
    assert not influence(plain, grid, first, last)
    # shifting by 2 columns puts columns 6, 7, 0, 1 in one window
    wrapped = ShiftedWindowBlock(16, 2, (4, 4), (0, 2), mask_wrapped=False).eval()
    assert influence(wrapped, grid, first, last) and influence(wrapped, grid, 6, last)
    assert not influence(wrapped, grid, 2, last)
    # Swin's mask keeps the columns carried over the edge (0, 1) apart from 6, 7
    swin = ShiftedWindowBlock(16, 2, (4, 4), (0, 2), mask_wrapped=True).eval()
    assert not influence(swin, grid, first, last) and influence(swin, grid, 6, last)
    assert influence(swin, grid, 1, first)


def test_grid_mismatch_is_refused():
    block = ShiftedWindowBlock(16, 2)
    with pytest.raises(ValueError, match="do not fill"):
        block(torch.randn(1, 1 + 16, 16), (4, 4))


def test_gradients_flow_through_window_attention():
    block = ShiftedWindowBlock(16, 2, (4, 4), (2, 2))
    x = torch.randn(2, 5 * 10, 16, requires_grad=True)
    block(x, (5, 10)).square().sum().backward()
    assert x.grad.abs().sum(-1).gt(0).all()
    assert all(p.grad is not None for p in block.parameters())
