"""Training clips for the ViT methods: a random crop of fixed length, Audio-MAE's cyclic
time roll and a random gain.

M2D (Sec. 4.1) pre-trains on 6 s crops taken at random from 10 s AudioSet clips;
Audio-MAE (Table 3, "R") samples random starting points with cyclic rolling in time.
Audio-MAE's released ``_roll_mag_aug`` draws its shift from ``len(waveform)`` of a
1 x S tensor, which is 1, so it always rolls by 0 (AudioMAE issue #26). Here the shift
is drawn over the clip's samples, and the tests check that it is.

Every function is pure: its inputs and a ``torch.Generator`` decide its output. Waveforms
are ``S`` or ``C x S`` (samples on the last axis); leading axes share one draw.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np
import torch
import torch.nn.functional as F

from ehmam.data.audio import SAMPLE_RATE
from ehmam.data.manifest import read_entry_audio, read_manifest


@dataclass
class ClipConfig:
    # clip length; M2D Sec. 4.1 "randomly cropped 6s audio from a 10s sample"
    seconds: Optional[float] = 6.0
    # clip length in samples; when set it wins over ``seconds``
    samples: Optional[int] = None
    sample_rate: int = SAMPLE_RATE
    # Audio-MAE's cyclic time roll (Table 3, "R"), by a shift uniform over the clip
    roll: bool = False
    # random gain uniform in [-gain_db, +gain_db] dB (amplitude); 0 turns it off
    gain_db: float = 0.0

    def __post_init__(self):
        if self.samples is None and self.seconds is None:
            raise ValueError("ClipConfig: set the clip length, `seconds` or `samples`")
        if self.num_samples < 1:
            raise ValueError(f"ClipConfig: seconds={self.seconds}, samples={self.samples} gives "
                             f"{self.num_samples} samples; a clip needs at least 1 sample")
        if self.gain_db < 0:
            raise ValueError(f"ClipConfig: gain_db={self.gain_db}: expected a range >= 0 dB (0 = off)")

    @property
    def num_samples(self) -> int:
        if self.samples is not None:
            return int(self.samples)
        return int(round(self.seconds * self.sample_rate))


def _check_length(samples: int) -> None:
    if samples < 1:
        raise ValueError(f"clip length {samples}: expected at least 1 sample")


def crop_start(length: int, samples: int, generator: torch.Generator) -> int:
    """First sample of a crop of ``samples`` out of ``length``, uniform over
    ``[0, length - samples]``. 0 (and no draw) when the input is not longer than the crop."""
    _check_length(samples)
    if length <= samples:
        return 0
    return int(torch.randint(length - samples + 1, (1,), generator=generator))


def pad_end(waveform: torch.Tensor, samples: int) -> torch.Tensor:
    """``... x S`` -> ``... x max(S, samples)``: zeros appended at the end."""
    missing = samples - waveform.shape[-1]
    return F.pad(waveform, (0, missing)) if missing > 0 else waveform


def random_crop(waveform: torch.Tensor, samples: int, generator: torch.Generator) -> torch.Tensor:
    """A crop of ``samples`` at a uniform random start: ``... x S`` -> ``... x samples``.

    A shorter input is zero padded at the end; an input of exactly ``samples`` is
    returned as is. Neither draws from ``generator``.
    """
    _check_length(samples)
    length = waveform.shape[-1]
    if length == samples:
        return waveform
    start = crop_start(length, samples, generator)
    return pad_end(waveform[..., start:start + samples], samples)


def roll_shift(length: int, generator: torch.Generator) -> int:
    """A cyclic shift uniform over ``[0, length)``."""
    if length < 1:
        raise ValueError(f"cannot roll an empty waveform (length {length})")
    return int(torch.randint(length, (1,), generator=generator))


def random_roll(waveform: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """``torch.roll`` along time by a shift uniform over the samples: ``... x S`` -> ``... x S``."""
    return torch.roll(waveform, roll_shift(waveform.shape[-1], generator), dims=-1)


def random_gain(waveform: torch.Tensor, max_db: float, generator: torch.Generator) -> torch.Tensor:
    """``waveform`` times ``10 ** (g / 20)``, ``g`` uniform in ``[-max_db, max_db]`` dB."""
    if max_db < 0:
        raise ValueError(f"max_db={max_db}: expected a gain range >= 0 dB")
    gain_db = (2 * torch.rand((), generator=generator, dtype=torch.float64) - 1) * max_db
    return waveform * float(10.0 ** (gain_db / 20.0))


def sample_clip(waveform: torch.Tensor, cfg: ClipConfig, generator: torch.Generator) -> torch.Tensor:
    """One training clip: ``... x S`` -> ``... x cfg.num_samples``.

    Crop the audio, roll it (the audio only: padding stays at the end, as in Audio-MAE,
    which rolls the file and pads its spectrogram), apply the gain, then zero pad.
    """
    if waveform.shape[-1] == 0:
        raise ValueError("cannot take a clip of an empty waveform (0 samples): drop the utterance")
    samples = cfg.num_samples
    clip = random_crop(waveform, min(samples, waveform.shape[-1]), generator)
    if cfg.roll:
        clip = random_roll(clip, generator)
    if cfg.gain_db > 0:
        clip = random_gain(clip, cfg.gain_db, generator)
    return pad_end(clip, samples)


def clip_seed(seed: int, epoch: int, index: int) -> int:
    """A 63-bit seed for the clip of utterance ``index`` in ``epoch`` of a run seeded ``seed``:
    the draw depends on these three numbers alone, so a resumed run takes the same clips as
    an uninterrupted one, whatever the batch order or the data loader's workers."""
    state = np.random.SeedSequence([seed, epoch, index]).generate_state(2, np.uint32)
    return (int(state[0]) << 31) ^ int(state[1])


class ManifestClips(torch.utils.data.Dataset):
    """Training clips of a manifest's audio: item ``i`` is ``(clip, audio_samples)``, a
    ``cfg.num_samples`` waveform (:func:`sample_clip`: crop, optional roll and gain, zero
    padding at the end) and how many of its samples are audio.

    Files are read through :func:`ehmam.data.manifest.read_entry_audio`, so a file that went
    missing, changed rate or length since validation stops with its manifest line named.
    """

    def __init__(self, manifest_path, cfg: ClipConfig, seed: int):
        self.manifest = read_manifest(manifest_path)
        self.cfg = cfg
        self.seed = seed
        self.epoch = 1

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.manifest.entries)

    def path(self, index: int) -> Path:
        return self.manifest.audio_path(self.manifest.entries[index])

    def __getitem__(self, index: int):
        entry = self.manifest.entries[index]
        audio = torch.from_numpy(read_entry_audio(self.manifest, entry, self.cfg.sample_rate))
        generator = torch.Generator().manual_seed(clip_seed(self.seed, self.epoch, index))
        return sample_clip(audio, self.cfg, generator), min(audio.shape[-1], self.cfg.num_samples)
