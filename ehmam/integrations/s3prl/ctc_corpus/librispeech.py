"""LibriSpeech for s3prl's ``ctc`` downstream (``corpus.name: librispeech``): character CTC.

The layout, as OpenSLR distributes it (and ``manifests/superb_speech_sets.py`` writes it)::

    PATH/<subset>/<speaker>/<chapter>/<speaker>-<chapter>-<n>.flac   (or .wav)
    PATH/<subset>/<speaker>/<chapter>/<speaker>-<chapter>.trans.txt  "<speaker>-<chapter>-<n> WORDS"

``<subset>`` is a name from the config's ``train`` / ``dev`` / ``test`` lists (e.g.
``train-clean-100``). Each audio file's label is its transcript line, encoded by the
configured tokenizer (``text.mode: character`` with a character vocabulary, typically).

:func:`read_librispeech` is the checked reader the PR data set (:mod:`.libriphone`) shares:
every audio file must have exactly one transcript line and every line exactly one audio file.
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Sequence, Union

from ehmam.integrations.s3prl.ctc_corpus import BucketedCorpus, encode, raise_problems, subset_names

logger = logging.getLogger(__name__)

AUDIO_SUFFIXES = (".flac", ".wav")
LAYOUT_FIX = ("set downstream_expert.corpus.path to the folder holding the sub-sets "
              "(<path>/<subset>/<speaker>/<chapter>/<speaker>-<chapter>.trans.txt), e.g. the "
              "LibriSpeech folder of the OpenSLR archives, or generate one with "
              "`python manifests/superb_speech_sets.py librispeech`")


@dataclass(frozen=True)
class LibriUtterance:
    uid: str  # <speaker>-<chapter>-<n>
    audio: Path
    words: str  # the transcript, words separated by single spaces
    where: str  # "<trans.txt>:<line>", for messages


def read_librispeech(path: Union[str, Path], subsets: Sequence[str]) -> List[LibriUtterance]:
    """Every utterance of ``path/<subset>`` for each sub-set, checked (:class:`CorpusError`
    lists every problem), in sub-set then path order."""
    problems: List[str] = []
    utterances: List[LibriUtterance] = []
    for subset in subsets:
        utterances += _read_subset(Path(path), subset, problems)
    raise_problems(problems)
    return utterances


def _read_subset(root: Path, subset: str, problems: List[str]) -> List[LibriUtterance]:
    directory = root / subset
    if not directory.is_dir():
        problems.append(f"{directory}: sub-set {subset!r} does not exist. Fix: {LAYOUT_FIX}")
        return []
    audio = sorted(p for p in directory.rglob("*") if p.suffix in AUDIO_SUFFIXES and not p.is_dir())
    if not audio:
        problems.append(f"{directory}: no {' or '.join(AUDIO_SUFFIXES)} audio in sub-set {subset!r}. "
                        f"Fix: {LAYOUT_FIX}")
        return []
    chapters: Dict[Path, List[Path]] = {}
    for file in audio:
        if len(file.relative_to(directory).parts) != 3:
            problems.append(f"{file}: not at <speaker>/<chapter>/<file> under {directory}. Fix: {LAYOUT_FIX}")
            continue
        chapters.setdefault(file.parent, []).append(file)
    for trans in directory.glob("*/*/*.trans.txt"):
        chapters.setdefault(trans.parent, [])
    utterances = []
    for chapter in sorted(chapters):
        utterances += _read_chapter(chapter, chapters[chapter], problems)
    return utterances


def _read_chapter(chapter: Path, audio: List[Path], problems: List[str]) -> List[LibriUtterance]:
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
    utterances, named, mentioned = [], set(), set()  # mentioned: also by malformed lines
    for n, line in enumerate(trans.read_text(encoding="utf-8", errors="replace").splitlines(), start=1):
        where = f"{trans}:{n}"
        uid, words = (line.split(maxsplit=1) + ["", ""])[:2]
        words = " ".join(words.split())
        mentioned.add(uid)
        if not words or not uid_pattern.fullmatch(uid):
            problems.append(f"{where}: malformed line {line!r}; expected '{speaker}-{number}-<n> WORDS'. "
                            "Fix: correct the line, or delete it together with its audio file")
            continue
        if uid in named:
            problems.append(f"{where}: utterance {uid} is listed twice. Fix: keep one line")
            continue
        named.add(uid)
        files = by_uid.get(uid, [])
        if len(files) != 1:
            problems.append(f"{where}: utterance {uid} has {len(files)} audio files "
                            f"({' '.join(str(f) for f in files) or 'none'}); expected one of "
                            f"{uid}{'/'.join(AUDIO_SUFFIXES)}. Fix: restore the audio or delete the line"
                            + (", or keep one format" if files else ""))
            continue
        utterances.append(LibriUtterance(uid, files[0], words, where))
    for uid in sorted(set(by_uid) - mentioned):  # a malformed line's audio is not reported twice
        problems.append(f"{by_uid[uid][0]}: no transcript line for {uid} in {trans}. "
                        f"Fix: add the line '{uid} WORDS', or remove the audio file")
    return utterances


class LibriDataset(BucketedCorpus):
    """LibriSpeech sub-sets with their transcripts encoded by ``tokenizer`` (s3prl's
    ``LibriDataset`` interface: see :mod:`ehmam.integrations.s3prl.ctc_corpus`)."""

    def __init__(self, split, tokenizer, bucket_size: int, path: str, ascending: bool = False, **kwargs):
        subsets = subset_names(split)
        utterances = read_librispeech(path, subsets)
        problems: List[str] = []
        items = [(u.audio, encode(tokenizer, u.words, u.where, problems)) for u in utterances]
        raise_problems(problems)
        super().__init__(items, bucket_size, ascending)
        self.path = path
        logger.info("LibriSpeech %s under %s: %d utterances", "+".join(subsets), path, len(items))
