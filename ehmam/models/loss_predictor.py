"""Loss predictor d_delta (EH-MAM Sec. 3.2.2): one scalar per frame, the predicted
reconstruction loss, from a conv stack shaped like the decoder. Only the order of its
outputs matters: it is trained by the ranking loss, and masking takes its top frames."""

from typing import Optional

import torch
from torch import nn

from .decoders.conv import ConvDecoder, ConvDecoderConfig


class LossPredictor(nn.Module):
    """B x T x D encoder output -> B x T predicted losses."""

    def __init__(self, in_dim: int, cfg: ConvDecoderConfig):
        super().__init__()
        self.net = ConvDecoder(in_dim, 1, cfg)

    def forward(self, x: torch.Tensor, padding_mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        return self.net(x, padding_mask)[..., 0]
