"""wav2vec-style manifests: read, write and validate before training starts.

A manifest ``{split}.tsv`` holds the audio root directory on its first line, then one
``relative/path.wav<TAB>num_samples`` line per utterance. Label files ``{split}.{ext}``
(``.ltr``, ``.wrd``) beside it hold one line per manifest entry, in the same order.

:func:`validate_manifest` checks every line and every audio header and reports all
problems at once, each as ``file:line: what. Fix: how.``, instead of the first assert
fairseq would hit hours into a run.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Collection, Iterable, Optional, Sequence

import numpy as np
import soundfile as sf

from ehmam.data.audio import SAMPLE_RATE, AudioError, AudioProblem, inspect_audio
from ehmam.messages import listed

logger = logging.getLogger(__name__)

MAX_LISTED_PROBLEMS = 20
BYTE_ORDER_MARK = "\ufeff"


class ManifestError(ValueError):
    """A manifest or label file that cannot be trained on; lists every problem found."""

    def __init__(self, problems: Sequence[str]):
        self.problems = list(problems)
        super().__init__(f"{len(self.problems)} problem(s) in the data:{listed(self.problems, MAX_LISTED_PROBLEMS)}")


@dataclass(frozen=True)
class ManifestEntry:
    line: int  # 1-based line number in the manifest file (the root is line 1)
    path: str  # relative to the manifest root
    num_samples: int


@dataclass(frozen=True)
class Manifest:
    path: Path
    root: Path
    entries: tuple[ManifestEntry, ...]

    def audio_path(self, entry: ManifestEntry) -> Path:
        return self.root / entry.path


@dataclass(frozen=True)
class ManifestReport:
    """What validation found in a usable manifest."""

    path: Path
    num_entries: int
    num_too_short: int  # entries fairseq will skip (shorter than min_sample_size)
    total_samples: int
    sample_rate: int
    short_refused: bool = False  # shorter entries were refused, so there are none

    def summary(self) -> str:
        hours = self.total_samples / self.sample_rate / 3600
        short = ("none shorter than min_sample_size (refused)" if self.short_refused else
                 f"{self.num_too_short} shorter than min_sample_size (skipped, fairseq's convention)")
        return f"{self.path}: {self.num_entries} utterances, {hours:.2f} h, {short}"


def _where(path: Path, line: int) -> str:
    return f"{path}:{line}"


def read_manifest(path: Path | str) -> Manifest:
    """Parse a manifest; :class:`ManifestError` for a missing file, root or malformed line."""
    path = Path(path)
    if not path.is_file():
        raise ManifestError([f"{path}: manifest does not exist. Fix: check task.data and the split name"])
    text = path.read_text()
    if text.startswith(BYTE_ORDER_MARK):  # fairseq would read it into the root directory's name
        raise ManifestError([_byte_order_mark_problem(path)])
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()  # the final newline
    problems: list[str] = []
    if not lines or not lines[0].strip():
        raise ManifestError([f"{_where(path, 1)}: first line must be the audio root directory. "
                             "Fix: write the directory that the relative paths start from"])
    root = Path(lines[0].strip())
    if not root.is_dir():
        problems.append(f"{_where(path, 1)}: root directory {root} does not exist. "
                        "Fix: correct the first line or move the audio there")
    entries = []
    for number, line in enumerate(lines[1:], start=2):
        fields = line.rstrip("\r").split("\t")
        if len(fields) != 2 or not fields[0]:
            problems.append(f"{_where(path, number)}: malformed line {line!r}: expected "
                            "'relative/path.wav<TAB>num_samples'. Fix: rewrite or delete the line")
            continue
        try:
            num_samples = int(fields[1])
        except ValueError:
            num_samples = -1
        if num_samples <= 0:
            problems.append(f"{_where(path, number)}: sample count {fields[1]!r} is not a positive "
                            "integer. Fix: write the file's number of samples (soundfile.info(path).frames)")
            continue
        entries.append(ManifestEntry(number, fields[0], num_samples))
    if not entries and not problems:
        problems.append(f"{path}: manifest has no utterances. Fix: list at least one audio file")
    if problems:
        raise ManifestError(problems)
    return Manifest(path, root, tuple(entries))


def _byte_order_mark_problem(path: Path) -> str:
    return (f"{_where(path, 1)}: starts with a UTF-8 byte-order mark (an editor's invisible character, "
            f"which fairseq would read as part of the text). Fix: remove it, e.g. "
            f"`sed -i '1s/^\\xEF\\xBB\\xBF//' {path}`")


def _entry_problem(manifest: Manifest, entry: ManifestEntry, sample_rate: int) -> Optional[str]:
    audio = manifest.audio_path(entry)
    info, problem = inspect_audio(audio, sample_rate)
    if problem is None and info.frames != entry.num_samples:
        problem = AudioProblem(
            f"manifest says {entry.num_samples} samples, the file has {info.frames}",
            f"write {info.frames} in the manifest (regenerate it from the audio)",
        )
    return None if problem is None else f"{_where(manifest.path, entry.line)}: {audio}: {problem}"


def read_entry_audio(manifest: Manifest, entry: ManifestEntry, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """An entry's samples, float32 ``(T,)``, once the file passes the checks
    :func:`validate_manifest` makes of it (readable, mono, ``sample_rate``, as many samples as
    the manifest says); otherwise :class:`AudioError` naming ``manifest:line``, the file and
    the fix."""
    problem = _entry_problem(manifest, entry, sample_rate)
    if problem is not None:
        raise AudioError(problem)
    wav, _ = sf.read(str(manifest.audio_path(entry)), dtype="float32")
    return wav


def _label_problems(manifest: Manifest, label_paths: Iterable[Path],
                    symbols: Optional[Collection[str]] = None) -> list[str]:
    problems = []
    for label_path in label_paths:
        if not label_path.is_file():
            problems.append(f"{label_path}: label file does not exist. Fix: create it with one "
                            f"line per utterance of {manifest.path}")
            continue
        text = label_path.read_text()
        if text.startswith(BYTE_ORDER_MARK):
            problems.append(_byte_order_mark_problem(label_path))
            continue
        num_lines = text.count("\n") + (0 if text.endswith("\n") or not text else 1)
        if num_lines != len(manifest.entries):
            problems.append(
                f"{label_path}:{num_lines}: has {num_lines} lines but {manifest.path} has "
                f"{len(manifest.entries)} utterances. Fix: regenerate the labels from the same "
                "manifest, one line per utterance in the same order")
        lines = text.splitlines()
        if symbols is not None:
            problems += _unknown_symbol_problems(label_path, lines, symbols)
        empty = [number for number, line in enumerate(lines, start=1) if not line.strip()]
        if empty:
            listed = ", ".join(f"{label_path}:{n}" for n in empty[:5]) + (" ..." if len(empty) > 5 else "")
            logger.warning("%d empty label line(s), trained on as silence: %s", len(empty), listed)
    return problems


def _unknown_symbol_problems(label_path: Path, lines: Sequence[str], symbols: Collection[str]) -> list[str]:
    """One problem per line holding symbols outside the dictionary, which fairseq would
    silently train on as ``<unk>``."""
    known = set(symbols)
    problems = []
    for number, line in enumerate(lines, start=1):
        unknown = sorted({s for s in line.split() if s not in known})
        if unknown:
            problems.append(
                f"{label_path}:{number}: symbols {' '.join(unknown)} are not in the dictionary. Fix: "
                "normalise the transcripts to the dictionary's symbols (LibriSpeech letters are "
                "upper case A-Z and the apostrophe; spell out digits), or add them to the dictionary "
                "before fine-tuning")
    return problems


def validate_manifest(
    path: Path | str,
    sample_rate: int = SAMPLE_RATE,
    min_sample_size: Optional[int] = None,
    label_paths: Iterable[Path | str] = (),
    check_audio: bool = True,
    label_symbols: Optional[Collection[str]] = None,
    refuse_short: Optional[str] = None,
) -> ManifestReport:
    """Check a manifest, its audio headers and its label files; raise on any problem.

    Args:
        sample_rate: the rate every file must have (Hz).
        min_sample_size: entries shorter than this are counted as skipped, as fairseq does.
        label_paths: label files that must hold one line per manifest entry.
        check_audio: open every audio header (missing, unreadable, empty, stereo, wrong
            rate, sample count). Costs one header read per file.
        label_symbols: the label dictionary's symbols; every space-separated token of every
            label line must be one of them. Empty label lines are logged as a warning.
        refuse_short: when set, an entry shorter than ``min_sample_size`` is a problem, not a
            skip; the string says what the minimum stands for (e.g. "one patch column").
    """
    manifest = read_manifest(path)
    problems = _label_problems(manifest, [Path(p) for p in label_paths], label_symbols)
    if check_audio:
        if len(manifest.entries) >= 10_000:
            logger.info("reading %d audio headers of %s (validate_audio=false skips this)",
                        len(manifest.entries), manifest.path)
        for entry in manifest.entries:
            problem = _entry_problem(manifest, entry, sample_rate)
            if problem is not None:
                problems.append(problem)
    if refuse_short and min_sample_size:
        problems += [
            f"{_where(manifest.path, e.line)}: {manifest.audio_path(e)}: {e.num_samples} samples, fewer than "
            f"min_sample_size={min_sample_size} ({refuse_short}). Fix: drop the file from the manifest"
            for e in manifest.entries if e.num_samples < min_sample_size]
    if problems:
        raise ManifestError(problems)
    sizes = [e.num_samples for e in manifest.entries]
    too_short = sum(n < min_sample_size for n in sizes) if min_sample_size else 0
    if too_short == len(sizes):
        raise ManifestError([
            f"{manifest.path}: every utterance is shorter than min_sample_size={min_sample_size} samples "
            f"(the longest has {max(sizes)}), so nothing is left to train on. Fix: lower "
            f"task.min_sample_size below {max(sizes)}, or use longer recordings"])
    return ManifestReport(manifest.path, len(sizes), too_short, sum(sizes), sample_rate, bool(refuse_short))


def write_manifest(path: Path | str, root: Path | str, entries: Iterable[tuple[str, int]]) -> None:
    """Write ``(relative_path, num_samples)`` pairs under ``root`` as a manifest."""
    lines = [str(root)] + [f"{rel}\t{n}" for rel, n in entries]
    Path(path).write_text("\n".join(lines) + "\n")
