"""How error messages and warnings list the places they name."""
from __future__ import annotations

from typing import Sequence


def listed(lines: Sequence[str], limit: int) -> str:
    """``lines`` as an indented list to append to a message: each after a newline and two
    spaces, at most ``limit`` of them, then ``... and N more``. Empty for no lines."""
    shown = [f"\n  {line}" for line in lines[:limit]]
    if len(lines) > limit:
        shown.append(f"\n  ... and {len(lines) - limit} more")
    return "".join(shown)
