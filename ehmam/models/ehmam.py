"""The EH-MAM model (arXiv 2410.13179): a data2vec 2.0 teacher/student on raw waveform
with loss predictors and easy-to-hard masking.

One training step, in the order :meth:`EhmamModel.forward` calls them:
  1. front end: waveform -> frames (shared; the teacher sees them detached),
  2. teacher pass: targets (instance-normalised top-K layers) and predicted losses,
  3. clones: each utterance is repeated ``clone_batch`` times for the student,
  4. masking: easy-to-hard masks from the teacher's predicted losses,
  5. student pass: encoder on the unmasked frames, decoder and loss predictor on all,
  6. losses: reconstruction + alpha * ranking, summed in ``losses.combine_losses``.
After the optimizer step, :meth:`update_teacher` moves the EMA teacher.
"""

from dataclasses import dataclass, field
from typing import Dict, Optional

import torch
from torch import nn

from .. import losses as L
from ..collapse import CollapseGuardConfig, feature_std
from ..ema import EmaConfig, EmaTeacher, ema_decay
from ..masking.frames import Mask, MaskingConfig, easy_to_hard_mask
from ..masking.spec_augment import SpecAugmentConfig, spec_augment
from .decoders.conv import ConvDecoder, ConvDecoderConfig
from .encoders.context import ContextEncoder, EncoderConfig, EncoderOutput
from .frontends.waveform import FrontendConfig, WaveformFrontend
from .loss_predictor import LossPredictor


@dataclass
class EhmamConfig:
    """Defaults are the paper's base model (Table 5 and Sec. 4); see :func:`tiny_config`."""

    frontend: FrontendConfig = field(default_factory=FrontendConfig)
    encoder: EncoderConfig = field(default_factory=EncoderConfig)
    decoder: ConvDecoderConfig = field(default_factory=ConvDecoderConfig)
    loss_predictor: ConvDecoderConfig = field(default_factory=ConvDecoderConfig)
    masking: MaskingConfig = field(default_factory=MaskingConfig)
    ema: EmaConfig = field(default_factory=EmaConfig)
    # K: teacher layers averaged into the targets (Table 5)
    average_top_k_layers: int = 8
    # alpha: weight of the auxiliary ranking loss (Eq. 2; Table 6)
    ranking_loss_weight: float = 0.05
    # student copies per utterance, each masked differently (data2vec 2.0 audio: 8;
    # the paper does not say)
    clone_batch: int = 8
    # per-frame loss scale; None = 1/sqrt(embed_dim), as data2vec 2.0
    loss_scale: Optional[float] = None
    # stop training when targets or predictions stop varying (data2vec 2.0's guard)
    collapse: CollapseGuardConfig = field(default_factory=CollapseGuardConfig)
    # masking while fine-tuning (unused in pretraining); fairseq's wav2vec_ctc sets it
    spec_augment: SpecAugmentConfig = field(default_factory=SpecAugmentConfig)


# What only pretraining uses; fine-tuning drops it (EhmamModel.remove_pretraining_modules).
PRETRAINING_ONLY = ("teacher", "decoder", "loss_predictor", "decoder_mask_token")


def tiny_config(**overrides) -> EhmamConfig:
    """A model small enough to train for hundreds of steps on a laptop CPU."""
    cfg = EhmamConfig(
        frontend=FrontendConfig(
            conv_channels=[32] * 7,
            conv_kernels=[10, 3, 3, 3, 3, 2, 2],
            conv_strides=[5, 2, 2, 2, 2, 2, 2],
        ),
        encoder=EncoderConfig(embed_dim=64, layers=4, heads=4, ffn_dim=128, pos_conv_depth=2,
                              pos_conv_kernel=9, pos_conv_groups=4),
        decoder=ConvDecoderConfig(dim=32, layers=2, kernel=5, groups=4),
        loss_predictor=ConvDecoderConfig(dim=32, layers=2, kernel=5, groups=4),
        average_top_k_layers=2,
        clone_batch=2,
        ema=EmaConfig(decay_start=0.99, decay_end=0.999, anneal_updates=200),
        collapse=CollapseGuardConfig(warmup_updates=100),
    )
    for key, value in overrides.items():
        if not hasattr(cfg, key):
            raise ValueError(f"EhmamConfig has no field {key!r}")
        setattr(cfg, key, value)
    return cfg


@dataclass
class EhmamOutput:
    """``loss``: the total to minimise; ``losses``: each unweighted term;
    ``mask``: the student's masks ((B * clone_batch) x T); ``sample_size``: masked frames;
    ``target_std`` / ``prediction_std``: spread of targets and predictions over masked frames
    (see :mod:`ehmam.collapse`)."""

    loss: torch.Tensor
    losses: Dict[str, torch.Tensor]
    mask: Mask
    frame_losses: torch.Tensor
    predicted_losses: torch.Tensor
    teacher_predicted_losses: torch.Tensor
    sample_size: int
    target_std: torch.Tensor
    prediction_std: torch.Tensor

    @property
    def selective_share(self) -> float:
        """Share of masked frames the teacher chose (the rest are random blocks)."""
        return float(self.mask.selective.sum() / self.mask.mask.sum().clamp(min=1))


class EhmamModel(nn.Module):
    def __init__(self, cfg: EhmamConfig):
        super().__init__()
        self.cfg = cfg
        dim = cfg.encoder.embed_dim
        if not 1 <= cfg.average_top_k_layers <= cfg.encoder.layers:
            raise ValueError(
                f"average_top_k_layers={cfg.average_top_k_layers} must be between 1 and the "
                f"encoder's {cfg.encoder.layers} layers"
            )
        if cfg.clone_batch < 1:
            raise ValueError(f"clone_batch={cfg.clone_batch}: the student needs at least 1 masked copy of "
                             "each utterance (model.clone_batch; data2vec 2.0 audio uses 8)")
        self.frontend = WaveformFrontend(cfg.frontend, dim)
        self.encoder = ContextEncoder(cfg.encoder)
        self.loss_predictor = LossPredictor(dim, cfg.loss_predictor)
        self.decoder = ConvDecoder(dim, dim, cfg.decoder)
        # replaces masked frames before the positional conv, so it cannot see them
        self.mask_embedding = nn.Parameter(torch.empty(dim).uniform_())
        # stands in for the dropped frames at the decoder's input
        self.decoder_mask_token = nn.Parameter(torch.zeros(dim))
        self.teacher = EmaTeacher(self.ema_student())

    def ema_student(self) -> nn.ModuleDict:
        """The parts the teacher copies (Eq. 1: omega = {theta, delta})."""
        return nn.ModuleDict({"encoder": self.encoder, "loss_predictor": self.loss_predictor})

    # -- the steps of one training forward ------------------------------------------

    @torch.no_grad()
    def teacher_pass(self, features: torch.Tensor, padding_mask: Optional[torch.Tensor]):
        """Targets (B x T x D) and predicted losses (B x T) from the unmasked input."""
        teacher = self.teacher.model
        # the teacher's weights stay float32 (see EmaTeacher), so it runs in float32
        out = teacher["encoder"](features.detach().to(self.teacher.dtype), padding_mask)
        targets = L.teacher_targets(out.layers, padding_mask, self.cfg.average_top_k_layers)
        predicted = teacher["loss_predictor"](out.hidden, padding_mask)
        return targets, predicted

    def student_pass(self, features: torch.Tensor, padding_mask: Optional[torch.Tensor], mask: torch.Tensor):
        """Encode the unmasked frames; decode and predict losses at every frame."""
        masked_input = torch.where(mask[..., None], self.mask_embedding.to(features.dtype), features)
        out: EncoderOutput = self.encoder(masked_input, padding_mask, keep=~mask)
        full = self.decoder_mask_token.to(out.hidden.dtype).expand(*mask.shape, -1).clone()
        full[~mask] = out.hidden.reshape(-1, out.hidden.shape[-1])
        return self.decoder(full, padding_mask), self.loss_predictor(full, padding_mask)

    def compute_losses(self, prediction, targets, mask, predicted_losses):
        frame_losses = L.frame_reconstruction_loss(prediction, targets, self.cfg.loss_scale)
        terms = {
            "reconstruction": L.masked_mean(frame_losses, mask),
            "ranking": L.ranking_loss(predicted_losses, frame_losses, mask),
        }
        weights = {"reconstruction": 1.0, "ranking": self.cfg.ranking_loss_weight}
        return L.combine_losses(terms, weights), terms, frame_losses

    def forward(
        self,
        source: torch.Tensor,
        padding_mask: Optional[torch.Tensor] = None,
        progress: float = 0.0,
        generator: Optional[torch.Generator] = None,
    ) -> EhmamOutput:
        """source: B x S waveform (normalised); padding_mask: B x S, True = padding;
        progress: t / T, the share of training done (drives easy-to-hard masking)."""
        features, frame_padding = self.frontend(source, padding_mask)
        targets, teacher_predicted = self.teacher_pass(features, frame_padding)

        clones = self.cfg.clone_batch
        features = features.repeat_interleave(clones, dim=0)
        targets = targets.repeat_interleave(clones, dim=0)
        teacher_predicted = teacher_predicted.repeat_interleave(clones, dim=0)
        if frame_padding is not None:
            frame_padding = frame_padding.repeat_interleave(clones, dim=0)

        mask = easy_to_hard_mask(teacher_predicted, frame_padding, progress, self.cfg.masking, generator)
        prediction, predicted_losses = self.student_pass(features, frame_padding, mask.mask)
        loss, terms, frame_losses = self.compute_losses(prediction, targets, mask.mask, predicted_losses)
        return EhmamOutput(
            loss=loss,
            losses=terms,
            mask=mask,
            frame_losses=frame_losses.detach(),
            predicted_losses=predicted_losses.detach(),
            teacher_predicted_losses=teacher_predicted,
            sample_size=int(mask.mask.sum()),
            target_std=feature_std(targets[mask.mask]),
            prediction_std=feature_std(prediction[mask.mask]),
        )

    @torch.no_grad()
    def update_teacher(self, num_updates: int) -> float:
        """Move the teacher towards the student after an optimizer step; returns the decay."""
        decay = ema_decay(num_updates, self.cfg.ema)
        self.teacher.update(self.ema_student(), decay)
        return decay

    # -- inference --------------------------------------------------------------------

    def encode(
        self,
        source: torch.Tensor,
        padding_mask: Optional[torch.Tensor] = None,
        augment: bool = False,
        generator: Optional[torch.Generator] = None,
        frame_mask: Optional[torch.Tensor] = None,
    ):
        """The student: (frames B x T x D, EncoderOutput). ``augment`` applies the
        fine-tuning SpecAugment (``cfg.spec_augment``) to the frames before the encoder;
        ``frame_mask`` (B x T, True = hide) replaces those frames with the mask embedding."""
        features, frame_padding = self.frontend(source, padding_mask)
        if frame_mask is not None:
            if frame_mask.shape != features.shape[:2]:
                raise ValueError(f"frame_mask of shape {tuple(frame_mask.shape)} does not match the "
                                 f"{tuple(features.shape[:2])} frames of this batch")
            features = torch.where(frame_mask.to(features.device)[..., None],
                                   self.mask_embedding.to(features.dtype), features)
        if augment:
            features, _, _ = spec_augment(features, frame_padding, self.mask_embedding, self.cfg.spec_augment, generator)
        return features, self.encoder(features, frame_padding)

    def remove_pretraining_modules(self) -> None:
        """Drop the teacher, decoder and loss predictor: fine-tuning keeps the student's
        front end, encoder and mask embedding (which SpecAugment reuses)."""
        for name in PRETRAINING_ONLY:
            setattr(self, name, None)

    @property
    def pretraining_removed(self) -> bool:
        return self.teacher is None

    def student_parameters(self):
        """Everything that trains (the teacher excluded)."""
        return [p for name, p in self.named_parameters() if not name.startswith("teacher.")]
