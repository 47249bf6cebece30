"""The MAE decoder with mask tokens (MAE, Sec. 3; Audio-MAE, Sec. 3.3), in three forms:

- ``global``: every layer attends over the whole grid (MAE; M2D's and MSM-MAE's predictor);
- ``shifted_window``: every layer attends within 4 x 4 windows, shifted by half a window
  on alternate layers (Audio-MAE's default decoder, 16 layers);
- ``hybrid``: window layers, then ``global_layers`` global ones on top (Audio-MAE's "Hwin").

The encoder's tokens for the visible patches are projected to the decoder width, a learned
mask token fills every masked position, the fixed sin-cos positions of the whole grid are
added, and a linear head predicts ``out_dim`` values per patch (the patch's pixels for
MAE-style reconstruction, or a target representation).

Shifts: the paper shifts windows on both axes (Sec. 3.3, Fig. 3); Audio-MAE's released code
shifts on time only (``shift_size=(2, 0)`` on its time x frequency grid). ``shift="both"`` is
the paper, ``shift="time"`` the released code; on our frequency x time grid a time shift
moves columns.
"""

from dataclasses import dataclass, field
from typing import List, Optional

import torch
from torch import nn

from ..encoders.vit import Block, ViTOutput, gather_tokens, init_transformer_weights
from ..patches import Grid, sincos_table
from .shifted_window import SHIFT_AXES, ShiftedWindowBlock

ATTENTIONS = ("global", "shifted_window", "hybrid")


@dataclass
class MaeDecoderConfig:
    # Audio-MAE's default: 16 layers of width 512 with shifted local attention
    embed_dim: int = 512
    depth: int = 16
    heads: int = 16
    mlp_ratio: float = 4.0
    attention: str = "shifted_window"
    # (frequency, time) patches per window
    window: List[int] = field(default_factory=lambda: [4, 4])
    shift: str = "both"
    # Swin's mask: patches the cyclic shift brings across an edge attend only among themselves
    mask_wrapped: bool = True
    # hybrid: how many of the top layers attend globally (Audio-MAE Table 1c: local 8 + global 4)
    global_layers: int = 4
    layer_norm_eps: float = 1e-6

    def __post_init__(self):
        if self.attention not in ATTENTIONS:
            raise ValueError(f"attention={self.attention!r}: expected one of {ATTENTIONS}")
        if self.shift not in SHIFT_AXES:
            raise ValueError(f"shift={self.shift!r}: expected one of {SHIFT_AXES}")
        if self.embed_dim % self.heads:
            raise ValueError(f"embed_dim={self.embed_dim} is not divisible by heads={self.heads}")
        if len(self.window) != 2 or min(self.window) < 1:
            raise ValueError(f"window={self.window}: expected [frequency patches, time patches]")
        if self.attention == "hybrid" and not 0 < self.global_layers < self.depth:
            raise ValueError(f"global_layers={self.global_layers}: a hybrid decoder needs between 1 and "
                             f"depth - 1 = {self.depth - 1} global layers")

    @property
    def local_layers(self) -> int:
        return {"global": 0, "shifted_window": self.depth, "hybrid": self.depth - self.global_layers}[self.attention]

    def layer_shift(self, index: int):
        """Layer ``index``'s window shift in (frequency, time) patches: none on even layers,
        half a window on the shifted axes of odd ones."""
        if index % 2 == 0:
            return (0, 0)
        half = (self.window[0] // 2, self.window[1] // 2)
        return {"both": half, "time": (0, half[1]), "frequency": (half[0], 0), "none": (0, 0)}[self.shift]


class MaeDecoder(nn.Module):
    """``forward(tokens, visible, grid)``: ``tokens`` ``B x (1 + M) x D_enc`` (the encoder's
    output, CLS first when ``has_cls``), ``visible`` ``B x M`` patch indices (None = all N
    patches present, in order) -> predictions ``B x N x out_dim`` for every patch.

    Window layers need the full grid, so a decoder with any drops the CLS token on entry,
    as Audio-MAE's does; a global decoder carries it through (MAE) and drops it at the end.
    """

    def __init__(self, encoder_dim: int, out_dim: int, cfg: MaeDecoderConfig):
        super().__init__()
        self.cfg = cfg
        self.embed = nn.Linear(encoder_dim, cfg.embed_dim)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, cfg.embed_dim))
        block_args = dict(mlp_ratio=cfg.mlp_ratio, layer_norm_eps=cfg.layer_norm_eps)
        self.blocks = nn.ModuleList(
            ShiftedWindowBlock(cfg.embed_dim, cfg.heads, cfg.window, cfg.layer_shift(i), cfg.mask_wrapped, **block_args)
            if i < cfg.local_layers else Block(cfg.embed_dim, cfg.heads, **block_args)
            for i in range(cfg.depth))
        self.norm = nn.LayerNorm(cfg.embed_dim, eps=cfg.layer_norm_eps)
        self.head = nn.Linear(cfg.embed_dim, out_dim)
        self.apply(init_transformer_weights)
        nn.init.normal_(self.mask_token, std=0.02)

    def fill_masked(self, x: torch.Tensor, visible: Optional[torch.Tensor], patches: int) -> torch.Tensor:
        """Visible tokens ``B x M x D`` -> the full grid ``B x N x D``, mask tokens elsewhere."""
        if visible is None:
            if x.shape[1] != patches:
                raise ValueError(f"got {x.shape[1]} patch tokens and no visible indices for {patches} patches")
            return x
        full = self.mask_token.to(x.dtype).expand(x.shape[0], patches, -1)
        return full.scatter(1, visible[..., None].expand(-1, -1, x.shape[-1]), x)

    def forward(self, tokens: torch.Tensor, visible: Optional[torch.Tensor], grid: Grid,
                has_cls: bool = True) -> torch.Tensor:
        x = self.embed(tokens)
        cls, x = (x[:, :1], x[:, 1:]) if has_cls else (None, x)
        patches = grid[0] * grid[1]
        x = self.fill_masked(x, visible, patches) + sincos_table(self.cfg.embed_dim, grid, x)
        keep_cls = cls is not None and self.cfg.local_layers == 0
        if keep_cls:
            x = torch.cat([cls, x], dim=1)  # the CLS position embedding is zero
        for block in self.blocks:
            x = block(x, grid) if isinstance(block, ShiftedWindowBlock) else block(x)
        x = self.head(self.norm(x))
        return x[:, 1:] if keep_cls else x

    def predict_at(self, encoded: ViTOutput, positions: torch.Tensor) -> torch.Tensor:
        """The encoder's output for its visible patches -> the predictions at ``positions``
        (``B x M`` patch indices, the masked ones): ``B x M x out_dim``."""
        return gather_tokens(self(encoded.hidden, encoded.visible, encoded.grid, encoded.has_cls), positions)
