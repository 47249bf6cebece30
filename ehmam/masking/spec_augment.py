"""Feature-space SpecAugment for CTC fine-tuning (wav2vec 2.0, Sec. 4.2 and Appendix B).

While fine-tuning, spans of encoder-input frames are replaced by the learned mask embedding
and spans of channels are zeroed, as in wav2vec 2.0 and data2vec. The probabilities mean
what they mean in fairseq's ``wav2vec_ctc`` configs: ``mask_prob`` is the chance of each
frame *starting* a span, so spans of ``mask_length`` frames start at about
``mask_prob * L / mask_length`` places and may overlap (0.65 with length 10 covers roughly
half of the frames). This is not the exact-share block masking of pretraining
(:mod:`ehmam.masking.frames`), which needs equal counts to pack the student's batch.

Field names equal fairseq's ``wav2vec_ctc`` keys, so ``model.mask_prob`` etc. of a stock
fine-tuning config reach them (fairseq overrides every key of that name in the stored
pretraining config). Masks are ``B x T`` / ``B x C`` bool, True = masked.
"""

from dataclasses import dataclass
from typing import Optional

import torch

# wav2vec 2.0 masks at least two time spans per utterance while fine-tuning
MIN_TIME_SPANS = 2


@dataclass
class SpecAugmentConfig:
    # chance of a frame starting a masked span (wav2vec_ctc's mask_prob; paper Table 5: 0.65)
    mask_prob: float = 0.65
    # frames per masked span (wav2vec_ctc's mask_length)
    mask_length: int = 10
    # chance of a channel starting a zeroed span (Table 5: 0.25 for 10 min / 1 h, 0.5 above)
    mask_channel_prob: float = 0.0
    # channels per zeroed span (Table 5: 64)
    mask_channel_length: int = 64

    def __post_init__(self):
        for name in ("mask_prob", "mask_channel_prob"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name}={getattr(self, name)}: expected a probability in [0, 1]")
        for name in ("mask_length", "mask_channel_length"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}={getattr(self, name)}: expected at least 1")


def span_mask(
    lengths: torch.Tensor,
    size: int,
    prob: float,
    span: int,
    generator: Optional[torch.Generator] = None,
    min_spans: int = 0,
) -> torch.Tensor:
    """Random spans within each row's first ``lengths[b]`` positions: ``B x size`` bool.

    Row b gets ``max(min_spans, floor(prob * L_b / span + u))`` spans (u ~ U[0, 1), so the
    expected count is exact), each starting uniformly in ``[0, L_b - span]``; overlaps are
    allowed. A row shorter than ``span`` is masked whole if it gets any span.
    """
    device = lengths.device
    batch = lengths.shape[0]
    if prob == 0.0 or batch == 0:
        return torch.zeros(batch, size, dtype=torch.bool, device=device)
    u = torch.rand(batch, generator=generator, device=device)
    counts = torch.floor(prob * lengths / span + u).long().clamp(min=min_spans)
    most = int(counts.max())
    if most == 0:
        return torch.zeros(batch, size, dtype=torch.bool, device=device)
    room = (lengths - span).clamp(min=0) + 1  # possible start positions per row
    starts = (torch.rand(batch, most, generator=generator, device=device) * room[:, None]).long()
    used = torch.arange(most, device=device)[None, :] < counts[:, None]
    positions = starts[:, :, None] + torch.arange(span, device=device)
    inside = used[:, :, None] & (positions < lengths[:, None, None])
    # spans that are unused or run past the row land in a spare column, cut off below
    spare = size
    index = torch.where(inside, positions, torch.full_like(positions, spare)).flatten(1)
    mask = torch.zeros(batch, size + 1, dtype=torch.bool, device=device)
    mask.scatter_(1, index, True)
    return mask[:, :size]


def spec_augment(
    features: torch.Tensor,
    padding_mask: Optional[torch.Tensor],
    mask_embedding: torch.Tensor,
    cfg: SpecAugmentConfig,
    generator: Optional[torch.Generator] = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Mask time spans with ``mask_embedding`` and zero channel spans.

    features: B x T x C; padding_mask: B x T (True = padding, never masked).
    Returns (masked features, time mask B x T, channel mask B x C).
    """
    batch, frames, channels = features.shape
    device = features.device
    lengths = torch.full((batch,), frames, device=device) if padding_mask is None else (~padding_mask).sum(dim=1)
    time = span_mask(lengths, frames, cfg.mask_prob, cfg.mask_length, generator, min_spans=MIN_TIME_SPANS)
    channel = span_mask(torch.full((batch,), channels, device=device), channels, cfg.mask_channel_prob,
                        cfg.mask_channel_length, generator)
    out = torch.where(time[..., None], mask_embedding.to(features.dtype), features)
    out = out.masked_fill(channel[:, None, :], 0.0)
    return out, time, channel
