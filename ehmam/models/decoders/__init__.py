"""Decoders that predict targets for masked positions.

- ``conv``: EH-MAM's light 1-D conv decoder (and loss predictors) over frames.
"""
