"""The spectrogram front ends against the references the papers' code uses: nnAudio's
MelSpectrogram for M2D, a literal call of Kaldi's fbank for Audio-MAE."""
import math

import pytest
import torch
import torchaudio

from ehmam.models.frontends.log_mel import (
    KaldiFbankConfig,
    KaldiFbankFrontend,
    LogMelConfig,
    LogMelFrontend,
)

SR = 16_000


def signals(seconds: float = 2.0) -> torch.Tensor:
    """3 x S: a voiced-like harmonic series in noise, quiet noise after silence, a pure tone."""
    g = torch.Generator().manual_seed(0)
    t = torch.arange(int(seconds * SR)) / SR
    voiced = sum(torch.sin(2 * math.pi * 120 * k * t) / k for k in range(1, 30)) * 0.1
    voiced = voiced + 0.01 * torch.randn(t.shape, generator=g)
    quiet = 1e-3 * torch.randn(t.shape, generator=g)
    quiet[: len(t) // 2] = 0.0
    tone = 0.5 * torch.sin(2 * math.pi * 440 * t)
    return torch.stack([voiced, quiet, tone]).float()


def nnaudio_m2d():
    """The front end exactly as nttcslab/m2d builds it (m2d/runtime_audio.py, examples/portable_m2d.py)."""
    features = pytest.importorskip("nnAudio.features", reason="nnAudio (test-only reference) is not installed: "
                                   "pip install nnAudio==0.3.4")
    return features.MelSpectrogram(sr=16000, n_fft=400, win_length=400, hop_length=160, n_mels=80, fmin=50,
                                   fmax=8000, center=True, power=2, verbose=False)


def test_log_mel_equals_m2d_nnaudio_front_end():
    waveform = signals()
    expected = (nnaudio_m2d()(waveform) + torch.finfo().eps).log().unsqueeze(1)
    frontend = LogMelFrontend(LogMelConfig())
    ours = frontend.log_mel(waveform)
    assert ours.shape == expected.shape == (3, 1, 80, 2 * SR // 160 + 1)
    assert frontend.num_frames(2 * SR) == ours.shape[-1]
    # nnAudio builds its Fourier kernels and mel filters in float32 (errors ~1e-7 absolute)
    # and does the DFT as a 400-tap conv1d; in quiet bins that is up to ~2e-3 relative in
    # power, i.e. 1.6e-3 in log units (measured). 5e-3 (0.5 % in power) bounds it; the wrong filter
    # choices (checked below) are off by 5 to 20 log units.
    torch.testing.assert_close(ours, expected, atol=5e-3, rtol=0)
    assert (ours - expected).abs().median() < 1e-4


def test_filters_are_librosa_slaney_as_nnaudio_and_the_choice_matters():
    reference = nnaudio_m2d()
    ours = LogMelFrontend(LogMelConfig()).mel.mel_scale.fb.T  # n_mels x (n_fft // 2 + 1)
    # weights <= 0.03 rounded to float32 on nnAudio's side
    torch.testing.assert_close(ours, reference.mel_basis, atol=1e-6, rtol=0)
    waveform = signals()
    expected = (reference(waveform) + torch.finfo().eps).log()
    for mel_scale, norm in [("htk", None), ("slaney", None)]:  # torchaudio's default, and no area norm
        other = torchaudio.transforms.MelSpectrogram(16000, n_fft=400, hop_length=160, f_min=50, f_max=8000,
                                                     n_mels=80, mel_scale=mel_scale, norm=norm)
        assert ((other(waveform) + torch.finfo().eps).log() - expected).abs().max() > 1.0


def slaney_mel(hz: float) -> float:
    """Slaney's mel scale: linear below 1 kHz (3 / 200 mel per Hz), logarithmic above."""
    if hz < 1000:
        return 3 * hz / 200
    return 15 + 27 * math.log(hz / 1000) / math.log(6.4)


@pytest.mark.parametrize("hz", [300.0, 1000.0, 3000.0])
def test_frequency_is_the_height_axis(hz):
    """A tone peaks at the mel band whose centre (closed form) is nearest to it."""
    t = torch.arange(SR) / SR
    image = LogMelFrontend(LogMelConfig()).log_mel((0.5 * torch.sin(2 * math.pi * hz * t))[None])
    low, high = slaney_mel(50.0), slaney_mel(8000.0)
    centres = [low + (i + 1) * (high - low) / 81 for i in range(80)]
    nearest = min(range(80), key=lambda i: abs(centres[i] - slaney_mel(hz)))
    # per frame, over the frequency (height) axis; the edge frames see the reflect padding
    peaks = image[0, 0, :, 1:-1].argmax(dim=0)
    assert peaks.tolist() == [nearest] * (image.shape[-1] - 2)


def test_normalisation_uses_the_config_statistics():
    waveform = signals(0.5)
    plain = LogMelFrontend(LogMelConfig())
    raw = plain.log_mel(waveform)
    torch.testing.assert_close(plain(waveform), raw)  # defaults 0 / 1: not normalised
    normalised = LogMelFrontend(LogMelConfig(norm_mean=-7.1, norm_std=4.2))(waveform)
    torch.testing.assert_close(normalised, (raw + 7.1) / 4.2)


def test_log_mel_stays_float32_under_autocast():
    waveform = signals(0.5)
    frontend = LogMelFrontend(LogMelConfig())
    with torch.autocast("cpu", dtype=torch.bfloat16):
        under_autocast = frontend(waveform)
    assert under_autocast.dtype == torch.float32
    torch.testing.assert_close(under_autocast, frontend(waveform))


def test_log_mel_refuses_bad_input_and_config():
    frontend = LogMelFrontend(LogMelConfig())
    with pytest.raises(ValueError, match="B x S"):
        frontend(torch.zeros(16000))
    with pytest.raises(ValueError, match="fewer than 201"):
        frontend(torch.zeros(2, 200))
    with pytest.raises(ValueError, match="norm_std=0.*normalization_stats"):
        LogMelConfig(norm_std=0.0)
    with pytest.raises(ValueError, match="sample_rate / 2"):
        LogMelConfig(f_max=9000.0)


# Audio-MAE: dataset.py _wav2fbank and main_pretrain.py (AudioSet norm_stats, target_length 1024)
AUDIOSET_MEAN, AUDIOSET_STD = -4.2677393, 4.5689974


def audio_mae_fbank(waveform: torch.Tensor, target_length: int) -> torch.Tensor:
    """Audio-MAE's _wav2fbank (no mixup, no roll), then its normalisation: S -> T x 128."""
    waveform = waveform[None] - waveform.mean()
    fbank = torchaudio.compliance.kaldi.fbank(waveform, htk_compat=True, sample_frequency=16000, use_energy=False,
                                              window_type="hanning", num_mel_bins=128, dither=0.0, frame_shift=10)
    p = target_length - fbank.shape[0]
    if p > 0:
        fbank = torch.nn.ZeroPad2d((0, 0, 0, p))(fbank)
    elif p < 0:
        fbank = fbank[0:target_length, :]
    return (fbank - AUDIOSET_MEAN) / (AUDIOSET_STD * 2)


def with_offset(waveform: torch.Tensor) -> torch.Tensor:
    return waveform + torch.tensor([[0.2], [-0.1], [0.05]])  # a DC offset the mean removal must take out


@pytest.mark.parametrize("target_frames", [1024, 150, 64])  # pad, pad, cut (2 s = 198 frames)
def test_kaldi_fbank_equals_audio_mae(target_frames):
    waveform = with_offset(signals())
    ours = KaldiFbankFrontend(KaldiFbankConfig(target_frames=target_frames))(waveform)
    expected = torch.stack([audio_mae_fbank(row, target_frames) for row in waveform])
    assert ours.shape == (3, target_frames, 128)
    torch.testing.assert_close(ours, expected, atol=1e-5, rtol=1e-5)


def test_kaldi_fbank_pads_the_raw_fbank_before_normalising():
    # as Audio-MAE: 198 frames of audio (2 s), then zeros that read (0 - mean) / (2 std)
    padded = KaldiFbankFrontend(KaldiFbankConfig())(signals())[:, 198:]
    torch.testing.assert_close(padded, torch.full_like(padded, -AUDIOSET_MEAN / (2 * AUDIOSET_STD)))


def test_kaldi_fbank_lengths_take_only_the_audio():
    waveform = with_offset(signals())
    frontend = KaldiFbankFrontend(KaldiFbankConfig(target_frames=None))
    lengths = torch.tensor([32000, 9000, 400])
    batch = frontend(waveform, lengths)
    # snip_edges frames: 1 + (S - 400) // 160, closed form
    assert batch.shape == (3, 1 + (32000 - 400) // 160, 128)
    for row, n in zip(range(3), lengths.tolist()):
        frames = 1 + (n - 400) // 160
        torch.testing.assert_close(batch[row, :frames], frontend(waveform[row:row + 1, :n])[0], atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(batch[row, :frames], audio_mae_fbank(waveform[row, :n], frames),
                                   atol=1e-5, rtol=1e-5)


def test_kaldi_fbank_refuses_bad_input():
    frontend = KaldiFbankFrontend(KaldiFbankConfig())
    with pytest.raises(ValueError, match="fewer than 400"):
        frontend(torch.zeros(2, 399))
    with pytest.raises(ValueError, match="fewer than 400"):
        frontend(torch.zeros(2, 800), torch.tensor([800, 300]))
    with pytest.raises(ValueError, match="one sample count <= S per row"):
        frontend(torch.zeros(2, 800), torch.tensor([900, 800]))
    with pytest.raises(ValueError, match="B x S"):
        frontend(torch.zeros(800))
    with pytest.raises(ValueError, match="B x S"):
        frontend(torch.zeros(800), torch.tensor([800]))
    with pytest.raises(ValueError, match="target_frames"):
        KaldiFbankConfig(target_frames=0)
