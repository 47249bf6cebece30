#!/usr/bin/env python
"""Draw the audio JEPA's context and targets under each masking strategy the paper compares.

    python scripts/plot_jepa_masks.py --audio data/demo/wav/valid/valid-01600.wav \\
        [--checkpoint outputs/jepa_study/unstructured-input-3.2s/ckpt/checkpoint_last.pt] \\
        --out docs/figures/jepa_masks.png

One row per strategy (unstructured, multi-block, time) over the model's normalised log-mel
cut into 16 x 16 patches, with the same share of target patches (time: of columns):

- left, the context encoder's input: the context patches (targets blanked);
- right, the target encoder's input in the input domain: the target patches alone
  (context blanked). In the latent domain it sees the whole log-mel and the targets are
  picked from its output, so the right panel would be the unmasked spectrogram.

With ``--checkpoint`` the front end (its corpus statistics), the ratio and the patch size
are the checkpoint's; each row also gives the checkpoint's loss on that row's mask.
Without it the log-mel is standardised over the utterance and the tiny config is used.
"""

import argparse
import dataclasses
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ehmam.checkpoints import load_jepa_model  # noqa: E402
from ehmam.masking.patches import patch_mask  # noqa: E402
from ehmam.models.jepa import JEPA_STRATEGIES, JEPAModel, tiny_jepa_config  # noqa: E402
from scripts.figures import (blank, draw_patch_grid, mask_figure_arguments, outline_patches, read_start,  # noqa: E402
                             save_figure)


@torch.no_grad()
def jepa_views(model: JEPAModel, waveform: torch.Tensor, seed: int, standardise: bool, with_loss: bool):
    """(log-mel F x T, {strategy: (F' x T' bool targets, the model's loss on them or None)})."""
    images = model.log_mel(waveform[None])
    if standardise:
        images = (images - images.mean()) / images.std()
    grid = model.encoder.patch_embed.grid(images.shape[-2:])
    views = {}
    for strategy in JEPA_STRATEGIES:
        masking = dataclasses.replace(model.cfg.masking, strategy=strategy)
        mask = patch_mask(masking, 1, grid, torch.Generator().manual_seed(seed), images.device)
        loss = None
        if with_loss:
            predictions = model.predict(model.encode_context(images, mask), mask)
            loss = float(model.loss(predictions, model.encode_target(images, mask)).mean())
        views[strategy] = (mask.mask[0].view(grid).numpy(), loss)
    return images[0, 0].numpy(), views


def plot(spec, views, patch, ratio: float, out: Path, title: str) -> None:
    fig, axes = plt.subplots(len(views), 2, figsize=(13, 1.9 * len(views) + 0.7), sharex=True, sharey=True,
                             squeeze=False)
    limits = dict(vmin=np.nanpercentile(spec, 1), vmax=np.nanpercentile(spec, 99))
    cmap = plt.get_cmap("magma").copy()
    cmap.set_bad("#dddddd")
    extent = (0, spec.shape[1], 0, spec.shape[0])
    for row, (strategy, (targets, loss)) in zip(axes, views.items()):
        share = f"{ratio} of the columns" if strategy == "time" else f"{ratio} of the patches"
        scored = "" if loss is None else f"; the checkpoint's loss on it {loss:.3f}"
        shown = ((blank(spec, targets, patch), f"{strategy} ({share}{scored}): context encoder's input, "
                  f"{int((~targets).sum())} patches"),
                 (blank(spec, ~targets, patch), f"target encoder's input (input domain): the "
                  f"{int(targets.sum())} target patches"))
        for ax, (image, name) in zip(row, shown):
            ax.imshow(image, origin="lower", aspect="auto", cmap=cmap, extent=extent, interpolation="nearest",
                      **limits)
            ax.set_title(name, fontsize=8.5)
            draw_patch_grid(ax, targets.shape, patch)
        outline_patches(row[1], targets, patch, linewidth=0.6)
        row[0].set_ylabel("mel bin")
    for ax in axes[-1]:
        ax.set_xlabel("frame (10 ms)")
    fig.suptitle(title, fontsize=10)
    save_figure(fig, out, dpi=110)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    mask_figure_arguments(parser, "an audio JEPA", "outputs/jepa_masks.png")
    args = parser.parse_args(argv)
    if args.checkpoint:
        model = load_jepa_model(args.checkpoint, "drawing the JEPA's masks")
    else:
        model = JEPAModel(tiny_jepa_config()).eval()
    waveform = read_start(args.audio, args.seconds, model.frontend.cfg.sample_rate)
    domain = model.cfg.target_domain
    spec, views = jepa_views(model, waveform, args.seed, standardise=args.checkpoint is None,
                             with_loss=args.checkpoint is not None)
    source = (f"{args.checkpoint.parent.parent.name}/{args.checkpoint.name}, trained in the {domain} domain"
              if args.checkpoint else "no checkpoint")
    rows, cols = next(iter(views.values()))[0].shape
    plot(spec, views, tuple(model.cfg.encoder.patch_size), model.cfg.masking.ratio, args.out,
         f"audio JEPA on {args.audio.name} ({source}): {rows} x {cols} patches")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
