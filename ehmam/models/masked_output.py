"""What a masked-patch pretraining model's forward returns (M2D, Audio-MAE / MSM-MAE, and the
audio JEPA after them): the loss, what it was computed from, and the per-batch spreads the
collapse guard and the ``spectrogram_pretraining`` criterion read."""

from dataclasses import dataclass
from functools import cached_property
import torch

from ..collapse import feature_std
from ..masking.patches import PatchMask


@dataclass
class MaskedPredictionOutput:
    """``loss``: the mean of ``patch_losses`` ``B x M`` (M masked patches); ``predictions`` and
    ``targets`` ``B x M x D`` at ``mask.masked`` (M2D: representations; Audio-MAE: patch
    values); ``mask`` the patch mask (True = masked); ``images`` the normalised spectrogram
    input ``B x 1 x F x T``."""

    loss: torch.Tensor
    patch_losses: torch.Tensor
    predictions: torch.Tensor
    targets: torch.Tensor
    mask: PatchMask
    images: torch.Tensor

    @property
    def sample_size(self) -> int:
        return self.patch_losses.numel()

    def stats(self) -> dict:
        """What a run logs per batch: the spreads the collapse guard watches (computed once,
        then shared by the guard and the criterion)."""
        return self._spreads

    @cached_property
    def _spreads(self) -> dict:
        return {"target_std": float(feature_std(self.targets)),
                "prediction_std": float(feature_std(self.predictions))}
