"""Phone alignments: which phone is spoken when, one ``.phn`` line per utterance.

A line lists the utterance's phones in order as ``start end phone`` triples (seconds from
the start of the audio; phone names hold no spaces)::

    0.0150 0.1129 f 0.1129 0.2462 I2 0.2462 0.3011 t ...

The demo corpus writes them from espeak-ng's own phone timing (``{split}.phn`` beside the
manifest, same line order). Frame labels for probing come from :func:`frame_labels`.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, List, Sequence

SILENCE = "sil"
# espeak-ng's pause phones ("_", "_:", "_!" ...) are silence as far as a probe is concerned
PAUSE_PREFIX = "_"


class AlignmentError(ValueError):
    """A ``.phn`` file that cannot be read; the message names the file and line."""


@dataclass(frozen=True)
class PhoneSegment:
    phone: str
    start: float  # seconds
    end: float


def format_alignment(segments: Sequence[PhoneSegment]) -> str:
    return " ".join(f"{s.start:.4f} {s.end:.4f} {s.phone}" for s in segments)


def write_alignments(path: Path | str, alignments: Iterable[Sequence[PhoneSegment]]) -> None:
    Path(path).write_text("".join(format_alignment(a) + "\n" for a in alignments))


def parse_alignment(line: str, where: str = "") -> List[PhoneSegment]:
    tokens = line.split()
    if not tokens or len(tokens) % 3:
        raise AlignmentError(f"{where}: expected 'start end phone' triples, got {len(tokens)} fields")
    segments = []
    for i in range(0, len(tokens), 3):
        try:
            start, end = float(tokens[i]), float(tokens[i + 1])
        except ValueError:
            raise AlignmentError(f"{where}: times {tokens[i]!r} {tokens[i + 1]!r} are not numbers") from None
        if not 0 <= start <= end or (segments and start < segments[-1].end - 1e-4):
            raise AlignmentError(f"{where}: segment {i // 3 + 1} ({start}-{end} s) overlaps or runs backwards")
        segments.append(PhoneSegment(tokens[i + 2], start, end))
    return segments


def read_alignments(path: Path | str, expected: int | None = None) -> List[List[PhoneSegment]]:
    """Every utterance's segments; ``expected``: the manifest's utterance count, checked."""
    path = Path(path)
    if not path.is_file():
        raise AlignmentError(f"{path}: no phone alignment file. Fix: regenerate the demo corpus "
                             "(manifests/make_demo_corpus.py writes {split}.phn)")
    lines = path.read_text().splitlines()
    if expected is not None and len(lines) != expected:
        raise AlignmentError(f"{path}: {len(lines)} lines for {expected} utterances in the manifest")
    return [parse_alignment(line, f"{path}:{n}") for n, line in enumerate(lines, start=1)]


def frame_labels(segments: Sequence[PhoneSegment], num_frames: int, stride: int,
                 receptive_field: int, sample_rate: int) -> List[str]:
    """The phone at the centre of each frame's receptive field (frame i covers samples
    ``[i * stride, i * stride + receptive_field)``); :data:`SILENCE` outside every phone
    and for pauses."""
    labels, k = [], 0
    for i in range(num_frames):
        centre = (i * stride + receptive_field / 2) / sample_rate
        while k < len(segments) and segments[k].end <= centre:
            k += 1
        inside = k < len(segments) and segments[k].start <= centre
        phone = segments[k].phone if inside else SILENCE
        labels.append(SILENCE if phone.startswith(PAUSE_PREFIX) else phone)
    return labels
