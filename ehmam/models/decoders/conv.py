"""Light 1-D conv decoders: the reconstruction decoder d_R and, with one output per
frame, the loss predictors (EH-MAM Sec. 3.1; Table 5: 4 layers, 384 channels,
kernel 7, 16 groups). Shapes: B x T x D in, B x T x out_dim out."""

from dataclasses import dataclass
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn


@dataclass
class ConvDecoderConfig:
    dim: int = 384
    layers: int = 4
    kernel: int = 7
    groups: int = 16
    # residual connections around every conv after the first (data2vec 2.0)
    residual: bool = True

    def __post_init__(self):
        if self.dim % self.groups:
            raise ValueError(f"decoder dim={self.dim} is not divisible by groups={self.groups}")
        if self.kernel % 2 == 0:
            raise ValueError(f"decoder kernel={self.kernel}: use an odd kernel so frames stay aligned")


class ConvDecoder(nn.Module):
    """Conv, layer norm, GELU per layer, then a linear projection to ``out_dim``."""

    def __init__(self, in_dim: int, out_dim: int, cfg: ConvDecoderConfig):
        super().__init__()
        if in_dim % cfg.groups:
            raise ValueError(f"decoder input width {in_dim} is not divisible by groups={cfg.groups}")
        self.convs = nn.ModuleList(
            nn.Conv1d(in_dim if i == 0 else cfg.dim, cfg.dim, cfg.kernel, padding=cfg.kernel // 2, groups=cfg.groups)
            for i in range(cfg.layers)
        )
        self.norms = nn.ModuleList(nn.LayerNorm(cfg.dim, elementwise_affine=False) for _ in range(cfg.layers))
        self.residual = cfg.residual
        self.projection = nn.Linear(cfg.dim, out_dim)

    def forward(self, x: torch.Tensor, padding_mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        for index, (conv, norm) in enumerate(zip(self.convs, self.norms)):
            # zero padding before every conv: padded frames must not leak into the utterance
            if padding_mask is not None:
                x = x.masked_fill(padding_mask[..., None], 0.0)
            y = F.gelu(norm(conv(x.transpose(1, 2)).transpose(1, 2)))
            x = x + y if self.residual and index > 0 else y
        return self.projection(x)
