"""The collapse guard measures spread the way data2vec 2.0 does and stops only after warm-up."""
import pytest
import torch

from ehmam.collapse import CollapseGuardConfig, RepresentationCollapseError, check_collapse, feature_std


def test_feature_std_against_numpy_definition():
    x = torch.randn(500, 8) * torch.arange(1, 9)
    expected = torch.tensor([x[:, d].numpy().std(ddof=1) for d in range(8)]).mean()
    assert feature_std(x).item() == pytest.approx(expected.item(), rel=1e-4)
    assert feature_std(torch.ones(100, 4)).item() == pytest.approx(1e-3, rel=1e-3)  # sqrt(0 + 1e-6)
    assert torch.isnan(feature_std(torch.ones(1, 4)))  # one frame has no spread to measure


def test_guard_fires_only_after_warmup_and_names_the_floor():
    cfg = CollapseGuardConfig(min_target_std=0.1, min_prediction_std=0.01, warmup_updates=10)
    check_collapse(9, target_std=0.0, prediction_std=0.0, cfg=cfg)  # warm-up: no check
    check_collapse(10, target_std=0.5, prediction_std=0.05, cfg=cfg)
    with pytest.raises(RepresentationCollapseError, match="update 10: target std 0.05 < min_target_std 0.1"):
        check_collapse(10, target_std=0.05, prediction_std=0.05, cfg=cfg)
    with pytest.raises(RepresentationCollapseError, match="prediction std 0.001 < min_prediction_std"):
        check_collapse(11, target_std=1.0, prediction_std=0.001, cfg=cfg)
