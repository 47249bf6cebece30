"""Masks on an F' x T' grid of spectrogram patches, for the ViT methods (M2D, Audio-MAE,
MSM-MAE and the audio JEPA).

Strategies (Audio-MAE Sec. 3 "Masking Strategies" and Fig. 2; JEPA design choices Sec. 4.3):

- ``unstructured``: random patches (MAE / M2D / MSM-MAE: the argsort of uniform noise).
- ``time``: whole time columns; ``frequency``: whole frequency rows.
- ``time_frequency``: the union of random columns and random rows (Audio-MAE's fine-tuning
  mask, 0.3 in time and 0.3 in frequency, Sec. 4.2), so the visible patches are the kept
  rows x the kept columns and the masked share is ``1 - (1 - p_t)(1 - p_f)`` up to rounding.
- ``multi_block``: a union of random rectangles (I-JEPA's target blocks).

Conventions (shared with ``ehmam.models.patches``, the ViT and the decoders): the grid is
``(F', T')`` = (frequency rows, time columns); patch ``n = f * T' + t`` (row-major, the order
a strided conv's output flattens to); masks are ``B x N`` bool with True = masked.

Counts. Every strategy masks an exact number of patches, the same for every example, so the
ViT can gather the visible patches into a rectangular ``B x N_visible`` batch. A share ``r``
of ``S`` items means ``round(r * S)`` items, with Python's ``round`` (halves to even:
``round(2.5) == 2``); MAE's ``int(N * (1 - r))`` kept patches agree except when ``r * N``
falls just below a half (0.8 of 512 keeps 102 patches either way).

Ratio 0 is allowed and masks nothing (every patch visible, ``masked`` is ``B x 0``): a JEPA
context that sees everything, or no masking in fine-tuning. A ratio that would mask every
patch (or every row / column) is an error, since the encoder needs at least one visible
patch; so is a ratio outside ``[0, 1)``.

The functions are pure: the only randomness is the ``torch.Generator`` they are given.
"""

import numbers
from dataclasses import dataclass
from typing import Optional, Tuple

import torch

STRATEGIES = ("unstructured", "multi_block", "time", "frequency", "time_frequency")

Grid = Tuple[int, int]

# multi-block masks draw rectangles in rounds of this many until the union is big enough;
# the rectangles are i.i.d., so the round size changes only the speed, never the masks' law
BLOCKS_PER_ROUND = 16


@dataclass
class PatchMaskingConfig:
    # one of STRATEGIES. Audio-MAE pre-trains with "unstructured" (Sec. 4.4, Fig. 4a) and
    # fine-tunes with "time_frequency" (Fig. 4b); the audio JEPA finds "unstructured" best
    strategy: str = "unstructured"
    # share of the N patches masked by "unstructured" and "multi_block", of the time columns
    # by "time", of the frequency rows by "frequency" (Audio-MAE: 0.8; MSM-MAE: 0.75;
    # M2D: 0.6 or 0.7). Ignored by "time_frequency"
    ratio: float = 0.8
    # "time_frequency": shares of the time columns and of the frequency rows (Audio-MAE
    # fine-tuning, Sec. 4.2: 0.3 and 0.3)
    time_ratio: float = 0.3
    frequency_ratio: float = 0.3
    # "multi_block": each rectangle covers a share of the grid drawn uniformly from
    # [block_scale_min, block_scale_max] (I-JEPA's target blocks: 0.15 to 0.2) ...
    block_scale_min: float = 0.15
    block_scale_max: float = 0.2
    # ... with height / width (rows / columns) drawn uniformly from this range (I-JEPA: 0.75 to 1.5)
    aspect_ratio_min: float = 0.75
    aspect_ratio_max: float = 1.5

    def __post_init__(self):
        where = "PatchMaskingConfig"
        if self.strategy not in STRATEGIES:
            raise ValueError(f"{where}.strategy={self.strategy!r}: expected one of {', '.join(STRATEGIES)}")
        for name in ("ratio", "time_ratio", "frequency_ratio"):
            check_ratio(getattr(self, name), f"{where}.{name}")
        block_scale = (self.block_scale_min, self.block_scale_max)
        aspect_ratio = (self.aspect_ratio_min, self.aspect_ratio_max)
        check_block_ranges(block_scale, aspect_ratio, f"{where}.block_scale_min/max", f"{where}.aspect_ratio_min/max")

    @property
    def block_scale(self) -> Tuple[float, float]:
        return (self.block_scale_min, self.block_scale_max)

    @property
    def aspect_ratio(self) -> Tuple[float, float]:
        return (self.aspect_ratio_min, self.aspect_ratio_max)


@dataclass
class PatchMask:
    """A batch of patch masks with equal counts per example.

    ``mask``: B x N bool, True = masked, N = F' * T'.
    ``visible``: B x N_visible long, each row's unmasked patch indices, ascending.
    ``masked``: B x N_masked long, each row's masked patch indices, ascending.
    ``blocks``: for ``multi_block_mask`` only, B x K x 4 long ``(row, column, height, width)``
    of every rectangle drawn, in the order the union takes them; rectangles after the one
    that reaches the count add nothing, and that one may be cut (see ``multi_block_mask``).
    """

    mask: torch.Tensor
    visible: torch.Tensor
    masked: torch.Tensor
    blocks: Optional[torch.Tensor] = None

    @classmethod
    def from_mask(cls, mask: torch.Tensor, blocks: Optional[torch.Tensor] = None) -> "PatchMask":
        visible, masked = indices_from_mask(mask)
        return cls(mask=mask, visible=visible, masked=masked, blocks=blocks)


# ----------------------------------------------------------------------------- validation


def check_ratio(ratio: float, where: str) -> None:
    if isinstance(ratio, bool) or not isinstance(ratio, numbers.Real):
        raise TypeError(f"{where}={ratio!r}: expected a number in [0, 1)")
    if not 0.0 <= ratio < 1.0:
        raise ValueError(
            f"{where}={ratio}: expected a share in [0, 1); 0 masks nothing, and at least one "
            "patch must stay visible for the encoder"
        )


def check_block_ranges(
    block_scale, aspect_ratio, scale_name: str = "block_scale", aspect_name: str = "aspect_ratio"
) -> None:
    low, high = block_scale
    if not 0.0 < low <= high <= 1.0:
        raise ValueError(f"{scale_name}=({low}, {high}): expected shares of the grid with 0 < min <= max <= 1")
    low, high = aspect_ratio
    if not 0.0 < low <= high:
        raise ValueError(f"{aspect_name}=({low}, {high}): expected height/width ratios with 0 < min <= max")


def check_grid(grid: Grid, where: str) -> Tuple[int, int]:
    try:
        rows, cols = (int(size) for size in grid)
    except (TypeError, ValueError):
        raise TypeError(f"{where}: grid={grid!r}, expected (frequency rows, time columns)") from None
    if rows < 1 or cols < 1:
        raise ValueError(f"{where}: grid={grid!r} holds no patch; expected (frequency rows, time columns) >= 1")
    return rows, cols


def check_generator(generator, where: str) -> None:
    if not isinstance(generator, torch.Generator):
        raise TypeError(
            f"{where}: generator={generator!r}; pass a torch.Generator (masks never draw from the "
            "global RNG), e.g. torch.Generator().manual_seed(seed)"
        )


def masked_count(ratio: float, size: int, where: str) -> int:
    """``round(ratio * size)``: how many of ``size`` items a share ``ratio`` masks; refuses a
    ratio outside [0, 1) or one that rounds to all ``size`` items."""
    check_ratio(ratio, where)
    count = round(ratio * size)
    if count >= size:
        raise ValueError(
            f"{where}={ratio} of {size} rounds to {count}: nothing would stay visible; "
            f"use a ratio below {(size - 0.5) / size:.4g}"
        )
    return count


# ----------------------------------------------------------------------------- index sets


def mask_from_indices(indices: torch.Tensor, num_patches: int) -> torch.Tensor:
    """B x K long patch indices -> B x N bool with True at those indices."""
    mask = torch.zeros(indices.shape[0], num_patches, dtype=torch.bool, device=indices.device)
    return mask.scatter_(1, indices, True)


def indices_from_mask(mask: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """B x N bool (True = masked) -> ``(visible, masked)``: B x N_visible and B x N_masked long,
    ascending. Every row must mask the same number of patches."""
    if mask.dim() != 2 or mask.dtype != torch.bool:
        raise ValueError(f"mask: expected B x N bool, got {tuple(mask.shape)} {mask.dtype}")
    counts = mask.sum(dim=1)
    if counts.numel() and not bool((counts == counts[0]).all()):
        raise ValueError(
            f"mask: rows mask different numbers of patches ({counts.tolist()}); the visible "
            "patches must pack into one B x N_visible batch, so every row needs the same count"
        )
    num_masked = int(counts[0]) if counts.numel() else 0
    # a stable sort puts the visible (False) first, then the masked, each in ascending order
    order = torch.argsort(mask.to(torch.uint8), dim=1, stable=True)
    split = mask.shape[1] - num_masked
    return order[:, :split], order[:, split:]


def random_subset(
    batch: int, size: int, count: int, generator: torch.Generator, device: Optional[torch.device] = None
) -> torch.Tensor:
    """B x size bool, exactly ``count`` True per row, a uniformly random subset (each row sorts
    its own uniform noise and takes the ``count`` lowest, MAE's ``random_masking``)."""
    noise = torch.rand(batch, size, generator=generator, device=generator.device)
    chosen = torch.zeros(batch, size, dtype=torch.bool, device=generator.device)
    chosen.scatter_(1, torch.argsort(noise, dim=1)[:, :count], True)
    return chosen.to(device if device is not None else generator.device)


# ----------------------------------------------------------------------------- strategies


def unstructured_mask(
    batch: int, grid: Grid, ratio: float, generator: torch.Generator, device: Optional[torch.device] = None
) -> PatchMask:
    """``round(ratio * N)`` random patches per example (MAE, M2D, MSM-MAE; Audio-MAE's
    "unstructured"), every subset of that size equally likely."""
    rows, cols = check_grid(grid, "unstructured_mask")
    check_generator(generator, "unstructured_mask")
    count = masked_count(ratio, rows * cols, "unstructured_mask: ratio")
    return PatchMask.from_mask(random_subset(batch, rows * cols, count, generator, device))


def _lines(line_mask: torch.Tensor, grid: Grid, axis: str) -> torch.Tensor:
    """B x T' column mask (``axis="time"``) or B x F' row mask -> B x N patch mask."""
    rows, cols = grid
    batch = line_mask.shape[0]
    cells = line_mask[:, None, :] if axis == "time" else line_mask[:, :, None]
    return cells.expand(batch, rows, cols).reshape(batch, rows * cols)


def _whole_lines(
    batch: int, grid: Grid, ratio: float, generator: torch.Generator, device, axis: str
) -> PatchMask:
    where = f"{axis}_mask"
    rows, cols = check_grid(grid, where)
    check_generator(generator, where)
    lines = cols if axis == "time" else rows
    chosen = random_subset(batch, lines, masked_count(ratio, lines, f"{where}: ratio"), generator, device)
    return PatchMask.from_mask(_lines(chosen, (rows, cols), axis))


def time_mask(
    batch: int, grid: Grid, ratio: float, generator: torch.Generator, device: Optional[torch.device] = None
) -> PatchMask:
    """``round(ratio * T')`` random time columns per example, masked in every frequency row."""
    return _whole_lines(batch, grid, ratio, generator, device, "time")


def frequency_mask(
    batch: int, grid: Grid, ratio: float, generator: torch.Generator, device: Optional[torch.device] = None
) -> PatchMask:
    """``round(ratio * F')`` random frequency rows per example, masked at every time column."""
    return _whole_lines(batch, grid, ratio, generator, device, "frequency")


def time_frequency_mask(
    batch: int,
    grid: Grid,
    time_ratio: float,
    frequency_ratio: float,
    generator: torch.Generator,
    device: Optional[torch.device] = None,
) -> PatchMask:
    """Audio-MAE's 2-D mask (Sec. 3, Fig. 2d): the union of ``n_t = round(time_ratio * T')``
    random columns and ``n_f = round(frequency_ratio * F')`` random rows, drawn independently.

    The visible patches are the kept rows x the kept columns, ``(F' - n_f)(T' - n_t)`` of
    them in every example; the masked share is ``1 - (1 - p_t)(1 - p_f)`` up to rounding
    (0.51 for Audio-MAE's 0.3 and 0.3).
    """
    rows, cols = check_grid(grid, "time_frequency_mask")
    check_generator(generator, "time_frequency_mask")
    n_time = masked_count(time_ratio, cols, "time_frequency_mask: time_ratio")
    n_freq = masked_count(frequency_ratio, rows, "time_frequency_mask: frequency_ratio")
    columns = random_subset(batch, cols, n_time, generator, device)
    freq_rows = random_subset(batch, rows, n_freq, generator, device)
    mask = _lines(columns, (rows, cols), "time") | _lines(freq_rows, (rows, cols), "frequency")
    return PatchMask.from_mask(mask)


def sample_blocks(
    batch: int,
    grid: Grid,
    count: int,
    generator: torch.Generator,
    block_scale: Tuple[float, float] = (0.15, 0.2),
    aspect_ratio: Tuple[float, float] = (0.75, 1.5),
    device: Optional[torch.device] = None,
) -> torch.Tensor:
    """``count`` random rectangles per example: B x count x 4 long ``(row, column, height, width)``.

    As I-JEPA's ``_sample_block_size``: a share ``s ~ U(block_scale)`` of the ``N`` patches
    and an aspect ``a = height / width ~ U(aspect_ratio)`` give ``height = round(sqrt(s N a))``
    and ``width = round(sqrt(s N / a))``, each clipped to [1, the grid's size] (so on a flat
    grid such as 5 x 50 most blocks span all rows and cover less than ``s``); the top-left
    corner is uniform over the positions where the block fits. Unlike I-JEPA, which draws one
    shape per batch from one uniform number, every block draws its own scale and aspect.
    """
    rows, cols = grid
    uniform = torch.rand(batch, count, 4, generator=generator, device=generator.device, dtype=torch.float64)
    scale = block_scale[0] + (block_scale[1] - block_scale[0]) * uniform[..., 0]
    aspect = aspect_ratio[0] + (aspect_ratio[1] - aspect_ratio[0]) * uniform[..., 1]
    area = scale * (rows * cols)
    height = torch.sqrt(area * aspect).round().clamp(1, rows).long()
    width = torch.sqrt(area / aspect).round().clamp(1, cols).long()
    # floor(u * positions) with u < 1; the clamp guards the float rounding of u * positions
    row = torch.minimum((uniform[..., 2] * (rows - height + 1)).floor().long(), rows - height)
    col = torch.minimum((uniform[..., 3] * (cols - width + 1)).floor().long(), cols - width)
    blocks = torch.stack([row, col, height, width], dim=-1)
    return blocks.to(device if device is not None else generator.device)


def first_cover(blocks: torch.Tensor, grid: Grid) -> torch.Tensor:
    """B x K x 4 blocks -> B x N long: the index of the first block covering each patch, or K
    where none does."""
    rows, cols = grid
    batch, count = blocks.shape[:2]
    f = torch.arange(rows, device=blocks.device)[None, None, :]
    t = torch.arange(cols, device=blocks.device)[None, None, :]
    row, col, height, width = (blocks[..., i : i + 1] for i in range(4))
    # block k labels the rows and the columns it spans with k, the others with K; a patch
    # lies in block k iff both its row and its column carry k, i.e. iff their max is k
    dtype = torch.uint8 if count < 255 else torch.int32
    index = torch.arange(count, device=blocks.device, dtype=dtype)[None, :, None]
    row_label = torch.where((f >= row) & (f < row + height), index, count)  # B x K x F'
    col_label = torch.where((t >= col) & (t < col + width), index, count)  # B x K x T'
    labels = torch.maximum(row_label[..., :, None], col_label[..., None, :])  # B x K x F' x T'
    return labels.amin(dim=1).reshape(batch, rows * cols).long()


def multi_block_mask(
    batch: int,
    grid: Grid,
    ratio: float,
    generator: torch.Generator,
    block_scale: Tuple[float, float] = (0.15, 0.2),
    aspect_ratio: Tuple[float, float] = (0.75, 1.5),
    max_blocks: int = 1024,
    device: Optional[torch.device] = None,
) -> PatchMask:
    """I-JEPA-style rectangles (JEPA design choices, Sec. 4.3 "multi-block"): masked = the union
    of random rectangles (:func:`sample_blocks`), taken in order until it holds exactly
    ``round(ratio * N)`` patches.

    The rectangle that crosses the count is cut: of its patches not yet masked it keeps the
    earliest time columns, each column from row 0 on (the order ``t * F' + f``),
    so the cut part is again a block of whole columns plus at most one partial column, as
    the last block of ``ehmam.masking.frames`` keeps its leftmost frames. Rectangles are
    drawn in rounds of ``BLOCKS_PER_ROUND`` until every example's union is large enough;
    more than ``max_blocks`` rectangles is an error (a ratio close to 1 needs rectangles at
    the grid's corners, which few positions cover).

    Returns a :class:`PatchMask` whose ``blocks`` (B x K x 4) lists every rectangle drawn.
    """
    rows, cols = check_grid(grid, "multi_block_mask")
    check_generator(generator, "multi_block_mask")
    check_block_ranges(block_scale, aspect_ratio, "multi_block_mask: block_scale", "multi_block_mask: aspect_ratio")
    num_patches = rows * cols
    count = masked_count(ratio, num_patches, "multi_block_mask: ratio")
    out_device = device if device is not None else generator.device

    drawn = []
    never = torch.iinfo(torch.int64).max // (2 * num_patches)  # "no block covers it", sorts last
    first = torch.full((batch, num_patches), never, dtype=torch.long, device=out_device)
    total = 0
    while count > 0 and batch > 0 and int((first < never).sum(dim=1).min()) < count:
        if total >= max_blocks:
            short = int((first < never).sum(dim=1).min())
            raise ValueError(
                f"multi_block_mask: {total} blocks of scale {block_scale} cover only {short} of the "
                f"{count} patches asked for (ratio {ratio} of a {rows} x {cols} grid); lower the "
                "ratio, raise block_scale, or raise max_blocks"
            )
        new = sample_blocks(batch, (rows, cols), BLOCKS_PER_ROUND, generator, block_scale, aspect_ratio, out_device)
        new_first = first_cover(new, (rows, cols))
        covered_now = new_first < BLOCKS_PER_ROUND
        first = torch.where(covered_now & (first == never), new_first + total, first)
        drawn.append(new)
        total += BLOCKS_PER_ROUND

    blocks = torch.cat(drawn, dim=1) if drawn else torch.zeros(batch, 0, 4, dtype=torch.long, device=out_device)
    mask = torch.zeros(batch, num_patches, dtype=torch.bool, device=out_device)
    if count > 0:
        # block order first, then within a block the earliest column, then the first row
        n = torch.arange(num_patches, device=out_device)
        within = (n % cols) * rows + n // cols
        priority = first * num_patches + within
        mask.scatter_(1, priority.topk(count, dim=1, largest=False).indices, True)
    return PatchMask.from_mask(mask, blocks=blocks)


def patch_mask(
    cfg: PatchMaskingConfig,
    batch: int,
    grid: Grid,
    generator: torch.Generator,
    device: Optional[torch.device] = None,
) -> PatchMask:
    """The mask ``cfg.strategy`` names, for ``batch`` examples on a ``(F', T')`` grid."""
    if cfg.strategy == "unstructured":
        return unstructured_mask(batch, grid, cfg.ratio, generator, device)
    if cfg.strategy == "time":
        return time_mask(batch, grid, cfg.ratio, generator, device)
    if cfg.strategy == "frequency":
        return frequency_mask(batch, grid, cfg.ratio, generator, device)
    if cfg.strategy == "time_frequency":
        return time_frequency_mask(batch, grid, cfg.time_ratio, cfg.frequency_ratio, generator, device)
    if cfg.strategy == "multi_block":
        return multi_block_mask(
            batch, grid, cfg.ratio, generator, cfg.block_scale, cfg.aspect_ratio, device=device
        )
    raise ValueError(f"PatchMaskingConfig.strategy={cfg.strategy!r}: expected one of {', '.join(STRATEGIES)}")
