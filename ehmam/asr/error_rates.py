"""Word and character error rates, summed over a corpus (edit distances from ``editdistance``).

A corpus rate is total edits over total reference length, not the mean of per-utterance
rates: long utterances weigh more, as in every ASR paper's WER. A rate over no reference
words is undefined; it is reported as 0.0 (nothing said, nothing recognised) or ``inf``
(words recognised out of nothing), never as a number that looks like a result.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import editdistance


@dataclass
class ErrorCounts:
    """Edits and reference lengths, in words and in characters (spaces count as characters)."""

    word_edits: int = 0
    words: int = 0
    char_edits: int = 0
    chars: int = 0

    @classmethod
    def of(cls, reference: str, hypothesis: str) -> "ErrorCounts":
        ref_words, hyp_words = reference.split(), hypothesis.split()
        ref_chars, hyp_chars = " ".join(ref_words), " ".join(hyp_words)
        return cls(editdistance.eval(ref_words, hyp_words), len(ref_words),
                   editdistance.eval(ref_chars, hyp_chars), len(ref_chars))

    def __add__(self, other: "ErrorCounts") -> "ErrorCounts":
        return ErrorCounts(self.word_edits + other.word_edits, self.words + other.words,
                           self.char_edits + other.char_edits, self.chars + other.chars)

    @property
    def wer(self) -> float:
        """Word error rate in percent (can exceed 100 with insertions). With no reference
        words it is 0.0 when the hypothesis is empty too and ``math.inf`` otherwise: every
        hypothesis word is an insertion against nothing (not ``100 * edits``)."""
        return _rate(self.word_edits, self.words)

    @property
    def cer(self) -> float:
        """Character error rate in percent; an empty reference as for :attr:`wer`."""
        return _rate(self.char_edits, self.chars)


def _rate(edits: int, length: int) -> float:
    if length == 0:
        return 0.0 if edits == 0 else math.inf
    return 100.0 * edits / length
