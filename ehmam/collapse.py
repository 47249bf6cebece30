"""Representation-collapse guard (as data2vec 2.0's): if the teacher's targets or the
student's predictions stop varying across frames, the reconstruction loss can reach zero
without learning anything. Training should stop loudly rather than burn GPU days."""

from dataclasses import dataclass

import torch


@dataclass
class CollapseGuardConfig:
    # floors on the per-dimension standard deviation across masked frames, averaged over
    # dimensions (data2vec 2.0 calls these min_target_var / min_pred_var: 0.1 / 0.01)
    min_target_std: float = 0.1
    min_prediction_std: float = 0.01
    # the guard is off before this update (early predictions are near-constant by design)
    warmup_updates: int = 5000


class RepresentationCollapseError(RuntimeError):
    """Targets or predictions stopped varying: the run has collapsed."""


def feature_std(features: torch.Tensor) -> torch.Tensor:
    """Standard deviation over rows of an N x D matrix, per column, averaged over columns."""
    features = features.detach().float().reshape(-1, features.shape[-1])
    if features.shape[0] < 2:
        return features.new_tensor(float("nan"))
    return torch.sqrt(features.var(dim=0) + 1e-6).mean()


def check_collapse(num_updates: int, target_std: float, prediction_std: float, cfg: CollapseGuardConfig) -> None:
    """Raise :class:`RepresentationCollapseError` when a std is under its floor after warm-up."""
    if num_updates < cfg.warmup_updates:
        return
    problems = []
    if target_std < cfg.min_target_std:
        problems.append(f"target std {target_std:.4g} < min_target_std {cfg.min_target_std}")
    if prediction_std < cfg.min_prediction_std:
        problems.append(f"prediction std {prediction_std:.4g} < min_prediction_std {cfg.min_prediction_std}")
    if problems:
        raise RepresentationCollapseError(
            f"representation collapse at update {num_updates}: {'; '.join(problems)}. The "
            f"targets or predictions no longer vary across frames. Fix: lower the learning "
            f"rate, lengthen the warm-up, or raise the EMA decay; the floors and their "
            f"warm-up are the model's collapse.* settings"
        )
