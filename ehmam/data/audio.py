"""Audio files as the toolkit expects them: readable, non-empty, mono, at the model's rate.

fairseq's own reader averages stereo to mono and only fails on a wrong sample rate when
a batch reaches it, mid-training. These checks run on the header alone (cheap), so a
whole manifest can be checked before the first update.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np
import soundfile as sf

SAMPLE_RATE = 16_000


class AudioError(ValueError):
    """An audio file the toolkit cannot use; the message says why and how to fix it."""


@dataclass(frozen=True)
class AudioInfo:
    path: Path
    sample_rate: int
    channels: int
    frames: int


@dataclass(frozen=True)
class AudioProblem:
    what: str
    fix: str

    def __str__(self) -> str:
        return f"{self.what}. Fix: {self.fix}"


def _resample_fix(path: Path, sample_rate: int) -> str:
    return f"resample to {sample_rate} Hz mono 16-bit, e.g. `sox {path} -r {sample_rate} -c 1 -b 16 out.wav`"


def probe_audio(path: Path | str) -> AudioInfo | AudioProblem:
    """Read the header of ``path``: its :class:`AudioInfo`, or the problem if unreadable."""
    path = Path(path)
    if not path.is_file():
        return AudioProblem("audio file does not exist", "correct the path or restore the file")
    try:
        info = sf.info(str(path))
    except (RuntimeError, sf.LibsndfileError) as e:  # libsndfile cannot parse it
        return AudioProblem(
            f"audio file is unreadable ({str(e).strip()})",
            "re-encode it as WAV or FLAC (soundfile/libsndfile must open it) or remove it",
        )
    return AudioInfo(path, int(info.samplerate), int(info.channels), int(info.frames))


def audio_problem(info: AudioInfo, sample_rate: int = SAMPLE_RATE) -> Optional[AudioProblem]:
    """Why ``info`` is unusable at ``sample_rate`` (empty, not mono, wrong rate), or None."""
    if info.frames == 0:
        return AudioProblem("audio file is empty (0 samples)", "re-create the file or remove it")
    if info.channels != 1:
        return AudioProblem(
            f"audio has {info.channels} channels, expected mono",
            _resample_fix(info.path, sample_rate),
        )
    if info.sample_rate != sample_rate:
        return AudioProblem(
            f"sample rate is {info.sample_rate} Hz, expected {sample_rate} Hz",
            _resample_fix(info.path, sample_rate),
        )
    return None


def inspect_audio(path: Path | str, sample_rate: int = SAMPLE_RATE) -> tuple[Optional[AudioInfo], Optional[AudioProblem]]:
    """The header of ``path`` (None if unreadable) and why it is unusable (None if usable)."""
    info = probe_audio(path)
    if isinstance(info, AudioProblem):
        return None, info
    return info, audio_problem(info, sample_rate)


def check_audio(path: Path | str, sample_rate: int = SAMPLE_RATE) -> AudioInfo:
    """The :class:`AudioInfo` of a usable file; :class:`AudioError` naming the file otherwise."""
    info, problem = inspect_audio(path, sample_rate)
    if problem is not None:
        raise AudioError(f"{path}: {problem}")
    return info


def read_audio(path: Path | str, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Samples of a checked mono file as float32 in [-1, 1], shape ``(T,)``."""
    check_audio(path, sample_rate)
    wav, _ = sf.read(str(path), dtype="float32")
    return wav
