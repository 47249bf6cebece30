#!/usr/bin/env python
"""Hard-region diagnostic: what the teacher would mask, against the speech, and whether
its predicted losses rank frames as the student's real losses do.

    python scripts/plot_hard_regions.py --checkpoint checkpoints/demo/checkpoint_last.pt \\
        --manifest data/demo/valid.tsv --out outputs/demo/hard_regions.png [--utterances 3]

Per utterance: the log-mel spectrogram with the frames the teacher's selective masking
takes at t/T = --progress (red bars; phones from ``{split}.phn`` written above when the
manifest has one), then the teacher's predicted loss and the student's real loss as
ranks within the utterance (ehmam.evaluation.diagnostics explains how the real loss is measured).
Last panel: predicted rank against real rank over every frame, with Spearman's rho.
Bad input (a fine-tuned checkpoint, an unwritable ``--out``) ends with ``error: ...``, exit 1.
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
from ehmam.data.alignments import PAUSE_PREFIX, read_alignments  # noqa: E402
from ehmam.data.audio import read_audio  # noqa: E402
from ehmam.data.manifest import read_manifest  # noqa: E402
from ehmam.evaluation.diagnostics import hard_regions, rank_correlation  # noqa: E402
from ehmam.outputs import prepare_output_file  # noqa: E402
from scripts.figures import save_figure  # noqa: E402
from scripts.plot_masking import SELECTIVE_COLOUR, log_mel, mark_frames  # noqa: E402

FRAME_HZ = 50.0


def ranks(values: np.ndarray) -> np.ndarray:
    """Rank of each value within the utterance, scaled to [0, 1] (NaN stays NaN)."""
    out = np.full(values.shape, np.nan)
    known = ~np.isnan(values)
    order = np.argsort(np.argsort(values[known]))
    out[known] = order / max(known.sum() - 1, 1)
    return out


def draw_phones(ax, segments, top: float) -> None:
    for s in segments:
        if not s.phone.startswith(PAUSE_PREFIX):
            ax.text((s.start + s.end) / 2, top, s.phone, ha="center", va="bottom", fontsize=6, clip_on=False)
            ax.axvline(s.start, color="white", linewidth=0.3, alpha=0.5)


def diagnose(checkpoint: Path, manifest_path: Path, utterances: int, progress: float, repeats: int, seed: int):
    model = load_ehmam_model(checkpoint, what="scripts/plot_hard_regions.py --checkpoint")
    manifest = read_manifest(manifest_path)
    phn = manifest_path.with_suffix(".phn")
    alignments = read_alignments(phn, expected=len(manifest.entries)) if phn.is_file() else None
    results = []
    for i, entry in enumerate(manifest.entries[:utterances]):
        waveform = torch.from_numpy(read_audio(manifest.audio_path(entry)))
        regions = hard_regions(model, waveform, progress, repeats, torch.Generator().manual_seed(seed + i))
        results.append((entry.path, waveform, regions, alignments[i] if alignments else None))
    return results


def plot(results, out: Path, title: str, progress: float) -> float:
    n = len(results)
    fig = plt.figure(figsize=(12, 3.6 * n + 3.5))
    grid = fig.add_gridspec(2 * n + 1, 1, height_ratios=[2.2, 1.2] * n + [3.0], hspace=0.7)
    all_predicted, all_real = [], []
    for i, (name, waveform, regions, segments) in enumerate(results):
        spectrogram = log_mel(waveform)
        seconds = spectrogram.shape[1] / 100.0
        ax = fig.add_subplot(grid[2 * i])
        ax.imshow(spectrogram, origin="lower", aspect="auto", cmap="magma", extent=(0, seconds, 0, spectrogram.shape[0]))
        mark_frames(ax, regions.chosen.numpy(), SELECTIVE_COLOUR, FRAME_HZ)
        if segments:
            draw_phones(ax, segments, top=spectrogram.shape[0] * 1.01)
        ax.set_xlim(0, seconds)
        ax.set_ylabel("log-mel band")
        ax.set_title(f"{name}: red = frames the teacher masks at t/T={progress:g}", fontsize=9, pad=14 if segments else 4)
        predicted, real = regions.predicted.numpy(), regions.real.numpy()
        time = np.arange(len(predicted)) / FRAME_HZ
        ax = fig.add_subplot(grid[2 * i + 1])
        ax.plot(time, ranks(predicted), color=SELECTIVE_COLOUR, linewidth=1, label="teacher's predicted loss")
        ax.plot(time, ranks(real), color="black", linewidth=1, alpha=0.7, label="student's real loss")
        rho = rank_correlation(regions.predicted, regions.real)
        ax.set_xlim(0, seconds)
        ax.set_ylabel("rank in\nutterance")
        ax.set_xlabel("time (s)", fontsize=8)
        ax.legend(loc="upper right", fontsize=7, ncol=2, title=f"Spearman rho {rho:.2f}", title_fontsize=7)
        known = ~np.isnan(real)
        all_predicted.append(ranks(predicted)[known])
        all_real.append(ranks(real)[known])
    predicted, real = np.concatenate(all_predicted), np.concatenate(all_real)
    rho = float(np.corrcoef(predicted, real)[0, 1])  # Pearson of ranks = Spearman within each utterance
    ax = fig.add_subplot(grid[-1])
    ax.scatter(predicted, real, s=4, alpha=0.4, color="black")
    ax.plot([0, 1], [0, 1], color=SELECTIVE_COLOUR, linewidth=1, linestyle="--")
    ax.set_xlabel("teacher's predicted-loss rank (per utterance)")
    ax.set_ylabel("student's real-loss rank")
    ax.set_title(f"all {len(predicted)} frames: rank correlation {rho:.2f} (0 = no better than chance)", fontsize=9)
    ax.set_xlim(-0.02, 1.02)
    fig.suptitle(title, y=0.995)
    save_figure(fig, out, dpi=110, tight_layout=False)
    return rho


def main(argv=None) -> float:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", type=Path, required=True, help="EH-MAM checkpoint (fairseq or plain loop)")
    parser.add_argument("--manifest", type=Path, required=True, help="a .tsv manifest; {split}.phn beside it is used")
    parser.add_argument("--out", type=Path, default=Path("outputs/hard_regions.png"))
    parser.add_argument("--utterances", type=int, default=3, help="the manifest's first N (default 3)")
    parser.add_argument("--progress", type=float, default=1.0, help="t/T whose selective frames to show")
    parser.add_argument("--repeats", type=int, default=16, help="random masks measuring the real loss")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if not 0.0 <= args.progress <= 1.0:
        parser.error("--progress must be in [0, 1]")
    try:
        prepare_output_file(args.out, "--out")
        results = diagnose(args.checkpoint, args.manifest, args.utterances, args.progress, args.repeats, args.seed)
    except ValueError as err:  # CheckpointError, OutputError, the manifest and audio errors
        print(f"error: {err}", file=sys.stderr)
        raise SystemExit(1) from None
    rho = plot(results, args.out, f"hard regions of {args.checkpoint.name}", args.progress)
    print(f"wrote {args.out}; predicted vs real loss rank correlation over {len(results)} utterances: {rho:.3f}")
    return rho


if __name__ == "__main__":
    main()
