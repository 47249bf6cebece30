"""A training run's checkpoint directory: one live run at a time, and a resume that survives a
checkpoint cut short.

Two runs writing into one ``checkpoint.save_dir`` overwrite each other's ``checkpoint_last.pt``
and ``checkpoint_best.pt`` and both exit 0. :func:`lock_run_directory` takes an exclusive
``flock`` on ``save_dir/.ehmam.lock`` for the life of the process: the kernel drops it when the
process ends, however it ends (SIGKILL included), so a crashed run never leaves the directory
stuck, and a second run is refused with the first one's pid, host, command and start time.
``flock`` is advisory and local: on a network file system shared by several hosts it may not
exclude a run on another host.

fairseq writes ``checkpoint_E_U.pt`` atomically (a temporary file, then a rename) but copies
it to ``checkpoint_best.pt`` and ``checkpoint_last.pt`` with a plain copy, so a kill during a
save can leave ``checkpoint_last.pt`` truncated beside an intact ``checkpoint_E_U.pt``.
:func:`recover_last_checkpoint` finds that case before fairseq reads the file: it moves the
broken file aside (``checkpoint_last.pt.corrupt``, never deleted) and puts the newest
readable checkpoint in its place, with a warning naming both files.
"""
from __future__ import annotations

import fcntl
import logging
import os
import shutil
import socket
import sys
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Optional, Union

logger = logging.getLogger(__name__)

LOCK_NAME = ".ehmam.lock"
CORRUPT_SUFFIX = ".corrupt"

PathLike = Union[str, Path]


class RunDirectoryBusy(RuntimeError):
    """Another live process is training into the same checkpoint directory."""


class CheckpointRecoveryError(RuntimeError):
    """``checkpoint_last.pt`` is unreadable and no readable checkpoint is there to resume from."""


@dataclass
class RunDirectoryLock:
    """An exclusive lock on a checkpoint directory, held until :meth:`release` or process exit."""

    directory: Path
    handle: object  # the open lock file; closing it releases the flock

    def release(self) -> None:
        if not self.handle.closed:
            self.handle.close()
        _HELD.pop(self.directory, None)


# Locks this process holds, by resolved directory: fairseq may set the task up more than once
# in one process, and a second flock on a new descriptor of the same file would refuse us.
_HELD: Dict[Path, RunDirectoryLock] = {}


def _describe_holder(lock_path: Path) -> str:
    try:
        text = lock_path.read_text().strip()
    except OSError:
        text = ""
    return text or "a process that has not written its details yet"


def lock_run_directory(directory: PathLike) -> RunDirectoryLock:
    """Lock ``directory`` (created if missing) for this process; :class:`RunDirectoryBusy`
    naming the other process if a live one holds it."""
    directory = Path(directory).resolve()
    if directory in _HELD:
        return _HELD[directory]
    directory.mkdir(parents=True, exist_ok=True)
    lock_path = directory / LOCK_NAME
    # "a" neither truncates the holder's details before we own the lock nor fails if present
    handle = open(lock_path, "a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise RunDirectoryBusy(
            f"{directory}: another run is training into this directory ({_describe_holder(lock_path)}). "
            f"Two runs in one checkpoint.save_dir overwrite each other's checkpoint_last.pt and "
            f"checkpoint_best.pt. Fix: wait for it to finish, stop it, or give this run another "
            f"checkpoint.save_dir") from None
    handle.seek(0)
    handle.truncate()
    started = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    handle.write(f"pid {os.getpid()} on {socket.gethostname()}, started {started}: {' '.join(sys.argv)}\n")
    handle.flush()
    lock = RunDirectoryLock(directory, handle)
    _HELD[directory] = lock
    return lock


def is_readable_checkpoint(path: PathLike) -> bool:
    """Whether ``path`` is a complete torch zip archive: its central directory is present and
    every member's CRC matches. Reads the whole file, but no tensors are built."""
    try:
        with zipfile.ZipFile(path) as archive:
            return archive.testzip() is None
    except (OSError, zipfile.BadZipFile, EOFError, ValueError):
        return False


def recover_last_checkpoint(directory: PathLike, name: str = "checkpoint_last.pt") -> Optional[Path]:
    """If ``directory/name`` exists but is unreadable, move it to ``name.corrupt`` and copy the
    newest readable ``checkpoint*.pt`` beside it into its place (atomically). Returns the
    checkpoint resumed from, or None when nothing needed recovery.

    Raises :class:`CheckpointRecoveryError` when no readable checkpoint is left."""
    directory = Path(directory)
    last = directory / name
    if not last.is_file() or is_readable_checkpoint(last):
        return None
    candidates = sorted((p for p in directory.glob("checkpoint*.pt") if p != last),
                        key=lambda p: p.stat().st_mtime, reverse=True)
    source = next((p for p in candidates if is_readable_checkpoint(p)), None)
    corrupt = last.with_name(last.name + CORRUPT_SUFFIX)
    if source is None:
        raise CheckpointRecoveryError(
            f"{last}: unreadable (truncated: was the run killed while saving?) and no other readable "
            f"checkpoint*.pt is in {directory}. Fix: move it away to start afresh, or point "
            f"checkpoint.restore_file at a good checkpoint")
    os.replace(last, corrupt)
    partial = last.with_name(last.name + ".tmp")
    shutil.copyfile(source, partial)
    os.replace(partial, last)
    logger.warning("%s was unreadable (truncated: the run was probably killed while saving); moved it to %s "
                   "and resuming from %s, the newest readable checkpoint", last, corrupt, source)
    return source
