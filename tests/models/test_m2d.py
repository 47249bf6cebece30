"""M2D does what the paper says: the target sees exactly the masked patches (all of them with
the D2ViT switch), the online encoder never sees them, the loss is 2 - 2 cos on
standardised targets, the EMA target takes no gradient and follows its schedule."""
import copy

import pytest
import torch

from ehmam.ema import ema_decay
from ehmam.models.m2d import M2DConfig, M2DModel, standardize, tiny_m2d_config
from ehmam.models.patches import patchify, sincos_2d, unpatchify

CLIP = 51_040  # (320 - 1) x 160 samples: 320 mel frames, a 5 x 20 grid of 16 x 16 patches


def tiny_model(seed=0, **overrides):
    torch.manual_seed(seed)
    return M2DModel(tiny_m2d_config(**overrides))


def generator(seed=0):
    return torch.Generator().manual_seed(seed)


def record_target_input(model):
    """The tokens the target's first block receives, on every call."""
    seen = []
    model.target.model["blocks"][0].register_forward_pre_hook(lambda _, args: seen.append(args[0].detach().clone()))
    return seen


def embedded_patches(model, images):
    """Patch embedding + sin-cos positions of every patch, computed by hand: B x N x D."""
    conv = model.encoder.patch_embed.proj
    patches = patchify(images, 16)  # B x N x 256, rows of each patch first
    weight = conv.weight.reshape(conv.out_channels, -1)  # D x (16 * 16), same row order
    grid = (images.shape[2] // 16, images.shape[3] // 16)
    return patches @ weight.T + conv.bias + sincos_2d(weight.shape[0], grid)


def test_an_80_x_608_input_gives_5_x_38_patches_and_masks_0_7_of_them():
    model = M2DModel(M2DConfig(encoder=tiny_m2d_config().encoder, predictor=tiny_m2d_config().predictor))
    images = model.log_mel(torch.randn(2, 97_120))  # the base task's clip: (608 - 1) x 160 samples
    assert images.shape == (2, 1, 80, 608)
    mask = model.mask(images, generator())
    assert model.encoder.patch_embed.grid(images.shape[-2:]) == (5, 38)
    assert mask.masked.shape == (2, round(0.7 * 190)) and mask.visible.shape == (2, 190 - 133)
    assert M2DConfig(mask_ratio=0.6).mask_ratio == 0.6
    for ratio in (0.0, 1.0):
        with pytest.raises(ValueError, match="mask_ratio"):
            M2DConfig(mask_ratio=ratio)


def test_the_target_encoder_receives_exactly_the_masked_patches():
    model = tiny_model()
    seen = record_target_input(model)
    out = model(torch.randn(3, CLIP), generator(1))
    expected = embedded_patches(model, out.images)
    cls = model.encoder.cls_token.expand(3, -1, -1)
    (tokens,) = seen
    assert tokens.shape == (3, 1 + out.mask.masked.shape[1], 64)
    assert torch.allclose(tokens[:, 0:1], cls)
    for b in range(3):
        masked = torch.nonzero(out.mask.mask[b]).flatten()  # ascending
        assert torch.allclose(tokens[b, 1:], expected[b, masked], atol=1e-5)


def test_the_switch_feeds_every_patch_to_the_target_and_keeps_the_masked_outputs():
    default, d2vit = tiny_model(), tiny_model(target_sees_all=True)
    d2vit.load_state_dict(default.state_dict())
    source = torch.randn(2, CLIP)
    seen_default, seen_all = record_target_input(default), record_target_input(d2vit)
    a, b = default(source, generator(2)), d2vit(source, generator(2))
    assert torch.equal(a.mask.mask, b.mask.mask)
    assert seen_default[0].shape[1] == 1 + a.mask.masked.shape[1]
    assert seen_all[0].shape[1] == 1 + 100
    assert torch.allclose(seen_all[0][:, 1:], embedded_patches(d2vit, b.images), atol=1e-5)
    # same weights, same mask, same number of targets: only the context they were encoded in differs
    assert a.targets.shape == b.targets.shape and not torch.allclose(a.targets, b.targets, atol=1e-3)


def test_targets_are_the_target_blocks_outputs_standardised_over_features():
    model = tiny_model()
    out = model(torch.randn(2, CLIP), generator(3))
    x = torch.cat([model.encoder.cls_token.expand(2, -1, -1),
                   torch.stack([embedded_patches(model, out.images)[b, out.mask.masked[b]] for b in range(2)])], 1)
    with torch.no_grad():
        for block in model.target.model["blocks"]:
            x = block(x)
        z = model.target.model["norm"](x)[:, 1:]
    mean, var = z.mean(-1, keepdim=True), z.var(-1, keepdim=True)  # unbiased, as torch.var
    assert torch.allclose(out.targets, (z - mean) / torch.sqrt(var + 1e-6), atol=1e-4)
    assert torch.allclose(out.targets.mean(-1), torch.zeros(2, 70), atol=1e-5)


def test_the_loss_is_2_minus_2_cos_averaged_over_masked_patches():
    model = tiny_model()
    out = model(torch.randn(2, CLIP), generator(4))
    by_hand = []
    for p, t in zip(out.predictions.reshape(-1, 64).tolist(), out.targets.reshape(-1, 64).tolist()):
        dot = sum(a * b for a, b in zip(p, t))
        norms = sum(a * a for a in p) ** 0.5 * sum(b * b for b in t) ** 0.5
        by_hand.append(2 - 2 * dot / norms)
    assert out.patch_losses.shape == (2, 70)
    assert out.loss.item() == pytest.approx(sum(by_hand) / len(by_hand), rel=1e-5)
    # the same as the MSE of the l2-normalised vectors (Eq. 2's left side)
    p = out.predictions / out.predictions.norm(dim=-1, keepdim=True)
    t = out.targets / out.targets.norm(dim=-1, keepdim=True)
    assert out.loss.item() == pytest.approx(((p - t) ** 2).sum(-1).mean().item(), rel=1e-5)


def test_the_online_encoder_never_sees_the_masked_patches():
    model = tiny_model()
    images = model.log_mel(torch.randn(2, CLIP))
    mask = model.mask(images, generator(5))
    online = model.encode_online(images, mask)
    predictions = model.predict(online, mask)
    targets = model.encode_target(images, mask)
    # new content in every masked patch, the visible ones untouched
    patches = patchify(images, 16)
    noise = torch.randn_like(patches) * 5
    changed = unpatchify(torch.where(mask.mask[..., None], noise, patches), (5, 20), 16)
    assert not torch.allclose(changed, images)
    online_changed = model.encode_online(changed, mask)
    assert torch.equal(online.hidden, online_changed.hidden)
    assert torch.equal(predictions, model.predict(online_changed, mask))
    assert not torch.allclose(targets, model.encode_target(changed, mask), atol=1e-3)


def test_the_target_takes_no_gradient_and_the_online_network_does():
    model = tiny_model()
    model(torch.randn(2, CLIP), generator(6)).loss.backward()
    target = list(model.target.parameters())
    assert target and all(not p.requires_grad and p.grad is None for p in target)
    online = [p for name, p in model.named_parameters() if not name.startswith("target.")]
    assert all(p.grad is not None for p in online)
    assert model.encoder.patch_embed.proj.weight.grad.abs().sum() > 0
    assert model.predictor.mask_token.grad.abs().sum() > 0


def test_the_ema_schedule_runs_from_0_99995_to_0_99999_and_moves_the_target():
    cfg = M2DConfig()
    assert ema_decay(0, cfg.ema) == 0.99995 and ema_decay(cfg.ema.anneal_updates, cfg.ema) == 0.99999
    half = ema_decay(cfg.ema.anneal_updates // 2, cfg.ema)
    assert half == pytest.approx((0.99995 + 0.99999) / 2, abs=1e-9)
    model = tiny_model()
    before = copy.deepcopy(model.target.model.state_dict())
    with torch.no_grad():
        for p in model.encoder.parameters():
            p.add_(0.1)
    decay = model.update_teacher(150)
    assert decay == pytest.approx(ema_decay(150, model.cfg.ema))
    online = {**{f"blocks.{k}": v for k, v in model.encoder.blocks.state_dict().items()},
              **{f"norm.{k}": v for k, v in model.encoder.norm.state_dict().items()}}
    for name, value in model.target.model.state_dict().items():
        assert torch.allclose(value, decay * before[name] + (1 - decay) * online[name], atol=1e-6), name
    # shared, not copied: the target has no patch embedding or CLS token of its own
    assert set(model.target.model.state_dict()) == set(online)


def test_standardize_matches_torch_layer_norm_up_to_the_unbiased_variance():
    x = torch.randn(4, 7, 16)
    n = x.shape[-1]
    expected = torch.nn.functional.layer_norm(x, (n,), eps=1e-12) * ((n - 1) / n) ** 0.5
    assert torch.allclose(standardize(x, eps=0.0), expected, atol=1e-5)


def test_a_base_encoder_has_vit_b_size():
    """About 86M: timm's ViT-B/16 on a 1-channel 80 x 608 input, less its learned position
    table (ours is fixed sin-cos) and with no classifier head."""
    timm = pytest.importorskip("timm")
    model = M2DModel(M2DConfig())
    reference = timm.models.vision_transformer.VisionTransformer(
        img_size=(80, 608), patch_size=16, in_chans=1, num_classes=0, embed_dim=768, depth=12, num_heads=12)
    expected = sum(p.numel() for p in reference.parameters()) - reference.pos_embed.numel()
    count = sum(p.numel() for p in model.encoder.parameters())
    assert count == expected and 85e6 < count < 87e6
    # predictor: 8 blocks of width 512, projected back to 768
    assert len(model.predictor.blocks) == 8 and model.predictor.head.out_features == 768


def test_the_target_starts_on_its_own_weights_or_as_a_copy():
    independent, copied = tiny_model(), tiny_model(target_init="copy")
    online = {f"blocks.{k}": v for k, v in independent.encoder.blocks.state_dict().items()}
    target = independent.target.model.state_dict()
    qkv = "blocks.0.attn.qkv.weight"
    assert not torch.equal(target[qkv], online[qkv])  # nttcslab/m2d: target_blocks initialised apart
    assert torch.equal(target["blocks.0.norm1.weight"], torch.ones(64))  # by the same initialiser
    for name, value in copied.target.model.state_dict().items():
        source = copied.encoder.blocks if name.startswith("blocks.") else copied.encoder.norm
        assert torch.equal(value, source.state_dict()[name.split(".", 1)[1]]), name
    with pytest.raises(ValueError, match="target_init"):
        tiny_m2d_config(target_init="random")
