#!/usr/bin/env python
"""What reading a checkpoint costs at start-up, against torch.load of the whole file.

    python benchmarks/checkpoint_reads.py [--gib 1.0] [--repeats 3]

Fine-tuning's task checks ``model.w2v_path`` before fairseq builds the model from it, and every
training run checks ``checkpoint_last.pt`` before resuming. This writes a checkpoint of
``--gib`` GiB of float32 weights (plus a fairseq-style config) into a temporary folder and
times, best of ``--repeats`` (the file stays in the page cache, as on a resume):

- ``read_checkpoint``: the whole file, every tensor read (the reference);
- ``read_checkpoint(mmap=True)``: what the w2v_path check does (tensors mapped, config read);
- ``is_readable_checkpoint``: the zip and CRC check of ``checkpoint_last.pt`` at start-up.

The last line is the mapped read's speed-up over the full read.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ehmam.checkpoints import read_checkpoint  # noqa: E402
from ehmam.run_directory import is_readable_checkpoint  # noqa: E402


def best_seconds(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--gib", type=float, default=1.0, help="size of the weights")
    p.add_argument("--repeats", type=int, default=3)
    a = p.parse_args(argv)
    chunk = 25_000_000  # floats per tensor (95 MiB)
    count = max(1, round(a.gib * 2**30 / 4 / chunk))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "checkpoint.pt"
        torch.save({"model": {f"w{i}": torch.randn(chunk) for i in range(count)},
                    "cfg": {"model": {"_name": "ehmam"}}}, path)
        gib = path.stat().st_size / 2**30
        full = best_seconds(lambda: read_checkpoint(path), a.repeats)
        mapped = best_seconds(lambda: read_checkpoint(path, mmap=True), a.repeats)
        integrity = best_seconds(lambda: is_readable_checkpoint(path), a.repeats)
    print(f"checkpoint of {gib:.2f} GiB, best of {a.repeats}")
    print(f"{'read':<36}{'seconds':>9}{'GiB/s':>9}")
    for name, seconds in (("read_checkpoint (reference)", full), ("read_checkpoint(mmap=True)", mapped),
                          ("is_readable_checkpoint (zip + CRC)", integrity)):
        print(f"{name:<36}{seconds:>9.3f}{gib / seconds:>9.1f}")
    print(f"mapped read vs full read: {full / mapped:.0f}x faster")


if __name__ == "__main__":
    main()
