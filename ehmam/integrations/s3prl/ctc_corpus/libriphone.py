"""LibriSpeech as phone sequences for s3prl's ``ctc`` downstream (``corpus.name: libriphone``):
SUPERB's phoneme recognition (PR).

The audio and transcripts are LibriSpeech's (:mod:`.librispeech`). An utterance's label is
its words looked up in a pronunciation lexicon, one word after the other, without silences.
The config names the lexicon files (``corpus.lexicon``, a list); each line is a word and its
phones, separated by white space (s3prl's lexicons use a tab after the word)::

    HELLO	h @ l oU
    WORLD	w 3: l d

Blank lines are ignored. A word listed more than once (within or across the files) takes its first pronunciation,
for a deterministic label. The phone sequence is joined by spaces and encoded by the
``word`` tokenizer (``text.mode: word``, ``text.vocab_file``: one phone per line), so every
phone of a lexicon must be in that vocabulary, and every transcript word in a lexicon.

``manifests/superb_speech_sets.py lexicon`` writes such a lexicon from espeak-ng for the
words of any LibriSpeech-layout tree, in the phone set of ``examples/superb/vocab/phoneme.txt``.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence, Set, Union

from ehmam.integrations.s3prl.ctc_corpus import BucketedCorpus, CorpusError, encode, raise_problems, subset_names
from ehmam.integrations.s3prl.ctc_corpus.librispeech import read_librispeech

logger = logging.getLogger(__name__)

Lexicon = Dict[str, List[str]]


def read_lexicons(files: Union[str, Path, Sequence[Union[str, Path]]],
                  phones: Optional[Set[str]] = None) -> Lexicon:
    """word -> phones from ``files`` in order, the first pronunciation of a word winning;
    with ``phones`` (the vocabulary), a phone outside it is a problem. :class:`CorpusError`
    lists every problem."""
    files = [files] if isinstance(files, (str, Path)) else list(files)
    if not files:
        raise CorpusError(["corpus.lexicon is empty. Fix: list the lexicon file(s) in "
                           "downstream_expert.corpus.lexicon"])
    problems: List[str] = []
    lexicon: Lexicon = {}
    repeated = 0
    for file in map(Path, files):
        if not file.is_file():
            problems.append(f"{file}: lexicon file does not exist. Fix: correct downstream_expert.corpus.lexicon "
                            "or write it with `python manifests/superb_speech_sets.py lexicon`")
            continue
        for n, line in enumerate(file.read_text(encoding="utf-8").splitlines(), start=1):
            if not line.strip():
                continue  # a blank line holds no entry
            word, *pronunciation = line.split()
            if not pronunciation:
                problems.append(f"{file}:{n}: malformed line {line!r}; expected 'WORD PHONE PHONE ...'. "
                                "Fix: give the word its phones, or delete the line")
                continue
            unknown = [p for p in pronunciation if phones is not None and p not in phones]
            if unknown:
                problems.append(f"{file}:{n}: phone(s) {' '.join(unknown)} of {word} are not in the phone "
                                "vocabulary. Fix: add them to text.vocab_file, or use the lexicon made for it")
            elif word in lexicon:
                repeated += 1
            else:
                lexicon[word] = pronunciation
    raise_problems(problems)
    if repeated:
        logger.info("lexicon: %d repeated words take their first pronunciation", repeated)
    return lexicon


def phone_sequence(words: str, lexicon: Lexicon, where: str, problems: List[str]) -> List[str]:
    """The phones of ``words`` (space-separated), word after word; a word missing from the
    lexicon is reported in ``problems``."""
    missing = [w for w in words.split() if w not in lexicon]
    if missing:
        problems.append(f"{where}: word(s) {' '.join(dict.fromkeys(missing))} are not in the lexicon. "
                        "Fix: add them to a lexicon file of downstream_expert.corpus.lexicon (`python "
                        "manifests/superb_speech_sets.py lexicon` writes one for every word of a tree)")
        return []
    return [phone for word in words.split() for phone in lexicon[word]]


def tokenizer_phones(tokenizer) -> Set[str]:
    """The phone vocabulary of a ``word`` tokenizer; :class:`CorpusError` for another mode."""
    if tokenizer.token_type != "word" or not hasattr(tokenizer, "_vocab2idx"):
        raise CorpusError([f"libriphone needs text.mode 'word' (a phone per vocabulary line), not "
                           f"{tokenizer.token_type!r}. Fix: set downstream_expert.text.mode: word"])
    return set(tokenizer._vocab2idx) - {"<pad>", "<eos>", "<unk>"}


class LibriPhoneDataset(BucketedCorpus):
    """LibriSpeech sub-sets labelled with lexicon phones (s3prl's ``LibriPhoneDataset``
    interface: see :mod:`ehmam.integrations.s3prl.ctc_corpus`)."""

    def __init__(self, split, tokenizer, bucket_size: int, path: str, lexicon: Iterable[str],
                 ascending: bool = False, **kwargs):
        subsets = subset_names(split)
        word_phones = read_lexicons(lexicon, tokenizer_phones(tokenizer))
        utterances = read_librispeech(path, subsets)
        problems: List[str] = []
        items = []
        for u in utterances:
            phones = phone_sequence(u.words, word_phones, u.where, problems)
            items.append((u.audio, encode(tokenizer, " ".join(phones), u.where, problems)))
        raise_problems(problems)
        super().__init__(items, bucket_size, ascending)
        self.path = path
        logger.info("LibriPhone %s under %s: %d utterances, lexicon of %d words",
                    "+".join(subsets), path, len(items), len(word_phones))
