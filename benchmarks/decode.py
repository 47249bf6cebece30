#!/usr/bin/env python
"""CTC decoding speed on the CPU: lexicon beam search with a KenLM 4-gram (beam 50, fairseq's
defaults) against greedy decoding of the same emissions.

    python benchmarks/decode.py [--utterances 300] [--beam 50]
    python benchmarks/decode.py --checkpoint checkpoints/demo_ctc/checkpoint_best.pt --data data/demo \\
        --split test --lexicon outputs/demo/lm/lexicon.txt --lm outputs/demo/lm/4-gram.bin

Without a checkpoint the emissions are synthetic: held-out English sentences from the
fortunes databases spelled out at 50 frames per second (2-4 frames per letter, a blank
after each, ``|`` between words) with Gaussian noise on the logits, so greedy decoding
makes letter errors the LM can repair; the 4-gram and lexicon are built from the other
sentences with lmplz (``scripts/setup.sh --with-kenlm``). Only decoding is timed, not the
acoustic model. Prints audio seconds per decoding second for both searches; the last line
is the beam search's real-time factor (target: at least 100x real time).
"""
from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ehmam.asr.beam_search import BeamSearchConfig, LexiconBeamSearch  # noqa: E402
from ehmam.data.labels import letters_to_words, normalize_transcript  # noqa: E402
from ehmam.asr.decode import greedy_ctc  # noqa: E402
from ehmam.asr.error_rates import ErrorCounts  # noqa: E402
from ehmam.asr.language_model import build_ngram, text_words, write_lexicon  # noqa: E402

FRAME_RATE = 50  # wav2vec 2.0 frames per second of 16 kHz audio
TOKENS = ["<s>", "<pad>", "</s>", "<unk>", "|"] + list("ETOAINSRHLDUYCMGWFPBVK'XJQZ")


def synthetic_emission(sentence: str, rng: random.Random, noise: float, peak: float) -> torch.Tensor:
    frames = []
    for w, word in enumerate(sentence.split()):
        if w:
            frames.append(TOKENS.index("|"))
        for letter in word:
            frames += [TOKENS.index(letter)] * rng.randint(2, 4) + [0]
    generator = torch.Generator().manual_seed(rng.randrange(2**31))
    logits = torch.randn(len(frames), len(TOKENS), generator=generator) * noise
    logits[torch.arange(len(frames)), torch.tensor(frames)] += peak
    return logits.log_softmax(dim=-1)


def synthetic_task(utterances: int, work: Path, noise: float, peak: float):
    from manifests.make_demo_corpus import sentences_from_fortunes

    sentences = sorted({normalize_transcript(s) for s in sentences_from_fortunes()} - {""})
    sentences = [s for s in sentences if set(s) <= set(TOKENS) | {" "}]
    rng = random.Random(0)
    rng.shuffle(sentences)
    test, train = sentences[:utterances], sentences[utterances:]
    (work / "lm_text.txt").write_text("\n".join(train) + "\n")
    built = build_ngram(work / "lm_text.txt", work, order=4, memory="512M")
    write_lexicon(text_words([work / "lm_text.txt"]), work / "lexicon.txt", TOKENS)
    emissions = [synthetic_emission(s, rng, noise, peak) for s in test]
    return TOKENS, emissions, test, work / "lexicon.txt", built.binary


def model_task(a):
    from ehmam.asr.decode import emit_manifest, load_ctc_model

    ctc = load_ctc_model(a.checkpoint, a.data)
    emitted = emit_manifest(ctc, a.data, a.split)[: a.utterances]
    return ctc.tokens, [e.emission for e in emitted], [e.utterance.reference for e in emitted], a.lexicon, a.lm


def run(name, decode, emissions, references, audio_seconds):
    start = time.perf_counter()
    hypotheses = [decode(e) for e in emissions]
    seconds = time.perf_counter() - start
    errors = sum((ErrorCounts.of(r, h) for r, h in zip(references, hypotheses)), ErrorCounts())
    speed = audio_seconds / seconds
    print(f"{name:<34} {seconds:9.2f} {speed:14.1f} {errors.wer:7.2f} {errors.cer:7.2f}")
    return speed


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--utterances", type=int, default=300)
    p.add_argument("--beam", type=int, default=BeamSearchConfig.beam)
    p.add_argument("--noise", type=float, default=1.0, help="synthetic: logit noise std")
    p.add_argument("--peak", type=float, default=4.0, help="synthetic: logit boost of the true token")
    p.add_argument("--checkpoint", type=Path, help="decode a fine-tuned model's emissions instead")
    p.add_argument("--data", type=Path)
    p.add_argument("--split", default="test")
    p.add_argument("--lexicon", type=Path)
    p.add_argument("--lm", type=Path)
    a = p.parse_args(argv)
    torch.set_num_threads(1)  # flashlight's search is single-threaded; keep greedy comparable
    with tempfile.TemporaryDirectory() as work:
        if a.checkpoint:
            if not (a.data and a.lexicon and a.lm):
                p.error("--checkpoint needs --data, --lexicon and --lm")
            tokens, emissions, references, lexicon, lm = model_task(a)
            source = f"{a.checkpoint} on {a.data}/{a.split}"
        else:
            tokens, emissions, references, lexicon, lm = synthetic_task(a.utterances, Path(work), a.noise, a.peak)
            source = f"synthetic emissions (noise {a.noise}, peak {a.peak})"
        frames = sum(e.shape[0] for e in emissions)
        audio_seconds = frames / FRAME_RATE
        cfg = BeamSearchConfig(beam=a.beam)
        search = LexiconBeamSearch(tokens, lexicon, lm, cfg)
        blank = tokens.index("<s>")

        def greedy(emission):
            return letters_to_words(" ".join(tokens[i] for i in greedy_ctc(emission, blank)))

        print(f"{len(emissions)} utterances, {audio_seconds:.0f} s of audio ({frames} frames), {source}")
        print(f"{'search':<34} {'seconds':>9} {'audio s / s':>14} {'WER':>7} {'CER':>7}")
        greedy_speed = run("greedy (Viterbi)", greedy, emissions, references, audio_seconds)
        beam_speed = run(f"lexicon beam {a.beam} + 4-gram (w 2, s -1)", search, emissions, references,
                         audio_seconds)
    print(f"greedy is {greedy_speed / beam_speed:.0f}x faster than the beam search")
    print(f"beam search real-time factor (audio seconds per decoding second, beam {a.beam}): {beam_speed:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
