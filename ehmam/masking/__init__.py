"""Masking, as pure functions of their inputs and a ``torch.Generator``.

- ``frames``: EH-MAM's easy-to-hard frame masks and data2vec 2.0's random block masks
  (pretraining on waveform frames, B x T).
- ``patches``: masks on an F x T grid of spectrogram patches (unstructured, multi-block,
  time, frequency, time + frequency) for the ViT methods.
- ``spec_augment``: wav2vec 2.0's fine-tuning time and channel masks.

One polarity everywhere: True = masked (and, for padding masks, True = padding).
"""
