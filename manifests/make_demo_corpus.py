#!/usr/bin/env python
"""Synthesize the demo corpus: real speech with known text, made on this machine.

Sentences come from Debian's ``fortunes`` databases (English quotations), are normalised
to LibriSpeech-style transcripts, and are spoken by ``espeak-ng`` with many accents,
voice variants, speaking rates and pitches, then resampled by ``sox`` to 16 kHz mono
16-bit. Splits share no sentence. Output, in the wav2vec 2.0 layout::

    OUT/wav/{split}/{uid}.wav
    OUT/{split}.tsv  .ltr  .wrd     manifests and labels (split = train, valid, test)
    OUT/{split}.meta.tsv            uid, speaker (accent+variant), rate, pitch per utterance
    OUT/{split}.phn                 phone alignments from espeak-ng's own timing (ehmam.data.alignments)
    OUT/dict.ltr.txt                letter dictionary for CTC fine-tuning
    OUT/lm_text.txt                 LM training text: every sentence not in valid or test
    OUT/corpus.json                 the generation parameters; a rerun with the same ones is a no-op

Same seed, same fortunes package, same corpus (bit for bit).

    python manifests/make_demo_corpus.py --out data/demo [--num-utterances 2000] [--seed 1]
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import soundfile as sf

from ehmam.data.alignments import PhoneSegment, write_alignments
from ehmam.data.audio import SAMPLE_RATE
from ehmam.data.labels import normalize_transcript, words_to_letters, write_letter_dictionary
from ehmam.data.manifest import write_manifest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script: find `manifests`
from manifests.espeak_alignment import align_utterances  # noqa: E402

GENERATOR_VERSION = 2  # 2: phone alignments
FORTUNES_DIR = Path("/usr/share/games/fortunes")
# General-audience databases of quotations and prose; the rest hold ASCII art, code
# snippets or jokes whose spelling a synthesiser would not read as written.
FORTUNE_DATABASES = (
    "computers", "education", "food", "fortunes", "goedel", "humorists", "kids", "law",
    "literature", "magic", "miscellaneous", "paradoxum", "people", "pets", "platitudes",
    "riddles", "science", "songs-poems", "sports", "tao", "wisdom", "work",
)
# espeak-ng's own English voices (no mbrola) and its voice variants: 8 x 11 speakers.
ACCENTS = ("en-us", "en-gb", "en-gb-scotland", "en-gb-x-rp", "en-gb-x-gbclan",
           "en-gb-x-gbcwmd", "en-029", "en-us-nyc")
VARIANTS = ("m1", "m2", "m3", "m4", "m5", "m6", "m7", "f1", "f2", "f3", "f4")
RATE_WPM = (120, 200)
PITCH = (25, 75)
MIN_WORDS, MAX_WORDS = 4, 16
SPLITS = ("train", "valid", "test")


@dataclass(frozen=True)
class Utterance:
    uid: str
    split: str
    words: str  # normalised transcript, e.g. "HELLO WORLD"
    speaker: str  # espeak-ng voice, accent+variant
    rate: int  # words per minute
    pitch: int  # 0..99


def _has_acronym(sentence: str) -> bool:
    # "NASA" or "TV" would be spelled out by the synthesiser, not read as the label says.
    return any(len(w) > 1 and w.isupper() for w in re.findall(r"[A-Za-z']+", sentence))


def sentences_from_fortunes(directory: Path = FORTUNES_DIR) -> list[str]:
    """Distinct normalised sentences of MIN_WORDS..MAX_WORDS words, sorted."""
    missing = [d for d in FORTUNE_DATABASES if not (directory / d).is_file()]
    if missing:
        raise FileNotFoundError(
            f"fortune databases {missing} not found in {directory}. "
            "Fix: apt-get install fortunes (scripts/setup.sh does it)")
    found = set()
    for name in FORTUNE_DATABASES:
        text = (directory / name).read_text(encoding="utf-8", errors="replace")
        for entry in text.split("\n%\n"):
            # Attribution lines ("-- Mark Twain") are not part of the quotation.
            body = " ".join(l for l in entry.splitlines() if not l.strip().startswith("--"))
            for sentence in re.split(r"(?<=[.!?])\s+", " ".join(body.split())):
                if _has_acronym(sentence) or re.search(r"\b(Mr|Mrs|Dr|St)\.", sentence):
                    continue
                words = normalize_transcript(sentence)
                if words and MIN_WORDS <= len(words.split()) <= MAX_WORDS:
                    found.add(words)
    return sorted(found)


def plan_corpus(sentences: list[str], num_utterances: int, valid_fraction: float,
                test_fraction: float, seed: int) -> list[Utterance]:
    """Pick sentences and voices; a pure function of its arguments."""
    if num_utterances > len(sentences):
        raise ValueError(f"asked for {num_utterances} utterances but only {len(sentences)} "
                         "distinct sentences exist. Fix: lower --num-utterances")
    rng = random.Random(seed)
    chosen = rng.sample(sentences, num_utterances)  # distinct, so splits share no sentence
    n_valid = max(1, round(num_utterances * valid_fraction))
    n_test = max(1, round(num_utterances * test_fraction))
    n_train = num_utterances - n_valid - n_test
    if n_train < 1:
        raise ValueError("no utterance left for train. Fix: raise --num-utterances")
    splits = ["train"] * n_train + ["valid"] * n_valid + ["test"] * n_test
    plan = []
    for i, (split, words) in enumerate(zip(splits, chosen)):
        plan.append(Utterance(
            uid=f"{split}-{i:05d}", split=split, words=words,
            speaker=f"{rng.choice(ACCENTS)}+{rng.choice(VARIANTS)}",
            rate=rng.randint(*RATE_WPM), pitch=rng.randint(*PITCH)))
    return plan


def synthesize(utt: Utterance, wav_path: Path, tmp_dir: Path) -> int:
    """Speak ``utt`` into a 16 kHz mono 16-bit ``wav_path``; returns its sample count."""
    raw = tmp_dir / f"{utt.uid}.raw.wav"
    subprocess.run(["espeak-ng", "-v", utt.speaker, "-s", str(utt.rate), "-p", str(utt.pitch),
                    "-w", str(raw), utt.words.lower()], check=True, capture_output=True)
    # -R: repeatable output (fixed seeds, no timestamp); -D: no dither noise.
    subprocess.run(["sox", "-R", "-D", str(raw), "-r", str(SAMPLE_RATE), "-c", "1", "-b", "16",
                    "-e", "signed-integer", str(wav_path)], check=True, capture_output=True)
    raw.unlink()
    return sf.info(str(wav_path)).frames


def align(utts: list[Utterance], sizes: dict[str, int], jobs: int | None) -> dict[str, list[PhoneSegment]]:
    """Each utterance's phones with their times, checked against its audio's length."""
    alignments = align_utterances([(u.words.lower(), u.speaker, u.rate, u.pitch) for u in utts], jobs)
    for utt, segments in zip(utts, alignments):
        seconds = sizes[utt.uid] / SAMPLE_RATE
        if abs(segments[-1].end - seconds) > 0.01:
            raise RuntimeError(f"{utt.uid}: phones run to {segments[-1].end:.3f} s but the audio "
                               f"lasts {seconds:.3f} s; espeak-ng's library and command line disagree")
    return {u.uid: a for u, a in zip(utts, alignments)}


def write_meta(path: Path, utts: list[Utterance]) -> None:
    """uid, speaker, rate and pitch of each utterance, tab-separated with a header."""
    path.write_text("uid\tspeaker\trate\tpitch\n"
                    + "".join(f"{u.uid}\t{u.speaker}\t{u.rate}\t{u.pitch}\n" for u in utts))


def write_split(out: Path, split: str, utts: list[Utterance], sizes: dict[str, int],
                alignments: dict[str, list[PhoneSegment]]) -> None:
    # the audio lies under its own split's folder: a subset (e.g. train_10m) points into wav/train
    write_manifest(out / f"{split}.tsv", out.resolve(),
                   [(f"wav/{u.split}/{u.uid}.wav", sizes[u.uid]) for u in utts])
    (out / f"{split}.wrd").write_text("".join(u.words + "\n" for u in utts))
    (out / f"{split}.ltr").write_text("".join(words_to_letters(u.words) + "\n" for u in utts))
    write_alignments(out / f"{split}.phn", (alignments[u.uid] for u in utts))
    write_meta(out / f"{split}.meta.tsv", utts)


def make_corpus(out: Path, num_utterances: int = 2000, seed: int = 1, valid_fraction: float = 0.1,
                test_fraction: float = 0.1, jobs: int | None = None, force: bool = False) -> dict:
    """Generate the corpus into ``out`` (see the module docstring); returns corpus.json's content."""
    for tool in ("espeak-ng", "sox"):
        if shutil.which(tool) is None:
            raise FileNotFoundError(f"{tool} not found. Fix: apt-get install {tool} "
                                    "(scripts/setup.sh does it)")
    sentences = sentences_from_fortunes()
    params = dict(generator_version=GENERATOR_VERSION, num_utterances=num_utterances, seed=seed,
                  valid_fraction=valid_fraction, test_fraction=test_fraction,
                  sentence_pool=hashlib.sha256("\n".join(sentences).encode()).hexdigest()[:16])
    meta_path = out / "corpus.json"
    existing = json.loads(meta_path.read_text()) if meta_path.is_file() else None
    if not force and existing is not None and existing["params"] == params:
        print(f"[corpus] {out} is up to date ({num_utterances} utterances, seed {seed})")
        return existing
    if out.exists():
        shutil.rmtree(out)
    plan = plan_corpus(sentences, num_utterances, valid_fraction, test_fraction, seed)
    for split in SPLITS:
        (out / "wav" / split).mkdir(parents=True)

    start, sizes = time.time(), {}
    with tempfile.TemporaryDirectory() as tmp, ThreadPoolExecutor(jobs or os.cpu_count()) as pool:
        futures = {u.uid: pool.submit(synthesize, u, out / "wav" / u.split / f"{u.uid}.wav",
                                      Path(tmp)) for u in plan}
        for done, (uid, future) in enumerate(futures.items(), start=1):
            sizes[uid] = future.result()
            if done % 50 == 0 or done == len(plan):
                print(f"[corpus] {done}/{len(plan)} utterances ({time.time() - start:.0f} s)",
                      flush=True)

    alignments = align(plan, sizes, jobs)
    by_split = {s: [u for u in plan if u.split == s] for s in SPLITS}
    for split, utts in by_split.items():
        write_split(out, split, utts, sizes, alignments)
    write_letter_dictionary((words_to_letters(u.words) for u in by_split["train"]),
                            out / "dict.ltr.txt")
    held_out = {u.words for u in by_split["valid"] + by_split["test"]}
    (out / "lm_text.txt").write_text("".join(s + "\n" for s in sentences if s not in held_out))

    hours = {s: sum(sizes[u.uid] for u in utts) / SAMPLE_RATE / 3600 for s, utts in by_split.items()}
    meta = dict(params=params, utterances={s: len(u) for s, u in by_split.items()},
                hours={s: round(h, 4) for s, h in hours.items()},
                speakers=len({u.speaker for u in plan}), lm_sentences=len(sentences) - len(held_out))
    meta_path.write_text(json.dumps(meta, indent=2) + "\n")
    print(f"[corpus] wrote {out}: " + ", ".join(
        f"{s} {len(by_split[s])} utt / {hours[s] * 60:.1f} min" for s in SPLITS)
        + f"; {meta['speakers']} speakers; {time.time() - start:.0f} s")
    return meta


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, required=True, help="output directory")
    # 2,000 (1.4 h of training audio): CTC fine-tuning of the tiny model overfits 300 (~43%
    # UER on held-out sentences) and reaches ~30% with 2,000 (examples/ehmam/README.md)
    p.add_argument("--num-utterances", type=int, default=2000, help="corpus size (default 2000)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--valid-fraction", type=float, default=0.1)
    p.add_argument("--test-fraction", type=float, default=0.1)
    p.add_argument("--jobs", type=int, default=None, help="parallel synthesis jobs (default: cores)")
    p.add_argument("--force", action="store_true", help="regenerate even if up to date")
    a = p.parse_args(argv)
    make_corpus(a.out, a.num_utterances, a.seed, a.valid_fraction, a.test_fraction, a.jobs, a.force)


if __name__ == "__main__":
    sys.exit(main())
