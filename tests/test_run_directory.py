"""One live run per checkpoint directory, a lock a killed run does not leave behind, and a
resume that survives a truncated checkpoint_last.pt."""
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from ehmam.run_directory import (CheckpointRecoveryError, LOCK_NAME, RunDirectoryBusy, is_readable_checkpoint,
                                 lock_run_directory, recover_last_checkpoint)

HOLD = "import sys, time; from ehmam.run_directory import lock_run_directory; " \
       "lock_run_directory(sys.argv[1]); print('locked', flush=True); time.sleep(60)"


def hold_lock(directory):
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(directory)], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "locked"
    return holder


def test_a_second_process_is_refused_with_the_holder_named_until_the_holder_is_killed(tmp_path):
    holder = hold_lock(tmp_path)
    try:
        with pytest.raises(RunDirectoryBusy, match=rf"another run .*pid {holder.pid} on .*Fix: .*checkpoint\.save_dir"):
            lock_run_directory(tmp_path)
    finally:
        holder.send_signal(signal.SIGKILL)  # no clean-up runs: the kernel must drop the lock
        holder.wait(timeout=30)
    lock = lock_run_directory(tmp_path)
    try:
        assert f"pid {os.getpid()}" in (tmp_path / LOCK_NAME).read_text()
        assert lock_run_directory(tmp_path) is lock  # fairseq may set a task up twice in one process
    finally:
        lock.release()


def save(path, updates):
    torch.save({"model": {"w": torch.full((1000,), float(updates))}, "updates": updates}, path)


def set_mtime(path, seconds_ago):
    stamp = time.time() - seconds_ago
    os.utime(path, (stamp, stamp))


def test_a_truncated_last_checkpoint_is_set_aside_and_replaced_by_the_newest_readable_one(tmp_path, caplog):
    save(tmp_path / "checkpoint_1_3.pt", 3)
    save(tmp_path / "checkpoint_1_6.pt", 6)
    save(tmp_path / "checkpoint_last.pt", 6)
    set_mtime(tmp_path / "checkpoint_1_3.pt", 30)
    set_mtime(tmp_path / "checkpoint_1_6.pt", 20)
    data = (tmp_path / "checkpoint_last.pt").read_bytes()
    (tmp_path / "checkpoint_last.pt").write_bytes(data[: len(data) // 2])  # killed mid-copy
    assert not is_readable_checkpoint(tmp_path / "checkpoint_last.pt")

    assert recover_last_checkpoint(tmp_path) == tmp_path / "checkpoint_1_6.pt"
    assert torch.load(tmp_path / "checkpoint_last.pt", weights_only=True)["updates"] == 6
    assert (tmp_path / "checkpoint_last.pt.corrupt").read_bytes() == data[: len(data) // 2]  # kept, not lost
    assert "checkpoint_last.pt" in caplog.text and "checkpoint_1_6.pt" in caplog.text
    assert recover_last_checkpoint(tmp_path) is None  # nothing left to repair


def test_a_corrupt_byte_inside_a_complete_file_is_caught_too(tmp_path):
    save(tmp_path / "checkpoint_last.pt", 1)
    data = bytearray((tmp_path / "checkpoint_last.pt").read_bytes())
    data[len(data) // 2] ^= 0xFF  # inside the tensor data: the member's CRC no longer matches
    (tmp_path / "checkpoint_last.pt").write_bytes(bytes(data))
    assert not is_readable_checkpoint(tmp_path / "checkpoint_last.pt")


def test_nothing_happens_to_a_readable_or_missing_last_checkpoint(tmp_path):
    assert recover_last_checkpoint(tmp_path) is None
    save(tmp_path / "checkpoint_last.pt", 2)
    save(tmp_path / "checkpoint_1_9.pt", 9)  # newer, but last is fine: fairseq's choice stands
    assert recover_last_checkpoint(tmp_path) is None
    assert torch.load(tmp_path / "checkpoint_last.pt", weights_only=True)["updates"] == 2


def test_no_readable_checkpoint_left_is_an_error_that_names_the_file(tmp_path):
    (tmp_path / "checkpoint_last.pt").write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(CheckpointRecoveryError, match=r"checkpoint_last\.pt: unreadable .*Fix: "):
        recover_last_checkpoint(tmp_path)
    assert (tmp_path / "checkpoint_last.pt").is_file()  # left where it was
