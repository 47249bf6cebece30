"""What the figure scripts share: writing the PNG (:func:`save_figure`), and drawing a
spectrogram's 16 x 16 patches (grid lines, blanked patches, outlined patches).

Patches are ``(height, width)`` in bins and frames; a patch mask is ``F' x T'`` bool."""
import argparse
from pathlib import Path

import numpy as np


def save_figure(fig, out: Path, dpi: int = 120, tight_layout: bool = True) -> None:
    """``tight_layout=False`` for figures that set their own spacing (a gridspec's hspace):
    then only the outer margins are trimmed."""
    import matplotlib.pyplot as plt

    if tight_layout:
        fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=dpi, bbox_inches=None if tight_layout else "tight")
    plt.close(fig)


def draw_patch_grid(ax, grid, patch, color="black", linewidth=0.3, alpha=0.5) -> None:
    """Lines between the patches of an ``(F', T')`` grid."""
    for f in range(grid[0] + 1):
        ax.axhline(f * patch[0], color=color, linewidth=linewidth, alpha=alpha)
    for t in range(grid[1] + 1):
        ax.axvline(t * patch[1], color=color, linewidth=linewidth, alpha=alpha)


def blank(spec: np.ndarray, hidden: np.ndarray, patch) -> np.ndarray:
    """``spec`` with the patches where ``hidden`` is True set to NaN (drawn as background)."""
    out = spec.copy()
    for f, t in zip(*np.nonzero(hidden)):
        out[f * patch[0]:(f + 1) * patch[0], t * patch[1]:(t + 1) * patch[1]] = np.nan
    return out


def outline_patches(ax, where: np.ndarray, patch, linewidth: float, color="white") -> None:
    """A frame around each patch where ``where`` is True."""
    import matplotlib.pyplot as plt

    for f, t in zip(*np.nonzero(where)):
        ax.add_patch(plt.Rectangle((t * patch[1], f * patch[0]), patch[1], patch[0], fill=False,
                                   edgecolor=color, linewidth=linewidth))


def mask_figure_arguments(parser: argparse.ArgumentParser, method: str, out: str) -> None:
    """The mask figures' command line: an utterance, an optional checkpoint of ``method``, the
    output, how much of the file, the masks' seed."""
    parser.add_argument("--audio", type=Path, required=True, help="a 16 kHz mono file")
    parser.add_argument("--checkpoint", type=Path, help=f"a checkpoint of {method} (examples/ recipes)")
    parser.add_argument("--out", type=Path, default=Path(out))
    parser.add_argument("--seconds", type=float, default=3.2, help="at most this much of the file")
    parser.add_argument("--seed", type=int, default=0, help="decides the mask")


def read_start(path: Path, seconds: float, sample_rate: int):
    """The first ``seconds`` of an audio file as a 1-D float tensor."""
    import torch

    from ehmam.data.audio import read_audio

    return torch.from_numpy(read_audio(path))[: int(seconds * sample_rate)]
