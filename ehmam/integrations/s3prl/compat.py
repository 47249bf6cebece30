"""What s3prl 0.4.18 (the newest on PyPI) needs from a stack newer than its own, in one place.

s3prl's SUPERB runner was written against torchaudio < 2.9, huggingface_hub < 1.0, torch < 2.6
and an installable ``catalyst``; on ehmam's stack (torch / torchaudio 2.11, huggingface_hub 2.x,
Python 3.11) it fails at import or at its first checkpoint. :func:`install` puts back exactly
the names it uses, each with the behaviour it needs, so s3prl's own unmodified code runs.
Every shim is listed in :data:`SHIMS` with what it replaces and why, and is installed only
where the real name is missing. ``install()`` is idempotent and changes only this process.

Audio reading: ``torchaudio.load`` needs torchcodec and a system FFmpeg since torchaudio 2.9.
We read with soundfile instead, as the rest of ehmam does: its wheel bundles libsndfile (no
system library to install), and it reads WAV and FLAC, the formats of every SUPERB set
(LibriSpeech is FLAC; Speech Commands, Fluent Speech Commands and SNIPS are WAV). A file
soundfile cannot read fails with its path, never a silent skip.
"""
from __future__ import annotations

import argparse
import importlib
import logging
import math
import sys
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, List, Optional, Sequence, Tuple

import numpy as np
import soundfile as sf
import torch
import torchaudio
from torch.utils.data import Sampler

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Shim:
    name: str  # the name s3prl imports
    replaces: str  # what it stands in for
    why: str  # why the real one is unavailable here


SHIMS: Tuple[Shim, ...] = (
    Shim("torchaudio.set_audio_backend", "a no-op",
         "removed in torchaudio 2.9; s3prl calls it at import (byol_s) and in run_downstream.main "
         "to pick sox_io, which nothing here needs: audio is read by soundfile"),
    Shim("torchaudio.load", "soundfile.read, as torchaudio.load returns it (float32, channels x samples)",
         "since torchaudio 2.9 it needs torchcodec and a system FFmpeg; s3prl's IC, ASR, ctc and "
         "inference readers call it"),
    Shim("torchaudio.sox_effects", "apply_effects_file / apply_effects_tensor for the effects "
         "s3prl's KS applies: channels, rate, gain (anything else is an error)",
         "torchaudio 2.9 removed its sox bindings; s3prl's Speech Commands data set imports it"),
    Shim("huggingface_hub.HfFolder, huggingface_hub.Repository", "placeholders that raise when used",
         "huggingface_hub 1.0 removed both; s3prl's runner imports them for hub uploads only "
         "(--hub huggingface, --push_to_hf_hub), which ehmam's launcher refuses up front"),
    Shim("torch.load of argparse.Namespace", "an allow-list entry for weights_only loading",
         "torch 2.6 made weights_only=True the default, and the runner's states-*.ckpt hold its "
         "arguments as an argparse.Namespace: evaluation and resume would fail"),
    Shim("catalyst.data.sampler.DistributedSamplerWrapper", "a sampler that shards another sampler's draws",
         "the KS expert imports it at module level; catalyst 21.5 fails to import on Python 3.11 "
         "(collections.MutableMapping) and its later releases carry metadata pip >= 24.1 rejects"),
    Shim("s3prl.downstream.ctc.corpus", "ehmam.integrations.s3prl.ctc_corpus (LibriSpeech, "
         "LibriPhone and SNIPS readers written from the data formats)",
         "the wheel ships no corpus package, so the ctc downstream (PR, SF) cannot build its data sets"),
)

SOX_EFFECTS = ("channels", "rate", "gain")


# --- audio -----------------------------------------------------------------------------------

class AudioReadError(RuntimeError):
    """An audio file soundfile cannot read; the message names the file."""


def load(filepath, frame_offset: int = 0, num_frames: int = -1, normalize: bool = True,
         channels_first: bool = True, format: Optional[str] = None, buffer_size: int = 4096,
         backend: Optional[str] = None) -> Tuple[torch.Tensor, int]:
    """``torchaudio.load``'s signature and result on soundfile: (channels x samples, rate), float32
    in [-1, 1] (``normalize=False``: the file's integer samples, as torchaudio gives for PCM)."""
    path = str(filepath)
    try:
        with sf.SoundFile(path) as f:
            f.seek(frame_offset)
            dtype = "float32" if normalize or not f.subtype.startswith("PCM") else _pcm_dtype(f.subtype)
            data = f.read(frames=num_frames, dtype=dtype, always_2d=True)  # samples x channels
            rate = f.samplerate
    except (sf.LibsndfileError, RuntimeError, OSError) as error:
        raise AudioReadError(f"{path}: cannot read audio ({error}). Fix: check the file exists and is "
                             "WAV or FLAC; convert others with sox first") from error
    tensor = torch.from_numpy(np.ascontiguousarray(data.T if channels_first else data))
    return tensor, rate


def _pcm_dtype(subtype: str) -> str:
    return {"PCM_16": "int16", "PCM_32": "int32"}.get(subtype, "float32")


def apply_effects_tensor(tensor: torch.Tensor, sample_rate: int, effects: Sequence[Sequence[str]],
                         channels_first: bool = True) -> Tuple[torch.Tensor, int]:
    """sox's ``channels N`` (N = 1: the mean of the channels, as sox mixes down), ``rate R``
    (band-limited resampling) and ``gain DB``, in order; any other effect is a ValueError."""
    x = tensor if channels_first else tensor.T
    x = x.float()
    for effect in effects:
        name, *args = [str(a) for a in effect]
        if name == "channels":
            channels = int(args[0])
            if channels == 1:
                x = x.mean(dim=0, keepdim=True)
            elif channels != x.shape[0]:
                raise ValueError(f"sox effect 'channels {channels}' on {x.shape[0]}-channel audio: only a "
                                 "mix-down to 1 channel is supported here")
        elif name == "rate":
            target = int(float(args[-1]))
            x = resample(x, sample_rate, target)
            sample_rate = target
        elif name == "gain":
            x = x * 10.0 ** (float(args[-1]) / 20.0)
        else:
            raise ValueError(f"sox effect {effect!r} is not supported by ehmam's torchaudio.sox_effects "
                             f"stand-in (only {', '.join(SOX_EFFECTS)}, what s3prl's downstreams use)")
    return (x if channels_first else x.T), sample_rate


def apply_effects_file(path, effects: Sequence[Sequence[str]], normalize: bool = True,
                       channels_first: bool = True, format: Optional[str] = None) -> Tuple[torch.Tensor, int]:
    """:func:`apply_effects_tensor` on the file read by :func:`load`."""
    tensor, rate = load(path, channels_first=True)
    return apply_effects_tensor(tensor, rate, effects, channels_first)


def resample(x: torch.Tensor, source: int, target: int) -> torch.Tensor:
    """Windowed-sinc resampling with a Kaiser window and a 64-zero-crossing filter, close to
    sox's default ``rate`` (a test measures how close on a real file)."""
    if source == target:
        return x
    return torchaudio.functional.resample(x, source, target, lowpass_filter_width=64,
                                          rolloff=0.9475937167399596, resampling_method="sinc_interp_kaiser",
                                          beta=14.769656459379492)


# --- sampling --------------------------------------------------------------------------------

class DistributedSamplerWrapper(Sampler):
    """Another sampler's draws for one rank: each epoch the wrapped sampler draws all its
    indices, and rank r takes draws r, r + R, r + 2R, ... (R replicas), padding with the
    first draws so every rank gets the same count, as torch's DistributedSampler does."""

    def __init__(self, sampler: Sampler, num_replicas: Optional[int] = None, rank: Optional[int] = None,
                 shuffle: bool = True):
        if num_replicas is None or rank is None:
            if not torch.distributed.is_initialized():
                raise RuntimeError("DistributedSamplerWrapper without num_replicas/rank needs "
                                   "torch.distributed initialised")
            num_replicas = torch.distributed.get_world_size() if num_replicas is None else num_replicas
            rank = torch.distributed.get_rank() if rank is None else rank
        if not 0 <= rank < num_replicas:
            raise ValueError(f"rank {rank} is not in [0, {num_replicas})")
        self.sampler, self.num_replicas, self.rank = sampler, num_replicas, rank
        self.num_samples = math.ceil(len(sampler) / num_replicas)

    def __iter__(self) -> Iterator[int]:
        draws = list(iter(self.sampler))
        total = self.num_samples * self.num_replicas
        draws += draws[: total - len(draws)]
        return iter(draws[self.rank: total: self.num_replicas])

    def __len__(self) -> int:
        return self.num_samples

    def set_epoch(self, epoch: int) -> None:  # DistributedSampler's interface; the draws reshuffle anyway
        self.epoch = epoch


# --- hub placeholders ------------------------------------------------------------------------

HUB_UPLOAD = ("s3prl's Hugging Face Hub upload (--hub huggingface, --push_to_hf_hub) is not available: "
              "huggingface_hub >= 1.0 removed HfFolder and Repository, which it needs. Fix: run without "
              "those options and upload the experiment directory yourself")


class _Unavailable(type):
    def __getattr__(cls, name):
        raise RuntimeError(HUB_UPLOAD)


class HfFolder(metaclass=_Unavailable):
    """Stands in for huggingface_hub.HfFolder (removed in 1.0); any use raises."""


class Repository(metaclass=_Unavailable):
    """Stands in for huggingface_hub.Repository (removed in 1.0); any use raises."""

    def __init__(self, *args, **kwargs):
        raise RuntimeError(HUB_UPLOAD)


# --- installing ------------------------------------------------------------------------------

_installed: List[str] = []
_complete = False


def install() -> List[str]:
    """Put every missing name in place (see :data:`SHIMS`); returns the ones installed by this
    process. Safe to call again: each shim checks for the real name first."""
    global _complete
    if _complete:
        return list(_installed)
    if not hasattr(torchaudio, "set_audio_backend"):
        torchaudio.set_audio_backend = lambda backend=None: None
        _installed.append("torchaudio.set_audio_backend")
    if not _torchaudio_load_works():
        torchaudio.load = load
        _installed.append("torchaudio.load")
    if not _importable("torchaudio.sox_effects"):
        module = types.ModuleType("torchaudio.sox_effects", "ehmam's stand-in: channels, rate and gain only")
        module.apply_effects_file, module.apply_effects_tensor = apply_effects_file, apply_effects_tensor
        module.effect_names = lambda: list(SOX_EFFECTS)
        sys.modules["torchaudio.sox_effects"] = module
        torchaudio.sox_effects = module
        _installed.append("torchaudio.sox_effects")
    import huggingface_hub
    for name, placeholder in (("HfFolder", HfFolder), ("Repository", Repository)):
        if not hasattr(huggingface_hub, name):
            setattr(huggingface_hub, name, placeholder)
            _installed.append(f"huggingface_hub.{name}")
    if argparse.Namespace not in torch.serialization.get_safe_globals():
        torch.serialization.add_safe_globals([argparse.Namespace])
        _installed.append("torch.load of argparse.Namespace")
    if not _importable("catalyst.data.sampler"):
        for name in ("catalyst", "catalyst.data", "catalyst.data.sampler"):
            sys.modules[name] = types.ModuleType(name, "ehmam's stand-in for catalyst's sampler wrapper")
        sys.modules["catalyst"].data = sys.modules["catalyst.data"]
        sys.modules["catalyst.data"].sampler = sys.modules["catalyst.data.sampler"]
        sys.modules["catalyst.data.sampler"].DistributedSamplerWrapper = DistributedSamplerWrapper
        _installed.append("catalyst.data.sampler.DistributedSamplerWrapper")
    if not _importable("s3prl.downstream.ctc.corpus"):
        _alias_package("ehmam.integrations.s3prl.ctc_corpus", "s3prl.downstream.ctc.corpus",
                       ("librispeech", "libriphone", "snips"))
        _installed.append("s3prl.downstream.ctc.corpus")
    _complete = True
    logger.info("s3prl compatibility shims: %s", ", ".join(_installed))
    return list(_installed)


def _importable(name: str) -> bool:
    try:
        importlib.import_module(name)
        return True
    except Exception:  # missing, or present but broken on this Python (catalyst 21.5)
        return False


def _torchaudio_load_works() -> bool:
    """Whether the installed ``torchaudio.load`` reads a WAV here (it needs torchcodec and FFmpeg)."""
    import tempfile
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "probe.wav"
        sf.write(path, np.zeros(160, dtype=np.float32), 16000)
        try:
            torchaudio.load(str(path))
            return True
        except Exception:
            return False


def _alias_package(ours: str, theirs: str, submodules: Sequence[str]) -> None:
    """Make ``theirs`` (and ``theirs.sub``) import as our modules, so s3prl's relative imports
    (``from .corpus.librispeech import LibriDataset``) find them."""
    package = importlib.import_module(ours)
    sys.modules[theirs] = package
    parent_name, _, child = theirs.rpartition(".")
    setattr(importlib.import_module(parent_name), child, package)
    for sub in submodules:
        sys.modules[f"{theirs}.{sub}"] = importlib.import_module(f"{ours}.{sub}")
