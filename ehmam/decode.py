"""Transcribe a manifest with a CTC fine-tuned checkpoint and score it: greedy (Viterbi) decoding.

    python -m ehmam.decode checkpoints/ft/checkpoint_best.pt --data data/demo --split test --out outputs/decode

fairseq's own inference script (``examples/speech_recognition/new/infer.py``) is not part of
the installed package, so this is the decoding route. It reads ``{split}.tsv`` with ehmam's
checked readers, batches by length, and writes into ``--out``:

- ``{split}.greedy.wrd``: one hypothesis per manifest line, in manifest order (like ``.wrd``);
- ``{split}.greedy.report.tsv``: per utterance WER, CER, reference and hypothesis, worst first;
- ``{split}.greedy.json``: the corpus CER and WER and what was decoded.

References come from ``{split}.wrd`` (or ``{split}.ltr``); without either, only the
hypotheses are written. Loading the model needs fairseq and our ``user_dir``; the decoding
and scoring functions are plain PyTorch.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from argparse import Namespace
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterator, List, Optional, Sequence

import torch

from .data.audio import SAMPLE_RATE, read_audio
from .data.labels import letters_to_words
from .data.manifest import read_manifest
from .error_rates import ErrorCounts
from .models.frontends import normalize_waveform

logger = logging.getLogger(__name__)

REPO_USER_DIR = Path(__file__).resolve().parents[1] / "user_dir"


class DecodeError(ValueError):
    """A checkpoint or data set this command cannot decode; the message says how to fix it."""


# -- CTC decoding ---------------------------------------------------------------------------


def greedy_ctc(emissions: torch.Tensor, blank: int) -> List[int]:
    """Best token per frame, repeats merged, blanks dropped. emissions: T x V (one utterance)."""
    best = emissions.argmax(dim=-1).unique_consecutive()
    return best[best != blank].tolist()


# -- the fine-tuned model -------------------------------------------------------------------


@dataclass
class CtcModel:
    """A fairseq ``wav2vec_ctc`` model with what decoding needs from its task."""

    model: torch.nn.Module
    dictionary: "object"  # fairseq.data.Dictionary of the labels (dict.ltr.txt)
    blank: int
    normalize: bool  # the model expects zero-mean, unit-variance waveforms

    @torch.no_grad()
    def emissions(self, waveforms: Sequence[torch.Tensor]) -> List[torch.Tensor]:
        """Log-probabilities per utterance (T_i x V) for a list of 1-D waveforms."""
        device = next(self.model.parameters()).device
        longest = max(w.shape[0] for w in waveforms)
        source = torch.zeros(len(waveforms), longest)
        padding = torch.ones(len(waveforms), longest, dtype=torch.bool)
        for i, w in enumerate(waveforms):
            source[i, : w.shape[0]] = w
            padding[i, : w.shape[0]] = False
        if self.normalize:  # per utterance over its own samples, padding left 0, as fairseq's dataset
            source = normalize_waveform(source, padding)
        out = self.model(source=source.to(device), padding_mask=padding.to(device))
        lprobs = self.model.get_normalized_probs(out, log_probs=True).transpose(0, 1).float().cpu()
        frame_padding = out.get("padding_mask")
        if frame_padding is None:
            return list(lprobs)
        lengths = (~frame_padding).sum(dim=1).tolist()
        return [lp[:n] for lp, n in zip(lprobs, lengths)]

    def words(self, tokens: List[int]) -> str:
        """Token ids of the letter dictionary -> words (``|`` ends a word)."""
        return letters_to_words(self.dictionary.string(tokens))


def import_user_dir(user_dir: Optional[Path] = None) -> None:
    """Register ehmam's fairseq task and model (the checkpoint's encoder is an ``ehmam``)."""
    from fairseq import utils

    user_dir = Path(user_dir) if user_dir else REPO_USER_DIR
    if not (user_dir / "__init__.py").is_file():
        raise DecodeError(f"{user_dir}: not ehmam's fairseq user dir. Fix: pass --user-dir <repo>/user_dir")
    utils.import_user_module(Namespace(user_dir=str(user_dir)))


def load_ctc_model(checkpoint: Path | str, data: Optional[Path | str] = None, user_dir: Optional[Path] = None,
                   device: str = "cpu") -> CtcModel:
    """Load a checkpoint written by ``fairseq-hydra-train`` with the ``wav2vec_ctc`` model.

    ``data`` replaces the data directory stored in the checkpoint (it must hold the same
    ``dict.ltr.txt``)."""
    from fairseq import checkpoint_utils

    checkpoint = Path(checkpoint)
    if not checkpoint.is_file():
        raise DecodeError(f"{checkpoint}: checkpoint file does not exist")
    import_user_dir(user_dir)
    overrides = {"data": str(Path(data).resolve())} if data is not None else None
    models, cfg, task = checkpoint_utils.load_model_ensemble_and_task([str(checkpoint)], arg_overrides=overrides)
    model = models[0]
    if not hasattr(model, "w2v_encoder"):
        raise DecodeError(f"{checkpoint}: holds a {cfg.model._name!r} model, not a CTC fine-tuned one "
                          "(wav2vec_ctc). Fix: fine-tune it first (examples/ehmam/config/finetuning)")
    model.eval().to(device)
    dictionary = task.target_dictionary
    return CtcModel(model, dictionary, dictionary.index(getattr(task, "blank_symbol", "<s>")),
                    bool(cfg.task.normalize))


# -- a manifest, batched ----------------------------------------------------------------


@dataclass
class Utterance:
    index: int  # position in the manifest (0-based, without the root line)
    path: str
    samples: int
    reference: Optional[str]


def read_references(data: Path, split: str, count: int) -> Optional[List[str]]:
    """Reference words from ``{split}.wrd``, else ``{split}.ltr``; None if neither exists."""
    for ext, to_words in (("wrd", str.strip), ("ltr", letters_to_words)):
        path = data / f"{split}.{ext}"
        if path.is_file():
            lines = path.read_text().splitlines()
            if len(lines) != count:
                raise DecodeError(f"{path}: {len(lines)} lines for {count} utterances in {data / split}.tsv. "
                                  "Fix: regenerate the labels from the same manifest")
            return [to_words(line) for line in lines]
    return None


def batches(utterances: List[Utterance], max_samples: int) -> Iterator[List[Utterance]]:
    """Length-sorted batches whose padded size stays within ``max_samples`` (one long
    utterance alone may exceed it)."""
    batch: List[Utterance] = []
    for utt in sorted(utterances, key=lambda u: u.samples):
        if batch and utt.samples * (len(batch) + 1) > max_samples:
            yield batch
            batch = []
        batch.append(utt)
    if batch:
        yield batch


@dataclass
class Decoded:
    utterance: Utterance
    hypothesis: str
    errors: Optional[ErrorCounts]


def decode_manifest(ctc: CtcModel, data: Path, split: str, max_samples: int = 1_600_000,
                    progress: bool = True) -> List[Decoded]:
    """Greedy transcripts of every utterance of ``{data}/{split}.tsv``, in manifest order."""
    manifest = read_manifest(data / f"{split}.tsv")
    references = read_references(data, split, len(manifest.entries))
    utterances = [Utterance(i, str(manifest.audio_path(e)), e.num_samples, references[i] if references else None)
                  for i, e in enumerate(manifest.entries)]
    from tqdm import tqdm

    decoded: List[Decoded] = []
    with tqdm(total=len(utterances), desc=f"decoding {split}", unit="utt", disable=not progress, file=sys.stderr) as bar:
        for batch in batches(utterances, max_samples):
            waveforms = [torch.from_numpy(read_audio(u.path)) for u in batch]
            for utt, emission in zip(batch, ctc.emissions(waveforms)):
                hypothesis = ctc.words(greedy_ctc(emission, ctc.blank))
                errors = None if utt.reference is None else ErrorCounts.of(utt.reference, hypothesis)
                decoded.append(Decoded(utt, hypothesis, errors))
            bar.update(len(batch))
    return sorted(decoded, key=lambda d: d.utterance.index)


def write_results(decoded: List[Decoded], out: Path, split: str, method: str, summary: dict) -> None:
    out.mkdir(parents=True, exist_ok=True)
    stem = out / f"{split}.{method}"
    Path(f"{stem}.wrd").write_text("".join(d.hypothesis + "\n" for d in decoded))
    scored = [d for d in decoded if d.errors is not None]
    if scored:
        rows = sorted(scored, key=lambda d: (-d.errors.wer, d.utterance.index))
        lines = ["index\tpath\twer\tcer\treference\thypothesis"] + [
            f"{d.utterance.index}\t{d.utterance.path}\t{d.errors.wer:.1f}\t{d.errors.cer:.1f}\t"
            f"{d.utterance.reference}\t{d.hypothesis}" for d in rows]
        Path(f"{stem}.report.tsv").write_text("\n".join(lines) + "\n")
    Path(f"{stem}.json").write_text(json.dumps(summary, indent=2) + "\n")


def main(argv: Optional[List[str]] = None) -> int:
    p = argparse.ArgumentParser(prog="python -m ehmam.decode", description=__doc__.split("\n\n")[0])
    p.add_argument("checkpoint", type=Path, help="a wav2vec_ctc checkpoint from fairseq-hydra-train")
    p.add_argument("--data", type=Path, required=True, help="folder with {split}.tsv, .wrd/.ltr and dict.ltr.txt")
    p.add_argument("--split", default="test")
    p.add_argument("--out", type=Path, default=None, help="write hypotheses and reports here")
    p.add_argument("--max-samples", type=int, default=1_600_000, help="padded audio samples per batch")
    p.add_argument("--user-dir", type=Path, default=None, help="ehmam's fairseq user dir (default: this repo's)")
    p.add_argument("--device", default="cpu")
    a = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        ctc = load_ctc_model(a.checkpoint, a.data, a.user_dir, a.device)
        start = time.perf_counter()
        decoded = decode_manifest(ctc, a.data, a.split, a.max_samples)
        seconds = time.perf_counter() - start
    except ValueError as err:  # DecodeError, and the manifest and audio readers' errors
        print(f"error: {err}", file=sys.stderr)
        return 1
    audio_seconds = sum(d.utterance.samples for d in decoded) / SAMPLE_RATE
    summary = {"checkpoint": str(a.checkpoint), "data": str(a.data), "split": a.split, "method": "greedy",
               "utterances": len(decoded), "audio_seconds": round(audio_seconds, 1),
               "decode_seconds": round(seconds, 2)}
    scored = [d.errors for d in decoded if d.errors is not None]
    if scored:
        total = sum(scored, ErrorCounts())
        summary.update(cer=round(total.cer, 2), wer=round(total.wer, 2), errors=asdict(total))
        print(f"{a.split} greedy: CER {total.cer:.2f}%  WER {total.wer:.2f}%  "
              f"({len(decoded)} utterances, {audio_seconds:.0f} s of audio in {seconds:.1f} s)")
    else:
        print(f"{a.split} greedy: {len(decoded)} utterances transcribed (no .wrd/.ltr references to score)")
    if a.out is not None:
        write_results(decoded, a.out, a.split, "greedy", summary)
        print(f"wrote {a.out}/{a.split}.greedy.{{wrd,report.tsv,json}}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
