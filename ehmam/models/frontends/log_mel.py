"""Spectrogram front ends for the ViT methods: waveform -> normalised log-mel image.

- :class:`LogMelFrontend`: M2D / MSM-MAE / audio JEPA. 80 mel bins, 50-8000 Hz, 25 ms
  window, 10 ms hop at 16 kHz, ``log(power + eps)`` (M2D Sec. 4.1; nttcslab/m2d builds it
  with ``nnAudio.features.MelSpectrogram``, whose mel filters are librosa's: Slaney scale,
  Slaney area norm). Output ``B x 1 x F x T``: frequency on the height axis, as M2D.
- :class:`KaldiFbankFrontend`: Audio-MAE. 128 Kaldi-compatible mel bands, 25 ms Hanning
  window, 10 ms shift (Audio-MAE Sec. 4.1; ``_wav2fbank`` in facebookresearch/AudioMAE
  ``dataset.py``), padded or cut to ``target_frames``. Output ``B x T x F``, as Audio-MAE.

Both normalise with scalar statistics held in their config, so a checkpoint normalises
the way it was trained. ``python -m ehmam.data.normalization_stats`` computes them.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch
import torch.nn.functional as F
import torchaudio
from torch import nn

# M2D adds float32's machine epsilon before the log: ``(x + torch.finfo().eps).log()``
LOG_EPS = torch.finfo(torch.float32).eps


@dataclass
class LogMelConfig:
    sample_rate: int = 16_000
    n_fft: int = 400  # 25 ms at 16 kHz
    win_length: int = 400
    hop_length: int = 160  # 10 ms: 100 frames per second
    n_mels: int = 80
    f_min: float = 50.0
    f_max: float = 8000.0
    # dataset statistics of the raw log-mel, one scalar each over all bins and frames
    # (M2D Sec. 4.1). 0 / 1 = not normalised; `python -m ehmam.data.normalization_stats`
    # prints the values to set for a corpus.
    norm_mean: float = 0.0
    norm_std: float = 1.0

    def __post_init__(self):
        if not 0 < self.win_length <= self.n_fft:
            raise ValueError(f"win_length={self.win_length}: expected 0 < win_length <= n_fft={self.n_fft}")
        if not 0 <= self.f_min < self.f_max <= self.sample_rate / 2:
            raise ValueError(f"f_min={self.f_min}, f_max={self.f_max}: expected 0 <= f_min < f_max <= "
                             f"sample_rate / 2 = {self.sample_rate / 2}")
        if not self.norm_std > 0:
            raise ValueError(f"norm_std={self.norm_std}: expected > 0 (1 = not normalised; "
                             "compute it with `python -m ehmam.data.normalization_stats`)")


def _check_batch(waveform: torch.Tensor) -> None:
    if waveform.dim() != 2:
        raise ValueError(f"expected a B x S waveform batch, got shape {tuple(waveform.shape)}")


def _check_shortest(shortest: int, minimum: int, why: str) -> None:
    if shortest < minimum:
        raise ValueError(f"a clip has {shortest} samples, fewer than {minimum} ({why}): "
                         "pad or drop it (ehmam.data.clips pads crops to the training length)")


class LogMelFrontend(nn.Module):
    """Waveform -> normalised log-mel spectrogram, M2D's front end in torchaudio.

    forward(waveform B x S, float, 16 kHz) -> B x 1 x n_mels x T with T = S // hop_length + 1
    (frames are centred, the signal reflect-padded by n_fft // 2 at both ends).
    """

    def __init__(self, cfg: LogMelConfig):
        super().__init__()
        self.cfg = cfg
        # mel_scale / norm "slaney": the librosa filters nnAudio (and so M2D) uses;
        # torchaudio's defaults (htk, no norm) would give other numbers.
        self.mel = torchaudio.transforms.MelSpectrogram(
            sample_rate=cfg.sample_rate, n_fft=cfg.n_fft, win_length=cfg.win_length,
            hop_length=cfg.hop_length, f_min=cfg.f_min, f_max=cfg.f_max, n_mels=cfg.n_mels,
            power=2.0, center=True, pad_mode="reflect", mel_scale="slaney", norm="slaney",
        )

    # -- what the ViT methods ask of any spectrogram front end (Kaldi's too) --------------

    @property
    def bins(self) -> int:
        """Frequency bins: the image height."""
        return self.cfg.n_mels

    @property
    def hop_samples(self) -> int:
        return self.cfg.hop_length

    @property
    def min_samples(self) -> int:
        """The shortest waveform it takes: reflect padding needs more than ``n_fft // 2``."""
        return self.cfg.n_fft // 2 + 1

    def num_frames(self, samples: int) -> int:
        return samples // self.cfg.hop_length + 1

    def samples_for(self, frames: int) -> int:
        """The fewest samples that give ``frames`` frames."""
        return (frames - 1) * self.cfg.hop_length

    def images(self, waveform: torch.Tensor, lengths: Optional[torch.Tensor] = None) -> torch.Tensor:
        """``B x S`` -> the ``B x 1 x F x T`` image a ViT takes. ``lengths`` is not used:
        M2D takes the log-mel of the zero-padded clip as it is."""
        return self(waveform)

    def log_mel(self, waveform: torch.Tensor) -> torch.Tensor:
        """Raw ``log(mel power + eps)``, not normalised: B x S -> B x 1 x n_mels x T."""
        _check_batch(waveform)
        _check_shortest(waveform.shape[1], self.cfg.n_fft // 2 + 1, "reflect padding needs more than n_fft // 2")
        # in float32 even under autocast: mel power spans many decades before the log
        with torch.autocast(device_type=waveform.device.type, enabled=False):
            power = self.mel(waveform.float())
        return (power + LOG_EPS).log()[:, None]

    def normalize(self, log_mel: torch.Tensor) -> torch.Tensor:
        """``(x - norm_mean) / norm_std`` with the config's dataset statistics."""
        return (log_mel - self.cfg.norm_mean) / self.cfg.norm_std

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        return self.normalize(self.log_mel(waveform))


@dataclass
class KaldiFbankConfig:
    sample_rate: int = 16_000
    num_mel_bins: int = 128
    frame_length_ms: float = 25.0  # Kaldi's default window, the paper's 25 ms
    frame_shift_ms: float = 10.0
    # frames per clip after zero padding / cutting (Audio-MAE: 1024 for 10 s AudioSet
    # clips); None keeps every frame (a batch is padded to its longest row)
    target_frames: Optional[int] = 1024
    # Audio-MAE's AudioSet statistics (main_pretrain.py ``norm_stats['audioset']``): the
    # paper's setting. For another corpus run `python -m ehmam.data.normalization_stats
    # --frontend kaldi_fbank`; it prints the plain std, the front end divides by 2 * std.
    norm_mean: float = -4.2677393
    norm_std: float = 4.5689974

    def __post_init__(self):
        if self.target_frames is not None and self.target_frames < 1:
            raise ValueError(f"target_frames={self.target_frames}: expected >= 1 or None (keep all frames)")
        if not self.norm_std > 0:
            raise ValueError(f"norm_std={self.norm_std}: expected > 0 (compute it with "
                             "`python -m ehmam.data.normalization_stats --frontend kaldi_fbank`)")


class KaldiFbankFrontend(nn.Module):
    """Waveform -> normalised Kaldi filter bank, Audio-MAE's front end.

    forward(waveform B x S, lengths B or None) -> B x T x num_mel_bins, T = target_frames
    (or the longest row's frames). Per row, as Audio-MAE's ``_wav2fbank``: remove the
    waveform mean, Kaldi fbank (no dither, no energy, HTK-compatible layout), zero pad or
    cut the frames, then ``(x - norm_mean) / (2 * norm_std)``. Padding is added to the raw
    fbank, before normalising, exactly as Audio-MAE does.
    ``lengths``: samples of audio per row (the rest is padding), None = whole rows.
    """

    def __init__(self, cfg: KaldiFbankConfig):
        super().__init__()
        self.cfg = cfg
        self.window_samples = int(cfg.sample_rate * cfg.frame_length_ms / 1000)

    @property
    def bins(self) -> int:
        return self.cfg.num_mel_bins

    @property
    def hop_samples(self) -> int:
        return int(self.cfg.sample_rate * self.cfg.frame_shift_ms / 1000)

    @property
    def min_samples(self) -> int:
        return self.window_samples

    def num_frames(self, samples: int) -> int:
        """Kaldi's ``snip_edges`` frames of ``samples`` (before padding to ``target_frames``)."""
        return 0 if samples < self.window_samples else 1 + (samples - self.window_samples) // self.hop_samples

    def samples_for(self, frames: int) -> int:
        return self.window_samples + (frames - 1) * self.hop_samples

    def images(self, waveform: torch.Tensor, lengths: Optional[torch.Tensor] = None) -> torch.Tensor:
        """``B x S`` -> ``B x 1 x F x T``: the filter bank turned to the ViTs' frequency x time
        layout (Audio-MAE's own image is ``1 x T x F``; the patches are the same)."""
        return self(waveform, lengths).transpose(1, 2)[:, None]

    def fbank(self, waveform: torch.Tensor) -> torch.Tensor:
        """Raw filter bank of one utterance: S -> T x num_mel_bins (Kaldi's snip_edges frames)."""
        waveform = waveform.float()
        return torchaudio.compliance.kaldi.fbank(
            (waveform - waveform.mean())[None], htk_compat=True, sample_frequency=self.cfg.sample_rate,
            use_energy=False, window_type="hanning", num_mel_bins=self.cfg.num_mel_bins, dither=0.0,
            frame_length=self.cfg.frame_length_ms, frame_shift=self.cfg.frame_shift_ms,
        )

    def raw_fbanks(self, waveform: torch.Tensor, lengths: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Un-normalised filter banks, zero padded / cut: B x S -> B x T x num_mel_bins."""
        _check_batch(waveform)
        if lengths is not None and (lengths.shape != waveform.shape[:1] or int(lengths.max()) > waveform.shape[1]):
            raise ValueError(f"lengths {lengths.tolist()} do not fit the waveform batch of shape "
                             f"{tuple(waveform.shape)}: expected one sample count <= S per row")
        shortest = waveform.shape[1] if lengths is None else int(lengths.min())
        _check_shortest(shortest, self.window_samples, f"one {self.cfg.frame_length_ms:g} ms Kaldi window")
        rows = waveform if lengths is None else [row[:int(n)] for row, n in zip(waveform, lengths)]
        with torch.autocast(device_type=waveform.device.type, enabled=False):
            banks = [self.fbank(row) for row in rows]
        frames = self.cfg.target_frames or max(bank.shape[0] for bank in banks)
        return torch.stack([F.pad(bank[:frames], (0, 0, 0, frames - min(frames, bank.shape[0])))
                            for bank in banks])

    def normalize(self, fbank: torch.Tensor) -> torch.Tensor:
        """``(x - norm_mean) / (2 * norm_std)``, Audio-MAE's normalisation."""
        return (fbank - self.cfg.norm_mean) / (2 * self.cfg.norm_std)

    def forward(self, waveform: torch.Tensor, lengths: Optional[torch.Tensor] = None) -> torch.Tensor:
        return self.normalize(self.raw_fbanks(waveform, lengths))
