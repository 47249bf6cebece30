"""Swin-style shifted local-window attention over a patch grid (Swin Transformer, Sec. 3.2;
Audio-MAE's local decoder, Sec. 3.3 and Fig. 3).

Tokens attend only within windows of ``(wf, wt)`` patches. On shifted layers the grid is
first rolled cyclically toward the top-left by half a window (``torch.roll`` by
``-shift``), so the windows straddle the previous layer's window borders, and rolled back
after. Rows and columns that the roll carried across the edge land in the last windows
beside patches they are not next to; with ``mask_wrapped`` (Swin's attention mask, which
Audio-MAE's code keeps) they attend only among themselves.

A grid that is not a whole number of windows is padded at the bottom/right with tokens no
query attends to; an axis shorter than the window gets one window of the axis's size and
no shift (as Swin does). Shapes: tokens ``B x N x D`` in row-major grid order.
"""

from dataclasses import dataclass
from functools import lru_cache
from typing import Tuple

import torch

from ..encoders.vit import Block
from ..patches import Grid

SHIFT_AXES = ("both", "time", "frequency", "none")


@dataclass
class WindowPlan:
    """How one layer cuts a grid into windows.

    ``slots``: ``W x A`` long, the token in each window slot (``N`` = a padding slot),
    W windows of A slots; ``position``: ``N`` long, each token's slot in the flattened
    ``W * A`` layout; ``attend``: ``W x A x A`` bool, True where a slot's query may attend
    to a slot's key.
    """

    window: Tuple[int, int]
    shift: Tuple[int, int]
    slots: torch.Tensor
    position: torch.Tensor
    attend: torch.Tensor


def layer_window(grid: Grid, window: Tuple[int, int], shift: Tuple[int, int]):
    """The window and shift a layer really uses on ``grid``: an axis shorter than or as
    long as the window gets one window spanning it and no shift."""
    size = tuple(min(w, g) for w, g in zip(window, grid))
    shift = tuple(0 if g <= w else s for g, w, s in zip(grid, window, shift))
    return size, shift


@lru_cache(maxsize=64)
def window_plan(grid: Grid, window: Tuple[int, int], shift: Tuple[int, int],
                mask_wrapped: bool = True, device=None) -> WindowPlan:
    """The plan for one (grid, window, shift), made once and shared by every layer that
    uses it (a 16-layer decoder has two). Arguments must be hashable: tuples, not lists."""
    (rows, cols), ((wr, wc), (sr, sc)) = grid, layer_window(grid, window, shift)
    padded_rows, padded_cols = -(-rows // wr) * wr, -(-cols // wc) * wc
    r = torch.arange(padded_rows)[:, None].expand(padded_rows, padded_cols)
    c = torch.arange(padded_cols)[None, :].expand(padded_rows, padded_cols)
    real = (r < rows) & (c < cols)
    # rolled position (r, c) holds the token from ((r + sr) mod rows, (c + sc) mod cols)
    token = torch.where(real, ((r + sr) % rows) * cols + (c + sc) % cols, rows * cols)
    # which side of the seam the roll put each position on (Swin's three regions per axis
    # reduce to this: only the last window holds both sides)
    region = (r >= rows - sr).long() * 2 + (c >= cols - sc).long()
    to_windows = lambda t: t.view(padded_rows // wr, wr, padded_cols // wc, wc).permute(0, 2, 1, 3).reshape(-1, wr * wc)
    slots, real, region = to_windows(token), to_windows(real), to_windows(region)
    attend = real[:, None, :].expand(-1, wr * wc, -1).clone()
    if mask_wrapped:
        attend &= region[:, :, None] == region[:, None, :]
    # padding queries attend to themselves, so no softmax row is empty (their outputs are dropped)
    attend |= torch.eye(wr * wc, dtype=torch.bool)[None]
    flat = slots.flatten()
    position = torch.empty(rows * cols, dtype=torch.long)
    keep = flat < rows * cols
    position[flat[keep]] = torch.arange(flat.numel())[keep]
    return WindowPlan((wr, wc), (sr, sc), slots.to(device), position.to(device), attend.to(device))


class ShiftedWindowBlock(Block):
    """A pre-norm Transformer block whose attention is restricted to (shifted) windows.

    Layer norms and the MLP act per token, so the whole block runs on the window layout
    ``(B * W) x A x D``; only attention sees the window boundaries.
    """

    def __init__(self, dim: int, heads: int, window=(4, 4), shift=(0, 0), mask_wrapped: bool = True,
                 **block_args):
        super().__init__(dim, heads, **block_args)
        self.window = (int(window[0]), int(window[1]))
        self.shift = (int(shift[0]), int(shift[1]))
        self.mask_wrapped = mask_wrapped

    def plan(self, grid: Grid, device) -> WindowPlan:
        return window_plan((int(grid[0]), int(grid[1])), self.window, self.shift, self.mask_wrapped, device)

    def forward(self, x: torch.Tensor, grid: Grid) -> torch.Tensor:
        batch, tokens, dim = x.shape
        if tokens != grid[0] * grid[1]:
            raise ValueError(f"{tokens} tokens do not fill a {grid[0]} x {grid[1]} grid; window "
                             "attention needs every patch (mask tokens included) and no CLS token")
        plan = self.plan(grid, x.device)
        windows, area = plan.slots.shape
        padded = torch.cat([x, x.new_zeros(batch, 1, dim)], dim=1)
        y = padded[:, plan.slots.flatten()].view(batch * windows, area, dim)
        attend = plan.attend.repeat(batch, 1, 1)[:, None]
        y = super().forward(y, attend).view(batch, windows * area, dim)
        return y[:, plan.position]
