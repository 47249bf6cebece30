"""Encoders: ``context`` is EH-MAM's Transformer over waveform frames (convolutional
positional embedding, data2vec 2.0 style); ``vit`` is the ViT over spectrogram patches that
runs on the visible patches only."""
