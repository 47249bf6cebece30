#!/usr/bin/env python
"""Draw easy-to-hard masking on one utterance as training progresses.

    python scripts/plot_masking.py --audio data/demo/wav/valid/valid-00000.wav --out masking.png
    python scripts/plot_masking.py --audio ... --checkpoint checkpoints/plain.pt   # a trained predictor

Top panel: the teacher's predicted loss per frame. Below, one row per training progress
t/T: selective frames (chosen from the predicted loss) and random frames. Without a
checkpoint the predictor is untrained, so only the mechanics are meaningful.
"""

import argparse
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ehmam.data.audio import read_audio  # noqa: E402
from ehmam.masking import easy_to_hard_mask  # noqa: E402
from ehmam.models import EhmamModel, tiny_config  # noqa: E402
from ehmam.models.frontends import normalize_waveform  # noqa: E402
from scripts.pretrain_plain import load_checkpoint  # noqa: E402

PROGRESS = (0.0, 0.25, 0.5, 0.75, 1.0)


def load_model(checkpoint):
    if checkpoint is None:
        torch.manual_seed(0)
        return EhmamModel(tiny_config()).eval()
    return load_checkpoint(checkpoint).eval()


@torch.no_grad()
def masks_over_training(model: EhmamModel, waveform: torch.Tensor, seed: int = 0):
    """The teacher's predicted loss (T,) and, per progress value, (selective, random) masks."""
    features, padding = model.frontend(normalize_waveform(waveform[None]))
    _, predicted = model.teacher_pass(features, padding)
    rows = []
    for progress in PROGRESS:
        mask = easy_to_hard_mask(predicted, padding, progress, model.cfg.masking, torch.Generator().manual_seed(seed))
        rows.append((mask.selective[0].numpy(), (mask.mask & ~mask.selective)[0].numpy()))
    return predicted[0].numpy(), rows


def plot(predicted: np.ndarray, rows, out: Path, title: str) -> None:
    frames = len(predicted)
    seconds = np.arange(frames) / 50.0  # 50 Hz frames
    fig, axes = plt.subplots(len(rows) + 1, 1, figsize=(10, 1.2 * (len(rows) + 2)), sharex=True,
                             gridspec_kw={"height_ratios": [2] + [1] * len(rows)})
    axes[0].plot(seconds, predicted, color="black", linewidth=1)
    axes[0].set_ylabel("predicted\nloss")
    axes[0].set_title(title)
    for ax, progress, (selective, random) in zip(axes[1:], PROGRESS, rows):
        image = np.zeros((1, frames, 3)) + 1.0
        image[0, selective] = (0.80, 0.20, 0.15)
        image[0, random] = (0.25, 0.45, 0.80)
        ax.imshow(image, aspect="auto", extent=(0, frames / 50.0, 0, 1), interpolation="nearest")
        ax.set_yticks([])
        ax.set_ylabel(f"t/T={progress:g}", rotation=0, ha="right", va="center")
    axes[-1].set_xlabel("time (s); red: selective (hardest predicted), blue: random blocks")
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120)
    plt.close(fig)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--audio", type=Path, required=True, help="a 16 kHz mono file")
    parser.add_argument("--checkpoint", type=Path, help="a model saved by scripts/pretrain_plain.py --save")
    parser.add_argument("--out", type=Path, default=Path("outputs/masking.png"))
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    model = load_model(args.checkpoint)
    waveform = torch.from_numpy(read_audio(args.audio))
    predicted, rows = masks_over_training(model, waveform, args.seed)
    source = args.checkpoint.name if args.checkpoint else "untrained predictor"
    plot(predicted, rows, args.out, f"easy-to-hard masking of {args.audio.name} ({source})")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
