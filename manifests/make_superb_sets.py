#!/usr/bin/env python
"""Synthesize SUPERB's keyword spotting (KS) and intent classification (IC) sets in the layouts
s3prl 0.4.18's ``speech_commands`` and ``fluent_commands`` downstreams read.

Every clip is 16 kHz mono 16-bit WAV made on this machine by ``espeak-ng`` and ``sox -R -D``,
with ``manifests.make_audio_tasks``' voices and synthesis, so the same parameters give the
same bytes.

keywords -> KS: Speech Commands v0.01 with its separate test set (12 classes)::

    OUT/train/{word}/{speaker}_nohash_{n}.wav   exactly 16000 samples; speaker = 8 hex digits of
                                                sha1(espeak voice), n = repetition
    OUT/train/_background_noise_/*.wav          white, pink and brown noise, 10 s each
    OUT/test/{class}/*.wav                      yes no up down left right on off stop go
                                                _unknown_ _silence_, exactly 16000 samples each

    s3prl's config: ``speech_commands_root: OUT/train``, ``speech_commands_test_root: OUT/test``.
    s3prl takes every folder of OUT/train but _background_noise_ as a class, maps words other
    than the ten commands to _unknown_, and splits train/dev by the sha1 of the file name's
    speaker part (< 10 % dev, < 20 % dropped, else train): ``make_audio_tasks.spc_split``.
    OUT/train holds the ten command words and auxiliary words of Speech Commands (bed bird cat
    dog happy house marvin sheila tree wow) from the speakers that hash puts in train or dev,
    every word in both. The speakers it puts in "testing" speak into OUT/test instead: the ten
    words in their own folders, the auxiliary words in _unknown_ (renumbered
    {speaker}_nohash_{k}.wav, k counting a speaker's clips), and _silence_ holds low-level
    white/pink/brown noise (silence_{i}.wav, peaks at -50..-30 dBFS), as v0.01's test set does.
    s3prl adds OUT/train/_background_noise_ to train and dev as _silence_ and crops 1 s of it.

intents -> IC: Fluent Speech Commands::

    OUT/wavs/speakers/{speakerId}/{uuid}.wav   speakerId: 16 of [A-Za-z0-9]; uuid: version-1
                                               style, from the seeded generator
    OUT/data/{train,valid,test}_data.csv       ",path,speakerId,transcription,action,object,location"
                                               (pandas' index column first, as FSC's files),
                                               path relative to OUT, e.g.
                                               wavs/speakers/2BqVo8kVB2Skwgyb/0a3129c0-...-5dbec3b8816a.wav

    s3prl's config: ``file_path: OUT``. Intents are FSC's own 31 action/object/location triples
    (INTENT_TABLE: 6 actions, 13 objects and none, 3 locations and none), each with four
    paraphrases ("Turn on the lights in the kitchen", "Switch on the kitchen lights", ...). A
    speaker is one espeak-ng voice variant (never shared) with an accent, a base rate and
    pitch; it says every intent ``takes`` times in a paraphrase drawn at random. Speakers are
    split as in FSC (train, valid and test share none) and every intent is in every split, so
    train holds every slot value s3prl's label vocabulary (built from train_data.csv) needs.

Each OUT holds task.json: the parameters and a summary; a rerun with the same parameters is a
no-op, other parameters regenerate it (an OUT not written by this tool is refused).

    python manifests/make_superb_sets.py {keywords,intents,all} --out DIR
        [--seed 1] [--small] [--jobs N] [--force]

``all`` writes DIR/ks and DIR/ic. Default sizes (2 cores):

    keywords  10 words x 30 clips (15 speakers: 11 train, 2 dev, 2 test) + 10 auxiliary words
              x 8 clips (4 speakers) + 6 silence clips: 386 clips (train 260, dev 60,
              test 66: 4 per word, 20 _unknown_, 6 _silence_), 14 MB                 3-7 s
    intents   31 intents x 12 speakers (8 train, 2 valid, 2 test) x 1 take: 372 clips
              (248 / 62 / 62), 10 minutes of speech, 19 MB                         3-5 s

``--small`` makes a few dozen clips per set (every class and split present), under a second each:
keywords 3 clips per command word and 3 auxiliary words (1 speaker per split), intents the first
12 intents x 3 speakers.
"""
from __future__ import annotations

import argparse
import csv
import hashlib
import random
import string
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script: find `manifests`
from manifests.make_audio_tasks import (  # noqa: E402
    GENERATOR_VERSION as AUDIO_TASKS_VERSION, NOISES, PCM16, SPC_SAMPLES, SPEAKER_VARIANTS, WORDS,
    Keyword, _noise, generate, plan_keywords, run_jobs, sox, spc_split, synthesize_keyword,
    write_background_noise)
from manifests.make_demo_corpus import ACCENTS, PITCH, RATE_WPM, Utterance, synthesize  # noqa: E402

from ehmam.data.audio import SAMPLE_RATE  # noqa: E402

GENERATOR_VERSION = 1
ALL_DIRS = {"keywords": "ks", "intents": "ic"}
SMALL = {"keywords": dict(per_word=3, unknown_words=3, per_unknown=3, repetitions=1, silence=2),
         "intents": dict(intents=12, speakers=(1, 1, 1))}

# ---------------------------------------------------------------------------------------------
# keywords: SUPERB KS (Speech Commands v0.01)

# Speech Commands' auxiliary words: s3prl's _unknown_ class.
AUX_WORDS = ("bed", "bird", "cat", "dog", "happy", "house", "marvin", "sheila", "tree", "wow")
KS_CLASSES = (*WORDS, "_unknown_", "_silence_")  # s3prl's CLASSES, in its order
NOISE_COLOURS = ("white", "pink", "brown")


def plan_silence(count: int, seed: int) -> list[list[str]]:
    """sox effects for ``count`` seconds of low-level noise, each of its own colour, level, tone."""
    rng = random.Random(f"{seed}/silence")
    plans = []
    for _ in range(count):
        effects = _noise(rng, rng.choice(NOISES), SPC_SAMPLES / SAMPLE_RATE)
        if rng.random() < 0.5:
            effects += ["lowpass", f"{rng.uniform(1000, 6000):.0f}"]
        plans.append(effects + ["gain", "-n", f"{-rng.uniform(30, 50):.2f}"])
    return plans


def gather_unknown(test: Path, clips: list[Keyword], words: tuple[str, ...]) -> None:
    """Move the test speakers' clips of ``words`` into _unknown_, numbered per speaker."""
    unknown, taken = test / "_unknown_", Counter()
    unknown.mkdir()
    for clip in sorted(clips, key=lambda c: (c.speaker, AUX_WORDS.index(c.word), c.n)):
        (test / clip.path).rename(unknown / f"{clip.speaker}_nohash_{taken[clip.speaker]}.wav")
        taken[clip.speaker] += 1
    for word in words:
        (test / word).rmdir()


def make_ks(out: Path, seed: int = 1, per_word: int = 30, unknown_words: int = 10, per_unknown: int = 8,
            repetitions: int = 2, silence: int = 6, jobs: int | None = None, force: bool = False) -> dict:
    """SUPERB KS layout in ``out`` (module docstring); returns task.json's content."""
    params = dict(task="superb-ks", generator_version=GENERATOR_VERSION,
                  audio_tasks_version=AUDIO_TASKS_VERSION, seed=seed, per_word=per_word,
                  unknown_words=unknown_words, per_unknown=per_unknown, repetitions=repetitions,
                  silence=silence)
    if silence < 1:
        raise ValueError(f"keywords: the test set's _silence_ class needs >= 1 clip, got {silence}")
    targets = plan_keywords(len(WORDS), per_word, repetitions, seed)
    aux = plan_keywords(unknown_words, per_unknown, repetitions, f"{seed}/unknown", words=AUX_WORDS)
    noises = plan_silence(silence, seed)

    def write(directory: Path, tmp: Path) -> dict:
        train, test = directory / "train", directory / "test"
        for root in (train, test):
            for word in (*WORDS, *AUX_WORDS[:unknown_words]):
                (root / word).mkdir(parents=True)
        (test / "_silence_").mkdir()
        roots = {c: test if spc_split(c.speaker) == "testing" else train for c in targets + aux}
        work = [lambda c=c: synthesize_keyword(c, roots[c], tmp) for c in roots]
        work += [lambda i=i, e=e: sox("-r", str(SAMPLE_RATE), "-c", "1", "-n", *PCM16,
                                      str(test / "_silence_" / f"silence_{i}.wav"), *e,
                                      "pad", "0", f"{SPC_SAMPLES}s", "trim", "0", f"{SPC_SAMPLES}s")
                 for i, e in enumerate(noises)]
        run_jobs("superb-ks", jobs, work, time.time())
        gather_unknown(test, [c for c in aux if roots[c] == test], AUX_WORDS[:unknown_words])
        write_background_noise(train / "_background_noise_", NOISE_COLOURS)
        split = Counter(spc_split(c.speaker) for c in roots)
        return dict(clips=len(work), classes=len(KS_CLASSES),
                    clips_by_split={"train": split["training"], "dev": split["validation"],
                                    "test": split["testing"] + silence},
                    test_clips_by_class={k: len(list((test / k).glob("*.wav"))) for k in KS_CLASSES},
                    speakers={s: len({c.speaker for c in roots if spc_split(c.speaker) == s})
                              for s in ("training", "validation", "testing")})

    return generate("superb-ks", out, params, write, force)


# ---------------------------------------------------------------------------------------------
# intents: SUPERB IC (Fluent Speech Commands)


# FSC's 31 intents, "action | object | location | paraphrase; paraphrase; ...". The first 12
# (--small) hold all six actions and three locations.
INTENT_TABLE = """
activate        | lights    | none     | Turn on the lights; Switch on the lights; Lights on; Turn the lights on
deactivate      | lights    | none     | Turn off the lights; Switch off the lights; Lights off; Turn the lights off
increase        | volume    | none     | Volume up; Turn up the volume; Make it louder; Increase the volume
decrease        | volume    | none     | Volume down; Turn down the volume; Make it quieter; Decrease the volume
change language | none      | none     | Change language; Switch language; Open the language settings; Use another language
bring           | newspaper | none     | Bring me the newspaper; Get me the newspaper; Fetch the newspaper; Newspaper please
increase        | heat      | kitchen  | Turn up the heat in the kitchen; Make the kitchen warmer; Kitchen heat up; Increase the temperature in the kitchen
decrease        | heat      | bedroom  | Turn down the heat in the bedroom; Make the bedroom cooler; Bedroom heat down; Decrease the temperature in the bedroom
activate        | lights    | washroom | Turn on the lights in the washroom; Switch on the washroom lights; Washroom lights on; Lights on in the washroom
deactivate      | music     | none     | Stop the music; Pause the music; Turn off the music; Music off
change language | Korean    | none     | Set the language to Korean; Switch to Korean; Change the language to Korean; Korean please
activate        | lamp      | none     | Turn on the lamp; Switch on the lamp; Lamp on; Turn the lamp on
activate        | music     | none     | Play music; Put on some music; Start the music; Play
deactivate      | lamp      | none     | Turn off the lamp; Switch off the lamp; Lamp off; Turn the lamp off
increase        | heat      | none     | Turn up the heat; Make it warmer; Increase the temperature; Heat up
decrease        | heat      | none     | Turn down the heat; Make it cooler; Decrease the temperature; Heat down
bring           | juice     | none     | Bring me some juice; Get me the juice; Fetch some juice; I want juice
bring           | socks     | none     | Bring me my socks; Get my socks; Fetch my socks; Socks please
bring           | shoes     | none     | Bring me my shoes; Get my shoes; Fetch my shoes; Shoes please
change language | Chinese   | none     | Set the language to Chinese; Switch to Chinese; Change the language to Chinese; Chinese please
change language | English   | none     | Set the language to English; Switch to English; Change the language to English; English please
change language | German    | none     | Set the language to German; Switch to German; Change the language to German; German please
activate        | lights    | kitchen  | Turn on the lights in the kitchen; Switch on the kitchen lights; Kitchen lights on; Lights on in the kitchen
activate        | lights    | bedroom  | Turn on the lights in the bedroom; Switch on the bedroom lights; Bedroom lights on; Lights on in the bedroom
deactivate      | lights    | kitchen  | Turn off the lights in the kitchen; Switch off the kitchen lights; Kitchen lights off; Lights off in the kitchen
deactivate      | lights    | bedroom  | Turn off the lights in the bedroom; Switch off the bedroom lights; Bedroom lights off; Lights off in the bedroom
deactivate      | lights    | washroom | Turn off the lights in the washroom; Switch off the washroom lights; Washroom lights off; Lights off in the washroom
increase        | heat      | bedroom  | Turn up the heat in the bedroom; Make the bedroom warmer; Bedroom heat up; Increase the temperature in the bedroom
increase        | heat      | washroom | Turn up the heat in the washroom; Make the washroom warmer; Washroom heat up; Increase the temperature in the washroom
decrease        | heat      | kitchen  | Turn down the heat in the kitchen; Make the kitchen cooler; Kitchen heat down; Decrease the temperature in the kitchen
decrease        | heat      | washroom | Turn down the heat in the washroom; Make the washroom cooler; Washroom heat down; Decrease the temperature in the washroom
"""


@dataclass(frozen=True)
class Intent:
    action: str
    object: str
    location: str
    phrases: tuple[str, ...]


def parse_intents(table: str) -> tuple[Intent, ...]:
    rows = [[cell.strip() for cell in line.split("|")] for line in table.strip().splitlines()]
    return tuple(Intent(action, obj, location, tuple(p.strip() for p in phrases.split(";")))
                 for action, obj, location, phrases in rows)


INTENTS = parse_intents(INTENT_TABLE)
IC_SPLITS = ("train", "valid", "test")
IC_COLUMNS = ("path", "speakerId", "transcription", "action", "object", "location")
SPEAKER_ID_CHARS = string.ascii_letters + string.digits


@dataclass(frozen=True)
class Command:
    split: str
    speaker_id: str
    intent: Intent
    utterance: Utterance  # uid: the uuid-like file id; words: the transcription

    @property
    def path(self) -> str:
        return f"wavs/speakers/{self.speaker_id}/{self.utterance.uid}.wav"


def plan_intents(intents: int, speakers: tuple[int, int, int], takes: int, seed: int) -> list[Command]:
    """Each speaker (train, valid, test counts) says each of the first ``intents`` ``takes`` times."""
    if not 1 <= intents <= len(INTENTS):
        raise ValueError(f"intents: intents must be 1..{len(INTENTS)} (FSC's intents), got {intents}")
    if len(speakers) != 3 or min(speakers) < 1 or sum(speakers) > len(SPEAKER_VARIANTS) or takes < 1:
        raise ValueError(f"intents: {speakers} speakers for (train, valid, test) and {takes} takes; "
                         "every split needs its own speakers, >= 1 each and at most "
                         f"{len(SPEAKER_VARIANTS)} in all (distinct espeak-ng voice variants), and "
                         "takes must be >= 1")
    rng = random.Random(seed)
    ids: set[str] = set()
    plan = []
    splits = [s for s, n in zip(IC_SPLITS, speakers) for _ in range(n)]
    for split, variant in zip(splits, rng.sample(SPEAKER_VARIANTS, len(splits))):
        while (speaker := "".join(rng.choice(SPEAKER_ID_CHARS) for _ in range(16))) in ids:
            pass
        ids.add(speaker)
        voice, rate, pitch = f"{rng.choice(ACCENTS)}+{variant}", rng.randint(*RATE_WPM), rng.randint(*PITCH)
        for intent in INTENTS[:intents]:
            for _ in range(takes):
                clip_id = str(uuid.UUID(int=rng.getrandbits(128), version=1))
                plan.append(Command(split, speaker, intent, Utterance(
                    uid=clip_id, split=split, words=rng.choice(intent.phrases), speaker=voice,
                    rate=max(80, rate + rng.randint(-15, 15)),
                    pitch=min(99, max(0, pitch + rng.randint(-4, 4))))))
    return plan


def write_fsc_csv(path: Path, commands: list[Command]) -> None:
    """FSC's csv: pandas' unnamed index column, then IC_COLUMNS."""
    with open(path, "w", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(("", *IC_COLUMNS))
        for i, c in enumerate(commands):
            writer.writerow((i, c.path, c.speaker_id, c.utterance.words, c.intent.action, c.intent.object,
                             c.intent.location))


def make_ic(out: Path, seed: int = 1, intents: int = len(INTENTS), speakers: tuple[int, int, int] = (8, 2, 2),
            takes: int = 1, jobs: int | None = None, force: bool = False) -> dict:
    """SUPERB IC layout in ``out`` (module docstring); returns task.json's content."""
    params = dict(task="superb-ic", generator_version=GENERATOR_VERSION, seed=seed, intents=intents,
                  speakers=list(speakers), takes=takes,
                  intent_table=hashlib.sha256(INTENT_TABLE.encode()).hexdigest()[:16])
    plan = plan_intents(intents, tuple(speakers), takes, seed)

    def write(directory: Path, tmp: Path) -> dict:
        for speaker in {c.speaker_id for c in plan}:
            (directory / "wavs" / "speakers" / speaker).mkdir(parents=True)
        frames = run_jobs("superb-ic", jobs, [lambda c=c: synthesize(c.utterance, directory / c.path, tmp)
                                              for c in plan], time.time())
        (directory / "data").mkdir()
        for split in IC_SPLITS:
            write_fsc_csv(directory / "data" / f"{split}_data.csv", [c for c in plan if c.split == split])
        return dict(clips=len(plan), classes=intents,
                    clips_by_split={s: sum(c.split == s for c in plan) for s in IC_SPLITS},
                    voices={c.speaker_id: f"{c.split} {c.utterance.speaker}" for c in plan},
                    minutes=round(sum(frames) / SAMPLE_RATE / 60, 2))

    return generate("superb-ic", out, params, write, force)


# ---------------------------------------------------------------------------------------------

MAKERS = {"keywords": make_ks, "intents": make_ic}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("task", choices=(*MAKERS, "all"))
    p.add_argument("--out", type=Path, required=True, help="output directory (for all: its subfolders ks, ic)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--small", action="store_true", help="a few dozen clips per set (smoke tests)")
    p.add_argument("--jobs", type=int, default=None, help="parallel synthesis jobs (default: cores)")
    p.add_argument("--force", action="store_true", help="regenerate even if up to date")
    a = p.parse_args(argv)
    try:
        for task in MAKERS if a.task == "all" else (a.task,):
            out = a.out / ALL_DIRS[task] if a.task == "all" else a.out
            MAKERS[task](out, seed=a.seed, jobs=a.jobs, force=a.force, **(SMALL[task] if a.small else {}))
    except (ValueError, FileNotFoundError, FileExistsError) as e:
        sys.exit(f"make_superb_sets: {e}")


if __name__ == "__main__":
    sys.exit(main())
