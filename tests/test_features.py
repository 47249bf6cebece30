import pytest
import torch

from ehmam.features import extract_features
from ehmam.models import EhmamModel, tiny_config


def test_features_of_a_padded_batch_equal_each_utterance_alone():
    torch.manual_seed(0)
    model = EhmamModel(tiny_config()).train()
    gen = torch.Generator().manual_seed(1)
    waves = [torch.randn(6_000, generator=gen), torch.randn(9_600, generator=gen)]
    feats = extract_features(model, waves)
    assert model.training, "the caller's mode is restored"
    assert len(feats.layers) == 4
    assert feats.frames.shape == (2, 29, 64) and feats.hidden.shape == (2, 29, 64)
    assert feats.padding_mask[0].sum() == 29 - 18 and not feats.padding_mask[1].any()
    alone = extract_features(model, waves[0])
    assert alone.padding_mask is None
    for layer, single in zip(feats.layers, alone.layers):
        assert torch.allclose(layer[0, :18], single[0], atol=1e-4)


def test_bad_inputs():
    model = EhmamModel(tiny_config())
    with pytest.raises(ValueError, match="1-D"):
        extract_features(model, [torch.randn(2, 6_000)])
    with pytest.raises(ValueError, match="no waveforms"):
        extract_features(model, [])
