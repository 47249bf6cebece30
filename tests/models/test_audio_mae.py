"""Audio-MAE / MSM-MAE: the loss sees the masked patches only, per-patch normalised targets
match a hand computation, the decoder unshuffles as MAE's ``ids_restore`` does, the local
decoder keeps to its windows, and the named steps make the forward."""
import math
from dataclasses import replace

import pytest
import torch

from ehmam.losses import standardize
from ehmam.masking.patches import PatchMask, PatchMaskingConfig
from ehmam.models.audio_mae import (AudioMAEConfig, AudioMAEModel, msm_mae_config,
                                    reconstruction_loss, tiny_audio_mae_config, tiny_msm_mae_config)
from ehmam.models.decoders.mae import MaeDecoder, MaeDecoderConfig
from ehmam.models.frontends.log_mel import KaldiFbankConfig
from ehmam.models.patches import patchify

SAMPLES = 40_960  # 254 Kaldi frames, padded to the tiny config's 256


def waveforms(batch=2, samples=SAMPLES, seed=0):
    return 0.1 * torch.randn(batch, samples, generator=torch.Generator().manual_seed(seed))


def test_the_loss_counts_masked_patches_only():
    torch.manual_seed(0)
    predictions, targets = torch.randn(2, 10, 6), torch.randn(2, 10, 6)
    mask = PatchMask.from_mask(torch.tensor([[1, 0, 1, 0, 0, 1, 0, 0, 0, 1]] * 2, dtype=torch.bool))
    loss, per_patch = reconstruction_loss(predictions, targets, mask)
    changed = targets.clone()
    changed[:, mask.visible[0]] += 100.0  # every visible patch's target
    assert torch.equal(reconstruction_loss(predictions, changed, mask)[0], loss)
    changed = targets.clone()
    changed[0, mask.masked[0, 0], 0] += 1.0  # one value of one masked patch
    assert not torch.equal(reconstruction_loss(predictions, changed, mask)[0], loss)
    # a brute-force loop: the squared error averaged over values, then over masked patches
    total, count = 0.0, 0
    for b in range(2):
        for n in range(10):
            if mask.mask[b, n]:
                total += sum((float(p) - float(t)) ** 2 for p, t in zip(predictions[b, n], targets[b, n])) / 6
                count += 1
    assert per_patch.shape == (2, 4) and float(loss) == pytest.approx(total / count, rel=1e-6)


def test_norm_pix_targets_against_a_hand_computation():
    torch.manual_seed(1)
    patches = torch.randn(2, 3, 256) * 3 + 1
    normalised = standardize(patches, eps=1e-6)
    for b in range(2):
        for n in range(3):
            values = [float(v) for v in patches[b, n]]
            mean = sum(values) / len(values)
            var = sum((v - mean) ** 2 for v in values) / (len(values) - 1)  # unbiased, as torch.var
            expected = torch.tensor([(v - mean) / math.sqrt(var + 1e-6) for v in values])
            assert torch.allclose(normalised[b, n], expected, atol=1e-5)
    # a constant patch becomes zeros, not NaN
    assert torch.equal(standardize(torch.full((1, 1, 4), 7.0)), torch.zeros(1, 1, 4))


def test_the_model_reconstructs_normalised_targets_only_under_norm_pix_loss():
    images = torch.randn(1, 1, 128, 256) * 2 + 3
    with_norm, without = (AudioMAEModel(tiny_audio_mae_config(norm_pix_loss=flag)) for flag in (True, False))
    assert torch.allclose(with_norm.patchify(images), standardize(patchify(images, 16)))
    assert torch.equal(without.patchify(images), patchify(images, 16))


def mae_unshuffle(visible_tokens, mask_token, ids_keep, num_patches):
    """facebookresearch/mae's forward_decoder order restoring, written from its description:
    the kept tokens, then mask tokens, gathered by ids_restore = argsort(ids_shuffle)."""
    batch, kept, dim = visible_tokens.shape
    remaining = torch.stack([torch.tensor([n for n in range(num_patches) if n not in row.tolist()]) for row in ids_keep])
    ids_shuffle = torch.cat([ids_keep, remaining], dim=1)
    ids_restore = torch.argsort(ids_shuffle, dim=1)
    x = torch.cat([visible_tokens, mask_token.expand(batch, num_patches - kept, dim)], dim=1)
    return torch.gather(x, 1, ids_restore[..., None].expand(-1, -1, dim))


@pytest.mark.parametrize("shuffled", [False, True])
def test_the_decoder_puts_tokens_back_in_their_original_order(shuffled):
    torch.manual_seed(2)
    decoder = MaeDecoder(8, 4, MaeDecoderConfig(embed_dim=16, depth=1, heads=2, attention="global"))
    num_patches, batch = 12, 3
    noise = torch.rand(batch, num_patches)
    ids_keep = torch.argsort(noise, dim=1)[:, :4]  # MAE keeps them in noise order, not sorted
    if not shuffled:
        ids_keep = ids_keep.sort(dim=1).values  # ehmam's masks list them ascending
    tokens = torch.randn(batch, 4, 16)
    ours = decoder.fill_masked(tokens, ids_keep, num_patches)
    assert torch.equal(ours, mae_unshuffle(tokens, decoder.mask_token, ids_keep, num_patches))


def reached(decoder, grid, source):
    """The patches whose prediction moves when the encoder token of patch ``source`` moves."""
    n = grid[0] * grid[1]
    tokens = torch.randn(1, 1 + n, 8, generator=torch.Generator().manual_seed(3))
    moved = tokens.clone()
    moved[0, 1 + source] += 1.0
    with torch.no_grad():
        change = (decoder(tokens, None, grid) - decoder(moved, None, grid)).abs().sum(-1)[0]
    return set((change > 1e-6).nonzero()[:, 0].tolist())


def window_of(patch, grid, window):
    rows, cols = grid
    r, c = divmod(patch, cols)
    r0, c0 = r - r % window[0], c - c % window[1]
    return {i * cols + j for i in range(r0, r0 + window[0]) for j in range(c0, c0 + window[1])}


def test_the_shifted_window_decoder_differs_from_the_global_one_and_keeps_to_its_windows():
    grid = (8, 16)  # Audio-MAE's 8 frequency rows, 16 time columns
    torch.manual_seed(4)
    local = MaeDecoder(8, 4, MaeDecoderConfig(embed_dim=16, depth=2, heads=2, window=[4, 4])).eval()
    glob = MaeDecoder(8, 4, MaeDecoderConfig(embed_dim=16, depth=2, heads=2, attention="global")).eval()
    glob.load_state_dict(local.state_dict())  # the same weights; only the attention differs
    tokens = torch.randn(1, 1 + 128, 8)
    with torch.no_grad():
        assert not torch.allclose(local(tokens, None, grid), glob(tokens, None, grid), atol=1e-3)
    assert reached(glob, grid, 0) == set(range(128))
    for window in ([4, 4], [2, 8]):
        one_layer = MaeDecoder(8, 4, MaeDecoderConfig(embed_dim=16, depth=1, heads=2, window=window)).eval()
        for patch in (0, 37, 127):
            assert reached(one_layer, grid, patch) == window_of(patch, grid, window), (window, patch)
    # the second layer is shifted by half a window: patch 0 reaches into the next windows
    assert reached(local, grid, 0 + 2 * 16 + 2) > window_of(2 * 16 + 2, grid, (4, 4))


def test_the_forward_is_its_named_steps():
    torch.manual_seed(5)
    model = AudioMAEModel(tiny_audio_mae_config()).eval()
    source = waveforms()
    out = model(source, torch.Generator().manual_seed(7))
    images = model.spectrogram(source)
    assert images.shape == (2, 1, 128, 256) and torch.equal(out.images, images)
    mask = model.mask(images, torch.Generator().manual_seed(7))
    assert torch.equal(out.mask.mask, mask.mask) and mask.masked.shape == (2, round(0.8 * 128))
    predictions = model.decode(model.encode(images, mask), mask)
    loss, _ = reconstruction_loss(predictions, model.patchify(images), mask)
    assert torch.allclose(out.loss, loss) and out.sample_size == 2 * 102
    assert set(out.stats()) == {"target_std", "prediction_std"}


def test_the_filter_bank_is_padded_after_the_audio_as_audio_mae_pads():
    model = AudioMAEModel(tiny_audio_mae_config())
    source = waveforms()
    source[1, 20_000:] = 0.0
    images = model.spectrogram(source, torch.tensor([SAMPLES, 20_000]))
    frames = model.frontend.num_frames(20_000)
    cfg = model.cfg.kaldi_fbank
    padded = (0.0 - cfg.norm_mean) / (2 * cfg.norm_std)  # a raw zero, normalised
    assert torch.allclose(images[1, 0, :, frames:], torch.full_like(images[1, 0, :, frames:], padded))
    alone = model.spectrogram(source[1:, :20_000])
    assert torch.allclose(images[1, 0, :, :frames], alone[0, 0, :, :frames], atol=1e-5)


def test_time_frequency_masking_and_the_msm_mae_front_end():
    tf = AudioMAEModel(tiny_audio_mae_config(masking=PatchMaskingConfig(
        strategy="time_frequency", time_ratio=0.5, frequency_ratio=0.25)))
    out = tf(waveforms())
    grid_mask = out.mask.mask.view(2, 8, 16)
    kept_rows, kept_cols = (~grid_mask).any(2).sum(1), (~grid_mask).any(1).sum(1)
    assert kept_rows.tolist() == [6, 6] and kept_cols.tolist() == [8, 8]
    msm = AudioMAEModel(tiny_msm_mae_config())
    out = msm(waveforms(samples=51_040))
    assert out.images.shape == (2, 1, 80, 320) and out.mask.masked.shape == (2, 75)  # 0.75 of 5 x 20
    assert not msm.cfg.norm_pix_loss and msm.cfg.decoder.attention == "global"
    base = msm_mae_config()
    assert (base.decoder.embed_dim, base.decoder.depth, base.decoder.heads, base.masking.ratio) == (384, 4, 6, 0.75)


def test_the_papers_defaults():
    cfg = AudioMAEConfig()
    assert (cfg.frontend, cfg.kaldi_fbank.num_mel_bins, cfg.kaldi_fbank.target_frames) == ("kaldi_fbank", 128, 1024)
    assert (cfg.encoder.embed_dim, cfg.encoder.depth, cfg.encoder.heads) == (768, 12, 12)
    assert (cfg.decoder.embed_dim, cfg.decoder.depth, cfg.decoder.heads, cfg.decoder.attention,
            cfg.decoder.window) == (512, 16, 16, "shifted_window", [4, 4])
    assert (cfg.masking.strategy, cfg.masking.ratio, cfg.norm_pix_loss) == ("unstructured", 0.8, True)
    model = AudioMAEModel(replace(cfg, encoder=replace(cfg.encoder, depth=1), decoder=replace(cfg.decoder, depth=2)))
    images = model.spectrogram(waveforms(batch=1, samples=160_000))
    assert images.shape == (1, 1, 128, 1024)
    assert model.encoder.patch_embed.grid(images.shape[-2:]) == (8, 64)  # 512 patches


def test_a_few_steps_fit_one_batch():
    torch.manual_seed(6)
    model = AudioMAEModel(tiny_audio_mae_config())
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    source = waveforms(batch=4)
    losses = []
    for _ in range(30):
        out = model(source, torch.Generator().manual_seed(0))  # the same mask every step
        optimizer.zero_grad()
        out.loss.backward()
        optimizer.step()
        losses.append(out.loss.item())
    assert losses[-1] < 0.7 * losses[0]


def test_reconstruct_keeps_visible_patches_and_predicts_the_rest():
    torch.manual_seed(7)
    model = AudioMAEModel(tiny_audio_mae_config()).eval()
    images = model.spectrogram(waveforms(batch=1))
    mask = model.mask(images, torch.Generator().manual_seed(1))
    picture = model.reconstruct(images, mask)
    visible = patchify(picture, 16)[0, mask.visible[0]]
    assert picture.shape == images.shape and torch.allclose(visible, patchify(images, 16)[0, mask.visible[0]])
    assert not torch.allclose(patchify(picture, 16)[0, mask.masked[0]], patchify(images, 16)[0, mask.masked[0]])


def test_config_errors():
    with pytest.raises(ValueError, match="frontend='mfcc'"):
        AudioMAEConfig(frontend="mfcc")
    with pytest.raises(ValueError, match="100 bins are not a multiple of the patch height 16"):
        AudioMAEConfig(kaldi_fbank=KaldiFbankConfig(num_mel_bins=100))
    with pytest.raises(ValueError, match="masks nothing"):
        AudioMAEConfig(masking=PatchMaskingConfig(ratio=0.0))
    with pytest.raises(ValueError, match="masks nothing"):
        AudioMAEConfig(masking=PatchMaskingConfig(strategy="time_frequency", time_ratio=0.0, frequency_ratio=0.0))
