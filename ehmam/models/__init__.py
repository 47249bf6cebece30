"""EH-MAM's networks, one concept per module: front end, context encoder, decoders,
loss predictor, and the model that ties them together."""

from .ehmam import EhmamConfig, EhmamModel, EhmamOutput, tiny_config

__all__ = ["EhmamConfig", "EhmamModel", "EhmamOutput", "tiny_config"]
