"""Masked spectrogram reconstruction: Audio-MAE (Huang et al., NeurIPS 2022;
``../shared/papers/audio-mae.txt``, facebookresearch/AudioMAE) and MSM-MAE (Niizumi et al.,
HEAR 2021; nttcslab/msm-mae), one model with two configs.

- **patchify**: the front end's image (Audio-MAE: 128 Kaldi filter-bank bins x 1024 frames,
  normalised ``(x - mean) / (2 std)``; MSM-MAE: M2D's 80-bin log-mel) cut into 16 x 16
  patches, the reconstruction targets; with ``norm_pix_loss`` each patch is standardised
  over its own values (MAE's per-patch normalised pixels).
- **mask**: a share of the patches hidden (Audio-MAE 0.8, MSM-MAE 0.75; unstructured, or
  any strategy of :mod:`ehmam.masking.patches`, such as Audio-MAE's time + frequency).
- **encode**: ViT-B on the visible patches only.
- **decode**: MAE's decoder puts the encoded tokens back at their patches, mask tokens
  everywhere else, and predicts every patch's values. Audio-MAE: 16 layers, 512 wide,
  16 heads, shifted 4 x 4 windows; MSM-MAE: 4 global layers, 384 wide, 6 heads.
- **loss**: the MSE between prediction and target, per patch, averaged over the masked
  patches only (Audio-MAE Sec. 3.4, MAE's ``forward_loss``).

Shapes: waveform ``B x S``; images ``B x 1 x F x T`` (frequency rows, as M2D's; Audio-MAE's
own image is ``T x F``, the same patches); patches ``B x N x P`` with ``P = 16 * 16``.
"""

from dataclasses import dataclass, field
from typing import Optional

import torch
from torch import nn

from ..collapse import CollapseGuardConfig
from ..losses import standardize
from ..masking.patches import PatchMask, PatchMaskingConfig, patch_mask
from .decoders.mae import MaeDecoder, MaeDecoderConfig
from .encoders.vit import ViTConfig, ViTEncoder, ViTOutput, gather_tokens
from .frontends import SPECTROGRAM_FRONTENDS, spectrogram_frontend
from .frontends.log_mel import KaldiFbankConfig, LogMelConfig
from .masked_output import MaskedPredictionOutput
from .patches import check_whole_rows, patchify, unpatchify, whole_columns


@dataclass
class AudioMAEConfig:
    # the front end that makes the image: "kaldi_fbank" (Audio-MAE) or "log_mel" (MSM-MAE);
    # its settings, corpus statistics included, are the block of that name below
    frontend: str = "kaldi_fbank"
    # Audio-MAE Sec. 4.1: 128 Kaldi bins, 25 ms Hanning window, 10 ms shift, 1024 frames
    kaldi_fbank: KaldiFbankConfig = field(default_factory=KaldiFbankConfig)
    # MSM-MAE: M2D's 80-bin log-mel
    log_mel: LogMelConfig = field(default_factory=LogMelConfig)
    # ViT-B, 16 x 16 patches: 8 x 64 = 512 patches for Audio-MAE's 128 x 1024 image
    encoder: ViTConfig = field(default_factory=ViTConfig)
    # Audio-MAE's released decoder: 16 layers, 512 wide, 16 heads, shifted 4 x 4 windows
    decoder: MaeDecoderConfig = field(default_factory=MaeDecoderConfig)
    # Audio-MAE pre-trains with 0.8 unstructured (Sec. 4.4, Fig. 4a)
    masking: PatchMaskingConfig = field(default_factory=lambda: PatchMaskingConfig(strategy="unstructured", ratio=0.8))
    # targets standardised per patch (MAE's norm_pix_loss; Audio-MAE's recipe turns it on,
    # MSM-MAE's leaves it off)
    norm_pix_loss: bool = True
    # (x - mean) / sqrt(var + eps), the variance unbiased, as MAE's forward_loss
    norm_pix_eps: float = 1e-6
    # reconstruction cannot collapse the way a teacher can, but predictions that stop
    # varying across patches, or inputs that never varied, still stop the run
    collapse: CollapseGuardConfig = field(default_factory=lambda: CollapseGuardConfig(
        min_target_std=0.01, min_prediction_std=0.01, warmup_updates=5000))

    def __post_init__(self):
        if self.frontend not in SPECTROGRAM_FRONTENDS:
            raise ValueError(f"frontend={self.frontend!r}: expected one of {tuple(SPECTROGRAM_FRONTENDS)}")
        masking = self.masking
        shares = (masking.time_ratio, masking.frequency_ratio) if masking.strategy == "time_frequency" else (masking.ratio,)
        if not any(shares):
            raise ValueError(f"masking {masking.strategy} with share(s) {shares} masks nothing: there is "
                             "nothing to reconstruct")
        bins = self.frontend_config.num_mel_bins if self.frontend == "kaldi_fbank" else self.frontend_config.n_mels
        check_whole_rows(bins, self.encoder.patch_size[0], f"model.{self.frontend}")

    @property
    def frontend_config(self):
        """The settings of the front end in use: ``kaldi_fbank`` or ``log_mel``."""
        return getattr(self, self.frontend)


def tiny_audio_mae_config(**overrides) -> AudioMAEConfig:
    """A tiny Audio-MAE for tests and the CPU demo: the paper's front end, patches, masking,
    shifted-window decoder and loss on 256 frames (2.56 s), narrow and shallow. Equals the
    model block of ``examples/audio_mae/config/tiny_cpu.yaml`` (a test checks it)."""
    cfg = dict(
        kaldi_fbank=KaldiFbankConfig(target_frames=256),
        encoder=ViTConfig(embed_dim=64, depth=4, heads=4),
        decoder=MaeDecoderConfig(embed_dim=32, depth=4, heads=4),
        collapse=CollapseGuardConfig(min_target_std=0.01, min_prediction_std=0.01, warmup_updates=100),
    )
    cfg.update(overrides)
    return AudioMAEConfig(**cfg)


def msm_mae_config(**overrides) -> AudioMAEConfig:
    """MSM-MAE (nttcslab/msm-mae, ``mae_vit_base_patch16x16_dec384d4b``): M2D's log-mel, a
    4-layer 384-wide 6-head global decoder, 0.75 of the patches masked, raw targets."""
    cfg = dict(
        frontend="log_mel",
        decoder=MaeDecoderConfig(embed_dim=384, depth=4, heads=6, attention="global"),
        masking=PatchMaskingConfig(strategy="unstructured", ratio=0.75),
        norm_pix_loss=False,
    )
    cfg.update(overrides)
    return AudioMAEConfig(**cfg)


def tiny_msm_mae_config(**overrides) -> AudioMAEConfig:
    """The model block of ``examples/audio_mae/config/msm_mae_tiny_cpu.yaml``."""
    cfg = dict(
        encoder=ViTConfig(embed_dim=64, depth=4, heads=4),
        decoder=MaeDecoderConfig(embed_dim=32, depth=2, heads=4, attention="global"),
        collapse=CollapseGuardConfig(min_target_std=0.01, min_prediction_std=0.01, warmup_updates=100),
    )
    cfg.update(overrides)
    return msm_mae_config(**cfg)


def patch_mse(predictions: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Each patch's squared error averaged over its values: ``B x M x P`` twice -> ``B x M``."""
    return (predictions.float() - targets.float()).square().mean(dim=-1)


def reconstruction_loss(predictions: torch.Tensor, targets: torch.Tensor, mask: PatchMask):
    """The mean squared error of each masked patch, ``B x M``, and their mean: visible
    patches count for nothing. ``predictions`` / ``targets``: ``B x N x P``, every patch."""
    patch_losses = patch_mse(gather_tokens(predictions, mask.masked), gather_tokens(targets, mask.masked))
    return patch_losses.mean(), patch_losses


class AudioMAEModel(nn.Module):
    """``forward(source, generator, lengths)``: waveform crops ``B x S`` -> a
    :class:`~ehmam.models.masked_output.MaskedPredictionOutput` (predictions and targets
    ``B x M x P`` at the masked patches, targets per-patch normalised under
    ``norm_pix_loss``), in the named steps :meth:`spectrogram`, :meth:`patchify`, :meth:`mask`, :meth:`encode`,
    :meth:`decode` and :meth:`loss`. ``lengths``: samples of audio per row;
    the Kaldi front end pads its filter bank after them, as Audio-MAE pads the spectrogram."""

    def __init__(self, cfg: AudioMAEConfig):
        super().__init__()
        self.cfg = cfg
        self.frontend = spectrogram_frontend(cfg.frontend_config)
        self.encoder = ViTEncoder(cfg.encoder)
        ph, pw = cfg.encoder.patch_size
        self.decoder = MaeDecoder(cfg.encoder.embed_dim, ph * pw * cfg.encoder.in_channels, cfg.decoder)

    # -- the steps of one training forward ------------------------------------------

    def spectrogram(self, source: torch.Tensor, lengths: Optional[torch.Tensor] = None) -> torch.Tensor:
        """``B x S`` waveform -> ``B x 1 x F x T`` normalised image, cut to whole patch columns."""
        return whole_columns(self.frontend.images(source, lengths), self.cfg.encoder.patch_size[1])

    def patchify(self, images: torch.Tensor) -> torch.Tensor:
        """The reconstruction targets: ``B x N x P`` patches, per-patch normalised under
        ``norm_pix_loss``."""
        patches = patchify(images, self.cfg.encoder.patch_size)
        return standardize(patches, self.cfg.norm_pix_eps) if self.cfg.norm_pix_loss else patches

    def mask(self, images: torch.Tensor, generator: torch.Generator) -> PatchMask:
        grid = self.encoder.patch_embed.grid(images.shape[-2:])
        return patch_mask(self.cfg.masking, images.shape[0], grid, generator, images.device)

    def encode(self, images: torch.Tensor, mask: PatchMask) -> ViTOutput:
        """The encoder on the visible patches only."""
        return self.encoder(images, mask.visible)

    def decode(self, encoded: ViTOutput, mask: PatchMask) -> torch.Tensor:
        """Encoded tokens back at their patches, mask tokens elsewhere -> ``B x N x P``."""
        return self.decoder(encoded.hidden, mask.visible, encoded.grid, encoded.has_cls)

    def loss(self, predictions: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Each masked patch's MSE, ``B x M``, from its prediction and target ``B x M x P``."""
        return patch_mse(predictions, targets)

    def forward(self, source: torch.Tensor, generator: Optional[torch.Generator] = None,
                lengths: Optional[torch.Tensor] = None) -> MaskedPredictionOutput:
        if generator is None:
            generator = torch.Generator(device=source.device).manual_seed(0)
        images = self.spectrogram(source, lengths)
        mask = self.mask(images, generator)
        # only the masked patches are scored: their predictions and targets, once
        predictions = self.decoder.predict_at(self.encode(images, mask), mask.masked)
        targets = gather_tokens(self.patchify(images), mask.masked)
        patch_losses = self.loss(predictions, targets)
        return MaskedPredictionOutput(loss=patch_losses.mean(), patch_losses=patch_losses, predictions=predictions,
                                      targets=targets, mask=mask, images=images)

    @torch.no_grad()
    def reconstruct(self, images: torch.Tensor, mask: PatchMask) -> torch.Tensor:
        """The decoder's image for the figure: ``B x 1 x F x T``, visible patches as given and
        masked ones predicted. Under ``norm_pix_loss`` the model predicts each patch's shape
        only; its mean and spread are taken from the input (as MAE's figures of such models
        do), so only the shape inside a masked patch is the model's."""
        patches = patchify(images, self.cfg.encoder.patch_size)
        predicted = self.decode(self.encode(images, mask), mask).float()
        if self.cfg.norm_pix_loss:
            mean = patches.mean(dim=-1, keepdim=True)
            predicted = predicted * (patches.var(dim=-1, keepdim=True) + self.cfg.norm_pix_eps).sqrt() + mean
        merged = torch.where(mask.mask[..., None], predicted, patches)
        grid = self.encoder.patch_embed.grid(images.shape[-2:])
        return unpatchify(merged, grid, self.cfg.encoder.patch_size, self.cfg.encoder.in_channels)
