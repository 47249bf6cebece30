"""Spectrogram patches: cutting an image into patches and back, embedding them, and the
fixed 2-D sin-cos positional embedding (MAE, Sec. 3; used by M2D, Audio-MAE, MSM-MAE and
the audio JEPA).

Layout conventions (shared by ``ehmam.masking.patches``, the ViT and the decoders):
images are ``B x C x H x W`` with frequency on the height axis and time on the width axis
(``B x 1 x F x T`` for a log-mel spectrogram); a ``(ph, pw)`` patch gives the grid
``(H // ph, W // pw)`` = (frequency rows, time columns), and patch ``n = row * columns + col``
(row-major, the order a strided conv's output flattens to).
"""

from functools import lru_cache
from typing import Tuple

import torch
from torch import nn

Grid = Tuple[int, int]


def _pair(value) -> Tuple[int, int]:
    return (value, value) if isinstance(value, int) else (int(value[0]), int(value[1]))


def patch_grid(image_size: Tuple[int, int], patch_size) -> Grid:
    """The ``(rows, columns)`` grid of an ``H x W`` image; edges that do not fill a patch are
    dropped, as a strided conv drops them."""
    (height, width), (ph, pw) = image_size, _pair(patch_size)
    grid = (height // ph, width // pw)
    if grid[0] < 1 or grid[1] < 1:
        raise ValueError(f"an image of {height} x {width} holds no {ph} x {pw} patch")
    return grid


def check_whole_rows(bins: int, patch_height: int, where: str) -> None:
    """Refuse a front end whose frequency bins do not fill whole patch rows (the top bins
    would be dropped by the patch embedding, silently)."""
    if bins % patch_height:
        raise ValueError(f"{where}: {bins} bins are not a multiple of the patch height {patch_height}; "
                         "the top bins would be dropped")


def whole_columns(images: torch.Tensor, patch_width: int) -> torch.Tensor:
    """``B x C x F x T`` cut to the frames that fill whole patch columns (the last partial
    column dropped, as the patch embedding's strided conv would drop it)."""
    return images[..., : images.shape[-1] - images.shape[-1] % patch_width]


def patchify(images: torch.Tensor, patch_size) -> torch.Tensor:
    """``B x C x H x W`` -> ``B x N x (ph * pw * C)``; each patch flattened row by row, channels
    last (MAE's order). ``H`` and ``W`` must be multiples of the patch."""
    batch, channels, height, width = images.shape
    ph, pw = _pair(patch_size)
    if height % ph or width % pw:
        raise ValueError(f"image {height} x {width} is not a whole number of {ph} x {pw} patches; "
                         "crop or pad it first")
    rows, cols = height // ph, width // pw
    x = images.reshape(batch, channels, rows, ph, cols, pw)
    return x.permute(0, 2, 4, 3, 5, 1).reshape(batch, rows * cols, ph * pw * channels)


def unpatchify(patches: torch.Tensor, grid: Grid, patch_size, channels: int = 1) -> torch.Tensor:
    """The inverse of :func:`patchify`: ``B x N x (ph * pw * C)`` -> ``B x C x H x W``."""
    batch, count, size = patches.shape
    (rows, cols), (ph, pw) = grid, _pair(patch_size)
    if count != rows * cols or size != ph * pw * channels:
        raise ValueError(f"{count} patches of {size} values do not make a {rows} x {cols} grid of "
                         f"{ph} x {pw} x {channels} patches")
    x = patches.reshape(batch, rows, cols, ph, pw, channels)
    return x.permute(0, 5, 1, 3, 2, 4).reshape(batch, channels, rows * ph, cols * pw)


def sincos_1d(dim: int, positions: torch.Tensor) -> torch.Tensor:
    """``P`` positions -> ``P x dim``: ``[sin(p w_i), cos(p w_i)]`` with
    ``w_i = 10000^(-i / (dim / 2))``, ``i = 0 .. dim/2 - 1`` (Transformer, Sec. 3.5)."""
    if dim % 2:
        raise ValueError(f"sin-cos embedding width {dim} must be even")
    omega = 1.0 / 10000 ** (torch.arange(dim // 2, dtype=torch.float64) / (dim / 2))
    angles = positions.to(torch.float64)[:, None] * omega[None, :]
    return torch.cat([angles.sin(), angles.cos()], dim=1)


def sincos_2d(dim: int, grid: Grid, cls_token: bool = False) -> torch.Tensor:
    """Fixed 2-D sin-cos positional embedding for any grid: ``(N [+1]) x dim``, float32.

    The first ``dim / 2`` channels encode the column (time) index, the last ``dim / 2`` the
    row (frequency) index, in MAE's order, so weights trained with MAE's table line up. The
    embedding depends only on the absolute (row, column), so the grid of a shorter clip gets
    the first columns of a longer clip's table. With ``cls_token`` a row of zeros comes first.
    """
    if dim % 4:
        raise ValueError(f"2-D sin-cos embedding width {dim} must be a multiple of 4")
    rows, cols = grid
    row_index = torch.arange(rows).repeat_interleave(cols)
    col_index = torch.arange(cols).repeat(rows)
    table = torch.cat([sincos_1d(dim // 2, col_index), sincos_1d(dim // 2, row_index)], dim=1)
    if cls_token:
        table = torch.cat([table.new_zeros(1, dim), table])
    return table.float()


def sincos_table(dim: int, grid: Grid, like: torch.Tensor) -> torch.Tensor:
    """:func:`sincos_2d` on ``like``'s device and dtype, made once per (width, grid, device,
    dtype), so a training step copies nothing to the device. Callers must not modify it."""
    return _sincos_table(dim, (int(grid[0]), int(grid[1])), like.device, like.dtype)


@lru_cache(maxsize=64)
def _sincos_table(dim: int, grid: Grid, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    return sincos_2d(dim, grid).to(device=device, dtype=dtype)


class PatchEmbed(nn.Module):
    """A strided conv: ``B x C x H x W`` -> ``B x N x D`` patch tokens, the grid with them.

    ``patch_size``: ``(ph, pw)`` in (frequency, time) bins; 16 x 16 by default, 80 x 2 for
    M2D-S's frames that span all 80 mel bins.
    """

    def __init__(self, patch_size=(16, 16), in_channels: int = 1, embed_dim: int = 768):
        super().__init__()
        self.patch_size = _pair(patch_size)
        self.proj = nn.Conv2d(in_channels, embed_dim, kernel_size=self.patch_size, stride=self.patch_size)
        # MAE initialises the conv like a linear layer on the flattened patch
        nn.init.xavier_uniform_(self.proj.weight.view(embed_dim, -1))
        nn.init.zeros_(self.proj.bias)

    def grid(self, image_size: Tuple[int, int]) -> Grid:
        return patch_grid(image_size, self.patch_size)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.proj(images).flatten(2).transpose(1, 2)
