"""Transcript labels in the wav2vec 2.0 layout: ``.wrd`` words, ``.ltr`` letters, ``dict.ltr.txt``.

A ``.ltr`` line spells each word letter by letter and ends every word with ``|``
(``HELLO WORLD`` -> ``H E L L O | W O R L D |``), the layout fairseq's CTC recipes read.
"""
from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Iterable, Optional

WORD_BOUNDARY = "|"
# The character set of LibriSpeech transcripts: upper-case letters and the apostrophe.
LETTERS = tuple("ABCDEFGHIJKLMNOPQRSTUVWXYZ'")
_WORD = re.compile(r"^[A-Z']*[A-Z][A-Z']*$")


def normalize_transcript(text: str) -> Optional[str]:
    """Upper-case ``text`` into LibriSpeech-style words, or None if it cannot be.

    Hyphens become spaces and ``, ; : " ! ? .`` are dropped; anything else outside
    letters and apostrophes (digits, symbols) makes the text unusable, because a
    synthesiser would speak a word the label does not contain.
    """
    text = re.sub(r"[-\u2010-\u2015]", " ", text)
    text = re.sub(r"[,;:\"!?.]", " ", text)
    words = text.upper().split()
    if not words or not all(_WORD.match(w) for w in words):
        return None
    return " ".join(words)


def words_to_letters(words: str) -> str:
    """``"HELLO WORLD"`` -> ``"H E L L O | W O R L D |"`` (one ``.ltr`` line)."""
    return " ".join(" ".join(word) + " " + WORD_BOUNDARY for word in words.split())


def letters_to_words(letters: str) -> str:
    """Inverse of :func:`words_to_letters`."""
    return "".join(letters.split()).replace(WORD_BOUNDARY, " ").strip()


def write_letter_dictionary(letter_lines: Iterable[str], path: Path) -> None:
    """Write a fairseq ``dict.ltr.txt`` (``symbol count`` lines, most frequent first).

    Every symbol of :data:`LETTERS` is listed even when unseen, so valid and test
    transcripts never map to ``<unk>``.
    """
    counts = Counter(sym for line in letter_lines for sym in line.split())
    unknown = set(counts) - set(LETTERS) - {WORD_BOUNDARY}
    if unknown:
        raise ValueError(f"letters outside the label alphabet: {sorted(unknown)}")
    symbols = [WORD_BOUNDARY, *LETTERS]
    symbols.sort(key=lambda s: (-counts[s], s))
    Path(path).write_text("".join(f"{s} {counts[s]}\n" for s in symbols))
