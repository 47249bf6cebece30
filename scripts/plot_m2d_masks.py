#!/usr/bin/env python
"""Draw what M2D's two networks see of one utterance, and what the target asks of the online one.

    python scripts/plot_m2d_masks.py --checkpoint checkpoints/m2d_demo/checkpoint_last.pt \\
        --audio data/demo/wav/valid/valid-01600.wav --out docs/figures/m2d_masks.png

Panels, over the model's normalised log-mel cut into its 16 x 16 patches:

1. the log-mel with the masked patches outlined;
2. the online encoder's input: the visible patches (masked ones blanked);
3. the target encoder's input: the masked patches only (visible ones blanked), or every
   patch for a checkpoint trained with ``target_sees_all``;
4. with a checkpoint: the loss ``2 - 2 cos`` of each masked patch's prediction.

Without ``--checkpoint`` the log-mel is M2D's front end standardised over the utterance
and the mask is M2D's default (0.7, unstructured); the model-dependent fourth panel is left
out.
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

from ehmam.checkpoints import load_m2d_model  # noqa: E402
from ehmam.models.m2d import M2DModel, normalized_mse, tiny_m2d_config  # noqa: E402
from scripts.figures import (blank, draw_patch_grid, mask_figure_arguments, outline_patches, read_start,  # noqa: E402
                             save_figure)


def untrained_model() -> M2DModel:
    """M2D's front end and mask (the paper's 0.7) on the tiny config's random weights: what
    is drawn does not depend on them, bar the loss panel, which is left out."""
    return M2DModel(tiny_m2d_config()).eval()


@torch.no_grad()
def m2d_views(model: M2DModel, waveform: torch.Tensor, seed: int, standardise: bool):
    """(log-mel F x T, mask F' x T' bool, per-patch loss F' x T' with NaN at visible patches)."""
    images = model.log_mel(waveform[None])
    if standardise:
        images = (images - images.mean()) / images.std()
    mask = model.mask(images, torch.Generator().manual_seed(seed))
    grid = model.encoder.patch_embed.grid(images.shape[-2:])
    online = model.encode_online(images, mask)
    losses = normalized_mse(model.predict(online, mask), model.encode_target(images, mask))[0]
    loss_map = torch.full((grid[0] * grid[1],), float("nan"))
    loss_map[mask.masked[0]] = losses
    return images[0, 0].numpy(), mask.mask[0].view(grid).numpy(), loss_map.view(grid).numpy()


def plot(spec, mask, loss_map, patch, out: Path, title: str, target_sees_all: bool) -> None:
    panels = 3 + (loss_map is not None)
    fig, axes = plt.subplots(panels, 1, figsize=(10, 1.7 * panels + 0.6), sharex=True)
    limits = dict(vmin=np.nanpercentile(spec, 1), vmax=np.nanpercentile(spec, 99))
    cmap = plt.get_cmap("magma").copy()
    cmap.set_bad("#dddddd")
    extent = (0, spec.shape[1], 0, spec.shape[0])
    shown = [(spec, f"log-mel, normalised; outlined: the {int(mask.sum())} of {mask.size} patches masked"),
             (blank(spec, mask, patch), f"online encoder's input: the {int((~mask).sum())} visible patches"),
             (spec if target_sees_all else blank(spec, ~mask, patch),
              "target encoder's input: every patch (target_sees_all)" if target_sees_all
              else f"target encoder's input: the {int(mask.sum())} masked patches only")]
    for ax, (image, name) in zip(axes, shown):
        ax.imshow(image, origin="lower", aspect="auto", cmap=cmap, extent=extent, interpolation="nearest", **limits)
        ax.set_title(name, fontsize=9)
        ax.set_ylabel("mel bin")
    outline_patches(axes[0], mask, patch, linewidth=0.9)
    if loss_map is not None:
        image = axes[3].imshow(np.kron(loss_map, np.ones(patch)), origin="lower", aspect="auto", cmap="viridis",
                               extent=extent, interpolation="nearest")
        axes[3].set_title(f"loss 2 - 2 cos of each masked patch's prediction (mean {np.nanmean(loss_map):.3f}; "
                          "blank: visible)", fontsize=9)
        axes[3].set_ylabel("mel bin")
        fig.colorbar(image, cax=axes[3].inset_axes([1.005, 0.0, 0.012, 1.0]))  # keeps the panels aligned
    for ax in axes:
        draw_patch_grid(ax, mask.shape, patch)
    axes[-1].set_xlabel("frame (10 ms)")
    fig.suptitle(title, fontsize=10)
    save_figure(fig, out, dpi=110)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    mask_figure_arguments(parser, "M2D", "outputs/m2d_masks.png")
    args = parser.parse_args(argv)
    model = load_m2d_model(args.checkpoint, "drawing M2D's masks") if args.checkpoint else untrained_model()
    waveform = read_start(args.audio, args.seconds, model.frontend.cfg.sample_rate)
    spec, mask, loss_map = m2d_views(model, waveform, args.seed, standardise=args.checkpoint is None)
    source = f"{args.checkpoint.parent.name}/{args.checkpoint.name}" if args.checkpoint else "no checkpoint"
    rows, cols = mask.shape
    plot(spec, mask, loss_map if args.checkpoint else None, tuple(model.cfg.encoder.patch_size), args.out,
         f"M2D on {args.audio.name} ({source}): {rows} x {cols} patches, mask ratio {model.cfg.mask_ratio}",
         model.cfg.target_sees_all)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
