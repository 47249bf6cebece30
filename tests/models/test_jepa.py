"""The audio JEPA does what the paper's design choices say: each masking strategy has its
ratio and structure and replays from its seed; the target encoder sees exactly the target
patches (input domain) or every patch (latent domain); each loss is torch's; the target
encoder takes no gradient and follows its EMA schedule; the context encoder never sees a
target patch."""
import pytest
import torch
import torch.nn.functional as F

from ehmam.ema import ema_decay
from ehmam.masking.patches import PatchMaskingConfig
from ehmam.models.jepa import (DURATION_FRAMES, JEPA_STRATEGIES, JEPAConfig, JEPAModel, clip_samples,
                               tiny_jepa_config, token_distance)
from ehmam.models.patches import patchify, sincos_2d, unpatchify

CLIP = 51_040  # (320 - 1) x 160 samples: 320 mel frames, a 5 x 20 grid of 16 x 16 patches
GRID = (5, 20)


def tiny_model(seed=0, strategy="unstructured", ratio=0.6, **overrides):
    torch.manual_seed(seed)
    return JEPAModel(tiny_jepa_config(masking=PatchMaskingConfig(strategy=strategy, ratio=ratio), **overrides))


def generator(seed=0):
    return torch.Generator().manual_seed(seed)


def images_of(model, batch=3, seed=0):
    torch.manual_seed(seed)
    return model.log_mel(torch.randn(batch, CLIP))


def record_target_input(model):
    """The tokens the target encoder's first block receives, on every call."""
    seen = []
    model.target.model.blocks[0].register_forward_pre_hook(lambda _, args: seen.append(args[0].detach().clone()))
    return seen


def embedded_patches(encoder, images):
    """Patch embedding + sin-cos positions of every patch, computed by hand: B x N x D."""
    conv = encoder.patch_embed.proj
    patches = patchify(images, 16)
    weight = conv.weight.reshape(conv.out_channels, -1)
    grid = (images.shape[2] // 16, images.shape[3] // 16)
    return patches @ weight.T + conv.bias + sincos_2d(weight.shape[0], grid)


# -- masking strategies ----------------------------------------------------------------


@pytest.mark.parametrize("strategy", JEPA_STRATEGIES)
def test_each_strategy_replays_from_its_seed_and_differs_across_seeds(strategy):
    model = tiny_model(strategy=strategy)
    images = images_of(model)
    a, b, c = (model.mask(images, generator(seed)) for seed in (7, 7, 8))
    assert torch.equal(a.mask, b.mask)
    assert not torch.equal(a.mask, c.mask)
    assert not torch.equal(a.mask[0], a.mask[1])  # each example draws its own


def test_unstructured_targets_are_the_ratio_of_patches_spread_uniformly():
    model = tiny_model(strategy="unstructured", ratio=0.6)
    images = images_of(model, batch=2)
    draws = torch.stack([model.mask(images, generator(seed)).mask for seed in range(400)]).float()
    assert (draws.sum(-1) == round(0.6 * 100)).all()  # exactly 60 of the 100 patches in every row
    share = draws.mean(dim=(0, 1))  # per patch: 800 Bernoulli(0.6) draws, sd 0.017
    assert share.min() > 0.52 and share.max() < 0.68
    # the paper's default ratio is the released code's
    assert JEPAConfig().masking.ratio == 0.6 and JEPAConfig().masking.strategy == "unstructured"


def test_time_targets_are_whole_columns():
    model = tiny_model(strategy="time", ratio=0.6)
    mask = model.mask(images_of(model), generator(1)).mask.reshape(3, *GRID)
    columns = mask.all(dim=1)
    assert torch.equal(columns, mask.any(dim=1))  # a column is all target or all context
    assert (columns.sum(-1) == round(0.6 * 20)).all()


def test_multi_block_targets_are_a_union_of_the_drawn_rectangles():
    model = tiny_model(strategy="multi_block", ratio=0.6)
    out = model.mask(images_of(model), generator(2))
    mask = out.mask.reshape(3, *GRID)
    count = round(0.6 * 100)
    assert (out.mask.sum(-1) == count).all()
    for b in range(3):
        union = torch.zeros(GRID, dtype=torch.bool)
        whole = 0
        for row, col, height, width in out.blocks[b].tolist():
            block = torch.zeros(GRID, dtype=torch.bool)
            block[row:row + height, col:col + width] = True
            if (union | block).sum() > count:
                break
            union |= block
            whole += 1
            assert mask[b][block].all()  # every rectangle before the count is wholly a target
        assert whole >= 1
        # the rest of the targets come from the rectangle that crossed the count
        row, col, height, width = out.blocks[b, whole].tolist()
        crossing = torch.zeros(GRID, dtype=torch.bool)
        crossing[row:row + height, col:col + width] = True
        assert torch.equal(mask[b] & ~union, mask[b] & crossing & ~union)
        assert not (mask[b] & ~union & ~crossing).any()


def test_strategies_and_ratios_outside_the_study_are_refused():
    with pytest.raises(ValueError, match="the JEPA study compares unstructured, multi_block, time"):
        tiny_jepa_config(masking=PatchMaskingConfig(strategy="frequency", ratio=0.5))
    with pytest.raises(ValueError, match="masking.ratio=0.0"):
        tiny_jepa_config(masking=PatchMaskingConfig(strategy="unstructured", ratio=0.0))
    with pytest.raises(ValueError, match="target_domain='pixels'"):
        tiny_jepa_config(target_domain="pixels")
    with pytest.raises(ValueError, match="loss='huber'"):
        tiny_jepa_config(loss="huber")


def test_the_three_durations_are_13_20_and_40_patch_columns():
    model = tiny_model()
    for name, columns in (("2.1s", 13), ("3.2s", 20), ("6.4s", 40)):
        samples = clip_samples(DURATION_FRAMES[name])
        images = model.log_mel(torch.randn(1, samples))
        assert images.shape[-1] == DURATION_FRAMES[name] // 16 * 16
        assert model.encoder.patch_embed.grid(images.shape[-2:]) == (5, columns)
    assert [clip_samples(f) for f in DURATION_FRAMES.values()] == [33_120, 51_040, 102_240]


# -- the target domain -----------------------------------------------------------------


def test_in_the_input_domain_the_target_encoder_sees_exactly_the_target_patches():
    model = tiny_model()
    seen = record_target_input(model)
    out = model(torch.randn(3, CLIP), generator(1))
    # the target encoder's own patch embedding (a copy of the context encoder's)
    expected = embedded_patches(model.target.model, out.images)
    (tokens,) = seen
    assert model.target.model.cls_token is None
    assert tokens.shape == (3, out.mask.masked.shape[1], 64) == (3, 60, 64)
    for b in range(3):
        targets = torch.nonzero(out.mask.mask[b]).flatten()
        assert torch.allclose(tokens[b], expected[b, targets], atol=1e-5)


def test_in_the_latent_domain_it_sees_every_patch_and_the_target_positions_are_kept():
    model = tiny_model(target_domain="latent")
    seen = record_target_input(model)
    out = model(torch.randn(2, CLIP), generator(2))
    (tokens,) = seen
    assert tokens.shape == (2, 100, 64)
    assert torch.allclose(tokens, embedded_patches(model.target.model, out.images), atol=1e-5)
    with torch.no_grad():
        every = model.target.model(out.images).hidden
    z = torch.stack([every[b, out.mask.masked[b]] for b in range(2)])
    mean, var = z.mean(-1, keepdim=True), z.var(-1, keepdim=True)  # unbiased, as torch.var
    assert torch.allclose(out.targets, (z - mean) / torch.sqrt(var + 1e-6), atol=1e-4)


def test_the_two_domains_differ_only_in_what_the_target_encoder_sees():
    input_domain, latent = tiny_model(), tiny_model(target_domain="latent")
    latent.load_state_dict(input_domain.state_dict())
    source = torch.randn(2, CLIP)
    a, b = input_domain(source, generator(3)), latent(source, generator(3))
    assert torch.equal(a.mask.mask, b.mask.mask) and torch.equal(a.predictions, b.predictions)
    assert a.targets.shape == b.targets.shape and not torch.allclose(a.targets, b.targets, atol=1e-3)


def test_input_domain_targets_are_the_target_encoders_outputs_standardised():
    model = tiny_model()
    out = model(torch.randn(2, CLIP), generator(4))
    x = torch.stack([embedded_patches(model.target.model, out.images)[b, out.mask.masked[b]] for b in range(2)])
    with torch.no_grad():
        for block in model.target.model.blocks:
            x = block(x)
        z = model.target.model.norm(x)
    mean, var = z.mean(-1, keepdim=True), z.var(-1, keepdim=True)
    assert torch.allclose(out.targets, (z - mean) / torch.sqrt(var + 1e-6), atol=1e-4)


# -- losses ------------------------------------------------------------------------------


@pytest.mark.parametrize("loss, reference", [
    ("l1", lambda p, t: F.l1_loss(p, t)),
    ("smooth_l1", lambda p, t: F.smooth_l1_loss(p, t, beta=1.0)),
    ("mse", lambda p, t: F.mse_loss(p, t)),
])
def test_each_loss_is_torchs(loss, reference):
    model = tiny_model(loss=loss)
    out = model(torch.randn(2, CLIP), generator(5))
    assert out.patch_losses.shape == (2, 60)
    assert out.loss.item() == pytest.approx(reference(out.predictions, out.targets).item(), rel=1e-5)


@pytest.mark.parametrize("beta", [0.1, 0.5, 2.0])
def test_smooth_l1_follows_its_beta(beta):
    torch.manual_seed(0)
    p, t = torch.randn(2, 7, 16) * 2, torch.randn(2, 7, 16)
    expected = F.smooth_l1_loss(p, t, beta=beta, reduction="none").mean(-1)
    assert torch.allclose(token_distance(p, t, "smooth_l1", beta), expected, atol=1e-6)


# -- the networks --------------------------------------------------------------------------


def test_the_context_encoder_never_sees_a_target_patch():
    model = tiny_model()
    images = images_of(model, batch=2)
    mask = model.mask(images, generator(6))
    context = model.encode_context(images, mask)
    predictions = model.predict(context, mask)
    patches = patchify(images, 16)
    changed = unpatchify(torch.where(mask.mask[..., None], torch.randn_like(patches) * 5, patches), GRID, 16)
    assert not torch.allclose(changed, images)
    assert torch.equal(context.hidden, model.encode_context(changed, mask).hidden)
    assert torch.equal(predictions, model.predict(model.encode_context(changed, mask), mask))
    assert not torch.allclose(model.encode_target(images, mask), model.encode_target(changed, mask), atol=1e-3)


def test_no_gradient_reaches_the_target_encoder():
    model = tiny_model()
    model(torch.randn(2, CLIP), generator(7)).loss.backward()
    target = list(model.target.parameters())
    assert target and all(not p.requires_grad and p.grad is None for p in target)
    trained = [p for name, p in model.named_parameters() if not name.startswith("target.")]
    assert trained and all(p.grad is not None for p in trained)
    assert model.encoder.patch_embed.proj.weight.grad.abs().sum() > 0
    assert model.predictor.mask_token.grad.abs().sum() > 0


def test_the_target_encoder_is_an_ema_of_the_whole_context_encoder():
    model = tiny_model()
    # a copy at the start, patch embedding included
    assert model.target.model.state_dict().keys() == model.encoder.state_dict().keys()
    assert all(torch.equal(v, model.encoder.state_dict()[k]) for k, v in model.target.model.state_dict().items())
    before = {k: v.clone() for k, v in model.target.model.state_dict().items()}
    with torch.no_grad():
        for p in model.encoder.parameters():
            p.add_(1.0)
    decay = model.update_teacher(0)
    assert decay == 0.99
    for name, value in model.target.model.state_dict().items():
        expected = decay * before[name] + (1 - decay) * model.encoder.state_dict()[name]
        assert torch.allclose(value, expected, atol=1e-6), name
    base = JEPAConfig().ema
    assert (ema_decay(0, base), ema_decay(base.anneal_updates, base)) == (0.99995, 0.99999)


def test_a_base_model_has_vit_b_and_the_papers_predictor():
    cfg = JEPAConfig()
    assert (cfg.encoder.embed_dim, cfg.encoder.depth, cfg.encoder.heads, cfg.encoder.cls_token) == (768, 12, 12, False)
    assert (cfg.predictor.embed_dim, cfg.predictor.depth, cfg.predictor.heads, cfg.predictor.attention) == \
        (512, 8, 16, "global")
    assert (cfg.target_domain, cfg.loss) == ("input", "smooth_l1")
    model = JEPAModel(cfg)
    encoder = sum(p.numel() for p in model.encoder.parameters())
    assert 85e6 < encoder < 87e6  # ViT-B without its classifier head and CLS token
