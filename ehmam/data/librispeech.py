"""LibriSpeech's layout, read and checked in one place for every reader of it: the fairseq
manifests (``manifests/librispeech.py``), s3prl's ``ctc`` corpora (PR, and ASR through its
length tables) and SUPERB's data tools.

The layout, as OpenSLR distributes it (LibriLight's limited-resource folds use it too)::

    <subset>/<speaker>/<chapter>/<speaker>-<chapter>-<n>.flac
    <subset>/<speaker>/<chapter>/<speaker>-<chapter>.trans.txt   "<speaker>-<chapter>-<n> WORDS"

:func:`read_subsets` reports every problem it finds into a list, as ``where: what. Fix: how.``,
and returns the utterances that have none; each caller adds its own label checks and raises
its own error type. Audio headers are read (not the samples), so an unreadable, empty,
multi-channel or wrong-rate file is reported here rather than mid-training.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Sequence

from .audio import SAMPLE_RATE, inspect_audio

TRANSCRIPTS = "*.trans.txt"


@dataclass(frozen=True)
class LibriUtterance:
    uid: str  # <speaker>-<chapter>-<n>
    audio: Path
    words: str  # the transcript, words separated by single spaces
    where: str  # "<trans.txt>:<line>", for messages
    num_samples: int


def read_subsets(subset_dirs: Sequence[Path], problems: List[str], fix: str,
                 suffixes: Sequence[str] = (".flac",), sample_rate: int = SAMPLE_RATE) -> List[LibriUtterance]:
    """The utterances of LibriSpeech-layout ``subset_dirs``, checked together (an id may appear
    once across all of them), in folder, chapter and line order. Problems go to ``problems``;
    ``fix`` says where the layout should come from, for layout problems; ``suffixes`` are the
    audio formats accepted."""
    seen: Dict[str, str] = {}  # uid -> where, to catch an utterance listed twice
    utterances: List[LibriUtterance] = []
    for subset in map(Path, subset_dirs):
        if not subset.is_dir():
            problems.append(f"{subset}: sub-set {subset.name!r} does not exist. Fix: {fix}")
            continue
        for chapter, audio in _chapters(subset, problems, fix, suffixes).items():
            utterances += _read_chapter(chapter, audio, seen, problems, suffixes, sample_rate)
    return utterances


def _chapters(subset: Path, problems: List[str], fix: str, suffixes: Sequence[str]) -> Dict[Path, List[Path]]:
    """chapter folder -> its audio files, for every chapter with audio or a transcript, sorted."""
    chapters: Dict[Path, List[Path]] = {}
    for file in sorted(p for p in subset.rglob("*") if p.suffix in suffixes and not p.is_dir()):
        if len(file.relative_to(subset).parts) != 3:
            problems.append(f"{file}: not at <speaker>/<chapter>/<file> under {subset}. Fix: {fix}")
            continue
        chapters.setdefault(file.parent, []).append(file)
    for trans in sorted(subset.rglob(TRANSCRIPTS)):
        parts = trans.relative_to(subset).parts
        if len(parts) != 3 or parts[2] != f"{parts[0]}-{parts[1]}.trans.txt":
            problems.append(f"{trans}: not at <speaker>/<chapter>/<speaker>-<chapter>.trans.txt "
                            f"under {subset}. Fix: {fix}")
            continue
        chapters.setdefault(trans.parent, [])
    return dict(sorted(chapters.items()))


def _read_chapter(chapter: Path, audio: List[Path], seen: Dict[str, str], problems: List[str],
                  suffixes: Sequence[str], sample_rate: int) -> List[LibriUtterance]:
    speaker, number = chapter.parent.name, chapter.name
    trans = chapter / f"{speaker}-{number}.trans.txt"
    if not trans.is_file():
        problems.append(f"{trans}: transcript file missing for the {len(audio)} audio file(s) in {chapter}. "
                        "Fix: restore it from the corpus archive (one '<utterance-id> WORDS' line per "
                        "audio file), or remove the chapter")
        return []
    by_uid: Dict[str, List[Path]] = {}
    for file in audio:
        by_uid.setdefault(file.stem, []).append(file)
    uid_pattern = re.compile(rf"{re.escape(speaker)}-{re.escape(number)}-\d+")
    utterances, mentioned = [], set()  # mentioned: also by malformed lines, whose audio is not reported twice
    for n, line in enumerate(trans.read_text(encoding="utf-8", errors="replace").splitlines(), start=1):
        where = f"{trans}:{n}"
        uid, words = (line.split(maxsplit=1) + ["", ""])[:2]
        words = " ".join(words.split())
        mentioned.add(uid)
        if not words:
            problems.append(f"{where}: malformed line {line!r}; expected '{speaker}-{number}-<n> WORDS'. "
                            "Fix: write the transcript after the id, or delete the line with its audio file")
            continue
        if not uid_pattern.fullmatch(uid):
            problems.append(f"{where}: malformed line {line!r}: utterance id {uid!r} does not match its folder "
                            f"({speaker}-{number}-<n>). Fix: correct the id, or move the line to its own "
                            "chapter's trans.txt")
            continue
        if uid in seen:
            problems.append(f"{where}: duplicate utterance id {uid} (first at {seen[uid]}). Fix: keep one of them")
            continue
        seen[uid] = where
        files = by_uid.get(uid, [])
        if len(files) != 1:
            expected = " / ".join(str(chapter / f"{uid}{suffix}") for suffix in suffixes)
            problems.append(f"{where}: utterance {uid} has {len(files)} audio files "
                            + (f"({' '.join(map(str, files))}). Fix: keep one format" if files else
                               f"({expected} does not exist). Fix: restore it from the corpus archive, "
                               "or delete the line"))
            continue
        info, problem = inspect_audio(files[0], sample_rate)  # the header only
        if problem is not None:
            problems.append(f"{files[0]}: {problem}")
            continue
        utterances.append(LibriUtterance(uid, files[0], words, where, info.frames))
    for uid in sorted(set(by_uid) - mentioned):
        problems.append(f"{by_uid[uid][0]}: no transcript line for {uid} in {trans}. "
                        f"Fix: add the line '{uid} WORDS', or remove the audio file")
    return utterances
