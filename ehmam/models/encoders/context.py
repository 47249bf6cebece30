"""The context encoder f_theta: convolutional positional embedding and a Transformer.

Attention runs through ``torch.nn.functional.scaled_dot_product_attention`` so PyTorch
picks the fused kernel for the device. Shapes: B x T x D; padding masks B x T bool,
True = padding.
"""

from dataclasses import dataclass
from typing import List, Optional

import torch
import torch.nn.functional as F
from torch import nn


@dataclass
class EncoderConfig:
    # base model (paper Sec. 4, wav2vec 2.0 base): K = 12 layers of width 768
    embed_dim: int = 768
    layers: int = 12
    heads: int = 12
    ffn_dim: int = 3072
    dropout: float = 0.1
    attention_dropout: float = 0.1
    activation_dropout: float = 0.0
    # False: post-norm blocks, as wav2vec 2.0 base and data2vec 2.0 audio
    layer_norm_first: bool = False
    # data2vec 2.0's positional embedding: 5 grouped convs spanning 95 frames in all
    pos_conv_depth: int = 5
    pos_conv_kernel: int = 19
    pos_conv_groups: int = 16
    # probability of skipping a whole block while training (fine-tuning uses it)
    layerdrop: float = 0.0

    def __post_init__(self):
        if self.embed_dim % self.heads:
            raise ValueError(f"embed_dim={self.embed_dim} is not divisible by heads={self.heads}")
        if self.embed_dim % self.pos_conv_groups:
            raise ValueError(f"embed_dim={self.embed_dim} is not divisible by pos_conv_groups={self.pos_conv_groups}")


class ConvPositionalEmbedding(nn.Module):
    """Relative positions from grouped 1-D convs (each: conv, layer norm, GELU).
    Padding frames are zeroed before every conv so they cannot leak into the utterance:
    a padded utterance gets the same embedding as the utterance alone."""

    def __init__(self, dim: int, depth: int, kernel: int, groups: int):
        super().__init__()
        self.kernel = kernel
        self.convs = nn.ModuleList(nn.Conv1d(dim, dim, kernel, padding=kernel // 2, groups=groups) for _ in range(depth))
        self.norms = nn.ModuleList(nn.LayerNorm(dim, elementwise_affine=False) for _ in range(depth))

    def forward(self, x: torch.Tensor, padding_mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        frames = x.shape[1]
        for conv, norm in zip(self.convs, self.norms):
            if padding_mask is not None:
                x = x.masked_fill(padding_mask[..., None], 0.0)
            x = conv(x.transpose(1, 2))[..., :frames]  # an even kernel yields one extra frame
            x = F.gelu(norm(x.transpose(1, 2)))
        return x


class SelfAttention(nn.Module):
    def __init__(self, dim: int, heads: int, dropout: float):
        super().__init__()
        self.heads = heads
        self.dropout = dropout
        self.qkv = nn.Linear(dim, 3 * dim)
        self.out = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, padding_mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        batch, frames, dim = x.shape
        q, k, v = self.qkv(x).view(batch, frames, 3, self.heads, dim // self.heads).permute(2, 0, 3, 1, 4)
        attend = None if padding_mask is None else ~padding_mask[:, None, None, :]
        y = F.scaled_dot_product_attention(
            q, k, v, attn_mask=attend, dropout_p=self.dropout if self.training else 0.0
        )
        return self.out(y.transpose(1, 2).reshape(batch, frames, dim))


class TransformerLayer(nn.Module):
    """One block: self-attention and a GELU feed-forward, each with a residual."""

    def __init__(self, cfg: EncoderConfig):
        super().__init__()
        self.layer_norm_first = cfg.layer_norm_first
        self.attention = SelfAttention(cfg.embed_dim, cfg.heads, cfg.attention_dropout)
        self.attention_norm = nn.LayerNorm(cfg.embed_dim)
        self.fc1 = nn.Linear(cfg.embed_dim, cfg.ffn_dim)
        self.fc2 = nn.Linear(cfg.ffn_dim, cfg.embed_dim)
        self.ffn_norm = nn.LayerNorm(cfg.embed_dim)
        self.dropout = nn.Dropout(cfg.dropout)
        self.activation_dropout = nn.Dropout(cfg.activation_dropout)

    def feed_forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.fc2(self.activation_dropout(F.gelu(self.fc1(x)))))

    def forward(self, x: torch.Tensor, padding_mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        if self.layer_norm_first:
            x = x + self.dropout(self.attention(self.attention_norm(x), padding_mask))
            return x + self.feed_forward(self.ffn_norm(x))
        x = self.attention_norm(x + self.dropout(self.attention(x, padding_mask)))
        return self.ffn_norm(x + self.feed_forward(x))


@dataclass
class EncoderOutput:
    """``hidden``: the encoder's output, B x T' x D; ``layers``: every block's output;
    ``padding_mask``: B x T' (T' = the kept frames when the encoder dropped some)."""

    hidden: torch.Tensor
    layers: List[torch.Tensor]
    padding_mask: Optional[torch.Tensor]


def keep_frames(x: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
    """Gather the True frames of ``keep`` (B x T, the same count in every row): B x T' x ..."""
    counts = keep.sum(dim=1)
    if bool((counts != counts[0]).any()):
        raise ValueError("every utterance must keep the same number of frames to pack the batch")
    return x[keep].view(x.shape[0], int(counts[0]), *x.shape[2:])


class ContextEncoder(nn.Module):
    """Positional conv, then the Transformer blocks.

    ``keep``: optional B x T bool of frames to encode (data2vec 2.0 drops masked frames
    after the positional conv, which saw their mask embeddings, so the Transformer's
    cost scales with the unmasked share only).
    """

    def __init__(self, cfg: EncoderConfig):
        super().__init__()
        self.pos_conv = ConvPositionalEmbedding(cfg.embed_dim, cfg.pos_conv_depth, cfg.pos_conv_kernel, cfg.pos_conv_groups)
        self.norm = nn.LayerNorm(cfg.embed_dim)
        self.dropout = nn.Dropout(cfg.dropout)
        self.layers = nn.ModuleList(TransformerLayer(cfg) for _ in range(cfg.layers))
        self.layer_norm_first = cfg.layer_norm_first
        self.layerdrop = cfg.layerdrop

    def forward(
        self, x: torch.Tensor, padding_mask: Optional[torch.Tensor] = None, keep: Optional[torch.Tensor] = None
    ) -> EncoderOutput:
        x = x + self.pos_conv(x, padding_mask)
        if keep is not None:
            x = keep_frames(x, keep)
            padding_mask = None if padding_mask is None else keep_frames(padding_mask, keep)
        if not self.layer_norm_first:
            x = self.norm(x)
        x = self.dropout(x)
        layers = []
        for layer in self.layers:
            if self.training and self.layerdrop > 0 and float(torch.rand(())) < self.layerdrop:
                layers.append(x)
                continue
            x = layer(x, padding_mask)
            layers.append(x)
        hidden = self.norm(x) if self.layer_norm_first else x
        return EncoderOutput(hidden=hidden, layers=layers, padding_mask=padding_mask)
