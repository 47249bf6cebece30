#!/usr/bin/env python
"""Draw an Audio-MAE / MSM-MAE checkpoint's reconstruction of one utterance.

    python scripts/plot_mae_reconstruction.py checkpoints/audio_mae_demo/checkpoint_last.pt \\
        --audio data/demo/wav/valid/valid-01600.wav --out docs/figures/audio_mae_reconstruction.png

Three panels over the model's normalised spectrogram (Audio-MAE: the Kaldi filter bank;
MSM-MAE: the log-mel), cut into its 16 x 16 patches, as MAE's and MSM-MAE's figures:

1. the input;
2. the masked input: what the encoder sees (masked patches blanked);
3. the reconstruction: visible patches as given, masked ones the decoder's prediction.
   Under ``norm_pix_loss`` the model predicts each patch's shape only, so a masked patch
   is drawn with its input's mean and spread (MAE draws such models the same way); the
   title gives the loss on the normalised patches.

The utterance is cut or zero padded to the model's training clip (Audio-MAE pads its filter
bank after the audio, as in training) and the mask is the model's, drawn from ``--seed``.
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

from ehmam.checkpoints import load_audio_mae_checkpoint  # noqa: E402
from ehmam.data.audio import read_audio  # noqa: E402
from ehmam.models.audio_mae import AudioMAEModel, reconstruction_loss  # noqa: E402
from scripts.figures import blank, draw_patch_grid, outline_patches, save_figure  # noqa: E402


def training_input(model: AudioMAEModel, waveform: torch.Tensor, frames: int):
    """The utterance as a training clip of ``frames`` spectrogram frames: ``1 x S`` cut or
    zero padded to the samples they take, and how many are audio."""
    samples = model.frontend.samples_for(frames)
    audio = min(samples, waveform.numel())
    clip = torch.zeros(1, samples)
    clip[0, :audio] = waveform[:audio]
    return clip, torch.tensor([audio])


@torch.no_grad()
def reconstruction_views(model: AudioMAEModel, waveform: torch.Tensor, frames: int, seed: int):
    """(input F x T, mask F' x T' bool, reconstruction F x T, loss on the masked patches)."""
    clip, lengths = training_input(model, waveform, frames)
    images = model.spectrogram(clip, lengths)
    mask = model.mask(images, torch.Generator().manual_seed(seed))
    grid = model.encoder.patch_embed.grid(images.shape[-2:])
    loss, _ = reconstruction_loss(model.decode(model.encode(images, mask), mask), model.patchify(images), mask)
    picture = model.reconstruct(images, mask)
    return images[0, 0].numpy(), mask.mask[0].view(grid).numpy(), picture[0, 0].numpy(), float(loss)


def plot(spec, mask, picture, loss, patch, out: Path, title: str, bins: str, norm_pix: bool) -> None:
    fig, axes = plt.subplots(3, 1, figsize=(10, 6.2), sharex=True)
    limits = dict(vmin=np.percentile(spec, 1), vmax=np.percentile(spec, 99))
    cmap = plt.get_cmap("magma").copy()
    cmap.set_bad("#dddddd")
    extent = (0, spec.shape[1], 0, spec.shape[0])
    target = "per-patch normalised" if norm_pix else "raw"
    shown = [(spec, "input: the normalised spectrogram"),
             (blank(spec, mask, patch), f"masked input: the {int((~mask).sum())} of {mask.size} patches the encoder sees"),
             (picture, f"reconstruction: {int(mask.sum())} masked patches predicted (MSE on {target} patches {loss:.3f})")]
    for ax, (image, name) in zip(axes, shown):
        ax.imshow(image, origin="lower", aspect="auto", cmap=cmap, extent=extent, interpolation="nearest", **limits)
        ax.set_title(name, fontsize=9)
        ax.set_ylabel(bins)
        draw_patch_grid(ax, mask.shape, patch)
    outline_patches(axes[2], mask, patch, linewidth=0.6)
    axes[-1].set_xlabel("frame (10 ms)")
    fig.suptitle(title, fontsize=10)
    save_figure(fig, out, dpi=110)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoint", type=Path, help="an Audio-MAE or MSM-MAE checkpoint (examples/audio_mae/config)")
    parser.add_argument("--audio", type=Path, required=True, help="a 16 kHz mono file")
    parser.add_argument("--out", type=Path, default=Path("outputs/mae_reconstruction.png"))
    parser.add_argument("--seed", type=int, default=0, help="decides the mask")
    args = parser.parse_args(argv)
    model, found = load_audio_mae_checkpoint(args.checkpoint, "drawing a reconstruction")
    frames = found.training_frames
    waveform = torch.from_numpy(read_audio(args.audio))
    spec, mask, picture, loss = reconstruction_views(model, waveform, frames, args.seed)
    cfg = model.cfg
    method = "Audio-MAE" if cfg.frontend == "kaldi_fbank" else "MSM-MAE"
    bins = "Kaldi mel bin" if cfg.frontend == "kaldi_fbank" else "mel bin"
    rows, cols = mask.shape
    plot(spec, mask, picture, loss, tuple(cfg.encoder.patch_size), args.out,
         f"{method} on {args.audio.name} ({args.checkpoint.parent.name}/{args.checkpoint.name}): {rows} x {cols} "
         f"patches, {cfg.masking.strategy} masking {cfg.masking.ratio}", bins, cfg.norm_pix_loss)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
