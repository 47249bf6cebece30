import pytest
import torch

from ehmam.models.frontends.waveform import (
    FrontendConfig,
    WaveformFrontend,
    conv_output_length,
    normalize_waveform,
    receptive_field,
)

KERNELS = [10, 3, 3, 3, 3, 2, 2]
STRIDES = [5, 2, 2, 2, 2, 2, 2]


def test_wav2vec2_geometry():
    assert receptive_field(KERNELS, STRIDES) == 400  # 25 ms at 16 kHz
    assert conv_output_length(16_000, KERNELS, STRIDES) == 49  # 50 Hz frames, 320x
    assert conv_output_length(399, KERNELS, STRIDES) == 0
    assert conv_output_length(400, KERNELS, STRIDES) == 1
    assert conv_output_length(400 + 320, KERNELS, STRIDES) == 2


@pytest.mark.parametrize("length", [400, 401, 719, 720, 1234, 16_000, 16_321])
def test_output_lengths_match_the_convolutions(length):
    frontend = WaveformFrontend(FrontendConfig(conv_channels=[8] * 7), embed_dim=16)
    frames, padding = frontend(torch.randn(1, length))
    assert frames.shape == (1, conv_output_length(length, KERNELS, STRIDES), 16)
    assert padding is None
    assert int(frontend.extractor.output_lengths(torch.tensor([length]))) == frames.shape[1]


def test_padding_mask_and_padding_invariance():
    torch.manual_seed(0)
    frontend = WaveformFrontend(FrontendConfig(conv_channels=[8] * 7), embed_dim=16).eval()
    short, long = torch.randn(5_000), torch.randn(9_000)
    batch = torch.zeros(2, 9_000)
    batch[0, :5_000], batch[1] = short, long
    padding = torch.zeros(2, 9_000, dtype=torch.bool)
    padding[0, 5_000:] = True
    frames, frame_padding = frontend(batch, padding)
    alone, _ = frontend(short[None])
    valid = conv_output_length(5_000, KERNELS, STRIDES)
    assert frame_padding[0].tolist() == [False] * valid + [True] * (frames.shape[1] - valid)
    assert not frame_padding[1].any()
    # with layer norms per frame, a padded utterance's frames equal those of the utterance alone
    assert torch.allclose(frames[0, :valid], alone[0], atol=1e-5)


def test_too_short_and_bad_shapes_are_refused():
    frontend = WaveformFrontend(FrontendConfig(conv_channels=[8] * 7), embed_dim=16)
    with pytest.raises(ValueError, match="receptive field of 400"):
        frontend(torch.randn(1, 300))
    with pytest.raises(ValueError, match="B x S"):
        frontend(torch.randn(300))
    with pytest.raises(ValueError, match="one entry per layer"):
        FrontendConfig(conv_kernels=[10, 3])


def test_normalize_ignores_padding():
    wav = torch.tensor([[1.0, 2.0, 3.0, 50.0]])
    padding = torch.tensor([[False, False, False, True]])
    out = normalize_waveform(wav, padding)
    assert out[0, :3].mean().abs() < 1e-6
    assert out[0, 3] == 0
    assert torch.allclose(out[0, :3], normalize_waveform(wav[:, :3])[0], atol=1e-4)


def conv_gradients(feature_grad_mult: float):
    torch.manual_seed(0)
    cfg = FrontendConfig(conv_channels=[8] * 7, feature_grad_mult=feature_grad_mult)
    frontend = WaveformFrontend(cfg, embed_dim=16)
    features, _ = frontend(torch.randn(2, 4000))
    features.square().sum().backward()
    return [p.grad for p in frontend.extractor.parameters()], frontend.projection.weight.grad


def test_feature_grad_mult_scales_or_stops_the_convolutions_gradient():
    full, projection = conv_gradients(1.0)
    scaled, projection_scaled = conv_gradients(0.1)
    for a, b in zip(full, scaled):
        torch.testing.assert_close(b, 0.1 * a)
    torch.testing.assert_close(projection_scaled, projection)  # only the convolutions are scaled
    frozen, projection_frozen = conv_gradients(0.0)
    assert all(g is None for g in frozen)  # no backward through them at all
    torch.testing.assert_close(projection_frozen, projection)
    with pytest.raises(ValueError, match="feature_grad_mult"):
        FrontendConfig(feature_grad_mult=-1.0)
