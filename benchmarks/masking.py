#!/usr/bin/env python
"""Easy-to-hard mask generation: ehmam's vectorised version against a per-sample loop.

The reference is the straightforward implementation, one utterance at a time in
Python/NumPy (the shape of the authors' Algorithm 2): sort the predicted losses, add
blocks from the hardest frame down, then random blocks, until the budget is met.
Both produce masks with the same selective part; the benchmark checks that first. A
second, slower loop in the shape of the paper's Algorithm 2 is timed for context.

    python benchmarks/masking.py [--batch 64] [--frames 500] [--repeats 20]

Prints one table; the last line is the speed-up of the vectorised version.
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ehmam.masking.frames import MaskingConfig, easy_to_hard_mask  # noqa: E402


def loop_reference(predicted: np.ndarray, lengths: np.ndarray, progress: float, cfg: MaskingConfig,
                   rng: np.random.Generator) -> np.ndarray:
    batch, frames = predicted.shape
    budget = int(cfg.mask_prob * lengths.min())
    n_selective = int(budget * progress)
    mask = np.zeros((batch, frames), dtype=bool)
    for b in range(batch):
        length = int(lengths[b])
        chosen = []
        taken = set()
        # selective: blocks from the hardest frame down; within a block, harder frames first
        for start in np.argsort(-predicted[b, :length], kind="stable"):
            block = [f for f in range(start, min(start + cfg.mask_length, length)) if f not in taken]
            for frame in sorted(block, key=lambda f: -predicted[b, f]):
                if len(chosen) == n_selective:
                    break
                chosen.append(frame)
                taken.add(frame)
            if len(chosen) == n_selective:
                break
        # random: blocks in random order, leftmost frames first, until the budget is met
        for start in rng.permutation(length):
            for frame in range(start, min(start + cfg.mask_length, length)):
                if len(chosen) == budget:
                    break
                if frame not in taken:
                    chosen.append(frame)
                    taken.add(frame)
            if len(chosen) == budget:
                break
        mask[b, chosen] = True
    return mask


def algorithm2_loop(predicted: np.ndarray, progress: float, cfg: MaskingConfig, rng: np.random.Generator) -> np.ndarray:
    """The shape of the paper's Algorithm 2 (data2vec 2.0's mask code plus loss-picked
    starts): per utterance, NumPy sampling of block starts, set differences, expansion
    of starts into blocks, then trimming every row to the batch's smallest count."""
    batch, frames = predicted.shape
    num_blocks = int(cfg.mask_prob * frames / cfg.mask_length + rng.random())
    hardest_first = np.argsort(predicted, axis=1)[:, ::-1]
    rows = []
    for b in range(batch):
        n_random = int(num_blocks * (1 - progress))
        starts = rng.choice(frames - cfg.mask_length, num_blocks, replace=False)
        selective_starts = hardest_first[b][: num_blocks - n_random]
        random_starts = rng.choice(np.setdiff1d(starts, selective_starts), n_random, replace=False)
        all_starts = np.concatenate((selective_starts, random_starts))
        frames_masked = np.asarray([s + o for s in all_starts for o in range(cfg.mask_length)])
        rows.append(np.unique(frames_masked[frames_masked < frames]))
    smallest = min(len(r) for r in rows)
    mask = np.zeros((batch, frames), dtype=bool)
    for b, row in enumerate(rows):
        mask[b, rng.choice(row, smallest, replace=False) if len(row) > smallest else row] = True
    return mask


def timed(fn, repeats: int, device: str = "cpu") -> float:
    fn()  # warm-up
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    sync()
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    sync()
    return (time.perf_counter() - start) / repeats


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--frames", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--progress", type=float, default=0.5)
    parser.add_argument("--device", default="cpu", help="where the vectorised version runs (the loops use NumPy)")
    args = parser.parse_args()
    torch.set_num_threads(1)  # a fair fight with the single-threaded loop

    gen = torch.Generator().manual_seed(0)
    predicted = torch.randn(args.batch, args.frames, generator=gen)
    lengths = np.full(args.batch, args.frames)
    cfg = MaskingConfig()
    rng = np.random.default_rng(0)

    vectorised = easy_to_hard_mask(predicted, None, args.progress, cfg, gen)
    reference = loop_reference(predicted.numpy(), lengths, args.progress, cfg, rng)
    if not (reference.sum(1) == vectorised.mask.sum(1).numpy()).all():
        raise SystemExit("the two implementations disagree on the mask count")
    if not (reference & vectorised.selective.numpy()).sum() == vectorised.selective.sum():
        raise SystemExit("the two implementations disagree on the selective frames")

    loop_s = timed(lambda: loop_reference(predicted.numpy(), lengths, args.progress, cfg, rng), max(1, args.repeats // 4))
    alg2_s = timed(lambda: algorithm2_loop(predicted.numpy(), args.progress, cfg, rng), max(1, args.repeats // 4))
    on_device = predicted.to(args.device)
    device_gen = torch.Generator(device=args.device).manual_seed(0)
    vec_s = timed(lambda: easy_to_hard_mask(on_device, None, args.progress, cfg, device_gen), args.repeats, args.device)
    print(f"easy-to-hard masking, batch {args.batch} x {args.frames} frames, progress {args.progress}, "
          f"vectorised on {args.device}, 1 CPU thread")
    print(f"{'implementation':44s}{'ms per batch':>14s}{'vs vectorised':>15s}")
    for name, seconds in [
        ("per-sample loop, same masks (reference)", loop_s),
        ("per-sample loop, Algorithm 2 shape", alg2_s),
        ("ehmam.masking.frames (vectorised)", vec_s),
    ]:
        print(f"{name:44s}{seconds * 1e3:>14.2f}{seconds / vec_s:>14.1f}x")
    print(f"speed-up vs per-sample loop (same masks): {loop_s / vec_s:.1f}x")


if __name__ == "__main__":
    main()
