"""ehmam: self-supervised speech and audio representation learning."""
__version__ = "0.1.0"
