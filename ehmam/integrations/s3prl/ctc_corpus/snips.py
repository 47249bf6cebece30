"""Audio SNIPS for s3prl's ``ctc`` downstream (``corpus.name: snips``): SUPERB's end-to-end
slot filling (SF), a transcript with the slot values bracketed by slot tokens.

The layout of SUPERB's preprocessed Audio SNIPS (and of ``manifests/superb_speech_sets.py snips``)::

    PATH/{train,valid,test}/<speaker>-snips-<split>-<n>.wav
    PATH/all.iob.snips.txt    one line per recording, every split:
                              "<uid> BOS W1 ... Wk EOS<TAB>O T1 ... Tk <intent>"
    PATH/all-trans.txt        "<uid> W1 ... Wk" (the plain transcript, for character mode)
    PATH/slots.txt            "O", then one slot name per line (text.slots_file)

``Ti`` is word ``Wi``'s slot name (``city``, ``artist``; no B-/I- prefix) or ``O`` outside
every slot; consecutive words with the same name form one slot value. The intent closes the
tag list and is not predicted here. A recording is used when its split folder is in the
config's list for this set (``train: ['train']``) and its id starts with ``<speaker>-`` for
a speaker of ``corpus.<folder>_speakers`` (``train_speakers``, ``valid_speakers``,
``test_speakers``): SNIPS has every speaker read every sentence of a split, and the config
picks disjoint speakers for training and evaluation.

With ``text.mode: character-slot`` the label is read from all.iob.snips.txt and encoded by
s3prl's ``CharacterTextSlotEncoder`` (characters, and ``B-<slot>`` / ``E-<slot>`` tokens
around each slot value); with a plain mode (``character``) from all-trans.txt.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Sequence, Tuple

from ehmam.integrations.s3prl.ctc_corpus import BucketedCorpus, CorpusError, encode, raise_problems, subset_names

logger = logging.getLogger(__name__)

SLOT_TRANSCRIPTS = "all.iob.snips.txt"
PLAIN_TRANSCRIPTS = "all-trans.txt"
OUTSIDE = "O"
LAYOUT_FIX = ("set downstream_expert.corpus.path to the SNIPS folder holding all.iob.snips.txt and "
              "train/ valid/ test/, or generate one with `python manifests/superb_speech_sets.py snips`")


@dataclass(frozen=True)
class SnipsLine:
    text: str  # what the tokenizer encodes: the line after its utterance id
    words: str  # the spoken words, for messages
    slots: Tuple[str, ...]  # the slot names of the words (OUTSIDE for none)
    where: str  # "<file>:<line>"


def read_transcripts(file: Path, slotted: bool) -> Dict[str, SnipsLine]:
    """uid -> line of all.iob.snips.txt (``slotted``) or all-trans.txt, every line checked."""
    if not file.is_file():
        raise CorpusError([f"{file}: transcript file does not exist. Fix: {LAYOUT_FIX}"])
    problems: List[str] = []
    lines: Dict[str, SnipsLine] = {}
    for n, raw in enumerate(file.read_text(encoding="utf-8").splitlines(), start=1):
        where = f"{file}:{n}"
        uid, _, text = raw.strip().partition(" ")
        parsed = _parse_slotted(text, where, problems) if slotted else _parse_plain(text, where, problems)
        if parsed is None:
            continue
        if uid in lines:
            problems.append(f"{where}: utterance {uid} already at {lines[uid].where}. Fix: keep one line")
            continue
        lines[uid] = parsed
    raise_problems(problems)
    return lines


def _parse_slotted(text: str, where: str, problems: List[str]):
    expected = "'<uid> BOS W1 ... Wk EOS<TAB>O T1 ... Tk <intent>' (single spaces)"
    parts = text.split("\t")
    if len(parts) != 2:
        problems.append(f"{where}: {len(parts) - 1} tabs; expected {expected}. Fix: correct the line")
        return None
    words, tags = parts[0].split(" "), parts[1].split(" ")
    if "" in words or "" in tags or len(words) < 3 or words[0] != "BOS" or words[-1] != "EOS" or tags[0] != OUTSIDE:
        problems.append(f"{where}: malformed line; expected {expected}. Fix: correct the line")
        return None
    if len(words) != len(tags):
        problems.append(f"{where}: {len(words) - 2} words but {len(tags) - 2} slot tags; every word needs "
                        "its tag (O outside a slot). Fix: correct the line")
        return None
    return SnipsLine(text, " ".join(words[1:-1]), tuple(tags[1:-1]), where)


def _parse_plain(text: str, where: str, problems: List[str]):
    if not text.strip():
        problems.append(f"{where}: no transcript after the utterance id; expected '<uid> WORDS'. "
                        "Fix: correct the line")
        return None
    return SnipsLine(text, text, (), where)


def speaker_of(uid: str, speakers: Sequence[str]):
    """The speaker of ``speakers`` whose ``<speaker>-`` prefixes ``uid``, or None."""
    return next((s for s in speakers if uid.startswith(f"{s}-")), None)


class SnipsDataset(BucketedCorpus):
    """The configured speakers' recordings of SNIPS split folders (s3prl's ``SnipsDataset``
    interface: see :mod:`ehmam.integrations.s3prl.ctc_corpus`)."""

    def __init__(self, split, tokenizer, bucket_size: int, path: str, ascending: bool = False, **kwargs):
        subsets = subset_names(split)
        slotted = "-slot" in tokenizer.token_type
        transcript_file = Path(path) / (SLOT_TRANSCRIPTS if slotted else PLAIN_TRANSCRIPTS)
        transcripts = read_transcripts(transcript_file, slotted)
        slot_ids = getattr(tokenizer, "slot2id", None)
        problems: List[str] = []
        items = []
        for subset in subsets:
            for uid, audio in self._recordings(Path(path), subset, kwargs, problems):
                line = transcripts.get(uid)
                if line is None:
                    problems.append(f"{audio}: no line for {uid} in {transcript_file}. "
                                    "Fix: add its transcript, or remove the recording")
                    continue
                unknown = sorted({s for s in line.slots if s != OUTSIDE and slot_ids is not None
                                  and f"B-{s}" not in slot_ids})
                if unknown:
                    problems.append(f"{line.where}: slot(s) {' '.join(unknown)} are not in the slots file "
                                    "(text.slots_file, whose first line is skipped: it holds O). "
                                    "Fix: add them to the slots file or use the set's own slots.txt")
                    continue
                items.append((audio, encode(tokenizer, line.text, line.where, problems, spoken=line.words)))
        raise_problems(problems)
        super().__init__(items, bucket_size, ascending)
        self.path = path
        logger.info("SNIPS %s under %s: %d recordings", "+".join(subsets), path, len(items))

    @staticmethod
    def _recordings(root: Path, subset: str, config: dict, problems: List[str]):
        """(uid, path) of the configured speakers' WAV files in ``root/subset``, sorted."""
        key = f"{subset}_speakers"
        speakers = config.get(key)
        if not speakers or isinstance(speakers, str):
            problems.append(f"corpus.{key}: {speakers!r}; expected the list of speakers whose recordings "
                            f"{root / subset} contributes. Fix: set downstream_expert.corpus.{key}")
            return []
        directory = root / subset
        if not directory.is_dir():
            problems.append(f"{directory}: split folder {subset!r} does not exist. Fix: {LAYOUT_FIX}")
            return []
        found, heard = [], set()
        for wav in sorted(directory.rglob("*.wav")):
            uid = wav.name[: -len(".wav")]
            speaker = speaker_of(uid, speakers)
            if speaker is not None:
                found.append((uid, wav))
                heard.add(speaker)
        for speaker in speakers:
            if speaker not in heard:
                problems.append(f"{directory}: no recording of speaker {speaker} (no {speaker}-*.wav), "
                                f"whom corpus.{key} lists. Fix: remove the speaker from the list or "
                                "restore the recordings")
        return found
