"""LibriSpeech for s3prl's ``ctc`` downstream (``corpus.name: librispeech``): character CTC.

The layout, as OpenSLR distributes it (and ``manifests/superb_speech_sets.py`` writes it)::

    PATH/<subset>/<speaker>/<chapter>/<speaker>-<chapter>-<n>.flac   (or .wav)
    PATH/<subset>/<speaker>/<chapter>/<speaker>-<chapter>.trans.txt  "<speaker>-<chapter>-<n> WORDS"

``<subset>`` is a name from the config's ``train`` / ``dev`` / ``test`` lists (e.g.
``train-clean-100``). Each audio file's label is its transcript line, encoded by the
configured tokenizer (``text.mode: character`` with a character vocabulary, typically).

:func:`read_librispeech` is the checked reader the PR data set (:mod:`.libriphone`) shares, on
ehmam's LibriSpeech reader (:mod:`ehmam.data.librispeech`, as the fairseq manifests use it):
every audio file must have exactly one transcript line, every line exactly one readable
16 kHz mono audio file.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import List, Sequence, Union

from ehmam.data.librispeech import LibriUtterance, read_subsets
from ehmam.integrations.s3prl.ctc_corpus import BucketedCorpus, encode, raise_problems, subset_names

logger = logging.getLogger(__name__)

AUDIO_SUFFIXES = (".flac", ".wav")
LAYOUT_FIX = ("set downstream_expert.corpus.path to the folder holding the sub-sets "
              "(<path>/<subset>/<speaker>/<chapter>/<speaker>-<chapter>.trans.txt), e.g. the "
              "LibriSpeech folder of the OpenSLR archives, or generate one with "
              "`python manifests/superb_speech_sets.py librispeech`")


def read_librispeech(path: Union[str, Path], subsets: Sequence[str]) -> List[LibriUtterance]:
    """Every utterance of ``path/<subset>`` for each sub-set, checked by ehmam's LibriSpeech
    reader (:func:`ehmam.data.librispeech.read_subsets`; :class:`CorpusError` lists every
    problem), in sub-set, chapter and line order."""
    problems: List[str] = []
    utterances = read_subsets([Path(path) / subset for subset in subsets], problems, LAYOUT_FIX, AUDIO_SUFFIXES)
    raise_problems(problems)
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
