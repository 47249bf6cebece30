"""M2D, Masked Modeling Duo (Niizumi et al., ICASSP 2023; ``../shared/papers`` and
nttcslab/m2d): two networks see complementary patch sets of one log-mel spectrogram.

- The online network encodes the **visible** patches (ViT-B) and its predictor (MAE's
  decoder, 8 blocks of width 512 with mask tokens, projected to 768) predicts the
  representations of the masked ones (Sec. 3, Fig. 1).
- The target network is an EMA of the online encoder's blocks and final norm that encodes
  **only the masked patches**. It shares the patch embedding, the fixed positions and the
  CLS token with the online encoder, as in nttcslab/m2d, whose target has its own blocks
  and norm only (initialised on their own there; ``target_init="copy"`` starts from the
  online weights instead). Its outputs are standardised over features (Sec. 3, "for
  stabilizing the training").
- The loss (Eq. 2) is the MSE of l2-normalised prediction and target, ``2 - 2 cos``,
  averaged over masked patches.

``target_sees_all`` is the conventional variant the paper compares against (M2D's
``M2D_D2ViT``, data2vec-like): the target encodes every patch and the masked positions are
selected from its output.

The model runs its own front end: ``forward(source)`` takes ``B x S`` waveform crops and
turns them into the normalised log-mel, so a checkpoint carries the statistics it was
trained with, and the feature API wraps the very same module.
"""

from dataclasses import dataclass, field
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from ..collapse import CollapseGuardConfig
from ..ema import EmaConfig, EmaTeacher, ema_decay
from ..losses import standardize
from ..masking.patches import PatchMask, unstructured_mask
from .decoders.mae import MaeDecoder, MaeDecoderConfig
from .encoders.vit import ViTConfig, ViTEncoder, gather_tokens, init_transformer_weights
from .frontends.log_mel import LogMelConfig, LogMelFrontend
from .masked_output import MaskedPredictionOutput
from .patches import check_whole_rows, whole_columns


TARGET_INITS = ("independent", "copy")


def m2d_predictor() -> MaeDecoderConfig:
    """MAE's decoder as M2D's predictor (Sec. 4.1): 8 global blocks, 512 wide, 16 heads."""
    return MaeDecoderConfig(embed_dim=512, depth=8, heads=16, attention="global")


@dataclass
class M2DConfig:
    # the 80-bin log-mel of M2D (Sec. 4.1); its norm_mean / norm_std are the training
    # corpus's statistics (the spectrogram task writes them; see examples/m2d/README.md)
    frontend: LogMelConfig = field(default_factory=LogMelConfig)
    # ViT-B with 16 x 16 patches: an 80 x 608 input gives a 5 x 38 grid
    encoder: ViTConfig = field(default_factory=ViTConfig)
    predictor: MaeDecoderConfig = field(default_factory=m2d_predictor)
    # share of patches masked, uniformly at random (Sec. 4.1 tests 0.6 and 0.7)
    mask_ratio: float = 0.7
    # Sec. 4.1: tau from 0.99995 to 0.99999, linear over the whole run (the fairseq
    # configs set anneal_updates to optimization.max_update)
    ema: EmaConfig = field(default_factory=lambda: EmaConfig(decay_start=0.99995, decay_end=0.99999,
                                                             anneal_updates=300_000))
    # True: the target encodes all patches (M2D_D2ViT, the conventional variant)
    target_sees_all: bool = False
    # the target's starting weights: "independent", a fresh initialisation of its own, as
    # nttcslab/m2d's target_blocks (the EMA then pulls them to the online encoder's);
    # "copy", the online encoder's (BYOL, data2vec)
    target_init: str = "independent"
    # the target tokens' standardisation: (z - mean) / sqrt(var + eps) over features
    target_eps: float = 1e-6
    # floors on the spread of targets and predictions over masked patches
    collapse: CollapseGuardConfig = field(default_factory=lambda: CollapseGuardConfig(
        min_target_std=0.1, min_prediction_std=0.01, warmup_updates=5000))

    def __post_init__(self):
        if not 0.0 < self.mask_ratio < 1.0:
            raise ValueError(f"mask_ratio={self.mask_ratio}: M2D needs masked patches for the target "
                             "and visible ones for the online encoder, so a share in (0, 1)")
        if self.target_init not in TARGET_INITS:
            raise ValueError(f"target_init={self.target_init!r}: expected one of {TARGET_INITS}")
        check_whole_rows(self.frontend.n_mels, self.encoder.patch_size[0], "model.frontend.n_mels")


def tiny_m2d_config(**overrides) -> M2DConfig:
    """A few-hundred-thousand-parameter M2D for tests and the CPU demo; the patch geometry,
    predictor form and losses are the paper's, only the widths and depths shrink. Equals the
    model block of ``examples/m2d/config/tiny_cpu.yaml`` (a test checks it)."""
    cfg = dict(
        encoder=ViTConfig(embed_dim=64, depth=4, heads=4),
        predictor=MaeDecoderConfig(embed_dim=32, depth=2, heads=4, attention="global"),
        ema=EmaConfig(decay_start=0.99, decay_end=0.999, anneal_updates=3000),
        collapse=CollapseGuardConfig(min_target_std=0.1, min_prediction_std=0.01, warmup_updates=100),
    )
    cfg.update(overrides)
    return M2DConfig(**cfg)


def normalized_mse(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Eq. 2 per token: ``||l2(p) - l2(t)||^2 = 2 - 2 cos(p, t)``; ``B x M x D`` -> ``B x M``."""
    p = F.normalize(prediction.float(), dim=-1)
    t = F.normalize(target.float(), dim=-1)
    return 2.0 - 2.0 * (p * t).sum(dim=-1)


class M2DModel(nn.Module):
    """``forward(source, generator)``: waveform crops ``B x S`` -> a
    :class:`~ehmam.models.masked_output.MaskedPredictionOutput` (predictions and
    standardised targets ``B x M x D`` at the masked patches), in the
    named steps :meth:`log_mel`, :meth:`mask`, :meth:`encode_online`, :meth:`predict`,
    :meth:`encode_target` and :func:`normalized_mse`."""

    def __init__(self, cfg: M2DConfig):
        super().__init__()
        self.cfg = cfg
        self.frontend = LogMelFrontend(cfg.frontend)
        self.encoder = ViTEncoder(cfg.encoder)
        dim = cfg.encoder.embed_dim
        self.predictor = MaeDecoder(dim, dim, cfg.predictor)
        self.target = EmaTeacher(self.ema_student())
        if cfg.target_init == "independent":
            self.target.model.apply(init_transformer_weights)

    def ema_student(self) -> nn.ModuleDict:
        """What the target copies: the online encoder's blocks and final norm (the patch
        embedding, positions and CLS token are shared, not copied)."""
        return nn.ModuleDict({"blocks": self.encoder.blocks, "norm": self.encoder.norm})

    # -- the steps of one training forward ------------------------------------------

    def log_mel(self, source: torch.Tensor) -> torch.Tensor:
        """``B x S`` waveform -> ``B x 1 x F x T`` normalised log-mel, cut to whole patches."""
        return whole_columns(self.frontend(source), self.cfg.encoder.patch_size[1])

    def mask(self, images: torch.Tensor, generator: torch.Generator) -> PatchMask:
        grid = self.encoder.patch_embed.grid(images.shape[-2:])
        return unstructured_mask(images.shape[0], grid, self.cfg.mask_ratio, generator, images.device)

    def encode_online(self, images: torch.Tensor, mask: PatchMask):
        """The online encoder on the visible patches only."""
        return self.encoder(images, mask.visible)

    def predict(self, online, mask: PatchMask) -> torch.Tensor:
        """The predictor fills mask tokens around the visible tokens and predicts every
        patch; the masked ones are kept: ``B x M x D``."""
        return self.predictor.predict_at(online, mask.masked)

    @torch.no_grad()
    def encode_target(self, images: torch.Tensor, mask: PatchMask) -> torch.Tensor:
        """Standardised target tokens at the masked patches, ``B x M x D``. The target
        encodes only those patches, or every patch with ``target_sees_all``."""
        blocks, norm = self.target.model["blocks"], self.target.model["norm"]
        seen = None if self.cfg.target_sees_all else mask.masked
        x, _ = self.encoder.embed(images, seen)  # shared embedding, positions and CLS
        x = x.to(self.target.dtype)
        for block in blocks:
            x = block(x)
        x = norm(x)
        x = x[:, 1:] if self.encoder.cls_token is not None else x
        if self.cfg.target_sees_all:
            x = gather_tokens(x, mask.masked)
        return standardize(x.float(), self.cfg.target_eps)

    def forward(self, source: torch.Tensor, generator: Optional[torch.Generator] = None) -> MaskedPredictionOutput:
        if generator is None:
            generator = torch.Generator(device=source.device).manual_seed(0)
        images = self.log_mel(source)
        mask = self.mask(images, generator)
        online = self.encode_online(images, mask)
        predictions = self.predict(online, mask)
        targets = self.encode_target(images, mask)
        patch_losses = normalized_mse(predictions, targets)
        return MaskedPredictionOutput(loss=patch_losses.mean(), patch_losses=patch_losses, predictions=predictions,
                         targets=targets, mask=mask, images=images)

    @torch.no_grad()
    def update_teacher(self, num_updates: int) -> float:
        """Move the target towards the online encoder after an optimizer step; returns the decay."""
        decay = ema_decay(num_updates, self.cfg.ema)
        self.target.update(self.ema_student(), decay)
        return decay
