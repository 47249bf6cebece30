"""Output locations, checked before the work that fills them.

A decoding run or an LM build can spend minutes before writing its first file; an ``--out``
under a regular file or in a read-only folder would then end it with a bare ``OSError`` and
nothing saved. Entry points call these first: they create the folder and prove it writable
(a probe file is created and deleted), or raise :class:`OutputError` naming the option, the
path and the fix.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Optional


class OutputError(ValueError):
    """An output path that cannot be written; the message names it and says how to fix it."""


def _blocking_file(path: Path) -> Optional[Path]:
    """The first existing non-folder on the way to ``path`` (``path`` itself included)."""
    for part in [*reversed(path.parents), path]:
        if part.exists() and not part.is_dir():
            return part
    return None


def _writable_dir(folder: Path, label: str) -> None:
    """Create ``folder`` and prove it writable; ``label`` starts every error message."""
    blocking = _blocking_file(folder)
    if blocking is not None:
        raise OutputError(f"{label}: {blocking} is a file, so no folder can be created at {folder}. "
                          f"Fix: pass a path that is not inside a file (or move {blocking} away)")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".write-test-", dir=folder)
        os.close(fd)
        os.unlink(probe)
    except OSError as err:
        raise OutputError(f"{label}: cannot write into {folder} ({err.strerror or err}). "
                          f"Fix: pass a folder you can write to, or make {folder} writable (chmod u+w)") from err


def prepare_output_dir(path: Path | str, what: str = "--out") -> Path:
    """Create the output folder ``path`` (with its parents) and prove it writable; returns it.
    ``what`` names the option in errors (``"--out"``)."""
    path = Path(path)
    _writable_dir(path, f"{what} {path}")
    return path


def prepare_output_file(path: Path | str, what: str = "--out") -> Path:
    """Check that the file ``path`` can be written before the work that produces it: its
    folder is created and proven writable, and ``path`` is not a folder. An existing file is
    left in place (it will be replaced)."""
    path = Path(path)
    label = f"{what} {path}"
    if path.is_dir():
        raise OutputError(f"{label}: is a folder, expected a file name. Fix: pass a file path, "
                          f"e.g. {path / ('output' + (path.suffix or ''))}")
    _writable_dir(path.parent, label)
    if path.exists() and not os.access(path, os.W_OK):
        raise OutputError(f"{label}: the file is read-only. Fix: make it writable (chmod u+w) or pass another name")
    return path
