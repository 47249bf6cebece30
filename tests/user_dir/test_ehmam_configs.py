"""The example configs say what they claim: tiny_cpu's model is tiny_config(), the base
recipe is the paper's (model defaults, 63 min of audio per update, Table 5 optimisation)."""
from dataclasses import fields
from pathlib import Path

import pytest
from fairseq.utils import import_user_module
from omegaconf import OmegaConf

from ehmam.checkpoints import FAIRSEQ_MODEL_KEYS
from ehmam.models import EhmamConfig, tiny_config

REPO = Path(__file__).resolve().parents[2]
CONFIGS = REPO / "examples/ehmam/config"


@pytest.fixture(scope="module")
def plugin():
    import_user_module(OmegaConf.create({"user_dir": str(REPO / "user_dir")}))
    from user_dir.models import ehmam

    return ehmam


def model_config(plugin, yaml_name, *overrides):
    """The yaml's model block merged into the registered dataclass, as fairseq does (the
    trainer's interpolations replaced by numbers)."""
    block = OmegaConf.merge(OmegaConf.load(CONFIGS / yaml_name).model, OmegaConf.from_dotlist(
        ["easy_to_hard_updates=100", *overrides]))
    schema = OmegaConf.structured(plugin.EhmamFairseqConfig(seed=1, easy_to_hard_updates=100))
    return plugin.core_config(OmegaConf.merge(schema, block))


def test_tiny_cpu_is_tiny_config(plugin):
    assert model_config(plugin, "tiny_cpu.yaml") == tiny_config()


def test_base_is_the_papers_model(plugin):
    assert model_config(plugin, "base_librispeech.yaml") == EhmamConfig()


def test_base_recipe_matches_table_5():
    cfg = OmegaConf.load(CONFIGS / "base_librispeech.yaml")
    samples = cfg.dataset.max_tokens * cfg.optimization.update_freq[0] * cfg.distributed_training.distributed_world_size
    assert samples / 16000 / 60 == pytest.approx(63, abs=0.5)  # minutes of audio per update
    assert cfg.optimization.lr == [0.00075] and cfg.optimization.max_update == 400_000
    assert cfg.optimizer.adam_betas == "(0.9,0.98)" and cfg.optimizer.weight_decay == 0.01
    assert cfg.lr_scheduler._name == "cosine" and cfg.lr_scheduler.warmup_updates == 8000


def test_fairseq_config_adds_exactly_the_keys_checkpoint_readers_skip(plugin):
    core = {f.name for f in fields(EhmamConfig)}
    added = {f.name for f in fields(plugin.EhmamFairseqConfig)} - core
    assert added == set(FAIRSEQ_MODEL_KEYS)


def test_random_masking_is_one_override(plugin):
    cfg = model_config(plugin, "base_librispeech.yaml", "masking.masking=random")
    assert cfg.masking.masking == "random" and cfg.masking.mask_prob == 0.5
