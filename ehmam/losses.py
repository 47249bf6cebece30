"""EH-MAM's training signals (arXiv 2410.13179, Sec. 3.2): teacher targets, the
reconstruction loss (Eq. 3), the auxiliary ranking loss (Eqs. 4-6), and the one
function that weighs and sums them; and :func:`standardize`, the per-token standardisation
of M2D's targets and of MAE's per-patch normalised pixels.

Shapes: features ``B x T x D``; per-frame values ``B x T``; masks ``B x T`` bool with
True = masked; padding masks ``B x T`` bool with True = padding.
"""

import math
from typing import Mapping, Optional, Sequence

import torch
import torch.nn.functional as F


def instance_norm_over_time(
    x: torch.Tensor, padding_mask: Optional[torch.Tensor] = None, eps: float = 1e-5
) -> torch.Tensor:
    """Normalise each channel of each utterance to zero mean, unit variance over its
    unpadded frames (biased variance, as torch's instance norm). Padding comes out 0."""
    if padding_mask is None:
        valid = torch.ones(x.shape[:2], dtype=x.dtype, device=x.device)
    else:
        valid = (~padding_mask).to(x.dtype)
    weight = valid[..., None]
    count = weight.sum(dim=1, keepdim=True).clamp(min=1.0)
    mean = (x * weight).sum(dim=1, keepdim=True) / count
    var = (((x - mean) ** 2) * weight).sum(dim=1, keepdim=True) / count
    return (x - mean) / torch.sqrt(var + eps) * weight


def standardize(x: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """``(x - mean) / sqrt(var + eps)`` over the last axis, the unbiased variance as
    ``torch.var``: MAE's ``norm_pix_loss`` (Audio-MAE's patch targets; nttcslab/m2d applies it
    to target tokens)."""
    mean = x.mean(dim=-1, keepdim=True)
    return (x - mean) / (x.var(dim=-1, keepdim=True) + eps).sqrt()


def teacher_targets(
    layer_outputs: Sequence[torch.Tensor], padding_mask: Optional[torch.Tensor], top_k: int
) -> torch.Tensor:
    """Targets: the mean of the teacher's top ``top_k`` block outputs, each instance-
    normalised over time first (Table 5: "IN -> AVG"). Returns B x T x D."""
    if not 1 <= top_k <= len(layer_outputs):
        raise ValueError(f"average_top_k_layers={top_k}, but the teacher has {len(layer_outputs)} layers")
    normalised = [instance_norm_over_time(x.float(), padding_mask) for x in layer_outputs[-top_k:]]
    return torch.stack(normalised).mean(dim=0)


def frame_reconstruction_loss(
    prediction: torch.Tensor, target: torch.Tensor, scale: Optional[float] = None
) -> torch.Tensor:
    """Squared error per frame, summed over channels (Eq. 3's squared L2 norm) and
    scaled by ``scale`` (default 1/sqrt(D), data2vec 2.0's choice). Returns B x T."""
    if scale is None:
        scale = 1.0 / math.sqrt(prediction.shape[-1])
    return ((prediction.float() - target.float()) ** 2).sum(dim=-1) * scale


def masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of ``values`` (B x T) over the True entries of ``mask``."""
    count = mask.sum()
    if int(count) == 0:
        raise ValueError("no masked frames: the reconstruction loss would be empty")
    return values.masked_select(mask).sum() / count


def masked_frame_pairs(mask: torch.Tensor):
    """Gather each utterance's masked frames: ``order`` (B x M indices, masked frames
    first in their original order, M = the largest masked count) and ``pairs`` (B x M x M
    bool, True where both entries are masked frames and i != j)."""
    counts = mask.sum(dim=1)
    most = int(counts.max()) if counts.numel() else 0
    order = torch.argsort(mask.to(torch.int8), dim=1, descending=True, stable=True)[:, :most]
    present = torch.arange(most, device=mask.device)[None, :] < counts[:, None]
    pairs = present[:, :, None] & present[:, None, :]
    pairs &= ~torch.eye(most, dtype=torch.bool, device=mask.device)
    return order, pairs


def ranking_loss(
    predicted_loss: torch.Tensor, frame_losses: torch.Tensor, mask: torch.Tensor
) -> torch.Tensor:
    """Auxiliary ranking loss (Eqs. 4-6): for every ordered pair (i, j), i != j, of masked
    frames of an utterance, binary cross-entropy between the target
    ``1[loss_i > loss_j]`` (reconstruction losses, detached) and ``sigmoid(s_i - s_j)``
    (the student's predicted losses). Averaged over the pairs of each utterance, then
    over the utterances that have a pair.

    Only masked frames are gathered, so memory is B x M x M for M masked frames.
    """
    order, pairs = masked_frame_pairs(mask)
    scores = predicted_loss.float().gather(1, order)
    losses = frame_losses.detach().float().gather(1, order)
    logits = scores[:, :, None] - scores[:, None, :]
    targets = (losses[:, :, None] > losses[:, None, :]).float()
    bce = F.binary_cross_entropy_with_logits(logits, targets, reduction="none")
    pair_counts = pairs.sum(dim=(1, 2))
    has_pairs = pair_counts > 0
    if not bool(has_pairs.any()):
        raise ValueError("the ranking loss needs at least two masked frames in an utterance")
    per_utterance = (bce * pairs).sum(dim=(1, 2)) / pair_counts.clamp(min=1)
    return per_utterance[has_pairs].mean()


class NonFiniteLossError(FloatingPointError):
    """A loss (or the teacher's predicted loss) became NaN or inf: training diverged."""


def combine_losses(terms: Mapping[str, torch.Tensor], weights: Mapping[str, float]) -> torch.Tensor:
    """The one place loss terms are summed (Eq. 2: L_rec + alpha * L_aux). Every term must
    have a weight and every weight a term, so no loss can be computed and then dropped."""
    if set(terms) != set(weights):
        raise ValueError(f"loss terms {sorted(terms)} and weights {sorted(weights)} differ")
    total = None
    for name, value in terms.items():
        if not torch.isfinite(value).all():
            raise NonFiniteLossError(f"loss term {name!r} is {value.item()}: training diverged")
        weighted = weights[name] * value
        total = weighted if total is None else total + weighted
    return total


def ranking_accuracy(predicted_loss: torch.Tensor, frame_losses: torch.Tensor, mask: torch.Tensor) -> float:
    """Share of masked-frame pairs whose predicted order matches the true order (0.5 = chance),
    averaged over utterances; pairs with equal true losses are left out."""
    order, pairs = masked_frame_pairs(mask)
    scores = predicted_loss.detach().float().gather(1, order)
    losses = frame_losses.detach().float().gather(1, order)
    score_gaps = scores[:, :, None] - scores[:, None, :]
    loss_gaps = losses[:, :, None] - losses[:, None, :]
    decided = pairs & (loss_gaps != 0)
    agree = (decided & (score_gaps * loss_gaps > 0)).sum(dim=(1, 2))
    counts = decided.sum(dim=(1, 2))
    rows = counts > 0
    if not bool(rows.any()):
        return float("nan")
    return float((agree[rows].float() / counts[rows]).mean())


def _average_ranks(values: torch.Tensor, pairs: torch.Tensor) -> torch.Tensor:
    """0-based ranks of each row's present entries among themselves, ties sharing the mean
    rank (as in Spearman's definition); ``pairs`` as from :func:`masked_frame_pairs`."""
    below = ((values[:, None, :] < values[:, :, None]) & pairs).sum(dim=2)
    tied = ((values[:, None, :] == values[:, :, None]) & pairs).sum(dim=2)
    return below.float() + 0.5 * tied.float()


def spearman_correlation(predicted_loss: torch.Tensor, frame_losses: torch.Tensor, mask: torch.Tensor) -> float:
    """Spearman's rank correlation between predicted and real losses over each utterance's
    masked frames (B x T each), averaged over utterances with at least two masked frames
    and non-constant ranks; NaN when there are none. +1: the predictor orders the frames
    exactly as their real losses, 0: no better than chance."""
    order, pairs = masked_frame_pairs(mask)
    present = pairs.any(dim=2)
    ranks = [_average_ranks(v.detach().float().gather(1, order), pairs) for v in (predicted_loss, frame_losses)]
    weight = present.float()
    count = weight.sum(dim=1).clamp(min=1)
    centred = [(r - (r * weight).sum(dim=1, keepdim=True) / count[:, None]) * weight for r in ranks]
    covariance = (centred[0] * centred[1]).sum(dim=1)
    scale = torch.sqrt((centred[0] ** 2).sum(dim=1) * (centred[1] ** 2).sum(dim=1))
    rows = scale > 0
    if not bool(rows.any()):
        return float("nan")
    return float((covariance[rows] / scale[rows]).mean())
