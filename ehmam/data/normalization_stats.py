"""Normalisation statistics for the spectrogram front ends, from random crops of a corpus.

M2D and MSM-MAE normalise log-mel spectrograms with one mean and one standard deviation
over all bins and frames of the training set (M2D Sec. 4.1 "normalized them with a
dataset statistics"); Audio-MAE does the same for its Kaldi filter bank. This command
measures them on ``--crops`` random crops (seeded: same seed, same numbers) and prints
the hydra overrides (``task.norm_mean``, ``task.norm_std``) with which the spectrogram
pretraining task writes them into the model's front end config, so the checkpoint keeps
them (left unset, the task measures them itself at start-up)::

    python -m ehmam.data.normalization_stats data/demo/train.tsv --crops 10000 --seconds 6 \\
        --seed 0 [--frontend log_mel|kaldi_fbank] [--out stats.json]

What is counted: for ``log_mel``, every value of the raw log-mel of each crop as the
front end receives it in training (short files zero padded to the crop length, as M2D
pads short audio before its log-mel); for ``kaldi_fbank``, every value of the raw filter
bank of the crop's audio (Audio-MAE's zero frames, added after the fbank, are not audio).
The std is the population std; M2D's ``audio_dataset.py`` takes torch's unbiased std
(plus float32 eps) over 10,000 random crops, a relative difference of 1 / (2n): nothing at
the millions of values counted here.
"""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterator, List, Sequence

import torch

from ehmam.data.audio import AudioError
from ehmam.data.clips import crop_start, pad_end
from ehmam.data.manifest import Manifest, read_entry_audio, read_manifest
from ehmam.models.frontends.log_mel import (
    KaldiFbankConfig,
    KaldiFbankFrontend,
    LogMelConfig,
    LogMelFrontend,
)

FRONTENDS = ("log_mel", "kaldi_fbank")
FRONTEND_NAMES = {LogMelFrontend: "log_mel", KaldiFbankFrontend: "kaldi_fbank"}
BATCH_SIZE = 64  # crops per log-mel call
WINDOW_SAMPLES = 400  # 25 ms at 16 kHz: both front ends' analysis window


@dataclass(frozen=True)
class Crop:
    entry: int  # index into the manifest's entries
    start: int  # first sample of the crop


@dataclass(frozen=True)
class NormalizationStats:
    mean: float
    std: float
    frontend: str
    crops: int
    seconds: float
    seed: int
    values: int  # bins x frames counted

    def overrides(self) -> str:
        """The hydra overrides that make the spectrogram task normalise with these."""
        return f"task.norm_mean={self.mean:.8g} task.norm_std={self.std:.8g}"


def draw_crops(num_samples: Sequence[int], crops: int, samples: int, generator: torch.Generator) -> List[Crop]:
    """``crops`` crops of ``samples``: files uniform over the manifest (with replacement),
    then each start uniform over the file (:func:`ehmam.data.clips.crop_start`)."""
    entries = torch.randint(len(num_samples), (crops,), generator=generator).tolist()
    return [Crop(e, crop_start(num_samples[e], samples, generator)) for e in entries]


def crop_audio(manifest: Manifest, plan: Sequence[Crop], samples: int, sample_rate: int) -> Iterator[tuple]:
    """(crop zero padded to ``samples``, samples of audio in it) per crop, reading each file once."""
    loaded, wav = None, None
    for crop in sorted(plan, key=lambda c: (c.entry, c.start)):
        if crop.entry != loaded:
            entry = manifest.entries[crop.entry]
            loaded, wav = crop.entry, torch.from_numpy(read_entry_audio(manifest, entry, sample_rate))
            if not bool(torch.isfinite(wav).all()):
                raise AudioError(f"{manifest.path}:{entry.line}: {manifest.audio_path(entry)}: NaN or infinite samples "
                                 "(a float WAV written from a diverged process?). Fix: regenerate the file or drop it "
                                 "from the manifest")
        audio = wav[crop.start:crop.start + samples]
        yield pad_end(audio, samples), audio.shape[0]


def _batches(items: Iterator[tuple], size: int) -> Iterator[list]:
    batch = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def build_frontend(frontend: str) -> LogMelFrontend | KaldiFbankFrontend:
    """The named front end with its default (paper) geometry."""
    if frontend == "log_mel":
        return LogMelFrontend(LogMelConfig())
    if frontend == "kaldi_fbank":
        return KaldiFbankFrontend(KaldiFbankConfig())
    raise ValueError(f"frontend={frontend!r}: expected one of {FRONTENDS}")


def raw_values(frontend: LogMelFrontend | KaldiFbankFrontend, batch: list) -> torch.Tensor:
    """Every raw (un-normalised) feature value of a batch of (crop, audio samples) pairs."""
    if isinstance(frontend, LogMelFrontend):
        return frontend.log_mel(torch.stack([crop for crop, _ in batch])).flatten()
    return torch.cat([frontend.fbank(crop[:n]).flatten() for crop, n in batch])


def _check_arguments(crops: int, samples: int, seconds: float) -> None:
    if crops < 1:
        raise ValueError(f"--crops {crops}: expected at least 1 crop")
    if samples < WINDOW_SAMPLES:
        raise ValueError(f"--seconds {seconds} gives {samples} samples, shorter than one 25 ms window: "
                         "use the training clip length (M2D: 6 s, Audio-MAE: 10 s)")


def normalization_stats(
    manifest_path: Path | str, crops: int, seconds: float, seed: int,
    frontend: str | LogMelFrontend | KaldiFbankFrontend = "log_mel",
) -> NormalizationStats:
    """Mean and population std of the raw features of ``crops`` random crops of ``seconds``
    from the manifest's files; ``seed`` alone decides the crops. ``frontend``: a name (the
    paper's geometry) or a front end module (its own geometry)."""
    features = build_frontend(frontend) if isinstance(frontend, str) else frontend
    frontend = frontend if isinstance(frontend, str) else FRONTEND_NAMES[type(frontend)]
    sample_rate = features.cfg.sample_rate
    samples = int(round(seconds * sample_rate))
    _check_arguments(crops, samples, seconds)
    manifest = read_manifest(manifest_path)
    plan = draw_crops([e.num_samples for e in manifest.entries], crops, samples,
                      torch.Generator().manual_seed(seed))
    total = squares = torch.zeros((), dtype=torch.float64)
    count = 0
    with torch.no_grad():
        for batch in _batches(crop_audio(manifest, plan, samples, sample_rate), BATCH_SIZE):
            values = raw_values(features, batch).double()
            total, squares, count = total + values.sum(), squares + values.square().sum(), count + values.numel()
    if count == 0:
        raise ValueError(f"{manifest.path}: the crops hold no complete frame: every file is shorter "
                         "than one 25 ms window. Fix: drop the short files from the manifest")
    mean = total / count
    std = (squares / count - mean.square()).clamp(min=0).sqrt()
    return NormalizationStats(float(mean), float(std), frontend, crops, seconds, seed, count)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("manifest", type=Path, help="wav2vec-style manifest (root line, then path<TAB>samples)")
    parser.add_argument("--crops", type=int, default=10_000,
                        help="random crops to measure (default 10000, M2D's n_norm_calc)")
    parser.add_argument("--seconds", type=float, required=True,
                        help="crop length, the training clip's (M2D: 6, Audio-MAE: 10)")
    parser.add_argument("--seed", type=int, default=0, help="decides the crops (default 0)")
    parser.add_argument("--frontend", choices=FRONTENDS, default="log_mel")
    parser.add_argument("--out", type=Path, help="also write the statistics as JSON here")
    args = parser.parse_args(argv)
    try:
        stats = normalization_stats(args.manifest, args.crops, args.seconds, args.seed, args.frontend)
    except ValueError as e:  # ManifestError and AudioError are ValueErrors with the fix in them
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"{args.manifest}: {stats.frontend} over {stats.crops} crops of {stats.seconds:g} s "
          f"(seed {stats.seed}, {stats.values} values): mean {stats.mean:.8g}, std {stats.std:.8g}")
    print(f"hydra overrides: {stats.overrides()}")
    if stats.frontend == "kaldi_fbank":
        print("(the Kaldi front end divides by 2 * norm_std, as Audio-MAE does)")
    if args.out is not None:
        args.out.write_text(json.dumps(asdict(stats), indent=2) + "\n")
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
