"""Front ends: what turns audio into the encoder's input sequence.

- ``waveform``: wav2vec 2.0's convolutional feature encoder (EH-MAM), 50 Hz frames.
"""
