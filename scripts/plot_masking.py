#!/usr/bin/env python
"""Draw easy-to-hard masking on one utterance as training progresses.

    python scripts/plot_masking.py --audio data/demo/wav/valid/valid-01600.wav --out masking.png
    python scripts/plot_masking.py --audio ... --checkpoint checkpoints/demo/checkpoint_last.pt

Top: the utterance's log-mel spectrogram with the masked frames at t/T = 0.5 drawn over it.
Then the teacher's predicted loss per frame, and one row per training progress t/T:
selective frames (chosen from the predicted loss, red) and random blocks (blue).
``--checkpoint`` takes a fairseq-hydra-train checkpoint or one from pretrain_plain.py;
without one the predictor is untrained, so only the mechanics are meaningful.
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

from ehmam.checkpoints import load_ehmam_model  # noqa: E402
from ehmam.data.audio import read_audio  # noqa: E402
from ehmam.masking.frames import easy_to_hard_mask  # noqa: E402
from ehmam.models import EhmamModel, tiny_config  # noqa: E402
from ehmam.models.frontends.log_mel import LogMelConfig, LogMelFrontend  # noqa: E402
from ehmam.models.frontends.waveform import normalize_waveform  # noqa: E402
from scripts.figures import save_figure  # noqa: E402

PROGRESS = (0.0, 0.25, 0.5, 0.75, 1.0)


def load_model(checkpoint):
    if checkpoint is None:
        torch.manual_seed(0)
        return EhmamModel(tiny_config()).eval()
    return load_ehmam_model(checkpoint)


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


SELECTIVE_COLOUR = (0.80, 0.20, 0.15)
RANDOM_COLOUR = (0.25, 0.45, 0.80)


def log_mel(waveform: torch.Tensor, nepers: float = 8.0) -> np.ndarray:
    """ehmam's 80-band log-mel (M2D's: 25 ms windows every 10 ms), mels x time, clamped to
    ``nepers`` below its peak (8 nepers, ~70 dB: silence stays grey, not black)."""
    spec = LogMelFrontend(LogMelConfig()).log_mel(waveform[None])[0, 0]
    return spec.clamp(min=spec.max() - nepers).numpy()


def mark_frames(ax, frames: np.ndarray, colour, hz: float = 50.0) -> None:
    """Mark runs of True frames on a time axis in seconds: a solid bar along the top and a
    light wash over the whole height, so the spectrogram stays readable underneath."""
    edges = np.diff(np.concatenate([[0], frames.astype(np.int8), [0]]))
    for start, stop in zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)):
        ax.axvspan(start / hz, stop / hz, ymin=0.93, color=colour, alpha=1.0, linewidth=0)
        ax.axvspan(start / hz, stop / hz, ymax=0.93, color="white", alpha=0.25, linewidth=0)


def plot(predicted: np.ndarray, rows, out: Path, title: str, spectrogram: np.ndarray = None) -> None:
    frames = len(predicted)
    seconds = np.arange(frames) / 50.0  # 50 Hz frames
    top = [] if spectrogram is None else [3]
    fig, axes = plt.subplots(len(rows) + 1 + len(top), 1, figsize=(10, 1.2 * (len(rows) + 2) + 2 * len(top)),
                             sharex=True, gridspec_kw={"height_ratios": top + [2] + [1] * len(rows)})
    if spectrogram is not None:
        ax, axes = axes[0], axes[1:]
        ax.imshow(spectrogram, origin="lower", aspect="auto", cmap="magma",
                  extent=(0, spectrogram.shape[1] / 100.0, 0, spectrogram.shape[0]))
        overlay = PROGRESS.index(0.5)
        selective, random = rows[overlay]
        mark_frames(ax, selective, SELECTIVE_COLOUR)
        mark_frames(ax, random, RANDOM_COLOUR)
        ax.set_ylabel("log-mel band")
        ax.set_title(f"{title}\nmasked at t/T={PROGRESS[overlay]:g} (lightened): red = teacher's choice, blue = random")
    else:
        axes[0].set_title(title)
    axes[0].plot(seconds, predicted, color="black", linewidth=1)
    axes[0].set_ylabel("predicted\nloss")
    for ax, progress, (selective, random) in zip(axes[1:], PROGRESS, rows):
        image = np.zeros((1, frames, 3)) + 1.0
        image[0, selective] = SELECTIVE_COLOUR
        image[0, random] = RANDOM_COLOUR
        ax.imshow(image, aspect="auto", extent=(0, frames / 50.0, 0, 1), interpolation="nearest")
        ax.set_yticks([])
        ax.set_ylabel(f"t/T={progress:g}", rotation=0, ha="right", va="center")
    axes[-1].set_xlabel("time (s); red: selective (hardest predicted), blue: random blocks")
    save_figure(fig, out, dpi=120)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--audio", type=Path, required=True, help="a 16 kHz mono file")
    parser.add_argument("--checkpoint", type=Path,
                        help="checkpoint_*.pt from fairseq-hydra-train, or pretrain_plain.py --save")
    parser.add_argument("--out", type=Path, default=Path("outputs/masking.png"))
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    model = load_model(args.checkpoint)
    waveform = torch.from_numpy(read_audio(args.audio))
    predicted, rows = masks_over_training(model, waveform, args.seed)
    source = args.checkpoint.name if args.checkpoint else "untrained predictor"
    plot(predicted, rows, args.out, f"easy-to-hard masking of {args.audio.name} ({source})", log_mel(waveform))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
