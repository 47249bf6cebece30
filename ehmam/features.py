"""Feature extraction from a plain torch call: frame features and every layer's output.

    from ehmam.features import extract_features
    feats = extract_features(model, [wav_a, wav_b])   # 1-D float tensors at 16 kHz
    feats.layers[-1]        # B x T x D, the last Transformer layer
    feats.padding_mask      # B x T bool, True = padding (None when nothing is padded)
"""

from dataclasses import dataclass
from typing import List, Optional, Sequence, Union

import torch

from .models.ehmam import EhmamModel
from .models.frontends.waveform import normalize_waveform


@dataclass
class Features:
    """``frames``: the front end's projected frames, B x T x D (before the Transformer);
    ``layers``: every Transformer layer's output, each B x T x D; ``hidden``: the
    encoder's output; ``padding_mask``: B x T bool, True = padding, or None."""

    frames: torch.Tensor
    layers: List[torch.Tensor]
    hidden: torch.Tensor
    padding_mask: Optional[torch.Tensor]


def pad_waveforms(waveforms: Sequence[torch.Tensor]):
    """Stack 1-D waveforms of different lengths: (B x S batch, B x S padding mask or None)."""
    if not waveforms:
        raise ValueError("no waveforms to extract features from")
    for index, wav in enumerate(waveforms):
        if wav.dim() != 1:
            raise ValueError(f"waveform {index} has shape {tuple(wav.shape)}; expected 1-D samples")
    longest = max(len(w) for w in waveforms)
    batch = waveforms[0].new_zeros(len(waveforms), longest)
    padding = torch.ones(len(waveforms), longest, dtype=torch.bool, device=batch.device)
    for row, wav in enumerate(waveforms):
        batch[row, : len(wav)] = wav
        padding[row, : len(wav)] = False
    return batch, (padding if bool(padding.any()) else None)


@torch.no_grad()
def extract_features(
    model: EhmamModel,
    waveforms: Union[torch.Tensor, Sequence[torch.Tensor]],
    padding_mask: Optional[torch.Tensor] = None,
    normalize: bool = True,
) -> Features:
    """Run the student encoder (no masking, eval mode) on raw 16 kHz audio.

    waveforms: a B x S batch (with an optional B x S padding mask, True = padding),
        one 1-D waveform, or a list of 1-D waveforms of any lengths.
    normalize: zero mean / unit variance per utterance, as in pretraining.
    """
    if isinstance(waveforms, torch.Tensor) and waveforms.dim() == 1:
        waveforms = waveforms[None]
    if not isinstance(waveforms, torch.Tensor):
        if padding_mask is not None:
            raise ValueError("pass padding_mask only with a B x S batch; lists are padded here")
        waveforms, padding_mask = pad_waveforms(list(waveforms))
    if normalize:
        waveforms = normalize_waveform(waveforms, padding_mask)
    was_training = model.training
    model.eval()
    try:
        frames, out = model.encode(waveforms, padding_mask)
    finally:
        model.train(was_training)
    return Features(frames=frames, layers=out.layers, hidden=out.hidden, padding_mask=out.padding_mask)
