#!/usr/bin/env python
"""SUPERB's ASR, PR and SF data in the layouts s3prl 0.4.18's ``asr`` and ``ctc`` downstreams read,
from the demo corpus (manifests/make_demo_corpus.py) and from espeak-ng.

librispeech -> the demo corpus as a LibriSpeech tree (ASR and PR read it)::

    OUT/{train-clean-100,dev-clean,test-clean}/<speaker>/<chapter>/<speaker>-<chapter>-<nnnn>.wav
    OUT/{...}/<speaker>/<chapter>/<speaker>-<chapter>.trans.txt   "<uid> WORDS", one line per file
    OUT/uids.tsv       uid, demo split, demo uid, espeak-ng voice (where each file came from)

    The demo's train, valid and test splits become train-clean-100, dev-clean and test-clean
    (the names SUPERB's configs use). A speaker is one espeak-ng voice of the corpus (speaker
    ids from 1001, in voice order), a chapter is a speaker's utterances in one split
    (<speaker>0<split number>), utterances are numbered in the demo's order. The WAV files are
    relative symbolic links to the demo's (``--copy``: copies).

buckets -> what s3prl's ``asr`` data set sorts and batches by (its preprocess script's output)::

    OUT/<subset>.csv   ",file_path,length,label": pandas' index column, the audio path relative to
                       the tree, its length in samples, an empty label; longest first

lexicon -> what PR needs: each word's espeak-ng phones and each utterance's phone sequence::

    LEXICON            "WORD<TAB>p h o n e s", every word of the tree, sorted
    PHONES/<subset>.txt  "<uid> p h o n e s": the label s3prl's libriphone reader makes from
                       the transcript and the lexicon (word after word, no silences)

    A word's phones are what espeak-ng's en-us voice speaks for the word alone, named as the
    demo corpus' alignments (``.phn``) name them, without pauses and without stress. Every phone
    must be in the vocabulary file (examples/superb/vocab/phoneme.txt).

snips -> a small Audio SNIPS for SF (slot filling), spoken commands with slots::

    OUT/{train,valid,test}/<Speaker>-snips-<split>-<n>.wav
    OUT/all.iob.snips.txt   "<uid> BOS W1 ... Wk EOS<TAB>O T1 ... Tk <Intent>" (Ti: Wi's slot or O)
    OUT/all-trans.txt       "<uid> W1 ... Wk"
    OUT/slots.txt           "O", then the slot names (no final newline, as SNIPS' file)

    Sentences come from the templates of SNIPS' seven intents below, with their slot names
    (artist, city, timeRange, ...); train, valid and test share no sentence, and their speakers
    are SF_SPEAKERS' (disjoint, named in examples/superb/sf.yaml). Each sentence is spoken by
    ``--readers`` speakers of its split (taking turns, so all speak equally often), each at its
    own rate and pitch.

vocab -> the vocabularies shipped in examples/superb/vocab/ (regenerated only on purpose)::

    char.dict       ASR's characters, fairseq's "symbol count" lines ("|" ends each word), counted
                    over the fortunes sentences the demo corpus draws from, most frequent first
    phoneme.txt     PR's phones: every phone of the en-us words of those sentences, one a line
    character.txt   SF's characters: space, A-Z and the apostrophe
    slots.txt       SF's slots: the same file the snips command writes

``all`` writes DEST/librispeech, DEST/len_for_bucket, DEST/libriphone/{lexicon.txt,<subset>.txt}
and DEST/snips from the demo corpus at --demo: what examples/superb/{asr,pr,sf}.yaml read with
DEST = data/superb. The LibriSpeech tree and SNIPS hold task.json (a rerun with the same
parameters is a no-op); the buckets and the lexicon are rewritten (seconds).

    python manifests/superb_speech_sets.py all --demo data/demo --out data/superb
    python manifests/superb_speech_sets.py buckets --libri-root LibriSpeech --out DIR [--subsets ...]
    python manifests/superb_speech_sets.py lexicon --libri-root LibriSpeech --out LEXICON [--phones DIR]
    python manifests/superb_speech_sets.py snips --out DIR [--seed 1] [--sentences 800 100 100] [--readers 2]
    python manifests/superb_speech_sets.py vocab --out examples/superb/vocab

buckets and lexicon also work on the real LibriSpeech (FLAC). Same parameters, same bytes:
espeak-ng and ``sox -R -D`` as manifests/make_audio_tasks.py uses them.
"""
from __future__ import annotations

import argparse
import csv
import io
import json
import multiprocessing
import os
import random
import shutil
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

import editdistance

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script: find `manifests`
from manifests.espeak_alignment import EspeakAligner, EspeakError  # noqa: E402
from manifests.make_audio_tasks import SPEAKER_VARIANTS, generate, run_jobs  # noqa: E402
from manifests.make_demo_corpus import (  # noqa: E402
    ACCENTS, SPLITS, Utterance, sentences_from_fortunes, synthesize)

from ehmam.data.alignments import PAUSE_PREFIX, read_alignments  # noqa: E402
from ehmam.data.audio import SAMPLE_RATE  # noqa: E402
from ehmam.data.labels import LETTERS, words_to_letters, write_letter_dictionary  # noqa: E402
from ehmam.data.manifest import read_manifest  # noqa: E402
from ehmam.integrations.s3prl.ctc_corpus import CorpusError  # noqa: E402
from ehmam.integrations.s3prl.ctc_corpus.libriphone import phone_sequence, read_lexicons  # noqa: E402
from ehmam.integrations.s3prl.ctc_corpus.librispeech import AUDIO_SUFFIXES, read_librispeech  # noqa: E402
from ehmam.integrations.s3prl.ctc_corpus.snips import OUTSIDE  # noqa: E402

GENERATOR_VERSION = 1
SUBSETS = {"train": "train-clean-100", "valid": "dev-clean", "test": "test-clean"}  # demo split -> tree
FIRST_SPEAKER_ID = 1001
LEXICON_VOICE = "en-us"
LEXICON_RATE, LEXICON_PITCH = 175, 50  # espeak-ng's defaults; phone identities do not depend on them
VOCAB_DIR = Path(__file__).resolve().parents[1] / "examples" / "superb" / "vocab"
DIRS = {"librispeech": "librispeech", "buckets": "len_for_bucket", "libriphone": "libriphone", "snips": "snips"}


class SetError(ValueError):
    """Input this tool cannot turn into a set; the message says what and how to fix it."""


# ---------------------------------------------------------------------------------------------
# librispeech: the demo corpus as a LibriSpeech tree


@dataclass(frozen=True)
class TreeEntry:
    uid: str  # <speaker>-<chapter>-<nnnn>
    subset: str
    source: Path  # the demo's WAV file
    samples: int  # its length, from the demo's manifest
    words: str
    demo_split: str
    demo_uid: str
    voice: str

    @property
    def path(self) -> str:
        speaker, chapter, _ = self.uid.split("-")
        return f"{self.subset}/{speaker}/{chapter}/{self.uid}.wav"


def _demo_split(demo: Path, split: str) -> List[tuple]:
    """(wav path, samples, demo uid, words, voice) of a demo split, checked for consistent files."""
    manifest = read_manifest(demo / f"{split}.tsv")
    words = (demo / f"{split}.wrd").read_text().splitlines()
    meta = (demo / f"{split}.meta.tsv").read_text().splitlines()[1:]
    if not len(manifest.entries) == len(words) == len(meta):
        raise SetError(f"{demo}: {split}.tsv, .wrd and .meta.tsv hold {len(manifest.entries)}, {len(words)} "
                       f"and {len(meta)} utterances. Fix: regenerate the demo corpus "
                       "(manifests/make_demo_corpus.py --force)")
    rows = []
    for entry, text, line in zip(manifest.entries, words, meta):
        uid, voice = line.split("\t")[:2]
        if Path(entry.path).stem != uid:
            raise SetError(f"{demo / f'{split}.meta.tsv'}: {uid} is not {entry.path}'s utterance. "
                           "Fix: regenerate the demo corpus")
        rows.append((manifest.audio_path(entry), entry.num_samples, uid, text, voice))
    return rows


def plan_librispeech(demo: Path) -> List[TreeEntry]:
    """The tree's utterances: a pure function of the demo corpus."""
    rows = {split: _demo_split(demo, split) for split in SPLITS}
    voices = sorted({voice for split_rows in rows.values() for *_, voice in split_rows})
    speaker_of = {voice: FIRST_SPEAKER_ID + i for i, voice in enumerate(voices)}
    plan, counts = [], Counter()
    for number, split in enumerate(SPLITS, start=1):
        for wav, samples, demo_uid, words, voice in rows[split]:
            speaker = speaker_of[voice]
            chapter = f"{speaker}0{number}"
            uid = f"{speaker}-{chapter}-{counts[chapter]:04d}"
            counts[chapter] += 1
            plan.append(TreeEntry(uid, SUBSETS[split], wav, samples, words, split, demo_uid, voice))
    return plan


def make_librispeech(demo: Path, out: Path, copy: bool = False, force: bool = False) -> dict:
    """The demo corpus as a LibriSpeech tree in ``out`` (module docstring); returns task.json's content."""
    corpus = demo / "corpus.json"
    if not corpus.is_file():
        raise SetError(f"{corpus}: not found, so {demo} is no demo corpus. Fix: "
                       f"python manifests/make_demo_corpus.py --out {demo}")
    demo_params = json.loads(corpus.read_text())["params"]
    params = dict(task="superb-librispeech", generator_version=GENERATOR_VERSION, copy=copy,
                  seed=demo_params["seed"], demo=demo_params)  # seed: the demo corpus's
    plan = plan_librispeech(demo)
    final = Path(out).resolve()

    def write(directory: Path, tmp: Path) -> dict:
        chapters: Dict[Path, List[TreeEntry]] = {}
        for e in plan:
            target = directory / e.path
            target.parent.mkdir(parents=True, exist_ok=True)
            if copy:
                shutil.copyfile(e.source, target)
            else:  # relative to where the link will live once ``directory`` is renamed to ``out``
                target.symlink_to(os.path.relpath(e.source.resolve(), (final / e.path).parent))
            chapters.setdefault(target.parent, []).append(e)
        for chapter, entries in chapters.items():
            (chapter / f"{chapter.parent.name}-{chapter.name}.trans.txt").write_text(
                "".join(f"{e.uid} {e.words}\n" for e in entries))
        (directory / "uids.tsv").write_text("uid\tdemo_split\tdemo_uid\tvoice\n" + "".join(
            f"{e.uid}\t{e.demo_split}\t{e.demo_uid}\t{e.voice}\n" for e in plan))
        return dict(clips=len(plan), classes=len({e.voice for e in plan}),
                    utterances={s: sum(e.subset == s for e in plan) for s in SUBSETS.values()},
                    minutes={s: round(sum(e.samples for e in plan if e.subset == s) / SAMPLE_RATE / 60, 2)
                             for s in SUBSETS.values()})

    return generate("superb-librispeech", out, params, write, force)


# ---------------------------------------------------------------------------------------------
# buckets: s3prl's asr length tables


def tree_subsets(libri_root: Path) -> List[str]:
    """The sub-set folders of a LibriSpeech tree: those with audio two levels down."""
    subsets = sorted(d.name for d in Path(libri_root).iterdir()
                     if d.is_dir() and any(p.suffix in AUDIO_SUFFIXES for p in d.glob("*/*/*")))
    if not subsets:
        raise SetError(f"{libri_root}: no sub-set folders (<subset>/<speaker>/<chapter>/*.flac or .wav). "
                       "Fix: pass the LibriSpeech folder itself")
    return subsets


def bucket_rows(libri_root: Path, subset: str) -> List[tuple]:
    """(file_path, length) of a sub-set's utterances, longest first (ties by path); the tree is
    checked as the PR and SF readers check it."""
    rows = [(u.audio.relative_to(libri_root).as_posix(), u.num_samples)
            for u in read_librispeech(libri_root, [subset])]
    return sorted(rows, key=lambda row: (-row[1], row[0]))


def write_buckets(libri_root: Path, out: Path, subsets: Optional[Sequence[str]] = None) -> Dict[str, int]:
    """``out/<subset>.csv`` for each sub-set (default: all); returns the row counts."""
    libri_root = Path(libri_root)
    out.mkdir(parents=True, exist_ok=True)
    counts = {}
    for subset in subsets or tree_subsets(libri_root):
        buffer = io.StringIO()
        table = csv.writer(buffer, lineterminator="\n")
        table.writerow(["", "file_path", "length", "label"])
        rows = bucket_rows(libri_root, subset)
        table.writerows([i, path, length, ""] for i, (path, length) in enumerate(rows))
        (out / f"{subset}.csv").write_text(buffer.getvalue())
        counts[subset] = len(rows)
    return counts


# ---------------------------------------------------------------------------------------------
# lexicon: espeak-ng phones for PR


def _phonemize_in_this_process(request: tuple) -> Dict[str, List[str]]:
    words, voice = request
    aligner = EspeakAligner()
    lexicon = {}
    for word in words:
        _, phones = aligner.synthesize(word.lower(), voice, LEXICON_RATE, LEXICON_PITCH)
        lexicon[word] = [name for name, _ in phones if not name.startswith(PAUSE_PREFIX)]
        if not lexicon[word]:
            raise EspeakError(f"espeak-ng ({voice}) speaks no phone for the word {word!r}")
    return lexicon


def phonemize(words: Iterable[str], voice: str = LEXICON_VOICE, jobs: Optional[int] = None) -> Dict[str, List[str]]:
    """Each word's phones as espeak-ng's ``voice`` speaks the word alone (pauses dropped),
    named as :mod:`manifests.espeak_alignment` reports them. Runs in fresh worker processes,
    so this process's engine (if any) is left as it was."""
    words = sorted(set(words))
    jobs = max(1, min(jobs or os.cpu_count() or 1, len(words)))
    chunks = [(words[i::jobs], voice) for i in range(jobs)]
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([__name__])
    with context.Pool(jobs) as pool:
        parts = pool.map(_phonemize_in_this_process, chunks, chunksize=1)
    return {word: phones for part in parts for word, phones in part.items()}


def read_vocab(path: Path) -> List[str]:
    """One token per line, as s3prl's ``word`` tokenizer reads a vocabulary file."""
    if not Path(path).is_file():
        raise SetError(f"{path}: vocabulary file does not exist. Fix: python manifests/superb_speech_sets.py "
                       "vocab --out examples/superb/vocab")
    return Path(path).read_text().splitlines()


def write_lexicon(lexicon: Dict[str, List[str]], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{word}\t{' '.join(lexicon[word])}\n" for word in sorted(lexicon)))


def make_lexicon(libri_root: Path, lexicon_path: Path, vocab: Path = VOCAB_DIR / "phoneme.txt",
                 phones_dir: Optional[Path] = None, subsets: Optional[Sequence[str]] = None,
                 voice: str = LEXICON_VOICE, jobs: Optional[int] = None) -> dict:
    """The lexicon of every word of a LibriSpeech tree, and with ``phones_dir`` each sub-set's
    phone transcripts; every phone must be in ``vocab``. Returns a summary."""
    subsets = list(subsets or tree_subsets(libri_root))
    utterances = {s: read_librispeech(libri_root, [s]) for s in subsets}
    lexicon = phonemize((w for us in utterances.values() for u in us for w in u.words.split()), voice, jobs)
    known = set(read_vocab(vocab))
    outside = {w: [p for p in phones if p not in known] for w, phones in lexicon.items()}
    outside = {w: p for w, p in outside.items() if p}
    if outside:
        raise SetError(f"{len(outside)} word(s) have phones outside {vocab}: " + ", ".join(
            f"{w} ({' '.join(p)})" for w, p in sorted(outside.items())[:10])
            + f". Fix: python manifests/superb_speech_sets.py vocab --out {Path(vocab).parent} "
            f"--libri-root {libri_root} (adds this tree's phones), then retrain PR")
    write_lexicon(lexicon, lexicon_path)
    if phones_dir is not None:
        phones_dir.mkdir(parents=True, exist_ok=True)
        for subset, us in utterances.items():
            problems: List[str] = []
            lines = [f"{u.uid} {' '.join(phone_sequence(u.words, lexicon, u.where, problems))}\n" for u in us]
            if problems:
                raise CorpusError(problems)
            (phones_dir / f"{subset}.txt").write_text("".join(lines))
    return dict(words=len(lexicon), phones=len({p for ps in lexicon.values() for p in ps}),
                utterances={s: len(us) for s, us in utterances.items()})


def lexicon_agreement(demo: Path, lexicon: Dict[str, List[str]]) -> Dict[str, float]:
    """How far the lexicon's labels are from what the demo's voices spoke: the phone error
    rate (%) of the lexicon sequence against the ``.phn`` alignment's phones (pauses dropped),
    over all utterances and over the en-us voices (the lexicon's own accent). The utterances
    are the LibriSpeech tree's (:func:`plan_librispeech`)."""
    plan = plan_librispeech(demo)
    edits, lengths = Counter(), Counter()
    for split in SPLITS:
        entries = [e for e in plan if e.demo_split == split]  # in the demo's order, as its .phn
        for e, segments in zip(entries, read_alignments(demo / f"{split}.phn", len(entries))):
            target = [p for w in e.words.split() for p in lexicon[w]]
            spoken = [s.phone for s in segments if not s.phone.startswith(PAUSE_PREFIX)]
            for group in ("all", LEXICON_VOICE) if e.voice.split("+")[0] == LEXICON_VOICE else ("all",):
                edits[group] += editdistance.eval(target, spoken)
                lengths[group] += len(target)
    return {g: round(100 * edits[g] / lengths[g], 2) for g in lengths}


# ---------------------------------------------------------------------------------------------
# snips: SF commands with slots

# SNIPS' seven intents and their slot names, one template a line; {slot} is filled from SLOT_VALUES.
TEMPLATES = """
PlayMusic            | play {track} by {artist}
PlayMusic            | play some {genre} music on {service}
PlayMusic            | i want to hear {artist} on {service}
PlayMusic            | play the album {album} by {artist}
PlayMusic            | play the {sort} {music_item} by {artist}
AddToPlaylist        | add {track} to my {playlist} playlist
AddToPlaylist        | put this {music_item} by {artist} on {playlist}
AddToPlaylist        | add {artist} to the {playlist} playlist
AddToPlaylist        | add the album {album} to {playlist}
GetWeather           | what is the weather in {city} {timeRange}
GetWeather           | will it be {condition_description} in {city} {timeRange}
GetWeather           | is it going to be {condition_temperature} in {country} {timeRange}
GetWeather           | tell me the forecast for {city} {state}
GetWeather           | how {condition_temperature} is it in {state} {timeRange}
BookRestaurant       | book a table for {party_size_number} at a {restaurant_type} in {city}
BookRestaurant       | reserve a {cuisine} {restaurant_type} for {party_size_number} {timeRange}
BookRestaurant       | i need a table at a {cuisine} restaurant in {city} {timeRange}
BookRestaurant       | book {restaurant_name} for {party_size_number} people
RateBook             | rate {object_name} {rating_value} out of {best_rating}
RateBook             | give this {object_type} {rating_value} stars
RateBook             | rate the {object_type} {object_name} {rating_value} points
RateBook             | i give {object_name} a rating of {rating_value}
SearchCreativeWork   | find the {object_type} called {object_name}
SearchCreativeWork   | show me the {object_type} {object_name}
SearchCreativeWork   | search for {object_name}
SearchCreativeWork   | where can i find the {object_type} {object_name}
SearchScreeningEvent | what time is {movie_name} showing at {location_name}
SearchScreeningEvent | find movie times for {movie_name} {timeRange}
SearchScreeningEvent | is {movie_name} playing at {location_name} {timeRange}
SearchScreeningEvent | which cinemas show {movie_name} {timeRange}
"""
SLOT_VALUES = {
    "artist": [f"{a} {b}" for a in ("john", "mary", "david", "grace", "peter", "nina", "oscar", "ruth",
                                     "samuel", "lucy", "henry", "alice")
               for b in ("walker", "stone", "rivers", "brooks", "fields", "hart", "moore", "king", "fox", "lane")],
    "track": [f"{a} {b}" for a in ("blue", "golden", "quiet", "wild", "silver", "broken", "endless", "summer",
                                    "midnight", "lonely")
              for b in ("river", "morning", "heart", "road", "dream", "rain", "fire", "city", "light", "sky")],
    "album": ["the long way home", "northern lights", "paper moon", "open roads", "second chances",
              "late night stories", "songs of the sea", "the quiet years", "city of glass", "small hours"],
    "genre": ["jazz", "rock", "blues", "folk", "classical", "country", "soul", "reggae", "pop", "metal"],
    "sort": ["newest", "latest", "best", "most popular", "top"],
    "music_item": ["song", "track", "album", "tune"],
    "playlist": ["road trip", "workout", "chill evening", "morning coffee", "rainy day", "dinner party",
                 "study session", "sunday brunch", "late night jazz", "summer hits"],
    "service": ["spotify", "pandora", "deezer", "youtube", "soundcloud", "napster"],
    "city": ["london", "paris", "tokyo", "chicago", "boston", "denver", "madrid", "berlin", "rome", "sydney",
             "toronto", "seattle", "dublin", "oslo", "cairo", "lima", "vienna", "prague", "austin", "miami"],
    "country": ["france", "japan", "canada", "brazil", "spain", "italy", "norway", "egypt", "mexico",
                "ireland", "kenya", "chile"],
    "state": ["texas", "ohio", "oregon", "florida", "nevada", "maine", "utah", "iowa", "georgia", "vermont"],
    "timeRange": ["today", "tomorrow", "tonight", "this weekend", "next week", "on monday", "on friday",
                  "at noon", "in two hours", "this evening", "next month", "on sunday morning"],
    "condition_description": ["rainy", "sunny", "cloudy", "windy", "foggy", "snowy", "stormy"],
    "condition_temperature": ["hot", "cold", "warm", "chilly", "freezing"],
    "restaurant_type": ["restaurant", "bistro", "diner", "cafe", "pub", "steakhouse", "tavern"],
    "restaurant_name": ["the golden spoon", "blue door", "the old mill", "luigi's", "the green olive",
                        "harbor house", "the red lantern", "maple kitchen"],
    "cuisine": ["italian", "mexican", "thai", "indian", "french", "greek", "chinese", "japanese", "korean",
                "spanish"],
    "party_size_number": ["two", "three", "four", "five", "six", "seven", "eight", "ten", "twelve"],
    "object_name": ["the silent garden", "a winter journey", "the lost kingdom", "river of stars",
                    "the last lighthouse", "shadows of the past", "the clockmaker", "a quiet storm",
                    "the glass city", "the northern road", "the paper crown", "the hidden valley"],
    "object_type": ["book", "novel", "album", "song", "movie", "game", "show", "painting"],
    "rating_value": ["zero", "one", "two", "three", "four", "five", "six"],
    "best_rating": ["five", "six", "ten"],
    "movie_name": ["the dark harbor", "sky pirates", "the long night", "blue horizon", "the iron gate",
                   "summer of secrets", "the last frontier", "city of echoes", "the secret garden", "night train"],
    "location_name": ["the grand cinema", "the plaza theater", "the riverside cinema", "the royal theater",
                      "the star cinema", "the odeon"],
}
SLOTS = tuple(sorted(SLOT_VALUES))
# The speakers, as SUPERB's snips.yaml picks Audio SNIPS' (8 train, 4 valid, 4 test, disjoint):
# name (the file prefix, as examples/superb/sf.yaml lists it) -> espeak-ng voice.
SF_SPEAKERS = {
    "train": {"Adam": "en-us+adam", "Alicia": "en-gb+Alicia", "Benjamin": "en-gb-scotland+benjamin",
              "Caleb": "en-us-nyc+caleb", "David": "en-gb-x-rp+david", "Linda": "en-029+linda",
              "Norbert": "en-gb-x-gbclan+norbert", "Shelby": "en-gb-x-gbcwmd+shelby"},
    "valid": {"Andy": "en-us+Andy", "Annie": "en-gb+Annie", "John": "en-gb-x-rp+john", "Victor": "en-029+victor"},
    "test": {"Belinda": "en-us+belinda", "Max": "en-gb-scotland+max", "Paul": "en-us-nyc+paul",
             "Travis": "en-gb-x-gbclan+travis"},
}
SF_RATE, SF_PITCH = (130, 190), (30, 70)
SNIPS_SMALL = dict(sentences=(8, 4, 4), readers=1)


def parse_templates(table: str) -> Dict[str, List[str]]:
    """intent -> its templates, from "Intent | template" lines (intents in first-seen order)."""
    templates: Dict[str, List[str]] = {}
    for line in table.strip().splitlines():
        intent, template = (cell.strip() for cell in line.split("|"))
        templates.setdefault(intent, []).append(template)
    return templates


INTENT_TEMPLATES = parse_templates(TEMPLATES)


@dataclass(frozen=True)
class Command:
    intent: str
    words: Tuple[str, ...]  # upper-case words
    slots: Tuple[str, ...]  # each word's slot name, or OUTSIDE

    @property
    def text(self) -> str:
        return " ".join(self.words)


def fill(template: str, rng: random.Random, intent: str) -> Command:
    words, slots = [], []
    for token in template.split():
        slot = token[1:-1] if token.startswith("{") else None
        value = rng.choice(SLOT_VALUES[slot]).split() if slot else [token]
        words += [w.upper() for w in value]
        slots += [slot or OUTSIDE] * len(value)
    return Command(intent, tuple(words), tuple(slots))


def plan_commands(counts: Sequence[int], seed: int) -> Dict[str, List[Command]]:
    """Distinct sentences for train, valid and test (``counts``), intents in turn."""
    if len(counts) != 3 or min(counts) < 1:
        raise SetError(f"snips: --sentences needs three positive counts (train valid test), got {list(counts)}")
    rng = random.Random(f"{seed}/snips-sentences")
    intents, chosen, seen, attempts = list(INTENT_TEMPLATES), [], set(), 0
    while len(chosen) < sum(counts):
        attempts += 1
        if attempts > 50 * sum(counts):
            raise SetError(f"snips: only {len(chosen)} distinct sentences for {sum(counts)}. Fix: lower --sentences")
        intent = intents[len(chosen) % len(intents)]
        command = fill(rng.choice(INTENT_TEMPLATES[intent]), rng, intent)
        if command.text not in seen:
            seen.add(command.text)
            chosen.append(command)
    rng.shuffle(chosen)
    n_train, n_valid, _ = counts
    return {"train": chosen[:n_train], "valid": chosen[n_train:n_train + n_valid],
            "test": chosen[n_train + n_valid:]}


@dataclass(frozen=True)
class Recording:
    split: str
    n: int  # the sentence's number in its split
    speaker: str
    command: Command
    utterance: Utterance  # what synthesize speaks

    @property
    def uid(self) -> str:
        return self.utterance.uid


def plan_snips(counts: Sequence[int], readers: int, seed: int) -> List[Recording]:
    """Each sentence of a split spoken by ``readers`` of the split's speakers, sorted by uid."""
    smallest = min(len(s) for s in SF_SPEAKERS.values())
    if not 1 <= readers <= smallest:
        raise SetError(f"snips: --readers must be 1..{smallest} (the speakers of the smallest split), got {readers}")
    for voice in (v for speakers in SF_SPEAKERS.values() for v in speakers.values()):
        accent, variant = voice.split("+")
        if accent not in ACCENTS or variant not in SPEAKER_VARIANTS:  # espeak-ng would fall back silently
            raise SetError(f"snips: SF_SPEAKERS voice {voice!r} is not an accent of ACCENTS with a variant "
                           "of SPEAKER_VARIANTS. Fix: correct SF_SPEAKERS")
    for (split, speakers), count in zip(SF_SPEAKERS.items(), counts):
        if count * readers < len(speakers):
            raise SetError(f"snips: {count} {split} sentences x {readers} readers leave some of its "
                           f"{len(speakers)} speakers without a recording, which the config lists. "
                           "Fix: raise --sentences or --readers")
    commands = plan_commands(counts, seed)
    rng = random.Random(f"{seed}/snips-voices")
    base = {name: (rng.randint(*SF_RATE), rng.randint(*SF_PITCH))
            for split in SF_SPEAKERS for name in SF_SPEAKERS[split]}
    plan = []
    for split, speakers in SF_SPEAKERS.items():
        order = rng.sample(sorted(speakers), len(speakers))  # readers take turns: all speak equally often
        for n, command in enumerate(commands[split]):
            for name in sorted(order[(n * readers + k) % len(order)] for k in range(readers)):
                rate, pitch = base[name]
                utterance = Utterance(uid=f"{name}-snips-{split}-{n}", split=split, words=command.text,
                                      speaker=speakers[name], rate=rate + rng.randint(-15, 15),
                                      pitch=min(99, max(0, pitch + rng.randint(-5, 5))))
                plan.append(Recording(split, n, name, command, utterance))
    return sorted(plan, key=lambda r: (list(SF_SPEAKERS).index(r.split), r.speaker, r.n))


def iob_line(recording: Recording) -> str:
    c = recording.command
    return f"{recording.uid} BOS {c.text} EOS\t{OUTSIDE} {' '.join(c.slots)} {c.intent}\n"


def slots_file_text() -> str:
    """SNIPS' slots.txt: O, then the slot names, no final newline (s3prl reads it so)."""
    return "\n".join((OUTSIDE, *SLOTS))


def make_snips(out: Path, seed: int = 1, sentences: Sequence[int] = (800, 100, 100), readers: int = 2,
               jobs: Optional[int] = None, force: bool = False) -> dict:
    """The SNIPS layout in ``out`` (module docstring); returns task.json's content."""
    params = dict(task="superb-snips", generator_version=GENERATOR_VERSION, seed=seed,
                  sentences=list(sentences), readers=readers)
    plan = plan_snips(sentences, readers, seed)

    def write(directory: Path, tmp: Path) -> dict:
        for split in SF_SPEAKERS:
            (directory / split).mkdir()
        frames = run_jobs("superb-snips", jobs, [
            lambda r=r: synthesize(r.utterance, directory / r.split / f"{r.uid}.wav", tmp) for r in plan],
            time.time())
        (directory / "all.iob.snips.txt").write_text("".join(iob_line(r) for r in plan))
        (directory / "all-trans.txt").write_text("".join(f"{r.uid} {r.command.text}\n" for r in plan))
        (directory / "slots.txt").write_text(slots_file_text())
        return dict(clips=len(plan), classes=len(INTENT_TEMPLATES),
                    recordings={s: sum(r.split == s for r in plan) for s in SF_SPEAKERS},
                    sentences=dict(zip(SF_SPEAKERS, sentences)),
                    speakers={s: sorted(v) for s, v in SF_SPEAKERS.items()},
                    slots_used=len({s for r in plan for s in r.command.slots} - {OUTSIDE}),
                    minutes=round(sum(frames) / SAMPLE_RATE / 60, 2))

    return generate("superb-snips", out, params, write, force)


# ---------------------------------------------------------------------------------------------
# vocab: the shipped vocabularies


def write_char_dict(transcripts: Iterable[str], path: Path) -> None:
    """fairseq's dictionary of ASR's characters ("| count" ends a word), most frequent first,
    every letter of LibriSpeech's alphabet listed (counted over ``transcripts``, upper-case words)."""
    write_letter_dictionary((words_to_letters(t) for t in transcripts), path)


def write_phone_vocab(path: Path, words: Iterable[str], voice: str = LEXICON_VOICE,
                      jobs: Optional[int] = None) -> List[str]:
    """Every phone of ``words`` as espeak-ng's ``voice`` speaks them, sorted, one a line."""
    phones = sorted({p for ps in phonemize(words, voice, jobs).values() for p in ps})
    path.write_text("".join(f"{p}\n" for p in phones))
    return phones


def make_vocab(out: Path, libri_root: Optional[Path] = None, jobs: Optional[int] = None) -> dict:
    """char.dict, phoneme.txt, character.txt and slots.txt in ``out`` from the fortunes
    sentences (and, for phoneme.txt, the words of ``libri_root``'s tree)."""
    out.mkdir(parents=True, exist_ok=True)
    sentences = sentences_from_fortunes()
    write_char_dict(sentences, out / "char.dict")
    words = {w for s in sentences for w in s.split()}
    if libri_root is not None:
        words |= {w for s in tree_subsets(libri_root) for u in read_librispeech(libri_root, [s])
                  for w in u.words.split()}
    phones = write_phone_vocab(out / "phoneme.txt", words, jobs=jobs)
    (out / "character.txt").write_text("".join(f"{c}\n" for c in (" ", *LETTERS)))
    (out / "slots.txt").write_text(slots_file_text())
    return dict(sentences=len(sentences), words=len(words), phones=len(phones))


# ---------------------------------------------------------------------------------------------
# all


def make_all(demo: Path, out: Path, seed: int = 1, sentences: Sequence[int] = (800, 100, 100), readers: int = 2,
             copy: bool = False, jobs: Optional[int] = None, force: bool = False) -> dict:
    """Every set examples/superb/{asr,pr,sf}.yaml read, under ``out`` (module docstring)."""
    start = time.time()
    tree = out / DIRS["librispeech"]
    summary = dict(librispeech=make_librispeech(demo, tree, copy, force)["summary"])
    summary["buckets"] = write_buckets(tree, out / DIRS["buckets"])
    phones = out / DIRS["libriphone"]
    summary["lexicon"] = make_lexicon(tree, phones / "lexicon.txt", phones_dir=phones, jobs=jobs)
    lexicon = read_lexicons(phones / "lexicon.txt")  # as PR's reader reads it
    summary["lexicon"]["phone_error_rate_vs_spoken"] = lexicon_agreement(demo, lexicon)
    summary["snips"] = make_snips(out / DIRS["snips"], seed, sentences, readers, jobs, force)["summary"]
    print(f"[superb-speech] wrote {out} in {time.time() - start:.0f} s: " + json.dumps(summary))
    return summary


def main(argv: Optional[List[str]] = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)

    def command(name: str, help: str) -> argparse.ArgumentParser:
        parser = sub.add_parser(name, help=help)
        parser.add_argument("--jobs", type=int, default=None, help="worker processes (default: cores)")
        return parser

    def snips_options(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--seed", type=int, default=1)
        parser.add_argument("--sentences", type=int, nargs=3, default=[800, 100, 100],
                            metavar=("TRAIN", "VALID", "TEST"))
        parser.add_argument("--readers", type=int, default=2, help="speakers per sentence (default 2)")
        parser.add_argument("--small", action="store_true", help=f"a tiny set: {SNIPS_SMALL}")
        parser.add_argument("--force", action="store_true", help="regenerate even if up to date")

    a_all = command("all", "everything asr.yaml, pr.yaml and sf.yaml read, from the demo corpus")
    a_all.add_argument("--demo", type=Path, default=Path("data/demo"))
    a_all.add_argument("--out", type=Path, default=Path("data/superb"))
    a_all.add_argument("--copy", action="store_true", help="copy the demo's WAV files instead of linking")
    snips_options(a_all)
    a_libri = command("librispeech", "the demo corpus as a LibriSpeech tree")
    a_libri.add_argument("--demo", type=Path, default=Path("data/demo"))
    a_libri.add_argument("--out", type=Path, required=True)
    a_libri.add_argument("--copy", action="store_true")
    a_libri.add_argument("--force", action="store_true")
    a_buckets = command("buckets", "s3prl's asr length tables for a LibriSpeech tree")
    a_buckets.add_argument("--libri-root", type=Path, required=True)
    a_buckets.add_argument("--out", type=Path, required=True)
    a_buckets.add_argument("--subsets", nargs="+", default=None, help="default: every sub-set folder")
    a_lexicon = command("lexicon", "espeak-ng lexicon (and phone transcripts) for a LibriSpeech tree")
    a_lexicon.add_argument("--libri-root", type=Path, required=True)
    a_lexicon.add_argument("--out", type=Path, required=True, help="the lexicon file")
    a_lexicon.add_argument("--phones", type=Path, default=None, help="folder for <subset>.txt phone transcripts")
    a_lexicon.add_argument("--vocab", type=Path, default=VOCAB_DIR / "phoneme.txt")
    a_lexicon.add_argument("--subsets", nargs="+", default=None)
    a_snips = command("snips", "a small Audio SNIPS for slot filling")
    a_snips.add_argument("--out", type=Path, required=True)
    snips_options(a_snips)
    a_vocab = command("vocab", "the vocabularies of examples/superb/vocab")
    a_vocab.add_argument("--out", type=Path, default=VOCAB_DIR)
    a_vocab.add_argument("--libri-root", type=Path, default=None, help="also cover this tree's words' phones")
    a = p.parse_args(argv)

    if a.command in ("all", "snips") and a.small:
        a.sentences, a.readers = SNIPS_SMALL["sentences"], SNIPS_SMALL["readers"]
    if a.command == "all":
        make_all(a.demo, a.out, a.seed, a.sentences, a.readers, a.copy, a.jobs, a.force)
    elif a.command == "librispeech":
        make_librispeech(a.demo, a.out, a.copy, a.force)
    elif a.command == "buckets":
        print(f"[buckets] {write_buckets(a.libri_root, a.out, a.subsets)} rows in {a.out}")
    elif a.command == "lexicon":
        print(f"[lexicon] {make_lexicon(a.libri_root, a.out, a.vocab, a.phones, a.subsets, jobs=a.jobs)}")
    elif a.command == "snips":
        make_snips(a.out, a.seed, a.sentences, a.readers, a.jobs, a.force)
    else:
        print(f"[vocab] {make_vocab(a.out, a.libri_root, a.jobs)} in {a.out}")


if __name__ == "__main__":
    sys.exit(main())
