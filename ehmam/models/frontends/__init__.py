"""Front ends: what turns audio into the encoder's input sequence.

- ``waveform``: wav2vec 2.0's convolutional feature encoder (EH-MAM), 50 Hz frames.
- ``log_mel``: log-mel spectrograms for the ViT methods (M2D / MSM-MAE / JEPA and
  Audio-MAE's Kaldi filter bank), with their normalisation.
"""
