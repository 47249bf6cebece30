"""Criteria (fairseq does not auto-import this folder; ``user_dir/__init__.py`` does)."""
from . import ehmam  # noqa: F401
from . import spectrogram_pretraining  # noqa: F401
