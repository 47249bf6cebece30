"""HEAR's common API (hearbenchmark.com) over any ehmam checkpoint.

HEAR's harness imports a module and calls three functions; this is that module:

    from ehmam.integrations import hear
    model = hear.load_model("checkpoints/demo/checkpoint_last.pt")
    model.sample_rate, model.scene_embedding_size, model.timestamp_embedding_size
    embeddings, timestamps = hear.get_timestamp_embeddings(audio, model)  # n x T x D, n x T (ms)
    scenes = hear.get_scene_embeddings(audio, model)                      # n x D

``audio`` is an n_sounds x n_samples float tensor at ``model.sample_rate``, in [-1, 1].
HEAR's rules, which tests/integrations/test_hear.py checks (and PyPI's ``hearvalidator`` runs
against this module): float32 embeddings; timestamps in milliseconds at frame centres,
evenly spaced at most 50 ms apart (EH-MAM: 20 ms; a ViT's 160 ms patch columns are each
given at 4 points 40 ms apart inside their span), none past the end of the audio; the
scene embedding is the mean of the frame embeddings. The features are those linear
evaluation uses by default (``AudioEncoder.default_layer``: every layer concatenated for
EH-MAM); ``load_model(path, layer=-1)`` picks one layer instead. Long recordings are
chunked by the feature API, so any duration works.
"""
from __future__ import annotations

import math
from typing import Optional, Tuple, Union

import torch
from torch import nn

from ..features import AudioEncoder, Layer, concatenate_layers, load_encoder

MAX_HOP_MS = 50.0  # HEAR's tolerance for event onsets asks for timestamps at most 50 ms apart


class HearModel(nn.Module):
    """An :class:`~ehmam.features.AudioEncoder` with the attributes HEAR asks for."""

    def __init__(self, encoder: AudioEncoder, layer: Optional[Layer] = None):
        super().__init__()
        self.encoder = encoder.eval()
        self.layer = encoder.default_layer if layer is None else layer
        layers = len(encoder.layer_indices(self.layer))  # also checks the index
        # frames further apart than HEAR's 50 ms (a ViT's 160 ms patch columns) are repeated
        # at evenly spaced points inside their span: each keeps its frame's features
        self.repeat = math.ceil(1000 * encoder.hop / encoder.sample_rate / MAX_HOP_MS)
        self.sample_rate = encoder.sample_rate
        self.timestamp_embedding_size = layers * encoder.feature_dim
        self.scene_embedding_size = self.timestamp_embedding_size


def load_model(model_file_path: str = "", layer: Optional[Layer] = None,
               device: Union[str, torch.device] = "cpu") -> HearModel:
    """HEAR's ``load_model``: any ehmam checkpoint (see :func:`ehmam.features.load_encoder`)."""
    if not model_file_path:
        raise ValueError("ehmam's HEAR module has no default weights. Fix: pass the checkpoint, "
                         "e.g. load_model('checkpoints/demo/checkpoint_last.pt')")
    return HearModel(load_encoder(model_file_path, device=device), layer)


def _frames(audio: torch.Tensor, model: HearModel):
    if audio.dim() != 2:
        raise ValueError(f"audio of shape {tuple(audio.shape)}: HEAR passes n_sounds x n_samples")
    frames = model.encoder.frame_features(audio, model.sample_rate, layer=model.layer)
    features = frames.features
    if model.layer == "all":
        features = concatenate_layers(features)
    return features.float(), frames


@torch.no_grad()
def get_timestamp_embeddings(audio: torch.Tensor, model: HearModel) -> Tuple[torch.Tensor, torch.Tensor]:
    """(n_sounds x T x D float32 embeddings, n_sounds x T frame centres in ms)."""
    features, frames = _frames(audio, model)
    stamps = 1000 * frames.timestamps
    if model.repeat > 1:
        step = 1000 * model.encoder.hop / model.sample_rate / model.repeat
        offsets = (torch.arange(model.repeat, dtype=stamps.dtype) - (model.repeat - 1) / 2) * step
        stamps = (stamps[:, None] + offsets).flatten()
        features = features.repeat_interleave(model.repeat, dim=1)
    stamps = stamps.float().to(features.device)
    return features, stamps.expand(len(features), -1).contiguous()


@torch.no_grad()
def get_scene_embeddings(audio: torch.Tensor, model: HearModel) -> torch.Tensor:
    """n_sounds x D float32: the mean of each sound's frame embeddings."""
    features, _ = _frames(audio, model)
    return features.mean(dim=1)
