"""What data-parallel training needs beyond fairseq: randomness keyed by the batch, and a check
that every process holds the same weights.

**Randomness keyed by the batch.** Each training batch draws its masks, dropout and anything
else from torch's generators seeded with :func:`batch_seed` (the run's seed, the update, the
batch's sample ids) and nothing else. So:

* a resumed run draws what the uninterrupted one drew, with no generator state to save;
* each process of a data-parallel run draws for its own samples, so the ranks' masks differ;
* N processes with ``update_freq=[U]`` equal one process with ``update_freq=[N * U]`` on the
  same batches: fairseq gives rank r the batches r, r + N, ... of the shared order, which are
  the one process's micro-batches of the same updates, and their gradients sum alike.

**Rank agreement.** Data parallelism keeps the ranks' weights equal only if every gradient
is all-reduced and every other change (an EMA teacher, a buffer) is computed alike on each
rank; a model that breaks this trains on silently, each rank drifting. :func:`state_digests`
hashes every tensor of a state dict bit for bit, and :func:`disagreeing_tensors` names those
that differ between ranks.
"""
from __future__ import annotations

import hashlib
from typing import Dict, Iterable, List, Mapping, Sequence

import numpy as np
import torch


def batch_seed(seed: int, update: int, ids: Iterable[int]) -> int:
    """A 63-bit seed from (run seed, update, sample ids), through numpy's SeedSequence (a
    hash of the whole sequence: neighbouring seeds or ids give unrelated streams)."""
    entropy = [int(seed), int(update), *(int(i) for i in ids)]
    if min(entropy) < 0:
        raise ValueError(f"batch_seed needs non-negative integers, got seed={seed}, update={update}, ids={list(ids)}")
    return int(np.random.SeedSequence(entropy).generate_state(1, dtype=np.uint64)[0] >> np.uint64(1))


def seed_batch(seed: int, update: int, ids: Iterable[int]) -> int:
    """Seed torch's CPU and CUDA generators for one training batch; returns the seed."""
    value = batch_seed(seed, update, ids)
    torch.manual_seed(value)  # every device's default generator
    return value


def tensor_digest(tensor: torch.Tensor) -> str:
    """sha256 of a tensor's dtype, shape and bytes."""
    flat = tensor.detach().cpu().contiguous().reshape(-1)
    digest = hashlib.sha256(f"{flat.dtype}{tuple(tensor.shape)}".encode())
    digest.update(flat.view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def state_digests(state: Mapping[str, object]) -> Dict[str, str]:
    """Every tensor of a state dict, hashed (other entries skipped)."""
    return {name: tensor_digest(value) for name, value in state.items() if isinstance(value, torch.Tensor)}


def combined_digest(digests: Mapping[str, str]) -> str:
    """One sha256 over all named digests, names sorted: equal states, equal digests."""
    digest = hashlib.sha256()
    for name in sorted(digests):
        digest.update(f"{name}={digests[name]};".encode())
    return digest.hexdigest()


def disagreeing_tensors(per_rank: Sequence[Mapping[str, str]]) -> List[str]:
    """Names whose digest is not the same on every rank (missing on a rank counts), each
    with the ranks that differ from rank 0."""
    names = sorted(set().union(*per_rank))
    out = []
    for name in names:
        reference = per_rank[0].get(name)
        ranks = [r for r, digests in enumerate(per_rank) if digests.get(name) != reference]
        if ranks:
            out.append(f"{name} (ranks {', '.join(map(str, ranks))} differ from rank 0)")
    return out
