"""Decoders that predict targets for masked positions.

- ``conv``: EH-MAM's light 1-D conv decoder (and loss predictors) over frames.
- ``mae``: the MAE decoder with mask tokens over patches: global attention, Swin-style
  shifted local windows, or local layers then global ones.
- ``shifted_window``: the shifted-window attention the local decoder layers use.
"""
