"""ehmam.distributed: batch-keyed seeds and the rank-agreement digests."""
import pytest
import torch

from ehmam.distributed import (batch_seed, combined_digest, disagreeing_tensors, seed_batch, state_digests,
                               tensor_digest)


def test_a_batch_seed_depends_on_the_seed_the_update_and_every_id():
    base = batch_seed(1, 5, [3, 9, 12])
    assert base == batch_seed(1, 5, [3, 9, 12]) and 0 <= base < 2**63
    others = [batch_seed(2, 5, [3, 9, 12]), batch_seed(1, 6, [3, 9, 12]), batch_seed(1, 5, [3, 9, 13]),
              batch_seed(1, 5, [3, 9]), batch_seed(1, 5, [9, 3, 12])]
    assert len({base, *others}) == 6
    # neighbouring inputs do not give neighbouring seeds (a hash, not a sum)
    assert abs(batch_seed(1, 5, [4]) - batch_seed(1, 5, [3])) > 2**32


def test_negative_inputs_are_refused():
    with pytest.raises(ValueError, match="non-negative"):
        batch_seed(-1, 0, [1])


def test_seeding_a_batch_replays_its_dropout():
    drop = torch.nn.Dropout(0.5)
    seed_batch(7, 2, [1, 2])
    first = drop(torch.ones(1000))
    torch.rand(10)  # anything drawn between batches does not matter
    seed_batch(7, 2, [1, 2])
    assert torch.equal(drop(torch.ones(1000)), first)
    seed_batch(7, 2, [1, 3])
    assert not torch.equal(drop(torch.ones(1000)), first)


def test_digests_see_one_bit_and_the_dtype_and_shape():
    x = torch.randn(4, 5)
    y = x.clone()
    y.view(torch.int32)[2, 3] ^= 1  # the lowest mantissa bit of one element
    assert tensor_digest(x) == tensor_digest(x.clone()) != tensor_digest(y)
    assert tensor_digest(x) != tensor_digest(x.reshape(5, 4)) != tensor_digest(x.double())
    assert tensor_digest(torch.tensor(3)) != tensor_digest(torch.tensor(3.0))
    assert tensor_digest(torch.ones(3, dtype=torch.bfloat16))  # any dtype hashes
    assert tensor_digest(x.t()) == tensor_digest(x.t().contiguous())


def test_disagreeing_tensors_names_the_tensors_and_ranks_that_differ():
    state = {"a": torch.zeros(2), "b": torch.ones(3), "step": 4}
    same = state_digests(state)
    assert set(same) == {"a", "b"}
    drift = state_digests({**state, "b": torch.ones(3) * 1.0000001})
    assert disagreeing_tensors([same, same, same]) == []
    assert disagreeing_tensors([same, same, drift, drift]) == ["b (ranks 2, 3 differ from rank 0)"]
    assert disagreeing_tensors([same, {"a": same["a"]}]) == ["b (ranks 1 differ from rank 0)"]
    assert combined_digest(same) == combined_digest(dict(reversed(list(same.items())))) != combined_digest(drift)
