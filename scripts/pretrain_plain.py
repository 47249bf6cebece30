#!/usr/bin/env python
"""Pretrain EH-MAM with a plain PyTorch loop (no fairseq), for quick checks on a CPU.

    python scripts/pretrain_plain.py --data data/demo --steps 300

Reads ``train.tsv`` from a wav2vec-style manifest folder, crops every batch to its
shortest utterance (as fairseq's audio pretraining does), and logs the losses and the
loss predictor's pairwise ranking accuracy. The real recipe goes through
fairseq-hydra-train; this loop exists to test the model's maths end to end.
"""

import argparse
import logging
import math
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ehmam.checkpoints import plain_checkpoint  # noqa: E402
from ehmam.outputs import OutputError, prepare_output_file  # noqa: E402
from ehmam.data.audio import read_audio  # noqa: E402
from ehmam.data.manifest import read_manifest  # noqa: E402
from ehmam.losses import ranking_accuracy  # noqa: E402
from ehmam.masking.frames import MaskingConfig  # noqa: E402
from ehmam.models import EhmamModel, tiny_config  # noqa: E402
from ehmam.models.frontends.waveform import normalize_waveform  # noqa: E402

log = logging.getLogger("ehmam.pretrain_plain")


@dataclass
class StepLog:
    step: int
    loss: float
    reconstruction: float
    ranking: float
    ranking_accuracy: float
    selective_share: float
    ema_decay: float


def load_waveforms(data: Path, split: str) -> List[torch.Tensor]:
    manifest = read_manifest(data / f"{split}.tsv")
    return [torch.from_numpy(read_audio(manifest.audio_path(e))) for e in manifest.entries]


def sample_batch(waveforms, batch_size: int, max_samples: int, gen: torch.Generator) -> torch.Tensor:
    """Random utterances, each randomly cropped to the shortest one (and max_samples)."""
    picks = torch.randint(len(waveforms), (batch_size,), generator=gen).tolist()
    length = min(max_samples, *(len(waveforms[i]) for i in picks))
    rows = []
    for i in picks:
        start = int(torch.randint(len(waveforms[i]) - length + 1, (1,), generator=gen))
        rows.append(waveforms[i][start : start + length])
    return normalize_waveform(torch.stack(rows))


def learning_rate(step: int, steps: int, peak: float, warmup: int) -> float:
    """Linear warm-up, then cosine decay to zero (the paper's schedule, Table 5)."""
    if step < warmup:
        return peak * (step + 1) / warmup
    return peak * 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, steps - warmup)))


def save_checkpoint(path: Path, model: EhmamModel, steps: int, max_samples: Optional[int] = None) -> None:
    """Config as a plain dict beside the weights: ``ehmam.checkpoints`` reads it back. Written
    to a temporary file and renamed, so a kill mid-save never leaves a truncated checkpoint."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".tmp")
    torch.save(plain_checkpoint(model, steps, max_samples), partial)
    os.replace(partial, path)


def train(
    data: Path,
    steps: int = 300,
    batch_size: int = 4,
    max_samples: int = 32_000,
    lr: float = 1e-3,
    masking: str = "easy_to_hard",
    seed: int = 1,
    log_every: int = 25,
    save: Optional[Path] = None,
    device: str = "cpu",
) -> List[StepLog]:
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    cfg = tiny_config(masking=MaskingConfig(masking=masking))
    model = EhmamModel(cfg).to(device)
    optimizer = torch.optim.AdamW(model.student_parameters(), lr=lr, betas=(0.9, 0.98), weight_decay=0.01)
    waveforms = load_waveforms(data, "train")
    log.info("%d utterances, %d trainable parameters", len(waveforms), sum(p.numel() for p in model.student_parameters()))
    history = []
    model.train()
    for step in range(steps):
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(step, steps, lr, warmup=max(1, steps // 10))
        source = sample_batch(waveforms, batch_size, max_samples, gen)
        out = model(source.to(device), progress=step / steps, generator=gen)
        optimizer.zero_grad(set_to_none=True)
        out.loss.backward()
        optimizer.step()
        decay = model.update_teacher(step + 1)
        history.append(
            StepLog(
                step=step + 1,
                loss=out.loss.item(),
                reconstruction=out.losses["reconstruction"].item(),
                ranking=out.losses["ranking"].item(),
                ranking_accuracy=ranking_accuracy(out.predicted_losses, out.frame_losses, out.mask.mask),
                selective_share=out.selective_share,
                ema_decay=decay,
            )
        )
        if (step + 1) % log_every == 0 or step + 1 == steps:
            recent = history[-log_every:]
            log.info(
                "step %d/%d  loss %.4f  reconstruction %.4f  ranking %.4f  ranking acc %.3f  selective %.2f  ema %.5f",
                step + 1, steps,
                sum(h.loss for h in recent) / len(recent),
                sum(h.reconstruction for h in recent) / len(recent),
                sum(h.ranking for h in recent) / len(recent),
                sum(h.ranking_accuracy for h in recent) / len(recent),
                history[-1].selective_share, decay,
            )
    if save is not None:
        save_checkpoint(save, model, steps, max_samples)
        log.info("saved %s", save)
    return history


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True, help="folder with train.tsv (e.g. data/demo)")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--max-samples", type=int, default=32_000, help="crop length in samples")
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--masking", choices=["easy_to_hard", "random"], default="easy_to_hard")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--log-every", type=int, default=25)
    parser.add_argument("--save", type=Path, help="write the final model here")
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1, ...")
    args = parser.parse_args(argv)
    if args.save is not None:
        try:
            prepare_output_file(args.save, "--save")  # before the training it would hold
        except OutputError as err:
            parser.error(str(err))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    train(args.data, args.steps, args.batch_size, args.max_samples, args.lr, args.masking, args.seed,
          args.log_every, args.save, args.device)


if __name__ == "__main__":
    main()
