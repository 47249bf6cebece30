"""The audio JEPA with every design choice of "Investigating Design Choices in
Joint-Embedding Predictive Architectures for General Audio Representation Learning"
(Riou et al., ICASSP 2024 SASB workshop; ``../shared/papers/audio-jepa-design-choices-2405.08679.txt``;
SonyCSLParis/audio-representations) one config key away.

One log-mel spectrogram is cut into 16 x 16 patches and split by a mask into a **context**
(the visible patches) and **targets** (the masked ones):

- the context encoder (ViT-B, no CLS token, as the released code) encodes the context
  patches only;
- the predictor (MAE's decoder: 8 global blocks, 512 wide, 16 heads; mask tokens at every
  non-context position) predicts a representation for every patch, and the target
  positions are kept;
- the target encoder is an EMA of the **whole** context encoder (patch embedding included;
  decay 0.99995 -> 0.99999 over the run, linearly) and makes the targets, each token
  standardised over its features;
- the loss (L1, smooth L1 or MSE) compares each predicted target with its target, averaged
  over features and target patches.

The design choices, each a key of :class:`JEPAConfig`:

- ``masking.strategy``: ``unstructured`` (the paper's best), ``multi_block`` (I-JEPA's
  rectangles as the targets) or ``time`` (whole time columns as the targets), with the
  share ``masking.ratio`` of patches (columns for ``time``) that are targets;
- ``target_domain``: ``input``, the target encoder sees only the target patches (the
  paper's best, "masking in the audio domain"), or ``latent``, it sees every patch and the
  target positions are selected from its output (I-JEPA's way);
- ``loss``: ``smooth_l1`` (the released code's), ``l1`` or ``mse``;
- the training duration is the task's crop, ``task.clip.samples``: 2.1 s = 208 frames
  (33,120 samples), 3.2 s = 320 frames (51,040), 6.4 s = 640 frames (102,240).

The model runs its own front end (M2D's 80-bin log-mel, normalised by the corpus statistics
the spectrogram task writes into ``frontend``), so a checkpoint carries what it was trained
with and the feature API wraps the very same encoder.
"""

from dataclasses import dataclass, field
from typing import Optional

import torch
from torch import nn

from ..collapse import CollapseGuardConfig
from ..ema import EmaConfig, EmaTeacher, ema_decay
from ..losses import standardize
from ..masking.patches import PatchMask, PatchMaskingConfig, patch_mask
from .decoders.mae import MaeDecoder, MaeDecoderConfig
from .encoders.vit import ViTConfig, ViTEncoder, ViTOutput, gather_tokens
from .frontends.log_mel import LogMelConfig, LogMelFrontend
from .m2d import m2d_predictor
from .masked_output import MaskedPredictionOutput
from .patches import check_whole_rows, whole_columns

TARGET_DOMAINS = ("input", "latent")
LOSSES = ("l1", "smooth_l1", "mse")
JEPA_STRATEGIES = ("unstructured", "multi_block", "time")

# the three training durations the paper compares, as mel frames at a 10 ms hop
DURATION_FRAMES = {"2.1s": 208, "3.2s": 320, "6.4s": 640}


def clip_samples(frames: int, hop_length: int = 160) -> int:
    """The crop that gives exactly ``frames`` centred mel frames: ``(frames - 1) * hop``."""
    return (frames - 1) * hop_length


def jepa_encoder() -> ViTConfig:
    """ViT-B without a CLS token (the released ``ViTEncoder`` has none)."""
    return ViTConfig(cls_token=False)


@dataclass
class JEPAConfig:
    # M2D's 80-bin log-mel; norm_mean / norm_std are the training corpus's statistics (the
    # spectrogram task writes them)
    frontend: LogMelConfig = field(default_factory=LogMelConfig)
    encoder: ViTConfig = field(default_factory=jepa_encoder)
    # M2D's predictor, as the released ViTPredictor: 8 global blocks, 512 wide, 16 heads
    predictor: MaeDecoderConfig = field(default_factory=m2d_predictor)
    # which patches are targets (the rest is the context). The paper finds "unstructured"
    # best; the ratio is the released code's (ViTEncoder's masking_ratio, 0.6), which the
    # paper's text does not restate
    masking: PatchMaskingConfig = field(default_factory=lambda: PatchMaskingConfig(strategy="unstructured", ratio=0.6))
    # "input": the target encoder sees the target patches only; "latent": every patch
    target_domain: str = "input"
    # "smooth_l1" (the released code's criterion), "l1" or "mse"
    loss: str = "smooth_l1"
    # where smooth L1 turns from quadratic to linear (torch's default, the released code's)
    smooth_l1_beta: float = 1.0
    # targets (z - mean) / sqrt(var + eps) per token, the variance unbiased (the released
    # code's norm_pix_loss on target embeddings)
    target_eps: float = 1e-6
    # tau from 0.99995 to 0.99999, linear over the whole run (the fairseq configs set
    # anneal_updates to optimization.max_update)
    ema: EmaConfig = field(default_factory=lambda: EmaConfig(decay_start=0.99995, decay_end=0.99999,
                                                             anneal_updates=294_000))
    collapse: CollapseGuardConfig = field(default_factory=lambda: CollapseGuardConfig(
        min_target_std=0.1, min_prediction_std=0.01, warmup_updates=5000))

    def __post_init__(self):
        if self.masking.strategy not in JEPA_STRATEGIES:
            raise ValueError(f"masking.strategy={self.masking.strategy!r}: the JEPA study compares "
                             f"{', '.join(JEPA_STRATEGIES)}")
        if not 0.0 < self.masking.ratio < 1.0:
            raise ValueError(f"masking.ratio={self.masking.ratio}: the JEPA needs target patches and context "
                             "patches, so a share in (0, 1)")
        if self.target_domain not in TARGET_DOMAINS:
            raise ValueError(f"target_domain={self.target_domain!r}: expected one of {TARGET_DOMAINS}")
        if self.loss not in LOSSES:
            raise ValueError(f"loss={self.loss!r}: expected one of {LOSSES}")
        if self.smooth_l1_beta <= 0:
            raise ValueError(f"smooth_l1_beta={self.smooth_l1_beta}: expected > 0")
        check_whole_rows(self.frontend.n_mels, self.encoder.patch_size[0], "model.frontend.n_mels")


def tiny_jepa_config(**overrides) -> JEPAConfig:
    """A tiny JEPA for tests and the CPU demo: the paper's front end, patches, masking,
    target domain and loss; narrow and shallow networks and a fast EMA. Equals the model
    block of ``examples/jepa/config/tiny_cpu.yaml`` (a test checks it)."""
    cfg = dict(
        encoder=ViTConfig(embed_dim=64, depth=4, heads=4, cls_token=False),
        predictor=MaeDecoderConfig(embed_dim=32, depth=2, heads=4, attention="global"),
        ema=EmaConfig(decay_start=0.99, decay_end=0.999, anneal_updates=3000),
        collapse=CollapseGuardConfig(min_target_std=0.1, min_prediction_std=0.01, warmup_updates=100),
    )
    cfg.update(overrides)
    return JEPAConfig(**cfg)


def token_distance(predictions: torch.Tensor, targets: torch.Tensor, loss: str, beta: float = 1.0) -> torch.Tensor:
    """Each token's distance averaged over features: ``B x M x D`` twice -> ``B x M``. Its mean
    is torch's ``l1_loss`` / ``smooth_l1_loss(beta=beta)`` / ``mse_loss`` with mean reduction."""
    diff = predictions.float() - targets.float()
    if loss == "l1":
        per_value = diff.abs()
    elif loss == "mse":
        per_value = diff.square()
    elif loss == "smooth_l1":
        size = diff.abs()
        per_value = torch.where(size < beta, 0.5 * size.square() / beta, size - 0.5 * beta)
    else:
        raise ValueError(f"loss={loss!r}: expected one of {LOSSES}")
    return per_value.mean(dim=-1)


class JEPAModel(nn.Module):
    """``forward(source, generator)``: waveform crops ``B x S`` -> a
    :class:`~ehmam.models.masked_output.MaskedPredictionOutput` (predictions and
    standardised targets ``B x M x D`` at the target patches ``mask.masked``), in the named
    steps :meth:`log_mel`, :meth:`mask`, :meth:`encode_context`, :meth:`predict`,
    :meth:`encode_target` and :meth:`loss`."""

    def __init__(self, cfg: JEPAConfig):
        super().__init__()
        self.cfg = cfg
        self.frontend = LogMelFrontend(cfg.frontend)
        self.encoder = ViTEncoder(cfg.encoder)
        dim = cfg.encoder.embed_dim
        self.predictor = MaeDecoder(dim, dim, cfg.predictor)
        # a copy of the whole context encoder, as the released code's deepcopy
        self.target = EmaTeacher(self.encoder)

    # -- the steps of one training forward ------------------------------------------

    def log_mel(self, source: torch.Tensor) -> torch.Tensor:
        """``B x S`` waveform -> ``B x 1 x F x T`` normalised log-mel, cut to whole patches."""
        return whole_columns(self.frontend(source), self.cfg.encoder.patch_size[1])

    def mask(self, images: torch.Tensor, generator: torch.Generator) -> PatchMask:
        """True = a target patch; the others are the context."""
        grid = self.encoder.patch_embed.grid(images.shape[-2:])
        return patch_mask(self.cfg.masking, images.shape[0], grid, generator, images.device)

    def encode_context(self, images: torch.Tensor, mask: PatchMask) -> ViTOutput:
        """The context encoder on the context patches only."""
        return self.encoder(images, mask.visible)

    def predict(self, context: ViTOutput, mask: PatchMask) -> torch.Tensor:
        """Mask tokens at every non-context position, a prediction for every patch; the
        target ones are kept: ``B x M x D``."""
        return self.predictor.predict_at(context, mask.masked)

    @torch.no_grad()
    def encode_target(self, images: torch.Tensor, mask: PatchMask) -> torch.Tensor:
        """Standardised target tokens at the target patches, ``B x M x D``: the target encoder
        on those patches alone (``input`` domain) or on every patch, then the target
        positions (``latent`` domain)."""
        images = images.to(self.target.dtype)
        if self.cfg.target_domain == "input":
            tokens = self.target.model(images, mask.masked).patches
        else:
            tokens = gather_tokens(self.target.model(images).patches, mask.masked)
        return standardize(tokens.float(), self.cfg.target_eps)

    def loss(self, predictions: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Each target patch's distance, ``B x M``."""
        return token_distance(predictions, targets, self.cfg.loss, self.cfg.smooth_l1_beta)

    def forward(self, source: torch.Tensor, generator: Optional[torch.Generator] = None) -> MaskedPredictionOutput:
        if generator is None:
            generator = torch.Generator(device=source.device).manual_seed(0)
        images = self.log_mel(source)
        mask = self.mask(images, generator)
        predictions = self.predict(self.encode_context(images, mask), mask)
        targets = self.encode_target(images, mask)
        patch_losses = self.loss(predictions, targets)
        return MaskedPredictionOutput(loss=patch_losses.mean(), patch_losses=patch_losses, predictions=predictions,
                                      targets=targets, mask=mask, images=images)

    @torch.no_grad()
    def update_teacher(self, num_updates: int) -> float:
        """Move the target encoder towards the context encoder after an optimizer step;
        returns the decay."""
        decay = ema_decay(num_updates, self.cfg.ema)
        self.target.update(self.encoder, decay)
        return decay
