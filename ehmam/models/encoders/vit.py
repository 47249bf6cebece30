"""The ViT encoder over spectrogram patches (ViT; MAE's encoder, Sec. 3: it sees the
visible patches only), shared by M2D, Audio-MAE, MSM-MAE and the audio JEPA.

Pre-norm blocks with attention on ``F.scaled_dot_product_attention`` (PyTorch picks the
fused kernel for the device). Submodules carry timm's names (``blocks.0.attn.qkv``,
``blocks.0.mlp.fc1``, ``norm``, ``patch_embed.proj``...), so a block's weights load into
timm's ``Block`` and back unchanged; the benchmark and a test rely on that.

Shapes: images ``B x C x F x T``; tokens ``B x N x D`` in patch order (row-major over the
``(F', T')`` grid, see :mod:`ehmam.models.patches`); ``visible`` ``B x N_visible`` long
patch indices, the same count in every example (``ehmam.masking.patches`` makes them).
"""

from dataclasses import dataclass, field
from typing import List, Optional

import torch
import torch.nn.functional as F
from torch import nn

from ..patches import Grid, PatchEmbed, sincos_table


@dataclass
class ViTConfig:
    # ViT-B (M2D, Audio-MAE, MSM-MAE and the JEPA study all use it)
    embed_dim: int = 768
    depth: int = 12
    heads: int = 12
    mlp_ratio: float = 4.0
    qkv_bias: bool = True
    # (frequency, time) bins per patch: 16 x 16; M2D-S uses 80 x 2
    patch_size: List[int] = field(default_factory=lambda: [16, 16])
    in_channels: int = 1
    # a learned token prepended to the patches (MAE, M2D); its position embedding is zero
    cls_token: bool = True
    dropout: float = 0.0
    attention_dropout: float = 0.0
    # stochastic depth, rising linearly from 0 at the first block to this at the last
    drop_path: float = 0.0
    layer_norm_eps: float = 1e-6

    def __post_init__(self):
        if self.embed_dim % self.heads:
            raise ValueError(f"embed_dim={self.embed_dim} is not divisible by heads={self.heads}")
        if self.embed_dim % 4:
            raise ValueError(f"embed_dim={self.embed_dim}: the 2-D sin-cos embedding needs a multiple of 4")
        if len(self.patch_size) != 2 or min(self.patch_size) < 1:
            raise ValueError(f"patch_size={self.patch_size}: expected [frequency bins, time frames]")


class Attention(nn.Module):
    """Multi-head self-attention. ``attend``: optional bool mask broadcastable to
    ``B x heads x N x N``, True where a query may attend to a key."""

    def __init__(self, dim: int, heads: int, qkv_bias: bool = True, attention_dropout: float = 0.0,
                 dropout: float = 0.0):
        super().__init__()
        self.heads = heads
        self.attention_dropout = attention_dropout
        self.qkv = nn.Linear(dim, 3 * dim, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, attend: Optional[torch.Tensor] = None) -> torch.Tensor:
        batch, tokens, dim = x.shape
        q, k, v = self.qkv(x).view(batch, tokens, 3, self.heads, dim // self.heads).permute(2, 0, 3, 1, 4)
        y = F.scaled_dot_product_attention(
            q, k, v, attn_mask=attend, dropout_p=self.attention_dropout if self.training else 0.0)
        return self.proj_drop(self.proj(y.transpose(1, 2).reshape(batch, tokens, dim)))


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int, dropout: float = 0.0):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop(self.fc2(self.drop(F.gelu(self.fc1(x)))))


class DropPath(nn.Module):
    """Stochastic depth: while training, drop a residual branch for whole examples with
    probability ``p`` and scale the kept ones by ``1 / (1 - p)``."""

    def __init__(self, p: float = 0.0):
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        keep = torch.rand(x.shape[0], *([1] * (x.dim() - 1)), device=x.device) >= self.p
        return x * keep.to(x.dtype) / (1.0 - self.p)


class Block(nn.Module):
    """Pre-norm Transformer block: ``x + attn(norm1(x))``, then ``x + mlp(norm2(x))``."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float = 4.0, qkv_bias: bool = True,
                 dropout: float = 0.0, attention_dropout: float = 0.0, drop_path: float = 0.0,
                 layer_norm_eps: float = 1e-6):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=layer_norm_eps)
        self.attn = Attention(dim, heads, qkv_bias, attention_dropout, dropout)
        self.norm2 = nn.LayerNorm(dim, eps=layer_norm_eps)
        self.mlp = Mlp(dim, int(dim * mlp_ratio), dropout)
        self.drop_path = DropPath(drop_path)

    def forward(self, x: torch.Tensor, attend: Optional[torch.Tensor] = None) -> torch.Tensor:
        x = x + self.drop_path(self.attn(self.norm1(x), attend))
        return x + self.drop_path(self.mlp(self.norm2(x)))


def init_transformer_weights(module: nn.Module) -> None:
    """MAE's initialisation: xavier-uniform linear layers with zero bias, unit layer norms."""
    if isinstance(module, nn.Linear):
        nn.init.xavier_uniform_(module.weight)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.LayerNorm):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)


def gather_tokens(x: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """``B x N x D`` tokens at ``B x M`` indices -> ``B x M x D``."""
    return torch.gather(x, 1, index[..., None].expand(-1, -1, x.shape[-1]))


@dataclass
class ViTOutput:
    """``hidden``: the final layer norm's output, ``B x (1 + M) x D`` with the CLS token first
    when the encoder has one (M = visible patches, or all N); ``layers``: every block's
    output before that norm, the same shape; ``grid``: the patch grid ``(F', T')``;
    ``visible``: the ``B x M`` patch indices the tokens stand for (None = all, in order);
    ``embedded``: the tokens the first block took (patches with positions, CLS first)."""

    hidden: torch.Tensor
    layers: List[torch.Tensor]
    grid: Grid
    visible: Optional[torch.Tensor]
    has_cls: bool
    embedded: torch.Tensor

    @property
    def patches(self) -> torch.Tensor:
        """``hidden`` without the CLS token: ``B x M x D``."""
        return self.hidden[:, 1:] if self.has_cls else self.hidden


class ViTEncoder(nn.Module):
    """Patch embedding + fixed sin-cos positions, then the blocks, on visible patches only.

    ``forward(images, visible)``: positions are added to every patch before the masked
    ones are dropped, so each kept token knows where it sits; the blocks then cost
    ``(1 + M)^2`` attention instead of ``(1 + N)^2``.
    """

    def __init__(self, cfg: ViTConfig):
        super().__init__()
        self.cfg = cfg
        self.patch_embed = PatchEmbed(cfg.patch_size, cfg.in_channels, cfg.embed_dim)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, cfg.embed_dim)) if cfg.cls_token else None
        rates = [cfg.drop_path * i / max(cfg.depth - 1, 1) for i in range(cfg.depth)]
        self.blocks = nn.ModuleList(
            Block(cfg.embed_dim, cfg.heads, cfg.mlp_ratio, cfg.qkv_bias, cfg.dropout,
                  cfg.attention_dropout, rate, cfg.layer_norm_eps)
            for rate in rates)
        self.norm = nn.LayerNorm(cfg.embed_dim, eps=cfg.layer_norm_eps)
        self.apply(init_transformer_weights)
        if self.cls_token is not None:
            nn.init.normal_(self.cls_token, std=0.02)

    def positions(self, grid: Grid, like: torch.Tensor) -> torch.Tensor:
        """The fixed ``N x D`` sin-cos table for ``grid``; not a parameter, so no checkpoint
        depends on one input size."""
        return sincos_table(self.cfg.embed_dim, grid, like)

    def embed(self, images: torch.Tensor, visible: Optional[torch.Tensor] = None):
        """Patch tokens with positions, the visible ones only when given, CLS first:
        ``B x (1 + M) x D``; and the grid."""
        grid = self.patch_embed.grid(images.shape[-2:])
        x = self.patch_embed(images) + self.positions(grid, images)
        if visible is not None:
            x = gather_tokens(x, visible)
        if self.cls_token is not None:
            x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1).to(x.dtype), x], dim=1)
        return x, grid

    def forward(self, images: torch.Tensor, visible: Optional[torch.Tensor] = None) -> ViTOutput:
        embedded, grid = self.embed(images, visible)
        x, layers = embedded, []
        for block in self.blocks:
            x = block(x)
            layers.append(x)
        return ViTOutput(hidden=self.norm(x), layers=layers, grid=grid, visible=visible,
                         has_cls=self.cls_token is not None, embedded=embedded)
