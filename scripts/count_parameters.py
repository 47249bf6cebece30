#!/usr/bin/env python
"""Print EH-MAM's parameter count per component (base and tiny presets).

The paper reports 94.40M for the base model (Appendix D)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ehmam.models import EhmamConfig, EhmamModel, tiny_config  # noqa: E402


def count(module) -> int:
    return sum(p.numel() for p in module.parameters())


def table(name: str, model: EhmamModel) -> str:
    rows = [
        ("front end (CNN + projection)", count(model.frontend)),
        ("positional conv", count(model.encoder.pos_conv)),
        ("Transformer", count(model.encoder) - count(model.encoder.pos_conv)),
        ("decoder d_R", count(model.decoder)),
        ("loss predictor d_delta", count(model.loss_predictor)),
        ("mask embeddings", model.mask_embedding.numel() + model.decoder_mask_token.numel()),
    ]
    total = sum(p.numel() for p in model.student_parameters())
    assert total == sum(n for _, n in rows), "a component is missing from the table"
    lines = [f"{name}", f"  {'component':32s}{'parameters':>14s}"]
    lines += [f"  {label:32s}{n:>14,d}" for label, n in rows]
    lines.append(f"  {'trainable total':32s}{total:>14,d}  ({total / 1e6:.2f}M)")
    lines.append(f"  {'EMA teacher (not trained)':32s}{count(model.teacher):>14,d}")
    return "\n".join(lines)


def main():
    print(table("EH-MAM base (paper: 94.40M)", EhmamModel(EhmamConfig())))
    print(table("EH-MAM tiny (tests and demo)", EhmamModel(tiny_config())))


if __name__ == "__main__":
    main()
