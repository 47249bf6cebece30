"""The networks: one module per method (``ehmam``: EH-MAM; ``m2d``: M2D; ``audio_mae``:
Audio-MAE and MSM-MAE; ``jepa``: the audio JEPA) and the shared blocks beside
them, each named for what it is: ``frontends`` (waveform convs, log-mel), ``encoders``
(EH-MAM's context Transformer, the patch ViT), ``decoders`` (EH-MAM's conv decoder, the
MAE decoder, shifted-window attention), ``patches`` (patch embedding and positions) and
``loss_predictor``; ``masked_output``, what the spectrogram methods' forwards return."""

from .ehmam import EhmamConfig, EhmamModel, EhmamOutput, tiny_config

__all__ = ["EhmamConfig", "EhmamModel", "EhmamOutput", "tiny_config"]
