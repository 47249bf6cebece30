"""Linear probe on frozen features: does pretraining put phonetic content in the frames?

Frame-level phone classification on a corpus with ``{split}.phn`` alignments (the demo
corpus has exact ones): the encoder is frozen, each layer's frames are standardised, and
a softmax regression per layer is trained on the train split and scored on the held-out
ones. The same probe on the same architecture with random weights is the reference: the
gap between the two columns is what pretraining taught.

    python -m ehmam.evaluation.probe checkpoints/demo/checkpoint_last.pt data/demo

Prints one table (frame accuracy per layer, pretrained against randomly initialised, with
the majority-class rate as chance); ``--json`` saves it. Bad input (a fine-tuned checkpoint,
an unwritable ``--json``, missing alignments) ends with ``error: ...`` and exit status 1.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import torch
from torch import nn

from ..checkpoints import StudentEncoder, load_student_encoder
from ..data.alignments import frame_labels, read_alignments
from ..data.audio import SAMPLE_RATE, read_audio
from ..data.manifest import read_manifest
from ..features import extract_features
from ..outputs import prepare_output_file

UNSEEN = -1  # a held-out frame whose phone never occurs in training: always counted wrong


@dataclass
class FrameSet:
    """``layers[l]``: N x D features of layer l (0 = the front end's frames, l = Transformer
    layer l); ``labels``: the N frames' phones."""

    layers: List[torch.Tensor]
    labels: List[str]


def load_split(data: Path, split: str, max_utterances: Optional[int] = None):
    """(waveforms, alignments) of ``data/{split}.tsv`` and ``data/{split}.phn``."""
    manifest = read_manifest(data / f"{split}.tsv")
    entries = manifest.entries[:max_utterances]
    alignments = read_alignments(data / f"{split}.phn", expected=len(manifest.entries))[:max_utterances]
    waveforms = [torch.from_numpy(read_audio(manifest.audio_path(e))) for e in entries]
    return waveforms, alignments


def frame_set(encoder: nn.Module, waveforms: Sequence[torch.Tensor], alignments) -> FrameSet:
    """Every layer's frames of every utterance (one at a time: no padding) and their phones."""
    frontend = encoder.frontend
    per_layer: List[List[torch.Tensor]] = []
    labels: List[str] = []
    for wav, segments in zip(waveforms, alignments):
        feats = extract_features(encoder, wav.float())
        layers = [feats.frames[0]] + [x[0] for x in feats.layers]
        per_layer = per_layer or [[] for _ in layers]
        for bucket, x in zip(per_layer, layers):
            bucket.append(x.float())
        labels += frame_labels(segments, layers[0].shape[0], frontend.stride, frontend.receptive_field, SAMPLE_RATE)
    return FrameSet([torch.cat(b) for b in per_layer], labels)


def fit_linear_probe(features: torch.Tensor, targets: torch.Tensor, num_classes: int, steps: int = 500,
                     lr: float = 0.01, weight_decay: float = 1e-4, seed: int = 0) -> nn.Module:
    """Softmax regression on standardised features (full batch, Adam): N x D, N -> classifier."""
    mean, std = features.mean(0), features.std(0) + 1e-5
    gen = torch.Generator().manual_seed(seed)
    linear = nn.Linear(features.shape[1], num_classes)
    with torch.no_grad():
        linear.weight.normal_(0, 0.01, generator=gen)
        linear.bias.zero_()
    probe = nn.Sequential(Standardize(mean, std), linear)
    optimizer = torch.optim.Adam(linear.parameters(), lr=lr)
    with torch.enable_grad():
        for _ in range(steps):
            optimizer.zero_grad()
            loss = nn.functional.cross_entropy(probe(features), targets) + weight_decay * linear.weight.pow(2).sum()
            loss.backward()
            optimizer.step()
    return probe.eval()


class Standardize(nn.Module):
    """(x - mean) / std with fixed statistics: N x D -> N x D."""

    def __init__(self, mean: torch.Tensor, std: torch.Tensor):
        super().__init__()
        self.register_buffer("mean", mean)
        self.register_buffer("std", std)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


@torch.no_grad()
def accuracy(probe: nn.Module, features: torch.Tensor, targets: torch.Tensor) -> float:
    return float((probe(features).argmax(dim=1) == targets).float().mean())


@dataclass
class ProbeResult:
    layers: List[str]
    accuracy: Dict[str, List[float]]  # model name -> accuracy per layer
    chance: float  # majority-class rate on the held-out frames
    train_frames: int
    eval_frames: int
    classes: int

    def best(self, model: str) -> float:
        return max(self.accuracy[model])

    def table(self) -> str:
        names = list(self.accuracy)
        lines = [f"frame phone accuracy: {self.classes} phones, {self.train_frames} train frames, "
                 f"{self.eval_frames} held-out frames; chance (majority class) {self.chance:.3f}",
                 f"{'layer':<14}" + "".join(f"{n:>16}" for n in names)]
        for i, layer in enumerate(self.layers):
            lines.append(f"{layer:<14}" + "".join(f"{self.accuracy[n][i]:>16.3f}" for n in names))
        lines.append(f"{'best layer':<14}" + "".join(f"{self.best(n):>16.3f}" for n in names))
        return "\n".join(lines)


def probe_encoders(encoders: Dict[str, nn.Module], train, held_out, steps: int = 500, seed: int = 0) -> ProbeResult:
    """Probe every layer of every encoder on the same frames; ``train`` / ``held_out`` are
    (waveforms, alignments)."""
    result: Optional[ProbeResult] = None
    for name, encoder in encoders.items():
        fit_set, test_set = frame_set(encoder, *train), frame_set(encoder, *held_out)
        classes = sorted(set(fit_set.labels))
        index = {c: i for i, c in enumerate(classes)}
        y_fit = torch.tensor([index[c] for c in fit_set.labels])
        y_test = torch.tensor([index.get(c, UNSEEN) for c in test_set.labels])
        scores = [accuracy(fit_linear_probe(x_fit, y_fit, len(classes), steps, seed=seed), x_test, y_test)
                  for x_fit, x_test in zip(fit_set.layers, test_set.layers)]
        if result is None:
            majority = max(set(fit_set.labels), key=fit_set.labels.count)
            result = ProbeResult(
                layers=["front end"] + [f"transformer {i}" for i in range(1, len(scores))],
                accuracy={}, chance=float((y_test == index[majority]).float().mean()),
                train_frames=len(y_fit), eval_frames=len(y_test), classes=len(classes))
        result.accuracy[name] = scores
    return result


def main(argv: Optional[Sequence[str]] = None) -> ProbeResult:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("checkpoint", type=Path, help="EH-MAM checkpoint (fairseq or plain loop)")
    p.add_argument("data", type=Path, help="folder with {split}.tsv and {split}.phn")
    p.add_argument("--train-split", default="train")
    p.add_argument("--eval-splits", default="valid,test", help="comma-separated held-out splits")
    p.add_argument("--max-utterances", type=int, default=None, help="per split (quick runs)")
    p.add_argument("--steps", type=int, default=500, help="full-batch Adam steps per probe")
    p.add_argument("--seed", type=int, default=0, help="random-init weights and probe init")
    p.add_argument("--no-random-baseline", action="store_true")
    p.add_argument("--json", type=Path, help="also write the results here")
    args = p.parse_args(argv)

    start = time.time()
    try:
        if args.json:
            prepare_output_file(args.json, "--json")
        encoder = load_student_encoder(args.checkpoint, what="the linear probe")
        train = load_split(args.data, args.train_split, args.max_utterances)
        held_out = ([], [])
        for split in args.eval_splits.split(","):
            waveforms, alignments = load_split(args.data, split, args.max_utterances)
            held_out[0].extend(waveforms)
            held_out[1].extend(alignments)
    except ValueError as err:  # CheckpointError, OutputError, the manifest, audio and alignment errors
        print(f"error: {err}", file=sys.stderr)
        raise SystemExit(1) from None
    encoders = {"pretrained": encoder}
    if not args.no_random_baseline:
        encoders["random init"] = StudentEncoder.with_random_weights(encoder.cfg, args.seed)
    result = probe_encoders(encoders, train, held_out, args.steps, args.seed)
    print(f"probe of {args.checkpoint} on {args.data} ({time.time() - start:.0f} s)")
    print(result.table())
    if args.json:
        args.json.write_text(json.dumps(asdict(result), indent=2) + "\n")
    return result


if __name__ == "__main__":
    main()
