"""Masking, as pure functions of their inputs and a ``torch.Generator``.

- ``frames``: EH-MAM's easy-to-hard frame masks and data2vec 2.0's random block masks
  (pretraining on waveform frames, B x T).
- ``spec_augment``: wav2vec 2.0's fine-tuning time and channel masks.

One polarity everywhere: True = masked (and, for padding masks, True = padding).
"""
