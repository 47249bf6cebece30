import pytest
import torch

from ehmam.models.decoders.mae import MaeDecoder, MaeDecoderConfig
from ehmam.models.decoders.shifted_window import ShiftedWindowBlock
from ehmam.models.encoders.vit import Block, ViTConfig, ViTEncoder
from ehmam.models.patches import sincos_2d

SMALL = dict(embed_dim=16, heads=2, window=[2, 2])


def test_mask_tokens_fill_exactly_the_masked_positions():
    torch.manual_seed(0)
    decoder = MaeDecoder(8, 4, MaeDecoderConfig(depth=1, attention="global", **SMALL))
    tokens = torch.randn(2, 3, 16)
    visible = torch.tensor([[0, 4, 5], [1, 2, 7]])
    full = decoder.fill_masked(tokens, visible, 8)
    for b in range(2):
        for n in range(8):
            where = (visible[b] == n).nonzero()
            expected = tokens[b, where[0, 0]] if len(where) else decoder.mask_token[0, 0]
            assert torch.equal(full[b, n], expected)


def test_global_decoder_is_mae_step_by_step():
    torch.manual_seed(1)
    decoder = MaeDecoder(8, 4, MaeDecoderConfig(depth=2, attention="global", **SMALL)).eval()
    grid, visible = (2, 4), torch.tensor([[1, 6]])
    tokens = torch.randn(1, 3, 8)  # CLS + 2 visible
    with torch.no_grad():
        x = decoder.embed(tokens)
        full = decoder.mask_token.expand(1, 8, 16).clone()
        full[0, 1], full[0, 6] = x[0, 1], x[0, 2]
        x = torch.cat([x[:, :1], full], 1) + sincos_2d(16, grid, cls_token=True)
        for block in decoder.blocks:
            x = block(x)
        expected = decoder.head(decoder.norm(x))[:, 1:]
        assert torch.allclose(decoder(tokens, visible, grid), expected, atol=1e-6)


def test_layers_take_the_configured_attention_and_alternate_shifts():
    local = MaeDecoder(8, 4, MaeDecoderConfig(depth=4, **{**SMALL, "window": [4, 4]}))
    assert all(isinstance(b, ShiftedWindowBlock) for b in local.blocks)
    assert [b.shift for b in local.blocks] == [(0, 0), (2, 2), (0, 0), (2, 2)]
    released = MaeDecoderConfig(depth=4, shift="time", **{**SMALL, "window": [4, 4]})
    assert [released.layer_shift(i) for i in range(4)] == [(0, 0), (0, 2), (0, 0), (0, 2)]
    hybrid = MaeDecoder(8, 4, MaeDecoderConfig(depth=5, attention="hybrid", global_layers=2, **SMALL))
    kinds = [type(b) for b in hybrid.blocks]
    assert kinds == [ShiftedWindowBlock] * 3 + [Block] * 2
    glob = MaeDecoder(8, 4, MaeDecoderConfig(depth=2, attention="global", **SMALL))
    assert all(type(b) is Block for b in glob.blocks)


def reach(decoder, grid, source, target):
    """Does the encoder token of patch ``source`` change the prediction at patch ``target``?"""
    torch.manual_seed(2)
    n = grid[0] * grid[1]
    tokens = torch.randn(1, 1 + n, 8)
    moved = tokens.clone()
    moved[0, 1 + source] += torch.randn(8)
    with torch.no_grad():
        a, b = decoder(tokens, None, grid), decoder(moved, None, grid)
    return not torch.allclose(a[0, target], b[0, target])


def test_local_layers_see_their_window_and_global_layers_everything():
    grid = (2, 8)  # 2 x 2 windows: patches 0 and 7 never share one without a shift
    one_local = MaeDecoder(8, 4, MaeDecoderConfig(depth=1, **SMALL)).eval()
    assert reach(one_local, grid, 0, 9) and not reach(one_local, grid, 0, 7)
    hybrid = MaeDecoder(8, 4, MaeDecoderConfig(depth=2, attention="hybrid", global_layers=1, **SMALL)).eval()
    assert reach(hybrid, grid, 0, 7)


def test_encoder_to_decoder_reconstructs_every_patch_and_trains():
    torch.manual_seed(3)
    encoder = ViTEncoder(ViTConfig(embed_dim=16, depth=1, heads=2, patch_size=[4, 4]))
    for attention in ("global", "shifted_window", "hybrid"):
        decoder = MaeDecoder(16, 16, MaeDecoderConfig(depth=2, attention=attention, global_layers=1, **SMALL))
        images = torch.randn(2, 1, 8, 16)  # grid 2 x 4
        visible = torch.tensor([[0, 3, 5], [2, 4, 7]])
        out = encoder(images, visible)
        pred = decoder(out.hidden, visible, out.grid)
        assert pred.shape == (2, 8, 16)
        pred.square().mean().backward()
        assert decoder.mask_token.grad.abs().sum() > 0
        assert all(p.grad is not None for p in decoder.parameters())


def test_config_errors():
    with pytest.raises(ValueError, match="attention"):
        MaeDecoderConfig(attention="local")
    with pytest.raises(ValueError, match="shift"):
        MaeDecoderConfig(shift="diagonal")
    with pytest.raises(ValueError, match="global layers"):
        MaeDecoderConfig(attention="hybrid", depth=4, global_layers=4)
