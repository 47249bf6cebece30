"""Configs survive a round trip through plain dicts, and stored configs that do not fit the
code fail loudly instead of building a different model."""
import pytest

from ehmam.configs import ConfigMismatchError, config_from_dict, config_to_dict
from ehmam.models import EhmamConfig, tiny_config


def test_round_trip_of_nested_configs():
    cfg = tiny_config()
    data = config_to_dict(cfg)
    assert data["encoder"]["embed_dim"] == 64 and data["masking"]["masking"] == "easy_to_hard"
    assert config_from_dict(EhmamConfig, data) == cfg


def test_missing_keys_take_defaults_and_tuples_become_lists():
    cfg = config_from_dict(EhmamConfig, {"encoder": {"layers": 3}, "frontend": {"conv_strides": (5, 2, 2, 2, 2, 2, 2)}})
    assert cfg.encoder.layers == 3 and cfg.encoder.embed_dim == EhmamConfig().encoder.embed_dim
    assert cfg.frontend.conv_strides == [5, 2, 2, 2, 2, 2, 2]


def test_unknown_keys_are_named_with_their_path():
    with pytest.raises(ConfigMismatchError, match=r"encoder\.rotary_embeddings"):
        config_from_dict(EhmamConfig, {"encoder": {"rotary_embeddings": True}})
    with pytest.raises(ConfigMismatchError, match="mask_adjust"):
        config_from_dict(EhmamConfig, {"mask_adjust": 0.05})
    assert config_from_dict(EhmamConfig, {"_name": "ehmam"}, ignore=["_name"]) == EhmamConfig()


def test_a_section_that_is_not_a_mapping_is_rejected():
    with pytest.raises(ConfigMismatchError, match="encoder"):
        config_from_dict(EhmamConfig, {"encoder": 768})
