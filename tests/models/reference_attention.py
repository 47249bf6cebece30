"""A Transformer block written out by hand: the reference the ViT and window tests compare
our fused-attention blocks against."""

import torch
import torch.nn.functional as F


def reference_block(block, x: torch.Tensor, allowed: torch.Tensor) -> torch.Tensor:
    """The block written out with an explicit softmax; ``allowed``: B x N x N, True where a
    query may attend to a key."""
    heads, dim = block.attn.heads, x.shape[-1]
    h = block.norm1(x)
    q, k, v = (h @ block.attn.qkv.weight.T + block.attn.qkv.bias).chunk(3, dim=-1)
    split = lambda t: t.view(*t.shape[:2], heads, dim // heads).transpose(1, 2)
    q, k, v = split(q), split(k), split(v)
    scores = q @ k.transpose(-1, -2) / (dim // heads) ** 0.5
    scores = scores.masked_fill(~allowed[:, None], float("-inf"))
    y = (scores.softmax(-1) @ v).transpose(1, 2).reshape(x.shape)
    x = x + block.attn.proj(y)
    return x + block.mlp.fc2(F.gelu(block.mlp.fc1(block.norm2(x))))
