"""Data sets for s3prl's ``ctc`` downstream (SUPERB's PR and SF), written from the data formats.

The s3prl 0.4.18 wheel ships ``s3prl/downstream/ctc/data.py``, which imports
``.corpus.librispeech``, ``.corpus.libriphone`` and ``.corpus.snips``, but not the ``corpus``
package itself. :mod:`ehmam.integrations.s3prl.compat` makes that name import as this package.

The contract ``data.create_dataset`` and ``data.collect_audio_batch`` hold a data set to:

- constructed as ``Dataset(split, tokenizer, bucket_size, path=..., **corpus_config)``, where
  ``split`` is the list of sub-set names from the config (``train: ['train-clean-100']``),
  ``tokenizer`` is ``s3prl.downstream.ctc.text.load_text_encoder(**text_config)``, and
  ``bucket_size`` is the batch size for a bucketed training set, else 1;
- ``len(dataset)`` is the number of utterances;
- ``dataset[i]`` is ``(audio_path, token_ids)`` (a plain tuple: the collate function tests
  ``type(x) is tuple``), or with ``bucket_size > 1`` a list of ``bucket_size`` such tuples
  starting at ``i``: the utterances are sorted by label length, so a bucket holds utterances
  of similar length, and the loader (batch size 1, shuffled) draws buckets at random.

The collate function reads the audio with ``torchaudio.load`` and takes the file name up to
its first dot as the utterance id. Token ids end with the tokenizer's ``<eos>``.

Every reader checks everything it reads and reports all problems at once as
``file[:line]: what. Fix: how.`` (:class:`CorpusError`); nothing is skipped silently, and
text the tokenizer would map to ``<unk>`` is an error too.
"""
from __future__ import annotations

from pathlib import Path
from typing import List, Optional, Sequence, Tuple, Union

from torch.utils.data import Dataset

from ehmam.messages import listed

MAX_LISTED_PROBLEMS = 20
Item = Tuple[Path, List[int]]


class CorpusError(ValueError):
    """A corpus that cannot be read as configured; lists every problem found."""

    def __init__(self, problems: Sequence[str]):
        self.problems = list(problems)
        super().__init__(f"{len(self.problems)} problem(s) in the corpus:"
                         f"{listed(self.problems, MAX_LISTED_PROBLEMS)}")


def raise_problems(problems: Sequence[str]) -> None:
    if problems:
        raise CorpusError(problems)


def subset_names(split: Union[str, Sequence[str]], name: str = "split") -> List[str]:
    """The config's sub-set list (``['train-clean-100']``); a bare string is one sub-set."""
    names = [split] if isinstance(split, str) else list(split)
    if not names or not all(isinstance(n, str) and n for n in names):
        raise CorpusError([f"corpus {name} {split!r}: expected a list of sub-set names such as "
                           "['train-clean-100']. Fix: correct downstream_expert.corpus in the config"])
    return names


def encode(tokenizer, text: str, where: str, problems: List[str], spoken: Optional[str] = None) -> List[int]:
    """``tokenizer.encode(text)``; text that would become ``<unk>`` is reported in ``problems``
    (``spoken``: the part of ``text`` to name in the message, when ``text`` holds markup)."""
    ids = tokenizer.encode(text)
    if tokenizer.unk_idx in ids:
        spoken = text if spoken is None else spoken
        problems.append(f"{where}: {spoken!r} holds tokens outside the vocabulary "
                        f"({unknown_tokens(tokenizer, spoken)}), "
                        f"which {type(tokenizer).__name__} would read as <unk>. Fix: normalise the text "
                        "or add the tokens to the vocabulary file (text.vocab_file)")
    return ids


def unknown_tokens(tokenizer, text: str) -> str:
    """The pieces of ``text`` missing from a character or word tokenizer's vocabulary, for messages."""
    vocabulary = getattr(tokenizer, "_vocab2idx", None)
    if vocabulary is None:
        return "see the tokenizer"
    pieces = text.split() if tokenizer.token_type == "word" else list(text)
    return " ".join(sorted({repr(p) for p in pieces if p not in vocabulary})) or "see the tokenizer"


class BucketedCorpus(Dataset):
    """Utterances sorted by label length (longest first unless ``ascending``), served one at a
    time or in buckets of ``bucket_size`` neighbours, as ``collect_audio_batch`` expects.

    Ties keep the order of the audio paths, so the order never depends on the file system.
    """

    def __init__(self, items: Sequence[Item], bucket_size: int, ascending: bool = False):
        if bucket_size < 1:
            raise CorpusError([f"bucket size {bucket_size}: must be >= 1. Fix: set "
                               "downstream_expert.corpus.batch_size to a positive number"])
        ordered = sorted(items, key=lambda item: str(item[0]))
        ordered.sort(key=lambda item: len(item[1]), reverse=not ascending)  # stable: ties by path
        self.bucket_size = bucket_size
        self.file_list: Tuple[Path, ...] = tuple(path for path, _ in ordered)
        self.text: Tuple[List[int], ...] = tuple(ids for _, ids in ordered)

    def __len__(self) -> int:
        return len(self.file_list)

    def __getitem__(self, index: int):
        if self.bucket_size == 1:
            return self.file_list[index], self.text[index]
        # the last buckets end at the last utterance; a set smaller than a bucket is one bucket
        start = max(0, min(index, len(self.file_list) - self.bucket_size))
        end = start + self.bucket_size
        return [(path, ids) for path, ids in zip(self.file_list[start:end], self.text[start:end])]


__all__ = ["BucketedCorpus", "CorpusError", "encode", "raise_problems", "subset_names"]
