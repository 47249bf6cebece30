import functools

import pytest
import torch

from ehmam.models.encoders.vit import Block, ViTConfig, ViTEncoder
from ehmam.models.patches import patchify, sincos_2d
from tests.models.reference_attention import reference_block

TINY = dict(embed_dim=32, depth=3, heads=4, patch_size=[16, 16])


def test_visible_only_equals_the_full_vit_with_masked_tokens_removed_from_attention():
    torch.manual_seed(0)
    encoder = ViTEncoder(ViTConfig(**TINY)).eval()
    images = torch.randn(2, 1, 48, 64)  # grid 3 x 4 = 12 patches
    visible = torch.stack([torch.tensor([0, 2, 5, 7, 11]), torch.tensor([1, 3, 4, 8, 9])])
    out = encoder(images, visible)
    assert out.grid == (3, 4) and out.hidden.shape == (2, 1 + 5, 32) and len(out.layers) == 3

    # reference: all 12 patches (+ CLS) go through the blocks, but attention may only look
    # at the CLS token and the visible patches
    x, _ = encoder.embed(images)
    allowed_key = torch.zeros(2, 13, dtype=torch.bool)
    allowed_key[:, 0] = True
    allowed_key.scatter_(1, visible + 1, True)
    allowed = allowed_key[:, None, :].expand(-1, 13, -1)
    keep = torch.cat([torch.zeros(2, 1, dtype=torch.long), visible + 1], dim=1)
    with torch.no_grad():
        for block, layer in zip(encoder.blocks, out.layers):
            x = reference_block(block, x, allowed)
            assert torch.allclose(torch.gather(x, 1, keep[..., None].expand(-1, -1, 32)), layer, atol=1e-5)
        final = encoder.norm(x)
    assert torch.allclose(torch.gather(final, 1, keep[..., None].expand(-1, -1, 32)), out.hidden, atol=1e-5)


def test_tokens_carry_their_patch_and_position():
    torch.manual_seed(1)
    encoder = ViTEncoder(ViTConfig(**{**TINY, "cls_token": False}))
    images = torch.randn(1, 1, 32, 32)
    visible = torch.tensor([[1, 2]])
    tokens, grid = encoder.embed(images, visible)
    weight = encoder.patch_embed.proj.weight.reshape(32, -1)
    expected = patchify(images, 16) @ weight.T + encoder.patch_embed.proj.bias + sincos_2d(32, grid)
    assert torch.allclose(tokens, expected[:, [1, 2]], atol=1e-5)
    out = encoder(images)
    assert out.patches.shape == (1, 4, 32) and out.visible is None


def test_blocks_load_into_timm_and_give_its_output():
    timm_vit = pytest.importorskip("timm.models.vision_transformer")
    torch.manual_seed(2)
    ours = Block(32, 4, mlp_ratio=4.0, qkv_bias=True).eval()
    theirs = timm_vit.Block(32, 4, mlp_ratio=4.0, qkv_bias=True,
                            norm_layer=functools.partial(torch.nn.LayerNorm, eps=1e-6)).eval()
    theirs.load_state_dict(ours.state_dict())  # same names, same shapes
    x = torch.randn(3, 17, 32)
    assert torch.allclose(ours(x), theirs(x), atol=1e-5)


def test_gradients_reach_every_parameter():
    encoder = ViTEncoder(ViTConfig(**{**TINY, "drop_path": 0.1, "dropout": 0.1}))
    out = encoder(torch.randn(2, 1, 32, 48), torch.tensor([[0, 2, 4], [1, 3, 5]]))
    (out.hidden.sum() + sum(layer.sum() for layer in out.layers)).backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in encoder.parameters())


def test_drop_path_drops_whole_examples_and_keeps_the_expectation():
    from ehmam.models.encoders.vit import DropPath

    torch.manual_seed(3)
    drop = DropPath(0.25).train()
    y = drop(torch.ones(4000, 3, 2))
    per_example = y.flatten(1)
    assert torch.all((per_example == 0).all(1) | (per_example == 1 / 0.75).all(1))
    dropped = (per_example == 0).all(1).float().mean().item()
    assert abs(dropped - 0.25) < 5 * (0.25 * 0.75 / 4000) ** 0.5
    assert torch.equal(drop.eval()(torch.ones(2, 3)), torch.ones(2, 3))


def test_config_errors():
    with pytest.raises(ValueError, match="divisible"):
        ViTConfig(embed_dim=30, heads=4)
    with pytest.raises(ValueError, match="patch_size"):
        ViTConfig(patch_size=[16])
