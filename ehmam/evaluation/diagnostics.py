"""Where the teacher thinks the hard frames are, and whether it is right.

For one utterance: the teacher's predicted loss per frame (what easy-to-hard masking ranks
by), the frames it would mask, and the student's real reconstruction loss per frame. The
real loss of a frame exists only when the frame is masked, so the student is run under
several random block masks at once (one batch row each) and each frame's losses are
averaged over the rows that masked it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch

from .. import losses as L
from ..masking.frames import easy_to_hard_mask
from ..models.ehmam import EhmamModel
from ..models.frontends.waveform import normalize_waveform


@dataclass
class HardRegions:
    """All per-frame, length T: ``predicted``: the teacher's predicted loss; ``chosen``:
    frames the teacher's selective masking takes at ``progress`` (bool); ``real``: the
    student's mean reconstruction loss where masked (NaN if no row masked it);
    ``coverage``: how many random masks covered each frame."""

    predicted: torch.Tensor
    chosen: torch.Tensor
    real: torch.Tensor
    coverage: torch.Tensor


@torch.no_grad()
def hard_regions(model: EhmamModel, waveform: torch.Tensor, progress: float = 1.0, repeats: int = 16,
                 generator: Optional[torch.Generator] = None) -> HardRegions:
    """Teacher's view against the student's real losses for one 1-D 16 kHz ``waveform``."""
    if waveform.dim() != 1:
        raise ValueError(f"expected one 1-D waveform, got shape {tuple(waveform.shape)}")
    generator = generator or torch.Generator().manual_seed(0)
    was_training = model.training
    model.eval()
    try:
        features, _ = model.frontend(normalize_waveform(waveform.float()[None]))
        targets, predicted = model.teacher_pass(features, None)
        chosen = easy_to_hard_mask(predicted, None, progress, model.cfg.masking, generator).selective[0]
        # progress 0: purely random blocks, so every frame is equally likely to be measured
        rows = easy_to_hard_mask(predicted.expand(repeats, -1), None, 0.0, model.cfg.masking, generator).mask
        prediction, _ = model.student_pass(features.expand(repeats, -1, -1), None, rows)
        losses = L.frame_reconstruction_loss(prediction, targets.expand(repeats, -1, -1), model.cfg.loss_scale)
    finally:
        model.train(was_training)
    coverage = rows.sum(dim=0)
    real = (losses * rows).sum(dim=0) / coverage.clamp(min=1)
    real[coverage == 0] = float("nan")
    return HardRegions(predicted=predicted[0], chosen=chosen, real=real, coverage=coverage)


def rank_correlation(predicted: torch.Tensor, real: torch.Tensor) -> float:
    """Spearman's rho over the frames where ``real`` is known."""
    known = ~torch.isnan(real)
    return L.spearman_correlation(predicted[None], torch.nan_to_num(real)[None], known[None])
