"""The wav2vec 2.0 convolutional front end: raw 16 kHz waveform -> 50 Hz frames.

Seven 1-D convolutions (512 channels; kernels 10,3,3,3,3,2,2; strides 5,2,2,2,2,2,2),
320x downsampling with a 400-sample receptive field, then a layer norm and a linear
projection to the encoder width.
"""

import math
from dataclasses import dataclass, field
from typing import List, Optional, Sequence, Tuple

import torch
from torch import nn

from ...losses import instance_norm_over_time

NORMS = ("layer_norm", "group_norm")


@dataclass
class FrontendConfig:
    conv_channels: List[int] = field(default_factory=lambda: [512] * 7)
    conv_kernels: List[int] = field(default_factory=lambda: [10, 3, 3, 3, 3, 2, 2])
    conv_strides: List[int] = field(default_factory=lambda: [5, 2, 2, 2, 2, 2, 2])
    # "layer_norm" after every conv (data2vec 2.0) or "group_norm" on the first (wav2vec 2.0 base)
    norm: str = "layer_norm"
    conv_bias: bool = False
    # dropout on the projected frames
    dropout: float = 0.0
    # scales the gradient reaching the convolutions; 0 freezes them (and skips their
    # backward), as wav2vec 2.0 and data2vec do while fine-tuning (fairseq's feature_grad_mult)
    feature_grad_mult: float = 1.0

    def __post_init__(self):
        if not len(self.conv_channels) == len(self.conv_kernels) == len(self.conv_strides):
            raise ValueError("conv_channels, conv_kernels and conv_strides need one entry per layer")
        if self.norm not in NORMS:
            raise ValueError(f"norm={self.norm!r}: expected one of {NORMS}")
        if self.feature_grad_mult < 0:
            raise ValueError(f"feature_grad_mult={self.feature_grad_mult}: expected >= 0 (0 freezes the convolutions)")


def conv_output_length(length, kernels: Sequence[int], strides: Sequence[int]):
    """Frames out of ``length`` samples (an int or a tensor of lengths):
    floor((L - k) / s) + 1 per layer, 0 if too short. Once a layer's input is shorter
    than its kernel the value stays <= 0, so one clamp at the end suffices."""
    for kernel, stride in zip(kernels, strides):
        length = (length - kernel) // stride + 1
    return length.clamp(min=0) if isinstance(length, torch.Tensor) else max(length, 0)


def receptive_field(kernels: Sequence[int], strides: Sequence[int]) -> int:
    """The fewest samples that give one frame (the receptive field: 400 for wav2vec 2.0)."""
    field_size = 1
    for kernel, stride in reversed(list(zip(kernels, strides))):
        field_size = (field_size - 1) * stride + kernel
    return field_size


def normalize_waveform(waveform: torch.Tensor, padding_mask: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Zero mean, unit variance per utterance over its unpadded samples (fairseq's
    ``normalize: true``, which the layer-norm front end expects). B x S -> B x S."""
    return instance_norm_over_time(waveform[..., None], padding_mask)[..., 0]


class ChannelLayerNorm(nn.LayerNorm):
    """LayerNorm over the channels of a B x C x T tensor."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x.transpose(1, 2)).transpose(1, 2)


class ConvFeatureExtractor(nn.Module):
    """B x S waveform -> B x C x T conv features (C = the last layer's channels)."""

    def __init__(self, cfg: FrontendConfig):
        super().__init__()
        layers = []
        in_channels = 1
        for index, (channels, kernel, stride) in enumerate(
            zip(cfg.conv_channels, cfg.conv_kernels, cfg.conv_strides)
        ):
            if cfg.norm == "layer_norm":
                norm = ChannelLayerNorm(channels)
            elif index == 0:
                norm = nn.GroupNorm(channels, channels)  # per-channel norm over time
            else:
                norm = nn.Identity()
            conv = nn.Conv1d(in_channels, channels, kernel, stride=stride, bias=cfg.conv_bias)
            nn.init.kaiming_normal_(conv.weight)
            layers.append(nn.Sequential(conv, norm, nn.GELU()))
            in_channels = channels
        self.layers = nn.Sequential(*layers)
        self.kernels = list(cfg.conv_kernels)
        self.strides = list(cfg.conv_strides)

    def output_lengths(self, lengths: torch.Tensor) -> torch.Tensor:
        return conv_output_length(lengths, self.kernels, self.strides)

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        return self.layers(waveform[:, None, :])


class ScaleGradient(torch.autograd.Function):
    """Identity forward; multiplies the gradient by ``scale`` on the way back."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, scale: float) -> torch.Tensor:
        ctx.scale = scale
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        return grad * ctx.scale, None


class WaveformFrontend(nn.Module):
    """Waveform -> projected frames: conv features, layer norm, linear to ``embed_dim``.

    forward(waveform B x S, padding_mask B x S or None) -> (B x T x embed_dim, B x T padding mask or None)
    """

    def __init__(self, cfg: FrontendConfig, embed_dim: int):
        super().__init__()
        self.extractor = ConvFeatureExtractor(cfg)
        channels = cfg.conv_channels[-1]
        self.norm = nn.LayerNorm(channels)
        self.projection = nn.Linear(channels, embed_dim)
        self.dropout = nn.Dropout(cfg.dropout)
        self.receptive_field = receptive_field(cfg.conv_kernels, cfg.conv_strides)
        self.stride = math.prod(cfg.conv_strides)  # samples between frames (320: 50 Hz at 16 kHz)
        self.feature_grad_mult = cfg.feature_grad_mult

    def frame_padding_mask(self, padding_mask: torch.Tensor, frames: int) -> torch.Tensor:
        """A frame is padding when it starts past the utterance's last full window."""
        lengths = self.extractor.output_lengths((~padding_mask).sum(dim=1))
        return torch.arange(frames, device=padding_mask.device)[None, :] >= lengths[:, None]

    def forward(
        self, waveform: torch.Tensor, padding_mask: Optional[torch.Tensor] = None
    ) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
        if waveform.dim() != 2:
            raise ValueError(f"expected a B x S waveform batch, got shape {tuple(waveform.shape)}")
        shortest = waveform.shape[1] if padding_mask is None else int((~padding_mask).sum(dim=1).min())
        if shortest < self.receptive_field:
            raise ValueError(
                f"an utterance has {shortest} samples, fewer than the front end's receptive field of "
                f"{self.receptive_field} samples: drop it (min_sample_size) or pad the data"
            )
        if self.feature_grad_mult == 0.0:
            with torch.no_grad():
                features = self.extractor(waveform)
        else:
            features = self.extractor(waveform)
            if self.feature_grad_mult != 1.0:
                features = ScaleGradient.apply(features, self.feature_grad_mult)
        features = features.transpose(1, 2)
        features = self.dropout(self.projection(self.norm(features)))
        frame_padding = None
        if padding_mask is not None:
            frame_padding = self.frame_padding_mask(padding_mask, features.shape[1])
            if not bool(frame_padding.any()):
                frame_padding = None
        return features, frame_padding

