"""Easy-to-hard masking (EH-MAM, arXiv 2410.13179, Sec. 3.2.3 and Algorithm 1).

Every utterance gets the same number of masked frames, ``floor(mask_prob * L_min)``
where ``L_min`` is the shortest unpadded length in the batch (equal counts let the
student drop masked frames and still pack a rectangular batch, as in data2vec 2.0).
At training progress ``t/T`` a share ``t/T`` of that budget is *selective*: blocks
that start at the frames with the highest loss predicted by the teacher. The rest is
random block masking. Both are unions of blocks of ``mask_length`` frames.

Blocks are chosen by a priority per frame: a frame's priority is the best key of any
block covering it, so the top-n frames are the union of the best-keyed blocks, taken
in key order and cut at exactly n frames (only the last block can be partial). This
reaches the exact count directly, where data2vec 2.0 samples ``mask_prob +
mask_prob_adjust`` worth of overlapping blocks and then adds or removes single frames
at random until the count is right; the "mask adjust" of the paper's Table 5 (0.05)
has no role here.

Conventions (used across ehmam): masks are ``B x T`` bool with True = masked;
padding masks are ``B x T`` bool with True = padding. Padding is never masked.
The functions are pure: the only randomness comes from the ``torch.Generator``.
"""

from dataclasses import dataclass
from typing import Optional

import torch

MASKING_MODES = ("easy_to_hard", "random")


@dataclass
class MaskingConfig:
    # "easy_to_hard" (EH-MAM) or "random" (data2vec 2.0 block masking: the ablation)
    masking: str = "easy_to_hard"
    # P: share of each utterance's frames that are masked (paper Table 5: R = 0.5)
    mask_prob: float = 0.5
    # B: block width in frames (paper Table 5: 5 frames = 100 ms at 50 Hz)
    mask_length: int = 5

    def __post_init__(self):
        if self.masking not in MASKING_MODES:
            raise ValueError(f"masking={self.masking!r}: expected one of {MASKING_MODES}")
        if not 0.0 < self.mask_prob < 1.0:
            raise ValueError(f"mask_prob={self.mask_prob}: expected a share in (0, 1)")
        if self.mask_length < 1:
            raise ValueError(f"mask_length={self.mask_length}: expected at least 1 frame")


@dataclass
class Mask:
    """``mask``: B x T bool, True = masked. ``selective``: the part of ``mask`` chosen
    from the teacher's predicted loss (all False for random masking)."""

    mask: torch.Tensor
    selective: torch.Tensor


def valid_lengths(padding_mask: Optional[torch.Tensor], batch: int, frames: int) -> torch.Tensor:
    if padding_mask is None:
        return torch.full((batch,), frames, dtype=torch.long)
    return (~padding_mask).sum(dim=1).cpu()


def mask_budget(lengths: torch.Tensor, mask_prob: float) -> int:
    """Frames to mask in every utterance: P times the shortest unpadded length."""
    if lengths.numel() == 0 or int(lengths.min()) < 1:
        raise ValueError("every utterance needs at least one unpadded frame to mask")
    return int(mask_prob * int(lengths.min()))


def selective_count(budget: int, progress: float, masking: str) -> int:
    """Algorithm 1: the selective share of the budget is t/T, growing linearly."""
    if masking == "random":
        return 0
    return int(budget * min(max(progress, 0.0), 1.0))


def order_keys(values: torch.Tensor) -> torch.Tensor:
    """Integers in [0, 2**32) in the same order as the float32 ``values``, without a
    sort: the IEEE-754 bit pattern, with negative numbers' magnitude bits flipped."""
    bits = values.float().contiguous().view(torch.int32)
    signed_order = bits ^ ((bits >> 31) & 0x7FFFFFFF)
    return signed_order.to(torch.int64) + 2**31


def block_priority(
    keys: torch.Tensor, tiebreak: torch.Tensor, mask_length: int, padding_mask: Optional[torch.Tensor]
) -> torch.Tensor:
    """Priority of each frame such that the top-n frames of a row are the union of the
    blocks ``[s, s + mask_length)`` with the highest start keys, in key order.

    ``keys``: B x T int64 in [0, 2**32); ``tiebreak``: B x T int64 in [0, 2**31).
    A frame's priority is the highest key of the blocks covering it; among frames
    first covered by the same block, the higher ``tiebreak`` wins. Padding gets -1.
    """
    if padding_mask is not None:
        keys = keys.masked_fill(padding_mask, -1)
    # max over the starts s in [t - mask_length + 1, t]: the blocks that cover frame t
    covering = keys.clone()
    for offset in range(1, min(mask_length, keys.shape[1])):
        torch.maximum(covering[:, offset:], keys[:, :-offset], out=covering[:, offset:])
    priority = covering.mul_(2**31).add_(tiebreak)
    if padding_mask is not None:
        priority = priority.masked_fill(padding_mask, -1)
    return priority


def top_frames(priority: torch.Tensor, count: int) -> torch.Tensor:
    """B x T bool marking each row's ``count`` highest-priority frames."""
    chosen = torch.zeros(priority.shape, dtype=torch.bool, device=priority.device)
    if count > 0:
        chosen.scatter_(1, priority.topk(count, dim=1, sorted=False).indices, True)
    return chosen


def easy_to_hard_mask(
    predicted_loss: torch.Tensor,
    padding_mask: Optional[torch.Tensor],
    progress: float,
    cfg: MaskingConfig,
    generator: Optional[torch.Generator] = None,
) -> Mask:
    """Mask a batch for the student (Algorithm 1, vectorised over the batch).

    predicted_loss: B x T, the teacher's predicted reconstruction loss per frame
        (ignored for ``masking="random"``; only its shape and device are used).
    padding_mask: B x T bool, True = padding, or None.
    progress: t / T, training progress in [0, 1]; values outside are clamped.
    generator: the only source of randomness (on the CPU or on predicted_loss's device).
    """
    batch, frames = predicted_loss.shape
    device = predicted_loss.device
    budget = mask_budget(valid_lengths(padding_mask, batch, frames), cfg.mask_prob)
    n_selective = selective_count(budget, progress, cfg.masking)

    selective = torch.zeros(batch, frames, dtype=torch.bool, device=device)
    if n_selective > 0:
        # blocks start at the frames the teacher predicts hardest; within a block,
        # the frames with the higher predicted loss are taken first
        scores = predicted_loss.detach()
        # one reduction instead of an elementwise check: any NaN or inf makes the sum non-finite
        if not bool(torch.isfinite(scores.float().sum())):
            raise FloatingPointError("the teacher's predicted losses contain NaN or inf: training diverged")
        loss_keys = order_keys(scores)
        priority = block_priority(loss_keys, loss_keys >> 1, cfg.mask_length, padding_mask)
        selective = top_frames(priority, n_selective)

    noise_device = generator.device if generator is not None else device
    noise = torch.rand(batch, frames, generator=generator, device=noise_device).to(device)
    # distinct with near certainty; a rare tie only merges two blocks' turns
    random_keys = noise.view(torch.int32).to(torch.int64)
    # the partial last block keeps its leftmost frames: earlier position, higher tiebreak
    leftmost_first = torch.arange(frames - 1, -1, -1, device=device)
    priority = block_priority(random_keys, leftmost_first, cfg.mask_length, padding_mask)
    random = top_frames(priority.masked_fill(selective, -1), budget - n_selective)
    return Mask(mask=selective | random, selective=selective)


def random_block_mask(
    batch: int,
    frames: int,
    padding_mask: Optional[torch.Tensor],
    mask_prob: float = 0.5,
    mask_length: int = 5,
    generator: Optional[torch.Generator] = None,
    device: Optional[torch.device] = None,
) -> torch.Tensor:
    """data2vec 2.0's random block mask with exact equal counts: B x T bool."""
    cfg = MaskingConfig(masking="random", mask_prob=mask_prob, mask_length=mask_length)
    placeholder = torch.zeros(batch, frames, device=device)
    return easy_to_hard_mask(placeholder, padding_mask, 0.0, cfg, generator).mask
