"""ehmam's checkpoints as s3prl upstreams, on the feature API.

s3prl's contract for an upstream (what its runner and ``s3prl.nn.S3PRLUpstream`` call):

- a factory ``NAME(ckpt, model_config, refresh, **kwargs)`` on the module ``s3prl.hub``;
- ``forward(wavs)``: a list of 1-D 16 kHz waveforms of any lengths ->
  ``{"hidden_states": [B x T x D, ...]}``, one tensor per layer (here layer 0 is the front
  end's output, then every block's, as :class:`~ehmam.features.AudioEncoder` numbers them);
- ``get_downsample_rates(key)``: samples per frame, an int, which s3prl uses to cut each
  utterance's frames out of the padded batch, so it must match the real frame count.

Each utterance is encoded on its own (the feature API batches equal-length chunks and never
pads inside the model), so its features do not depend on what it is batched with. Long
utterances are chunked to the model's training length, as everywhere in the feature API.

The upstreams are frozen feature extractors: their parameters do not require gradients and
the forward pass runs without autograd. SUPERB's protocol freezes the upstream; fine-tuning
through s3prl (``-f``) is refused by ``python -m ehmam.superb``.

``model_config`` (s3prl's ``-g``) may name a YAML file with options::

    randomly_initialised: true   # the same architecture with fresh random weights (the reference)
    seed: 0                      # their seed
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Dict, List, Optional

import torch
import yaml
from torch import nn

from ...checkpoints import SPECTROGRAM_METHODS
from ...features import AudioEncoder, load_encoder

MODEL_CONFIG_KEYS = {"randomly_initialised": bool, "seed": int}


class UpstreamConfigError(ValueError):
    """A bad ``-g`` / ``model_config`` for an ehmam upstream."""


def read_model_config(model_config: Optional[str]) -> dict:
    """The options in ``model_config`` (a YAML file path), checked; {} for None or ""."""
    if not model_config:
        return {}
    path = Path(model_config)
    if not path.is_file():
        raise UpstreamConfigError(f"{path}: upstream model config (-g) does not exist. Fix: pass a YAML "
                                  "file such as examples/superb/random_weights.yaml, or leave -g out")
    options = yaml.safe_load(path.read_text()) or {}
    if not isinstance(options, dict):
        raise UpstreamConfigError(f"{path}: expected a mapping of options, got {type(options).__name__}")
    for key, value in options.items():
        if key not in MODEL_CONFIG_KEYS:
            raise UpstreamConfigError(f"{path}: unknown option {key!r}; the options are {sorted(MODEL_CONFIG_KEYS)}")
        if not isinstance(value, MODEL_CONFIG_KEYS[key]):
            raise UpstreamConfigError(f"{path}: {key} should be {MODEL_CONFIG_KEYS[key].__name__}, got {value!r}")
    return options


class EhmamUpstream(nn.Module):
    """An :class:`~ehmam.features.AudioEncoder` behind s3prl's upstream interface."""

    def __init__(self, encoder: AudioEncoder):
        super().__init__()
        self.encoder = encoder.eval().requires_grad_(False)

    @property
    def num_layers(self) -> int:
        """Hidden states per forward: the front end's frames and every block's output."""
        return self.encoder.num_layers + 1

    def get_downsample_rates(self, key: str = "hidden_states") -> int:
        return int(self.encoder.hop)

    def forward(self, wavs: List[torch.Tensor]) -> Dict[str, List[torch.Tensor]]:
        frames = self.encoder.frame_features([w.reshape(-1) for w in wavs], sample_rate=self.encoder.sample_rate,
                                             layer="all")
        hidden = [layer.to(wavs[0].device) for layer in frames.features.unbind(0)]
        return {"hidden_states": hidden, "last_hidden_state": hidden[-1]}


def build_upstream(kind: str, ckpt: Optional[str], model_config: Optional[str] = None) -> EhmamUpstream:
    """The upstream for a checkpoint of ``kind`` (a name from ``ehmam.features.encoder_kinds``)."""
    if not ckpt:
        raise UpstreamConfigError(f"the {kind} upstream needs a checkpoint. Fix: pass -k PATH "
                                  "(s3prl's runner) or path_or_url=PATH (S3PRLUpstream)")
    options = read_model_config(model_config)
    encoder = load_encoder(ckpt, expect=kind)
    if options.get("randomly_initialised"):
        encoder = encoder.randomly_initialised(options.get("seed", 0))
    return EhmamUpstream(encoder)


def _factory(kind: str, name: str) -> Callable[..., EhmamUpstream]:
    def factory(ckpt: Optional[str] = None, model_config: Optional[str] = None, refresh: bool = False,
                **kwargs) -> EhmamUpstream:
        return build_upstream(kind, ckpt, model_config)

    factory.__name__ = factory.__qualname__ = name
    factory.__doc__ = (f"s3prl upstream {name!r}: a local {kind} checkpoint (-k PATH) through ehmam's "
                       "feature API; -g YAML with randomly_initialised/seed for the random-weights reference.")
    return factory


# s3prl's naming: "_local" upstreams take a local checkpoint with -k.
UPSTREAMS: Dict[str, Callable[..., EhmamUpstream]] = {"ehmam_local": _factory("EH-MAM", "ehmam_local")}
for _method in SPECTROGRAM_METHODS:  # M2D, Audio-MAE / MSM-MAE, the audio JEPA
    UPSTREAMS[f"{_method.name}_local"] = _factory(_method.label, f"{_method.name}_local")
del _method
