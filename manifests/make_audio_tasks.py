#!/usr/bin/env python
"""Synthesize four small downstream classification sets in the published layouts of the real ones.

Every clip is 16 kHz mono 16-bit WAV made on this machine by ``espeak-ng`` and ``sox -R -D``
(``-R``: fixed random seeds, ``-D``: no dither), so the same parameters give the same bytes.
``ehmam.evaluation.tasks`` reads exactly these layouts, and would read the real sets alike.

keywords -> Speech Commands V2 (keyword spotting; classes = words, ~1 s per clip)::

    OUT/{word}/{speaker}_nohash_{n}.wav   exactly 16000 samples; speaker = 8 hex digits of
                                          sha1(espeak voice), n = repetition
    OUT/validation_list.txt               word/file.wav per line; a speaker's split comes from
    OUT/testing_list.txt                  the hash of its id, as SPC's which_set (~10 % / 10 %)
    OUT/_background_noise_/*.wav          two noise recordings (readers skip this folder)

    Voices: the demo corpus's English accents x variants, each with its own base rate and
    pitch and a jitter per clip. Every split holds every word.

speakers -> VoxCeleb1 identification (classes = speakers, fortunes sentences of 4-16 words)::

    OUT/wav/{id1xxxx}/{video_id}/{nnnnn}.wav   video_id: 11 characters of [A-Za-z0-9_-]
    OUT/iden_split.txt                         "{1|2|3} id10001/abcdefghijk/00001.wav"
                                               (1 train, 2 valid, 3 test)

    A speaker is one espeak-ng voice variant (SPEAKER_VARIANTS, never shared) with an accent
    and a fixed base pitch; a "video" is a
    session with its own rate and pitch offset. Every speaker is in all three splits; valid
    and test each take one whole video of every speaker that train never hears.

languages -> VoxForge (language identification: EN DE FR ES IT RU)::

    OUT/{user}-{YYYYMMDD}-{abc}/wav/{nnnn}.wav
    OUT/{user}-{YYYYMMDD}-{abc}/etc/README    "User Name:{user}", "Gender: Male",
                                              "Language: DE", ...
    OUT/{user}-{YYYYMMDD}-{abc}/etc/PROMPTS   "{archive}/mfc/{nnnn} {text}"

    Text is numbers, years, times, dates and sums written with digits, which espeak-ng's
    en, de, fr, es, it and ru voices read in their own language ("1234" in German is
    "eintausend zweihundertvierunddreißig"). A user is one voice variant (+m1..+f4) with a
    base pitch and rate, never shared by two users; each user records one or two archives.
    There is no split file (VoxForge has none): readers split by user.

sounds -> ESC-50 (environmental-sound-like classes, 5 s clips)::

    OUT/audio/{fold}-{src_file}-{take}-{target}.wav   exactly 80000 samples
    OUT/meta/esc50.csv    filename,fold,target,category,esc10,src_file,take
                          5 folds, every class equally often in every fold; esc10 is True
                          for the first half of the classes

    Each clip is 1-8 sox ``synth`` events at random times, a random overall level, over
    low-level white/pink/brown background noise (so classes differ by structure, not by
    silence). The classes (target: category):
      0 noise_burst   short white/pink/brown noise bursts with fast decay, 2-7 of them
      1 wind          long band-passed brown/pink noise, slowly swelling (tremolo 0.15-0.8 Hz)
      2 sine_tone     1-3 steady sine tones, 250-2500 Hz
      3 tremolo_tone  the same tones amplitude-modulated at 4-12 Hz      (similar to 2)
      4 chirp_up      1-4 rising sine sweeps, linear or exponential
      5 chirp_down    the same sweeps falling                             (similar to 4)
      6 siren         a continuous tone sweeping up and down, 2-5 cycles (similar to 4, 5)
      7 pluck         1-6 plucked-string notes (sox's Karplus-Strong ``pluck``)
      8 square_beep   2-6 equal square-wave beeps at a fixed rhythm
      9 click_train   high-passed pulse trains at 3-25 clicks per second  (similar to 0)

Each OUT holds task.json: the parameters and a summary; a rerun with the same parameters is a
no-op, other parameters regenerate it (an OUT not written by this tool is refused).

    python manifests/make_audio_tasks.py {keywords,speakers,languages,sounds,all} --out DIR
        [--seed 1] [--classes N] [--per-class N] [--small] [--jobs N] [--force]

``all`` writes DIR/spcv2, DIR/vc1, DIR/voxforge and DIR/esc50. Default sizes (2 cores):

    keywords   10 words x 60 clips (30 speakers: 24 train, 3 valid, 3 test)   20 MB  ~10 s
    speakers   16 speakers x 24 clips (6 videos: 4 train, 1 valid, 1 test)     40 MB   ~7 s
    languages  6 languages x 60 clips (6 users each, 1-2 archives per user)    ~55 MB   ~8 s
    sounds     10 classes x 40 clips (8 per fold)                             63 MB  ~10 s

``--small`` makes 3-4 classes of 5-6 clips each, about a second per task.
"""
from __future__ import annotations

import argparse
import datetime
import hashlib
import itertools
import json
import math
import os
import random
import shutil
import string
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script: find `manifests`
from manifests.make_demo_corpus import (  # noqa: E402
    ACCENTS, PITCH, RATE_WPM, VARIANTS, Utterance, sentences_from_fortunes, synthesize)

from ehmam.data.audio import SAMPLE_RATE  # noqa: E402

GENERATOR_VERSION = 2  # 2: a voice variant per speaker, larger default sets
TASK_FILE = "task.json"
TASKS = ("keywords", "speakers", "languages", "sounds")
ALL_DIRS = {"keywords": "spcv2", "speakers": "vc1", "languages": "voxforge", "sounds": "esc50"}
PCM16 = ["-b", "16", "-e", "signed-integer"]
FLOAT32 = ["-e", "floating-point", "-b", "32"]

# Speech Commands: the ten command words of its 12-class benchmark, in its order.
WORDS = ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go")
SPC_SAMPLES = SAMPLE_RATE  # 1 s
SPC_VALID_PERCENT = SPC_TEST_PERCENT = 10
SPC_MAX_NUM_WAVS_PER_CLASS = 2 ** 27 - 1  # SPC's which_set constant
# VoxForge's six languages: README code -> espeak-ng voice.
LANGUAGES = {"EN": "en", "DE": "de", "FR": "fr", "ES": "es", "IT": "it", "RU": "ru"}
ESC_SAMPLES = 5 * SAMPLE_RATE
ESC_FOLDS = 5
NOISES = ("whitenoise", "pinknoise", "brownnoise")

SMALL = {"keywords": dict(classes=3, per_class=6), "speakers": dict(classes=4, per_class=6, videos=3),
         "languages": dict(classes=3, per_class=6, users=3), "sounds": dict(classes=4, per_class=5)}


def require_tools() -> None:
    for tool in ("espeak-ng", "sox"):
        if shutil.which(tool) is None:
            raise FileNotFoundError(f"{tool} not found. Fix: apt-get install {tool} "
                                    "(scripts/setup.sh does it)")


def sox(*args: str) -> None:
    """Run sox repeatably (-R) and without dither (-D); a failure shows sox's own message."""
    cmd = ["sox", "-R", "-D", *args]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode:
        raise RuntimeError(f"{' '.join(cmd)} failed: {proc.stderr.strip()}")


def run_jobs(tag: str, jobs: int | None, work: list[Callable[[], object]], start: float) -> list:
    """Run ``work`` on a thread pool (the work is subprocesses) with a progress line every 50."""
    results = []
    with ThreadPoolExecutor(jobs or os.cpu_count()) as pool:
        futures = [pool.submit(w) for w in work]
        for done, future in enumerate(futures, start=1):
            results.append(future.result())
            if done % 50 == 0 or done == len(work):
                print(f"[{tag}] {done}/{len(work)} clips ({time.time() - start:.0f} s)", flush=True)
    return results


def generate(tag: str, out: Path, params: dict, write: Callable[[Path, Path], dict],
             force: bool) -> dict:
    """Write a task into ``out`` unless its task.json already holds ``params``.

    ``write(directory, tmp)`` fills ``directory`` and returns the summary. It writes into
    OUT.partial, renamed to OUT when complete, so an interrupted run leaves OUT as it was.
    """
    require_tools()
    out = Path(out)
    meta_path = out / TASK_FILE
    existing = json.loads(meta_path.read_text()) if meta_path.is_file() else None
    if existing is not None and existing["params"].get("task") != tag:
        raise FileExistsError(f"{out} holds the {existing['params'].get('task')!r} task, not {tag!r}. "
                              "Fix: choose another --out")
    if not force and existing is not None and existing["params"] == params:
        print(f"[{tag}] {out} is up to date (seed {params['seed']})")
        return existing
    if existing is None and out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise FileExistsError(f"{out} exists and holds no {TASK_FILE}, so this tool did not write it. "
                              "Fix: choose another --out or remove it")
    partial = out.with_name(out.name + ".partial")
    if partial.exists():
        shutil.rmtree(partial)
    partial.mkdir(parents=True)
    start = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        summary = write(partial, Path(tmp))
    meta = dict(params=params, summary=summary)
    (partial / TASK_FILE).write_text(json.dumps(meta, indent=2) + "\n")
    if out.exists():
        shutil.rmtree(out)
    partial.rename(out)
    print(f"[{tag}] wrote {out}: {summary['clips']} clips, {summary['classes']} classes "
          f"({time.time() - start:.0f} s)")
    return meta


def _uniform(rng: random.Random, lo: float, hi: float) -> str:
    return f"{rng.uniform(lo, hi):.3f}"


# ---------------------------------------------------------------------------------------------
# keywords: Speech Commands V2


@dataclass(frozen=True)
class Keyword:
    word: str
    speaker: str  # 8 hex digits
    n: int  # repetition, the file's _nohash_ index
    voice: str
    rate: int
    pitch: int
    offset: float  # where the word starts, as a fraction of the clip's free room

    @property
    def path(self) -> str:
        return f"{self.word}/{self.speaker}_nohash_{self.n}.wav"


def speaker_hash(voice: str) -> str:
    return hashlib.sha1(voice.encode()).hexdigest()[:8]


def spc_split(speaker: str) -> str:
    """SPC's which_set: the split a speaker's hash puts it in (README of speech_commands_v0.02)."""
    hashed = int(hashlib.sha1(speaker.encode()).hexdigest(), 16)
    percent = (hashed % (SPC_MAX_NUM_WAVS_PER_CLASS + 1)) * (100.0 / SPC_MAX_NUM_WAVS_PER_CLASS)
    if percent < SPC_VALID_PERCENT:
        return "validation"
    return "testing" if percent < SPC_VALID_PERCENT + SPC_TEST_PERCENT else "training"


def plan_keywords(classes: int, per_class: int, repetitions: int, seed: int | str,
                  words: tuple[str, ...] = WORDS) -> list[Keyword]:
    """The first ``classes`` of ``words``; clip k of a word is speaker k // repetitions's
    repetition k % repetitions."""
    if not 1 <= classes <= len(words):
        raise ValueError(f"keywords: --classes must be 1..{len(words)} (the words {words}), got {classes}")
    if repetitions < 1:
        raise ValueError(f"keywords: repetitions must be >= 1, got {repetitions}")
    n_speakers = math.ceil(per_class / repetitions)
    wanted = {"validation": max(1, round(n_speakers * SPC_VALID_PERCENT / 100)),
              "testing": max(1, round(n_speakers * SPC_TEST_PERCENT / 100))}
    wanted["training"] = n_speakers - wanted["validation"] - wanted["testing"]
    rng = random.Random(seed)
    voices = [f"{a}+{v}" for a, v in itertools.product(ACCENTS, VARIANTS)]
    rng.shuffle(voices)
    pools = {s: [v for v in voices if spc_split(speaker_hash(v)) == s] for s in wanted}
    if wanted["training"] < 1 or any(len(pools[s]) < n for s, n in wanted.items()):
        raise ValueError(
            f"keywords: {per_class} clips per word at {repetitions} repetitions need {n_speakers} "
            f"speakers, {wanted} by split, but the speaker hash puts "
            f"{ {s: len(p) for s, p in pools.items()} } of the {len(voices)} espeak-ng voices in "
            "each split and every split needs one speaker to hold every word. "
            "Fix: --per-class between 3 x repetitions and ~160")
    chosen = [v for s in ("training", "validation", "testing") for v in pools[s][:wanted[s]]]
    rng.shuffle(chosen)
    base = {v: (rng.randint(*RATE_WPM), rng.randint(*PITCH)) for v in chosen}
    plan = []
    for word in words[:classes]:
        for k in range(per_class):
            voice = chosen[k // repetitions]
            rate, pitch = base[voice]
            plan.append(Keyword(word, speaker_hash(voice), k % repetitions, voice,
                                rate=max(80, rate + rng.randint(-20, 20)),
                                pitch=min(99, max(0, pitch + rng.randint(-8, 8))),
                                offset=rng.random()))
    return plan


def synthesize_keyword(clip: Keyword, out: Path, tmp: Path) -> None:
    """The word with its silences cut, placed at ``offset`` in exactly one second (SPC pads so)."""
    stem = tmp / f"{clip.word}-{clip.speaker}-{clip.n}"
    raw, trimmed = stem.with_suffix(".raw.wav"), stem.with_suffix(".trim.wav")
    subprocess.run(["espeak-ng", "-v", clip.voice, "-s", str(clip.rate), "-p", str(clip.pitch),
                    "-w", str(raw), clip.word], check=True, capture_output=True)
    sox(str(raw), "-r", str(SAMPLE_RATE), "-c", "1", *FLOAT32, str(trimmed),
        "silence", "1", "0.01", "0.3%", "reverse", "silence", "1", "0.01", "0.3%", "reverse")
    room = max(0, SPC_SAMPLES - sf.info(str(trimmed)).frames)
    sox(str(trimmed), *PCM16, str(out / clip.path),
        "pad", f"{round(clip.offset * room)}s", f"{SPC_SAMPLES}s", "trim", "0", f"{SPC_SAMPLES}s")
    raw.unlink()
    trimmed.unlink()


def write_background_noise(folder: Path, colours: tuple[str, ...]) -> None:
    """SPC's _background_noise_ folder: 10 s of each colour of noise at -12 dB, {colour}_noise.wav."""
    folder.mkdir()
    for colour in colours:
        sox("-r", str(SAMPLE_RATE), "-c", "1", "-n", *PCM16, str(folder / f"{colour}_noise.wav"),
            "synth", "10", f"{colour}noise", "gain", "-12")


def make_keywords(out: Path, seed: int = 1, classes: int = 10, per_class: int = 150,
                  repetitions: int = 2, jobs: int | None = None, force: bool = False) -> dict:
    """Speech Commands V2 layout in ``out`` (module docstring); returns task.json's content."""
    params = dict(task="keywords", generator_version=GENERATOR_VERSION, seed=seed, classes=classes,
                  per_class=per_class, repetitions=repetitions)
    plan = plan_keywords(classes, per_class, repetitions, seed)

    def write(directory: Path, tmp: Path) -> dict:
        for word in WORDS[:classes]:
            (directory / word).mkdir()
        run_jobs("keywords", jobs, [lambda c=c: synthesize_keyword(c, directory, tmp) for c in plan],
                 time.time())
        write_background_noise(directory / "_background_noise_", ("white", "pink"))
        splits = {c.path: spc_split(c.speaker) for c in plan}
        for split, name in (("validation", "validation_list.txt"), ("testing", "testing_list.txt")):
            listed = sorted(path for path, s in splits.items() if s == split)
            (directory / name).write_text("".join(path + "\n" for path in listed))
        return dict(clips=len(plan), classes=classes,
                    speakers={s: len({c.speaker for c in plan if splits[c.path] == s})
                              for s in ("training", "validation", "testing")},
                    clips_by_split={s: list(splits.values()).count(s)
                                    for s in ("training", "validation", "testing")})

    return generate("keywords", out, params, write, force)


# ---------------------------------------------------------------------------------------------
# speakers: VoxCeleb1 identification

VIDEO_ID_CHARS = string.ascii_letters + string.digits + "_-"


@dataclass(frozen=True)
class SpeakerClip:
    path: str  # id10001/abcdefghijk/00001.wav
    split: int  # 1 train, 2 valid, 3 test
    utterance: Utterance


# espeak-ng's human-sounding voice variants (no robots, whispers or effects): a speaker is one
# of them, never shared, so two speakers never differ by accent alone.
SPEAKER_VARIANTS = (
    "m1", "m2", "m3", "m4", "m5", "m6", "m7", "m8", "f1", "f2", "f3", "f4", "f5", "adam", "Alex",
    "Alicia", "Andy", "Annie", "aunty", "belinda", "benjamin", "caleb", "david", "Denis", "ed",
    "edward", "Gene", "grandma", "grandpa", "john", "Lee", "linda", "max", "Michael", "norbert",
    "paul", "quincy", "rob", "robert", "shelby", "steph", "travis", "victor", "zac")


def plan_speakers(sentences: list[str], classes: int, per_class: int, videos: int,
                  seed: int) -> list[SpeakerClip]:
    if not 2 <= classes <= len(SPEAKER_VARIANTS):
        raise ValueError(f"speakers: --classes must be 2..{len(SPEAKER_VARIANTS)} (distinct espeak-ng voice "
                         f"variants), got {classes}")
    if videos < 3 or per_class < videos:
        raise ValueError(f"speakers: {per_class} clips in {videos} videos per speaker; valid and test "
                         "each hold out a whole video, so each speaker needs >= 3 videos and at least "
                         "one clip per video. Fix: --videos >= 3 and --per-class >= --videos")
    if classes * per_class > len(sentences):
        raise ValueError(f"speakers: {classes * per_class} clips but only {len(sentences)} distinct "
                         "sentences. Fix: lower --classes or --per-class")
    rng = random.Random(seed)
    chosen_sentences = iter(rng.sample(sentences, classes * per_class))  # no sentence twice
    plan = []
    for s, variant in enumerate(rng.sample(SPEAKER_VARIANTS, classes)):
        voice = f"{rng.choice(ACCENTS)}+{variant}"
        speaker, pitch = f"id{10001 + s}", rng.randint(*PITCH)
        sessions = [("".join(rng.choice(VIDEO_ID_CHARS) for _ in range(11)),
                     rng.randint(-25, 25), rng.randint(-6, 6)) for _ in range(videos)]
        # The first video is valid, the second test, the rest train, so no held-out video is heard.
        splits = [2, 3] + [1] * (videos - 2)
        for k in range(per_class):
            v = k % videos
            video, rate_shift, pitch_shift = sessions[v]
            path = f"{speaker}/{video}/{k // videos + 1:05d}.wav"
            plan.append(SpeakerClip(path, splits[v], Utterance(
                uid=path.replace("/", "-")[:-4], split=str(splits[v]), words=next(chosen_sentences),
                speaker=voice, rate=rng.randint(140, 180) + rate_shift,
                pitch=min(99, max(0, pitch + pitch_shift + rng.randint(-2, 2))))))
    return sorted(plan, key=lambda c: c.path)


def make_speakers(out: Path, seed: int = 1, classes: int = 16, per_class: int = 60, videos: int = 6,
                  jobs: int | None = None, force: bool = False) -> dict:
    """VoxCeleb1 identification layout in ``out`` (module docstring); returns task.json's content."""
    sentences = sentences_from_fortunes()
    params = dict(task="speakers", generator_version=GENERATOR_VERSION, seed=seed, classes=classes,
                  per_class=per_class, videos=videos,
                  sentence_pool=hashlib.sha256("\n".join(sentences).encode()).hexdigest()[:16])
    plan = plan_speakers(sentences, classes, per_class, videos, seed)

    def write(directory: Path, tmp: Path) -> dict:
        for clip in plan:
            (directory / "wav" / clip.path).parent.mkdir(parents=True, exist_ok=True)
        frames = run_jobs("speakers", jobs, [
            lambda c=c: synthesize(c.utterance, directory / "wav" / c.path, tmp) for c in plan],
            time.time())
        (directory / "iden_split.txt").write_text("".join(f"{c.split} {c.path}\n" for c in plan))
        return dict(clips=len(plan), classes=classes,
                    clips_by_split={s: sum(c.split == i for c in plan)
                                    for i, s in enumerate(("train", "valid", "test"), start=1)},
                    voices={c.path.split("/")[0]: c.utterance.speaker for c in plan},
                    minutes=round(sum(frames) / SAMPLE_RATE / 60, 2))

    return generate("speakers", out, params, write, force)


# ---------------------------------------------------------------------------------------------
# languages: VoxForge


@dataclass(frozen=True)
class Archive:
    name: str  # {user}-{YYYYMMDD}-{abc}
    user: str
    language: str  # README code, EN..RU
    voice: str  # espeak-ng voice+variant
    utterances: tuple[Utterance, ...]


def digits_text(rng: random.Random) -> str:
    """Numbers, years, times, dates and sums in digits: each voice reads them in its language."""
    def item() -> str:
        kind = rng.randrange(5)
        if kind == 0:
            return str(rng.randint(1, 9999))
        if kind == 1:
            return str(rng.randint(1900, 2030))
        if kind == 2:
            return f"{rng.randint(0, 23)}:{rng.randint(0, 59):02d}"
        if kind == 3:
            return f"{rng.randint(1, 28)}/{rng.randint(1, 12)}/{rng.randint(1950, 2030)}"
        a, b = rng.randint(1, 99), rng.randint(1, 99)
        return f"{a} + {b} = {a + b}"
    return ". ".join(item() for _ in range(rng.randint(1, 3)))


def _username(rng: random.Random) -> str:
    syllables = "".join(rng.choice("bdfgklmnprstvz") + rng.choice("aeiou") for _ in range(rng.randint(2, 4)))
    return syllables + (str(rng.randint(1, 99)) if rng.random() < 0.4 else "")


def plan_languages(classes: int, per_class: int, users: int, seed: int) -> list[Archive]:
    if not 2 <= classes <= len(LANGUAGES):
        raise ValueError(f"languages: --classes must be 2..{len(LANGUAGES)} ({', '.join(LANGUAGES)}), "
                         f"got {classes}")
    if not 3 <= users <= len(VARIANTS) or per_class < users:
        raise ValueError(f"languages: {users} users per language with {per_class} clips per language; "
                         "readers split VoxForge by user, so a language needs >= 3 users (one each for "
                         f"train, valid, test), at most {len(VARIANTS)} (distinct voice variants), and "
                         "one clip per user. Fix: --users 3..11 and --per-class >= --users")
    rng = random.Random(seed)
    names: set[str] = set()
    archives = []
    for code in list(LANGUAGES)[:classes]:
        for u, variant in enumerate(rng.sample(VARIANTS, users)):
            while (user := _username(rng)) in names:
                pass
            names.add(user)
            voice, pitch, rate = f"{LANGUAGES[code]}+{variant}", rng.randint(*PITCH), rng.randint(*RATE_WPM)
            count = per_class // users + (u < per_class % users)
            n_archives = rng.choice((1, 2)) if count >= 2 else 1
            days = sorted(rng.sample(range(8 * 365), n_archives))
            for a in range(n_archives):
                date = datetime.date(2007, 1, 1) + datetime.timedelta(days=days[a])
                name = f"{user}-{date:%Y%m%d}-{''.join(rng.choice(string.ascii_lowercase) for _ in range(3))}"
                size = count // n_archives + (a < count % n_archives)
                utts = tuple(Utterance(uid=f"{name}-{i:04d}", split="", words=digits_text(rng), speaker=voice,
                                       rate=max(80, rate + rng.randint(-10, 10)),
                                       pitch=min(99, max(0, pitch + rng.randint(-3, 3))))
                             for i in range(1, size + 1))
                archives.append(Archive(name, user, code, voice, utts))
    return sorted(archives, key=lambda a: a.name)


def voxforge_readme(archive: Archive) -> str:
    gender = "Female" if "+f" in archive.voice else "Male"
    return (f"User Name:{archive.user}\n\nSpeaker Characteristics:\n\nGender: {gender}\n"
            f"Age Range: Adult\nLanguage: {archive.language}\n"
            f"Pronunciation dialect: espeak-ng {archive.voice}\n\nRecording Information:\n\n"
            "Microphone make: n/a\nMicrophone type: n/a\nAudio card make: n/a\nAudio card type: n/a\n"
            "Audio Recording Software: espeak-ng + sox\nO/S: Linux\n\nFile Info:\n\nFile type: wav\n"
            f"Sampling Rate: {SAMPLE_RATE}\nSample rate format: 16\nNumber of channels: 1\n")


def make_languages(out: Path, seed: int = 1, classes: int = 6, per_class: int = 150, users: int = 6,
                   jobs: int | None = None, force: bool = False) -> dict:
    """VoxForge layout in ``out`` (module docstring); returns task.json's content."""
    params = dict(task="languages", generator_version=GENERATOR_VERSION, seed=seed, classes=classes,
                  per_class=per_class, users=users)
    plan = plan_languages(classes, per_class, users, seed)

    def write(directory: Path, tmp: Path) -> dict:
        work = []
        for archive in plan:
            for sub in ("wav", "etc"):
                (directory / archive.name / sub).mkdir(parents=True)
            (directory / archive.name / "etc" / "README").write_text(voxforge_readme(archive))
            (directory / archive.name / "etc" / "PROMPTS").write_text("".join(
                f"{archive.name}/mfc/{u.uid[-4:]} {u.words}\n" for u in archive.utterances))
            work += [lambda u=u, a=archive: synthesize(u, directory / a.name / "wav" / f"{u.uid[-4:]}.wav",
                                                       tmp) for u in archive.utterances]
        frames = run_jobs("languages", jobs, work, time.time())
        return dict(clips=len(work), classes=classes,
                    clips_by_language={c: sum(len(a.utterances) for a in plan if a.language == c)
                                       for c in list(LANGUAGES)[:classes]},
                    users={a.user: a.voice for a in plan},
                    minutes=round(sum(frames) / SAMPLE_RATE / 60, 2))

    return generate("languages", out, params, write, force)


# ---------------------------------------------------------------------------------------------
# sounds: ESC-50
# An event is (sample rate it is synthesised at, sox effects from synth on, silence after it).

Event = tuple[int, list[str], float]


def _noise(rng: random.Random, colour: str, seconds: float) -> list[str]:
    # sox -R seeds every noise generator alike; a random discarded lead gives each clip its own.
    skip = rng.uniform(0, 20)
    return ["synth", f"{skip + seconds:.4f}", colour, "trim", f"{skip:.4f}"]


def _fade(rng: random.Random, seconds: float, attack: float = 0.01) -> list[str]:
    return ["fade", "q", f"{attack:.3f}", f"{seconds:.3f}", f"{seconds * rng.uniform(0.1, 0.5):.3f}"]


def _noise_burst(rng: random.Random) -> list[Event]:
    colour = rng.choice(NOISES)
    events = []
    for _ in range(rng.randint(2, 7)):
        d = rng.uniform(0.04, 0.35)
        decay = ["fade", "q", "0.003", f"{d:.3f}", f"{d * 0.8:.3f}"]
        events.append((SAMPLE_RATE, _noise(rng, colour, d) + decay, rng.uniform(0.05, 0.6)))
    return events


def _wind(rng: random.Random) -> list[Event]:
    events = []
    for _ in range(rng.randint(1, 2)):
        d = rng.uniform(1.5, 3.5)
        events.append((SAMPLE_RATE, _noise(rng, rng.choice(NOISES[1:]), d)
                       + ["bandpass", _uniform(rng, 150, 1200), f"{rng.uniform(0.3, 1.5):.2f}q",
                          "tremolo", _uniform(rng, 0.15, 0.8), _uniform(rng, 40, 90)]
                       + _fade(rng, d, attack=rng.uniform(0.2, 0.6)), rng.uniform(0, 0.5)))
    return events


def _tone(rng: random.Random, tremolo: bool) -> list[Event]:
    f, events = rng.uniform(250, 2500), []
    for _ in range(rng.randint(1, 3)):
        d = rng.uniform(0.3, 1.8)
        wobble = ["tremolo", _uniform(rng, 4, 12), _uniform(rng, 40, 80)] if tremolo else []
        events.append((SAMPLE_RATE, ["synth", f"{d:.3f}", "sine", f"{f:.1f}"] + wobble + _fade(rng, d),
                       rng.uniform(0.1, 0.8)))
    return events


def _chirp(rng: random.Random, rising: bool) -> list[Event]:
    events = []
    for _ in range(rng.randint(1, 4)):
        d, lo = rng.uniform(0.2, 1.5), rng.uniform(200, 1000)
        hi = lo * rng.uniform(2, 5)
        a, b = (lo, hi) if rising else (hi, lo)
        sweep = f"{a:.1f}{rng.choice(':/')}{b:.1f}"
        events.append((SAMPLE_RATE, ["synth", f"{d:.3f}", "sine", sweep] + _fade(rng, d, 0.005),
                       rng.uniform(0.05, 0.6)))
    return events


def _siren(rng: random.Random) -> list[Event]:
    lo, half = rng.uniform(400, 900), rng.uniform(0.25, 0.75)
    hi = lo * rng.uniform(1.4, 2.2)
    events = []
    for _ in range(rng.randint(2, 5)):
        for a, b in ((lo, hi), (hi, lo)):
            events.append((SAMPLE_RATE, ["synth", f"{half:.3f}", "sine", f"{a:.1f}:{b:.1f}"], 0.0))
    return events


def _pluck(rng: random.Random) -> list[Event]:
    # sox's pluck only runs at 44.1-48 kHz; the clip is resampled to 16 kHz.
    events = []
    for _ in range(rng.randint(1, 6)):
        d = rng.uniform(0.25, 0.9)
        events.append((48000, ["synth", f"{d:.3f}", "pluck", f"%{rng.randint(-24, 12)}", "0", "0",
                               _uniform(rng, 30, 80)], rng.uniform(0, 0.4)))
    return events


def _square_beep(rng: random.Random) -> list[Event]:
    f, d, gap = rng.uniform(400, 3000), rng.uniform(0.05, 0.3), rng.uniform(0.05, 0.4)
    return [(SAMPLE_RATE, ["synth", f"{d:.3f}", "square", f"{f:.1f}", "lowpass", "6000",
                           "fade", "q", "0.003", f"{d:.3f}", "0.003"], gap)
            for _ in range(rng.randint(2, 6))]


def _click_train(rng: random.Random) -> list[Event]:
    events = []
    for _ in range(rng.randint(1, 2)):
        d, rate = rng.uniform(0.4, 2.5), rng.uniform(3, 25)
        duty = 100 * rng.uniform(0.0005, 0.002) * rate  # 0.5-2 ms pulses, as a % of the period
        events.append((SAMPLE_RATE, ["synth", f"{d:.3f}", "square", f"{rate:.2f}", "0", "0", f"{duty:.3f}",
                                     "highpass", _uniform(rng, 500, 3000)], rng.uniform(0.1, 0.8)))
    return events


SOUND_CLASSES: dict[str, Callable[[random.Random], list[Event]]] = {
    "noise_burst": _noise_burst, "wind": _wind,
    "sine_tone": lambda rng: _tone(rng, tremolo=False), "tremolo_tone": lambda rng: _tone(rng, tremolo=True),
    "chirp_up": lambda rng: _chirp(rng, rising=True), "chirp_down": lambda rng: _chirp(rng, rising=False),
    "siren": _siren, "pluck": _pluck, "square_beep": _square_beep, "click_train": _click_train,
}


@dataclass(frozen=True)
class SoundClip:
    filename: str
    fold: int
    target: int
    category: str
    src_file: int
    events: tuple[Event, ...]
    lead: float  # silence before the first event, s
    level: float  # linear gain of the events
    background: tuple[str, ...]  # sox effects making 5 s of background noise
    background_level: float


def plan_sounds(classes: int, per_class: int, seed: int) -> list[SoundClip]:
    if not 2 <= classes <= len(SOUND_CLASSES):
        raise ValueError(f"sounds: --classes must be 2..{len(SOUND_CLASSES)}, got {classes}")
    if per_class < ESC_FOLDS or per_class % ESC_FOLDS:
        raise ValueError(f"sounds: --per-class {per_class} is not a positive multiple of {ESC_FOLDS}; "
                         f"ESC-50 puts every class equally often in each of its 5 folds. Fix: pass "
                         f"--per-class {max(ESC_FOLDS, round(per_class / ESC_FOLDS) * ESC_FOLDS)}")
    rng = random.Random(seed)
    sources = iter(rng.sample(range(1000, 300000), classes * per_class))
    plan = []
    for target, (category, events) in enumerate(list(SOUND_CLASSES.items())[:classes]):
        for k in range(per_class):
            fold, src = k % ESC_FOLDS + 1, next(sources)
            background = _noise(rng, rng.choice(NOISES), ESC_SAMPLES / SAMPLE_RATE)
            if rng.random() < 0.5:
                background += ["lowpass", _uniform(rng, 1000, 6000)]
            # Each event peaks at -1..-6 dBFS: synth runs at full scale and filters overshoot.
            peaked = tuple((rate, effects + ["gain", "-n", f"-{rng.uniform(1, 6):.2f}"], gap)
                           for rate, effects, gap in events(rng))
            plan.append(SoundClip(f"{fold}-{src}-A-{target}.wav", fold, target, category, src,
                                  peaked, lead=rng.uniform(0, 1.5),
                                  level=10 ** (rng.uniform(-18, -3) / 20), background=tuple(background),
                                  background_level=10 ** (rng.uniform(-50, -35) / 20)))
    return sorted(plan, key=lambda c: c.filename)


def synthesize_sound(clip: SoundClip, out: Path, tmp: Path) -> None:
    stem = clip.filename[:-4]
    segments = []
    for i, (rate, effects, gap) in enumerate(clip.events):
        segment = tmp / f"{stem}.{i}.wav"
        sox("-r", str(rate), "-c", "1", "-n", "-r", str(SAMPLE_RATE), *FLOAT32, str(segment), *effects,
            "pad", f"{clip.lead if i == 0 else 0:.3f}", f"{gap:.3f}")
        segments.append(segment)
    foreground, background = tmp / f"{stem}.fg.wav", tmp / f"{stem}.bg.wav"
    sox(*map(str, segments), str(foreground))
    sox("-r", str(SAMPLE_RATE), "-c", "1", "-n", *FLOAT32, str(background), *clip.background)
    sox("-m", "-v", f"{clip.level:.5f}", str(foreground), "-v", f"{clip.background_level:.6f}",
        str(background), *PCM16, str(out), "pad", "0", f"{ESC_SAMPLES}s", "trim", "0", f"{ESC_SAMPLES}s")
    for path in segments + [foreground, background]:
        path.unlink()


def make_sounds(out: Path, seed: int = 1, classes: int = 10, per_class: int = 80,
                jobs: int | None = None, force: bool = False) -> dict:
    """ESC-50 layout in ``out`` (module docstring); returns task.json's content."""
    params = dict(task="sounds", generator_version=GENERATOR_VERSION, seed=seed, classes=classes,
                  per_class=per_class)
    plan = plan_sounds(classes, per_class, seed)

    def write(directory: Path, tmp: Path) -> dict:
        (directory / "audio").mkdir()
        (directory / "meta").mkdir()
        run_jobs("sounds", jobs, [lambda c=c: synthesize_sound(c, directory / "audio" / c.filename, tmp)
                                  for c in plan], time.time())
        esc10 = {t: t < (classes + 1) // 2 for t in range(classes)}
        (directory / "meta" / "esc50.csv").write_text(
            "filename,fold,target,category,esc10,src_file,take\n" + "".join(
                f"{c.filename},{c.fold},{c.target},{c.category},{esc10[c.target]},{c.src_file},A\n"
                for c in plan))
        return dict(clips=len(plan), classes=classes, categories=list(SOUND_CLASSES)[:classes],
                    clips_per_fold_and_class=per_class // ESC_FOLDS)

    return generate("sounds", out, params, write, force)


# ---------------------------------------------------------------------------------------------

MAKERS = {"keywords": make_keywords, "speakers": make_speakers, "languages": make_languages,
          "sounds": make_sounds}
TASK_OPTIONS = {"keywords": ("repetitions",), "speakers": ("videos",), "languages": ("users",),
                "sounds": ()}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("task", choices=(*TASKS, "all"))
    p.add_argument("--out", type=Path, required=True,
                   help="output directory (for all: its subfolders spcv2, vc1, voxforge, esc50)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--classes", type=int, help="number of classes (words, speakers, languages, sounds)")
    p.add_argument("--per-class", type=int, help="clips per class")
    p.add_argument("--repetitions", type=int, help="keywords: clips per speaker and word (default 2)")
    p.add_argument("--videos", type=int, help="speakers: videos per speaker, >= 3 (default 6)")
    p.add_argument("--users", type=int, help="languages: users per language, 3..11 (default 6)")
    p.add_argument("--small", action="store_true", help="3-4 classes of 5-6 clips (smoke tests)")
    p.add_argument("--jobs", type=int, default=None, help="parallel synthesis jobs (default: cores)")
    p.add_argument("--force", action="store_true", help="regenerate even if up to date")
    a = p.parse_args(argv)
    tasks = TASKS if a.task == "all" else (a.task,)
    try:
        for task in tasks:
            kwargs = dict(SMALL[task]) if a.small else {}
            for name in ("classes", "per_class", *TASK_OPTIONS[task]):
                if getattr(a, name) is not None:
                    kwargs[name] = getattr(a, name)
            out = a.out / ALL_DIRS[task] if a.task == "all" else a.out
            MAKERS[task](out, seed=a.seed, jobs=a.jobs, force=a.force, **kwargs)
    except (ValueError, FileNotFoundError, FileExistsError) as e:
        sys.exit(f"make_audio_tasks: {e}")


if __name__ == "__main__":
    sys.exit(main())
