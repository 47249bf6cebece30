import math

import torch

from ehmam.models.encoders.context import ContextEncoder, EncoderConfig, SelfAttention

SMALL = dict(embed_dim=32, layers=2, heads=4, ffn_dim=64, pos_conv_depth=2, pos_conv_kernel=5, pos_conv_groups=4)


def reference_attention(attention: SelfAttention, x, padding_mask):
    """softmax(q k^T / sqrt(d)) v written out, padding keys excluded."""
    batch, frames, dim = x.shape
    heads = attention.heads
    q, k, v = attention.qkv(x).chunk(3, dim=-1)
    split = lambda t: t.view(batch, frames, heads, dim // heads).transpose(1, 2)  # noqa: E731
    q, k, v = split(q), split(k), split(v)
    scores = q @ k.transpose(-1, -2) / math.sqrt(dim // heads)
    scores = scores.masked_fill(padding_mask[:, None, None, :], float("-inf"))
    y = scores.softmax(dim=-1) @ v
    return attention.out(y.transpose(1, 2).reshape(batch, frames, dim))


def test_attention_matches_the_written_out_formula():
    torch.manual_seed(0)
    attention = SelfAttention(32, 4, dropout=0.0).eval()
    x = torch.randn(3, 11, 32)
    padding = torch.zeros(3, 11, dtype=torch.bool)
    padding[1, 7:] = True
    assert torch.allclose(attention(x, padding), reference_attention(attention, x, padding), atol=1e-5)


def test_padding_does_not_change_the_valid_frames():
    torch.manual_seed(1)
    encoder = ContextEncoder(EncoderConfig(**SMALL)).eval()
    x = torch.randn(2, 20, 32)
    padding = torch.zeros(2, 20, dtype=torch.bool)
    padding[0, 13:] = True
    batched = encoder(x, padding)
    alone = encoder(x[:1, :13])
    assert torch.allclose(batched.hidden[0, :13], alone.hidden[0], atol=1e-5)
    assert len(batched.layers) == 2


def test_keep_drops_frames_after_the_positional_conv():
    torch.manual_seed(2)
    encoder = ContextEncoder(EncoderConfig(**SMALL)).eval()
    x = torch.randn(2, 10, 32)
    keep = torch.zeros(2, 10, dtype=torch.bool)
    keep[0, [0, 2, 5]] = True
    keep[1, [1, 8, 9]] = True
    out = encoder(x, keep=keep)
    assert out.hidden.shape == (2, 3, 32)
    # the kept frames carry positions from the full sequence: equal to running the
    # Transformer alone on the gathered (x + pos_conv(x)) frames
    pos = (x + encoder.pos_conv(x))[keep].view(2, 3, 32)
    y = encoder.norm(pos)
    for layer in encoder.layers:
        y = layer(y)
    assert torch.allclose(out.hidden, y, atol=1e-5)
