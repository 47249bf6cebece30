"""Transcribe a manifest with a CTC fine-tuned checkpoint and score it: greedy (Viterbi)
decoding and lexicon beam search with a KenLM n-gram.

    python -m ehmam.asr.decode checkpoints/ft/checkpoint_best.pt --data data/demo --split test --out outputs/decode
    python -m ehmam.asr.decode CKPT --data data/demo --split test --out outputs/decode \\
        --lexicon lm/lexicon.txt --lm lm/4-gram.bin [--beam 50 --lm-weight 2 --word-score -1]
    python -m ehmam.asr.decode CKPT ... --lexicon L --lm LM --tune-split valid   # search the weights on valid first

fairseq's own inference script (``examples/speech_recognition/new/infer.py``) is not part of
the installed package, so this is the decoding route. It runs the acoustic model once per
split, then every search over the same emissions, and writes into ``--out`` per method
(``greedy``; ``kenlm``, or ``lexicon`` without an LM):

- ``{split}.{method}.wrd``: one hypothesis per manifest line, in manifest order (like ``.wrd``);
- ``{split}.{method}.report.tsv``: per utterance WER, CER, reference and hypothesis, worst first;
- ``{split}.{method}.json``: the corpus CER and WER, the search settings;
- ``{tune_split}.kenlm_search.tsv``: WER and CER at every point of the weight grid.

References come from ``{split}.wrd`` (or ``{split}.ltr``); without either, only the
hypotheses are written. A label file with no words at all is an error; empty lines among
others are scored (their words count as insertions) and listed in a warning.

Everything that can be checked before the acoustic pass is: ``--out`` is created and proven
writable, the manifests and references are read, and every utterance must be at least the
model's receptive field long. Audio with NaN or inf samples stops the pass, naming the file.

Loading the model needs fairseq and our ``user_dir``; the searches and scoring are plain
PyTorch (``ehmam.asr.beam_search``).
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
from typing import Callable, Iterator, List, Optional, Sequence

import numpy as np
import torch

from .beam_search import BeamSearchConfig, LexiconBeamSearch, WeightTrial, search_weights
from ..data.audio import SAMPLE_RATE, read_audio
from ..data.labels import letters_to_words
from ..data.manifest import read_manifest
from ..messages import listed as listed_lines
from .error_rates import ErrorCounts
from ..models.frontends.waveform import normalize_waveform, receptive_field
from ..outputs import prepare_output_dir

logger = logging.getLogger(__name__)

MAX_LISTED = 5  # utterances named in a warning or an error; the rest are counted

REPO_USER_DIR = Path(__file__).resolve().parents[2] / "user_dir"


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
    dictionary: "object"  # fairseq.data.Dictionary of the labels, as stored in the checkpoint
    blank: int
    normalize: bool  # the model expects zero-mean, unit-variance waveforms
    dictionary_source: str = "the letter dictionary"  # where it came from, for errors
    pretrained_from: Optional[str] = None  # the pretraining checkpoint it was fine-tuned from (w2v_path)

    @property
    def receptive_field(self) -> Optional[int]:
        """The fewest samples that give the encoder one frame (400 for wav2vec 2.0's
        convolutions); None for an encoder whose front end this code does not know."""
        w2v_model = getattr(getattr(self.model, "w2v_encoder", None), "w2v_model", None)
        frontend = getattr(getattr(w2v_model, "ehmam", None), "frontend", None)
        if frontend is not None:  # ehmam's fairseq wrapper (user_dir/models/ehmam.py)
            return int(frontend.receptive_field)
        extractor = getattr(w2v_model, "feature_extractor", None)
        convs = ([m for m in extractor.modules() if isinstance(m, torch.nn.Conv1d)]
                 if isinstance(extractor, torch.nn.Module) else [])
        if convs:  # fairseq's own wav2vec 2.0 feature extractor
            return receptive_field([c.kernel_size[0] for c in convs], [c.stride[0] for c in convs])
        return None

    @property
    def tokens(self) -> List[str]:
        """The dictionary's symbols in index order: emission column i is tokens[i]."""
        return list(self.dictionary.symbols)

    @torch.no_grad()
    def emissions(self, waveforms: Sequence[torch.Tensor],
                  frame_masks: Optional[Sequence[torch.Tensor]] = None) -> List[torch.Tensor]:
        """Log-probabilities per utterance (T_i x V) for a list of 1-D waveforms.

        ``frame_masks`` (one boolean vector per utterance, True = hide) replaces those encoder
        input frames with the model's mask embedding, as pretraining and SpecAugment do."""
        device = next(self.model.parameters()).device
        longest = max(w.shape[0] for w in waveforms)
        source = torch.zeros(len(waveforms), longest)
        padding = torch.ones(len(waveforms), longest, dtype=torch.bool)
        for i, w in enumerate(waveforms):
            source[i, : w.shape[0]] = w
            padding[i, : w.shape[0]] = False
        if self.normalize:  # per utterance over its own samples, padding left 0, as fairseq's dataset
            source = normalize_waveform(source, padding)
        source, padding = source.to(device), padding.to(device)
        if frame_masks is None:  # fairseq's own forward
            out = self.model(source=source, padding_mask=padding)
        else:
            out = self._masked_forward(source, padding, frame_masks)
        lprobs = self.model.get_normalized_probs(out, log_probs=True).transpose(0, 1).float().cpu()
        frame_padding = out.get("padding_mask")
        if frame_padding is None:
            return list(lprobs)
        lengths = (~frame_padding).sum(dim=1).tolist()
        return [lp[:n] for lp, n in zip(lprobs, lengths)]

    def _masked_forward(self, source, padding, frame_masks) -> dict:
        """``Wav2VecEncoder.forward`` in evaluation mode, with frames hidden by ehmam's encoder."""
        encoder = self.model.w2v_encoder
        res = encoder.w2v_model.extract_features(source, padding, frame_masks=list(frame_masks))
        x = res["x"].transpose(0, 1)  # T x B x C, what the CTC head and fairseq expect
        return {"encoder_out": encoder.proj(x), "padding_mask": res["padding_mask"]}

    def words(self, tokens: List[int]) -> str:
        """Token ids of the letter dictionary -> words (``|`` ends a word)."""
        return letters_to_words(self.dictionary.string(tokens))

    def greedy(self, emission: torch.Tensor) -> str:
        """Viterbi (best path) decoding of one utterance's emissions."""
        return self.words(greedy_ctc(emission, self.blank))


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

    ``data`` replaces the data directory stored in the checkpoint; the label dictionary
    still comes from the checkpoint (fairseq restores it from the task state)."""
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
    # audio_finetuning keeps its label dictionary in the checkpoint's task state, so the
    # emissions always match it (whatever dict.ltr.txt --data holds)
    dictionary = task.target_dictionary
    return CtcModel(model, dictionary, dictionary.index(getattr(task, "blank_symbol", "<s>")),
                    bool(cfg.task.normalize), f"the letter dictionary stored in {checkpoint}",
                    cfg.model.get("w2v_path"))


# -- a manifest, batched ----------------------------------------------------------------


@dataclass
class Utterance:
    index: int  # position in the manifest (0-based, without the root line)
    path: str
    samples: int
    reference: Optional[str]
    manifest: Optional[Path] = None  # the manifest listing it, for errors
    line: Optional[int] = None  # its line in the manifest (1-based; line 1 is the root)

    @property
    def where(self) -> str:
        """``manifest:line: audio path``, how errors and warnings name the utterance."""
        line = self.line if self.line is not None else self.index + 2
        return f"{self.manifest or 'manifest'}:{line}: {self.path}"


def listed(utterances: Sequence[Utterance], describe: Callable[[Utterance], str] = lambda u: u.where) -> str:
    """The first :data:`MAX_LISTED` utterances, one per line, and how many more there are."""
    return listed_lines([describe(u) for u in utterances], MAX_LISTED)


def reference_file(data: Path, split: str) -> Optional[Path]:
    """``{split}.wrd``, else ``{split}.ltr``; None if neither exists."""
    for ext in ("wrd", "ltr"):
        path = data / f"{split}.{ext}"
        if path.is_file():
            return path
    return None


def read_references(path: Path, manifest: Path, count: int) -> List[str]:
    """Reference words from a ``.wrd`` or ``.ltr`` file (:func:`reference_file`) with one line
    for each of the ``count`` utterances of ``manifest``."""
    to_words = str.strip if path.suffix == ".wrd" else letters_to_words
    lines = path.read_text().splitlines()
    if len(lines) != count:
        raise DecodeError(f"{path}: {len(lines)} lines for {count} utterances in {manifest}. "
                          "Fix: regenerate the labels from the same manifest")
    return [to_words(line) for line in lines]


def check_references(utterances: Sequence[Utterance], label_file: Path) -> None:
    """No reference words at all: :class:`DecodeError` (there is nothing to score against).
    Some empty references: a warning naming them; they are scored, every hypothesis word an
    insertion (their own WER is infinite, or 0 with an empty hypothesis)."""
    empty = [u for u in utterances if u.reference is not None and not u.reference.split()]
    if not empty:
        return
    blank = "empty" if label_file.suffix == ".wrd" else "empty or only word boundaries '|'"
    if len(empty) == len(utterances):
        raise DecodeError(
            f"{label_file}: no reference words: all {len(utterances)} lines are {blank}, so no error rate "
            f"can be computed. Fix: write each utterance's transcript on its line (the labels of "
            f"{utterances[0].manifest or 'the manifest'}), or move {label_file} away to transcribe without scoring")
    logger.warning("%s: %d of %d references are %s; scored all the same (every hypothesis word is an "
                   "insertion):%s", label_file, len(empty), len(utterances), blank, listed(empty))


def check_lengths(utterances: Sequence[Utterance], min_samples: Optional[int]) -> None:
    """Every utterance must give the encoder a frame: at least ``min_samples`` (the receptive
    field). :class:`DecodeError` listing the manifest lines that do not."""
    if not min_samples:
        return
    short = [u for u in utterances if u.samples < min_samples]
    if short:
        raise DecodeError(
            f"{len(short)} utterance(s) shorter than the model's receptive field of {min_samples} samples "
            f"({1000 * min_samples / SAMPLE_RATE:.0f} ms at {SAMPLE_RATE} Hz), too short for one frame:"
            f"{listed(short, lambda u: f'{u.where}: {u.samples} samples')}\n"
            f"Fix: remove them from the manifest or pad them to at least {min_samples} samples")


def read_waveform(utterance: Utterance) -> torch.Tensor:
    """The utterance's samples; :class:`DecodeError` naming ``manifest:line`` and the file if
    any is NaN or infinite (the model would turn the whole utterance into nothing)."""
    samples = read_audio(utterance.path)
    bad = int(np.count_nonzero(~np.isfinite(samples)))
    if bad:
        raise DecodeError(
            f"{utterance.where}: contains {bad} non-finite samples (NaN or inf) of {samples.shape[0]}; the "
            "model's output for it would be meaningless. Fix: repair or re-export the audio (e.g. replace "
            "them and write 16-bit PCM) or remove the line from the manifest")
    return torch.from_numpy(samples)


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


@dataclass
class Emitted:
    utterance: Utterance
    emission: torch.Tensor  # T x V log-probabilities


FrameMasks = Callable[[List[Utterance], List[torch.Tensor]], List[torch.Tensor]]


def read_utterances(data: Path, split: str) -> List[Utterance]:
    """The manifest's utterances with their references (checked: :func:`check_references`)."""
    manifest = read_manifest(data / f"{split}.tsv")
    label_file = reference_file(data, split)
    references = None if label_file is None else read_references(label_file, manifest.path, len(manifest.entries))
    utterances = [Utterance(i, str(manifest.audio_path(e)), e.num_samples, references[i] if references else None,
                            manifest.path, e.line) for i, e in enumerate(manifest.entries)]
    if label_file is not None:
        check_references(utterances, label_file)
    return utterances


def emit_manifest(ctc: CtcModel, data: Path, split: str, max_samples: int = 1_600_000, progress: bool = True,
                  frame_masks: Optional[FrameMasks] = None,
                  utterances: Optional[List[Utterance]] = None) -> List[Emitted]:
    """The model's emissions for every utterance of ``{data}/{split}.tsv`` (or of the given
    ``utterances``, read from it), in manifest order: computed once, then decoded by any
    number of searches. ``frame_masks(batch, waveforms)`` may return per utterance a boolean
    mask of encoder input frames to hide."""
    from tqdm import tqdm

    if utterances is None:
        utterances = read_utterances(data, split)
    check_lengths(utterances, ctc.receptive_field)
    emitted: List[Emitted] = []
    with tqdm(total=len(utterances), desc=f"acoustic model, {split}", unit="utt", disable=not progress,
              file=sys.stderr) as bar:
        for batch in batches(utterances, max_samples):
            waveforms = [read_waveform(u) for u in batch]
            masks = None if frame_masks is None else frame_masks(batch, waveforms)
            emitted += [Emitted(u, e) for u, e in zip(batch, ctc.emissions(waveforms, masks))]
            bar.update(len(batch))
    return sorted(emitted, key=lambda e: e.utterance.index)


def transcribe(emitted: Sequence[Emitted], search: Callable[[torch.Tensor], str], desc: str = "decoding",
               progress: bool = True) -> List[Decoded]:
    """Apply ``search`` (emission -> words) to every utterance and score it against its reference."""
    from tqdm import tqdm

    decoded = []
    for item in tqdm(emitted, desc=desc, unit="utt", disable=not progress, file=sys.stderr):
        hypothesis = search(item.emission)
        ref = item.utterance.reference
        decoded.append(Decoded(item.utterance, hypothesis, None if ref is None else ErrorCounts.of(ref, hypothesis)))
    return decoded


def corpus_summary(decoded: Sequence[Decoded]) -> Optional[ErrorCounts]:
    scored = [d.errors for d in decoded if d.errors is not None]
    return sum(scored, ErrorCounts()) if scored else None


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


# -- command line ---------------------------------------------------------------------------------


def positive_int(text: str) -> int:
    """argparse type: an integer of at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a whole number of at least 1") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: must be at least 1")
    return value


def parse_grid(text: str) -> List[float]:
    try:
        return [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected comma-separated numbers, e.g. 0,0.5,1,2") from None


def add_beam_search_arguments(parser: argparse.ArgumentParser):
    """``--lexicon``, ``--lm`` and the search settings, for every command that decodes."""
    group = parser.add_argument_group("lexicon beam search with an n-gram LM (besides greedy)")
    group.add_argument("--lexicon", type=Path, help="WORD<TAB>W O R D | lines (python -m ehmam.asr.language_model)")
    group.add_argument("--lm", type=Path, help="KenLM binary or ARPA; without it the lexicon alone constrains")
    defaults = BeamSearchConfig()
    group.add_argument("--beam", type=positive_int, default=defaults.beam, help="hypotheses kept per frame (>= 1)")
    group.add_argument("--beam-size-token", type=positive_int, default=defaults.beam_size_token,
                       help="tokens considered per frame (>= 1; default: all)")
    group.add_argument("--beam-threshold", type=float, default=defaults.beam_threshold)
    group.add_argument("--lm-weight", type=float, default=defaults.lm_weight)
    group.add_argument("--word-score", type=float, default=defaults.word_score,
                       help="with a minus sign write --word-score=-1")
    return group


def check_beam_search_arguments(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    if args.lm is not None and args.lexicon is None:
        parser.error("--lm needs --lexicon (python -m ehmam.asr.language_model build writes one beside the LM)")


def beam_search_from_arguments(args: argparse.Namespace, ctc: CtcModel) -> Optional[LexiconBeamSearch]:
    """The search the arguments ask for over ``ctc``'s dictionary; None without ``--lexicon``."""
    if args.lexicon is None:
        return None
    cfg = BeamSearchConfig(beam=args.beam, beam_size_token=args.beam_size_token, beam_threshold=args.beam_threshold,
                           lm_weight=args.lm_weight, word_score=args.word_score)
    return LexiconBeamSearch(ctc.tokens, args.lexicon, args.lm, cfg, tokens_source=ctc.dictionary_source)


def report(split: str, method: str, decoded: List[Decoded], seconds: float, summary: dict) -> Optional[ErrorCounts]:
    """Print and record one method's corpus error rates."""
    total = corpus_summary(decoded)
    audio_seconds = sum(d.utterance.samples for d in decoded) / SAMPLE_RATE
    summary.update(method=method, utterances=len(decoded), audio_seconds=round(audio_seconds, 1),
                   decode_seconds=round(seconds, 2))
    if total is None:
        print(f"{split} {method}: {len(decoded)} utterances transcribed (no .wrd/.ltr references to score)")
        return None
    summary.update(cer=round(total.cer, 2), wer=round(total.wer, 2), errors=asdict(total))
    print(f"{split} {method}: CER {total.cer:.2f}%  WER {total.wer:.2f}%  "
          f"({len(decoded)} utterances, {audio_seconds:.0f} s of audio searched in {seconds:.1f} s)")
    return total


def main(argv: Optional[List[str]] = None) -> int:
    p = argparse.ArgumentParser(prog="python -m ehmam.asr.decode", description=__doc__.split("\n\n")[0])
    p.add_argument("checkpoint", type=Path, help="a wav2vec_ctc checkpoint from fairseq-hydra-train")
    p.add_argument("--data", type=Path, required=True, help="folder with {split}.tsv, .wrd/.ltr and dict.ltr.txt")
    p.add_argument("--split", default="test")
    p.add_argument("--out", type=Path, default=None, help="write hypotheses and reports here")
    p.add_argument("--max-samples", type=positive_int, default=1_600_000, help="padded audio samples per batch")
    p.add_argument("--user-dir", type=Path, default=None, help="ehmam's fairseq user dir (default: this repo's)")
    p.add_argument("--device", default="cpu")
    lm = add_beam_search_arguments(p)
    lm.add_argument("--tune-split", help="search LM weight x word score on this split (e.g. valid), "
                                         "then decode --split with the best pair")
    lm.add_argument("--lm-weights", type=parse_grid, default=[0.0, 0.5, 1.0, 1.5, 2.0, 3.0],
                    help="the grid's LM weights, comma-separated")
    lm.add_argument("--word-scores", type=parse_grid, default=[-2.0, -1.0, 0.0, 1.0],
                    help="the grid's word scores; with a leading minus write --word-scores=-2,-1,0")
    a = p.parse_args(argv)
    check_beam_search_arguments(p, a)
    if a.tune_split and a.lexicon is None:
        p.error("--tune-split needs --lexicon and --lm")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    method = "kenlm" if a.lm else "lexicon"
    try:
        # everything checkable is checked before minutes of acoustic model and search
        if a.out is not None:
            prepare_output_dir(a.out, "--out")
        test_utterances = read_utterances(a.data, a.split)
        dev_utterances = read_utterances(a.data, a.tune_split) if a.tune_split else []
        if any(u.reference is None for u in dev_utterances):
            raise DecodeError(f"{a.data / a.tune_split}: no .wrd/.ltr references to tune against. "
                              "Fix: pass a --tune-split with transcripts (e.g. valid)")
        ctc = load_ctc_model(a.checkpoint, a.data, a.user_dir, a.device)
        check_lengths(dev_utterances + test_utterances, ctc.receptive_field)
        search = beam_search_from_arguments(a, ctc)
        if a.tune_split:
            dev = emit_manifest(ctc, a.data, a.tune_split, a.max_samples, utterances=dev_utterances)
            print(f"searching LM weight in {a.lm_weights} x word score in {a.word_scores} on {a.tune_split} "
                  f"({len(dev)} utterances, beam {a.beam})")

            def show(t: WeightTrial) -> None:
                print(f"  lm_weight {t.lm_weight:5.2f}  word_score {t.word_score:5.2f}  "
                      f"WER {t.errors.wer:6.2f}%  CER {t.errors.cer:6.2f}%", flush=True)

            best, trials = search_weights(search, [e.emission for e in dev], [e.utterance.reference for e in dev],
                                          a.lm_weights, a.word_scores, show)
            print(f"chosen on {a.tune_split}: lm_weight {best.lm_weight} word_score {best.word_score} "
                  f"(WER {best.errors.wer:.2f}%)")
            search = search.with_weights(best.lm_weight, best.word_score)
            if a.out is not None:
                a.out.mkdir(parents=True, exist_ok=True)
                rows = ["lm_weight\tword_score\twer\tcer"] + [
                    f"{t.lm_weight}\t{t.word_score}\t{t.errors.wer:.2f}\t{t.errors.cer:.2f}" for t in trials]
                (a.out / f"{a.tune_split}.{method}_search.tsv").write_text("\n".join(rows) + "\n")
        emitted = emit_manifest(ctc, a.data, a.split, a.max_samples, utterances=test_utterances)
        runs = [("greedy", ctc.greedy)] + ([(method, search)] if search is not None else [])
        for name, decode in runs:
            start = time.perf_counter()
            decoded = transcribe(emitted, decode, name)
            seconds = time.perf_counter() - start
            summary = {"checkpoint": str(a.checkpoint), "data": str(a.data), "split": a.split}
            if name != "greedy":
                summary.update(lexicon=str(a.lexicon), lm=str(a.lm) if a.lm else None, **asdict(search.cfg))
            report(a.split, name, decoded, seconds, summary)
            if a.out is not None:
                write_results(decoded, a.out, a.split, name, summary)
                print(f"wrote {a.out}/{a.split}.{name}.{{wrd,report.tsv,json}}")
    except ValueError as err:  # DecodeError, LanguageModelError, the manifest and audio readers' errors
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
