#!/usr/bin/env python
"""Synthesize the low-resource study's corpus: hours of unlabelled speech, little labelled.

The demo corpus in LibriLight's shape. Sentences and voices come from the demo generator
(``make_demo_corpus``: fortunes sentences spoken by espeak-ng). Every utterance has a
sentence of its own, so no split shares a sentence with another. Speakers (espeak-ng's
accent+variant voices) are split three ways: valid and test each get speakers of their own;
the labelled training audio and the unlabelled pool share the rest. Layout::

    OUT/wav/{pool,train,valid,test}/{uid}.wav
    OUT/pool.tsv                   unlabelled: a manifest and meta, no transcripts
    OUT/pretrain.tsv               what pretraining reads: the pool plus the labelled training audio
    OUT/train_1h.{tsv,ltr,wrd,phn}  the labelled hour
    OUT/train_10m.{tsv,ltr,wrd,phn} its first ~10 minutes (a subset, as LibriLight's 10 min is of its 1 h)
    OUT/{valid,test}.{tsv,ltr,wrd,phn}
    OUT/dict.ltr.txt               letters of train_1h
    OUT/lm_text.txt                every fortunes sentence not in valid or test
    OUT/corpus.json                parameters, sizes and hours; a rerun with the same ones is a no-op

The labelled subsets take training utterances in their (seeded, shuffled) order until the
duration is reached, so they are fixed by the seed. Same seed, same corpus, bit for bit.

    python manifests/make_low_resource_corpus.py --out data/low_resource [--pool-utterances 3600]
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import shutil
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script: find `manifests`

from ehmam.data.audio import SAMPLE_RATE  # noqa: E402
from ehmam.data.labels import words_to_letters, write_letter_dictionary  # noqa: E402
from ehmam.data.manifest import write_manifest  # noqa: E402
from manifests.make_demo_corpus import (  # noqa: E402
    ACCENTS, PITCH, RATE_WPM, VARIANTS, Utterance, align, sentences_from_fortunes, synthesize, write_meta, write_split)

GENERATOR_VERSION = 1
AUDIO_SPLITS = ("pool", "train", "valid", "test")
LABELLED_MINUTES = (10, 60)  # LibriLight's 10 min and 1 h


def subset_name(minutes: float) -> str:
    """train_10m, train_1h, train_30s: the split name of a labelled subset."""
    if minutes >= 60 and minutes % 60 == 0:
        return f"train_{minutes // 60:g}h"
    if minutes >= 1 and minutes == int(minutes):
        return f"train_{minutes:g}m"
    return f"train_{round(minutes * 60)}s"


def speakers_by_split(rng: random.Random, eval_speakers: int) -> dict[str, list[str]]:
    """valid and test get ``eval_speakers`` voices each; train and pool share the rest."""
    voices = [f"{a}+{v}" for a in ACCENTS for v in VARIANTS]
    rng.shuffle(voices)
    if 2 * eval_speakers >= len(voices):
        raise ValueError(f"{eval_speakers} speakers each for valid and test leave none of the "
                         f"{len(voices)} for training. Fix: lower --eval-speakers")
    valid, test = voices[:eval_speakers], voices[eval_speakers:2 * eval_speakers]
    rest = voices[2 * eval_speakers:]
    return dict(pool=rest, train=rest, valid=valid, test=test)


def plan_corpus(sentences: list[str], counts: dict[str, int], eval_speakers: int, seed: int) -> list[Utterance]:
    """Pick a distinct sentence and a voice of the split's speakers for every utterance."""
    total = sum(counts.values())
    if total > len(sentences):
        raise ValueError(f"asked for {total} utterances but only {len(sentences)} distinct sentences "
                         "exist. Fix: lower --pool-utterances or --train-utterances")
    rng = random.Random(seed)
    speakers = speakers_by_split(rng, eval_speakers)
    chosen = iter(rng.sample(sentences, total))
    plan = []
    for split in AUDIO_SPLITS:
        for i in range(counts[split]):
            plan.append(Utterance(uid=f"{split}-{i:05d}", split=split, words=next(chosen),
                                  speaker=rng.choice(speakers[split]),
                                  rate=rng.randint(*RATE_WPM), pitch=rng.randint(*PITCH)))
    return plan


def labelled_subsets(train: list[Utterance], sizes: dict[str, int],
                     minutes_each: tuple = LABELLED_MINUTES) -> dict[str, list[Utterance]]:
    """The shortest prefixes of ``train`` holding each subset's minutes."""
    subsets, seconds, end = {}, 0.0, 0
    for minutes in sorted(minutes_each):
        name = subset_name(minutes)
        while seconds < minutes * 60 and end < len(train):
            seconds += sizes[train[end].uid] / SAMPLE_RATE
            end += 1
        if seconds < minutes * 60:
            raise ValueError(f"the {len(train)} training utterances last {seconds / 60:.1f} min, "
                             f"short of {name}'s {minutes:g}. Fix: raise --train-utterances")
        subsets[name] = train[:end]
    return subsets


def make_corpus(out: Path, pool_utterances: int = 3600, train_utterances: int = 1300,
                eval_utterances: int = 150, eval_speakers: int = 8, seed: int = 11,
                labelled_minutes: tuple = LABELLED_MINUTES, jobs: int | None = None, force: bool = False) -> dict:
    """Generate the corpus into ``out`` (see the module docstring); returns corpus.json's content."""
    for tool in ("espeak-ng", "sox"):
        if shutil.which(tool) is None:
            raise FileNotFoundError(f"{tool} not found. Fix: apt-get install {tool} (scripts/setup.sh does it)")
    sentences = sentences_from_fortunes()
    counts = dict(pool=pool_utterances, train=train_utterances, valid=eval_utterances, test=eval_utterances)
    if min(counts.values()) < 1:
        raise ValueError(f"every split needs at least one utterance, got {counts}")
    params = dict(generator_version=GENERATOR_VERSION, counts=counts, eval_speakers=eval_speakers, seed=seed,
                  labelled_minutes=sorted(labelled_minutes),
                  sentence_pool=hashlib.sha256("\n".join(sentences).encode()).hexdigest()[:16])
    meta_path = out / "corpus.json"
    existing = json.loads(meta_path.read_text()) if meta_path.is_file() else None
    if not force and existing is not None and existing["params"] == params:
        print(f"[corpus] {out} is up to date")
        return existing
    plan = plan_corpus(sentences, counts, eval_speakers, seed)
    if out.exists():
        shutil.rmtree(out)
    for split in AUDIO_SPLITS:
        (out / "wav" / split).mkdir(parents=True)

    start, sizes = time.time(), {}
    with tempfile.TemporaryDirectory() as tmp, ThreadPoolExecutor(jobs or os.cpu_count()) as pool:
        futures = {u.uid: pool.submit(synthesize, u, out / "wav" / u.split / f"{u.uid}.wav", Path(tmp))
                   for u in plan}
        for done, (uid, future) in enumerate(futures.items(), start=1):
            sizes[uid] = future.result()
            if done % 200 == 0 or done == len(plan):
                print(f"[corpus] {done}/{len(plan)} utterances ({time.time() - start:.0f} s)", flush=True)

    by_split = {s: [u for u in plan if u.split == s] for s in AUDIO_SPLITS}
    labelled = labelled_subsets(by_split["train"], sizes, labelled_minutes)
    largest = labelled[subset_name(max(labelled_minutes))]
    # phone alignments for what the probe and the labelled splits use; the pool needs none
    alignments = align(largest + by_split["valid"] + by_split["test"], sizes, jobs)
    for split, utts in [*labelled.items(), ("valid", by_split["valid"]), ("test", by_split["test"])]:
        write_split(out, split, utts, sizes, alignments)
    write_meta(out / "pool.meta.tsv", by_split["pool"])
    write_manifest(out / "pool.tsv", out.resolve(),
                   [(f"wav/pool/{u.uid}.wav", sizes[u.uid]) for u in by_split["pool"]])
    write_manifest(out / "pretrain.tsv", out.resolve(),
                   [(f"wav/{u.split}/{u.uid}.wav", sizes[u.uid]) for u in by_split["pool"] + largest])
    write_letter_dictionary((words_to_letters(u.words) for u in largest), out / "dict.ltr.txt")
    held_out = {u.words for u in by_split["valid"] + by_split["test"]}
    (out / "lm_text.txt").write_text("".join(s + "\n" for s in sentences if s not in held_out))

    def hours(utts):
        return round(sum(sizes[u.uid] for u in utts) / SAMPLE_RATE / 3600, 4)

    splits = {"pool": by_split["pool"], "pretrain": by_split["pool"] + largest, **labelled,
              "valid": by_split["valid"], "test": by_split["test"]}
    meta = dict(params=params, utterances={s: len(u) for s, u in splits.items()},
                hours={s: hours(u) for s, u in splits.items()},
                speakers={s: len({u.speaker for u in utts}) for s, utts in splits.items()},
                lm_sentences=len(sentences) - len(held_out))
    meta_path.write_text(json.dumps(meta, indent=2) + "\n")
    print(f"[corpus] wrote {out}: " + ", ".join(f"{s} {meta['utterances'][s]} utt / {h * 60:.1f} min"
                                                 for s, h in meta["hours"].items())
          + f"; {time.time() - start:.0f} s")
    return meta


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, required=True, help="output directory")
    p.add_argument("--pool-utterances", type=int, default=3600, help="unlabelled pool (default 3600, ~3 h)")
    p.add_argument("--train-utterances", type=int, default=1300,
                   help="labelled training candidates; train_1h takes the first hour of them (default 1300)")
    p.add_argument("--eval-utterances", type=int, default=150, help="valid and test, each (default 150)")
    p.add_argument("--eval-speakers", type=int, default=8, help="voices of their own for valid and test, each")
    p.add_argument("--labelled-minutes", type=float, nargs="+", default=list(LABELLED_MINUTES),
                   help="labelled subsets, each a prefix of the next (default 10 60)")
    p.add_argument("--seed", type=int, default=11)
    p.add_argument("--jobs", type=int, default=None, help="parallel synthesis jobs (default: cores)")
    p.add_argument("--force", action="store_true", help="regenerate even if up to date")
    a = p.parse_args(argv)
    make_corpus(a.out, a.pool_utterances, a.train_utterances, a.eval_utterances, a.eval_speakers, a.seed,
                tuple(a.labelled_minutes), a.jobs, a.force)


if __name__ == "__main__":
    sys.exit(main())
