"""Front ends: what turns audio into the encoder's input sequence.

- ``waveform``: wav2vec 2.0's convolutional feature encoder (EH-MAM), 50 Hz frames.
- ``log_mel``: log-mel spectrograms for the ViT methods (M2D / MSM-MAE / JEPA and
  Audio-MAE's Kaldi filter bank), with their normalisation.
"""

from typing import Union

from .log_mel import KaldiFbankConfig, KaldiFbankFrontend, LogMelConfig, LogMelFrontend

# the spectrogram front ends by the names configs use (``model.frontend`` of Audio-MAE / MSM-MAE)
SPECTROGRAM_FRONTENDS = {"log_mel": (LogMelConfig, LogMelFrontend),
                         "kaldi_fbank": (KaldiFbankConfig, KaldiFbankFrontend)}


def spectrogram_frontend(cfg: Union[LogMelConfig, KaldiFbankConfig]) -> Union[LogMelFrontend, KaldiFbankFrontend]:
    """The front end a config describes."""
    for config_class, frontend_class in SPECTROGRAM_FRONTENDS.values():
        if isinstance(cfg, config_class):
            return frontend_class(cfg)
    raise TypeError(f"{type(cfg).__name__} is not a spectrogram front end config "
                    f"({', '.join(c.__name__ for c, _ in SPECTROGRAM_FRONTENDS.values())})")
