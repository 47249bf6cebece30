"""The audio JEPA example configs say what they claim: tiny_cpu's model is
tiny_jepa_config(), the base model is the paper's (JEPAConfig's defaults), the base recipe's
update counts follow from AudioSet's size and the paper's optimisation, and a key the
dataclasses do not know fails."""
import math
from dataclasses import fields, replace
import pytest
from omegaconf import OmegaConf
from omegaconf.errors import ConfigKeyError

from ehmam.checkpoints import JEPA_FAIRSEQ_KEYS
from ehmam.data.clips import ClipConfig
from ehmam.models.jepa import DURATION_FRAMES, JEPAConfig, clip_samples, tiny_jepa_config
from tests.user_dir.example_configs import REPO, load_plugin, merged_model_config, merged_task_config, model_schema

CONFIGS = REPO / "examples/jepa/config"
AUDIOSET_CLIPS = 2_005_132  # AudioSet-2M's training clips, as M2D counts them


@pytest.fixture(scope="module")
def plugin():
    return load_plugin("jepa")


def yaml(name):
    return OmegaConf.load(CONFIGS / name)


def model_config(plugin, name):
    """The yaml's model block merged into the registered dataclass, as fairseq does."""
    jepa, _ = plugin
    return merged_model_config(jepa, jepa.JEPAFairseqConfig, yaml(name), anneal_over_run=True)


def task_clip(plugin, name):
    return ClipConfig(**OmegaConf.to_container(merged_task_config(plugin[1], yaml(name)).clip))


def test_tiny_cpu_is_tiny_jepa_config(plugin):
    assert model_config(plugin, "tiny_cpu.yaml") == tiny_jepa_config()
    assert task_clip(plugin, "tiny_cpu.yaml").num_samples == clip_samples(DURATION_FRAMES["3.2s"])


def test_base_is_the_papers_model_annealed_over_the_run(plugin):
    cfg = model_config(plugin, "base.yaml")
    assert cfg == replace(JEPAConfig(), ema=replace(JEPAConfig().ema, anneal_updates=294_000))
    assert (cfg.masking.strategy, cfg.masking.ratio, cfg.target_domain, cfg.loss) == (
        "unstructured", 0.6, "input", "smooth_l1")
    assert (cfg.ema.decay_start, cfg.ema.decay_end) == (0.99995, 0.99999)
    # the paper's shortest crop, 80 x 208
    assert task_clip(plugin, "base.yaml").num_samples // 160 + 1 == 208


def test_base_recipe_is_the_papers_optimisation_in_updates(plugin):
    cfg = yaml("base.yaml")
    batch = cfg.dataset.batch_size * cfg.optimization.update_freq[0] * cfg.distributed_training.distributed_world_size
    assert batch == 2048
    per_epoch = math.ceil(AUDIOSET_CLIPS / batch)
    assert cfg.optimization.max_update == 300 * per_epoch
    assert cfg.optimization.lr == [3e-4 * batch / 256] and cfg.optimization.clip_norm == 3.0
    assert cfg.optimizer._name == "adam" and list(cfg.optimizer.adam_betas) == [0.9, 0.95]
    assert cfg.optimizer.weight_decay == 0.05
    assert cfg.lr_scheduler._name == "cosine" and cfg.lr_scheduler.warmup_updates == 20 * per_epoch


def test_unknown_keys_and_choices_outside_the_study_fail(plugin):
    jepa, _ = plugin
    schema = model_schema(jepa.JEPAFairseqConfig)
    with pytest.raises(ConfigKeyError):
        OmegaConf.merge(schema, {"target_domian": "latent"})
    with pytest.raises(ConfigKeyError):
        OmegaConf.merge(schema, {"masking": {"ration": 0.5}})
    with pytest.raises(ValueError, match="target_domain='audio'"):
        jepa.core_config(OmegaConf.merge(schema, {"target_domain": "audio"}))


def test_the_fairseq_config_adds_exactly_the_keys_checkpoint_readers_skip(plugin):
    jepa, _ = plugin
    added = {f.name for f in fields(jepa.JEPAFairseqConfig)} - {f.name for f in fields(JEPAConfig)}
    assert added | {"_name"} == set(JEPA_FAIRSEQ_KEYS)


def test_every_trained_parameter_decays_and_the_target_never_trains(plugin):
    jepa, _ = plugin
    model = jepa.JEPAFairseqModel(OmegaConf.merge(model_schema(jepa.JEPAFairseqConfig), yaml("tiny_cpu.yaml").model,
                                                  {"ema": {"anneal_updates": 10}}))
    trained = {name for name, p in model.named_parameters() if p.requires_grad}
    assert not any(hasattr(p, "param_group") for p in model.parameters())
    assert {name.split(".")[1] for name in trained} == {"encoder", "predictor"}
    assert not any(name.startswith("jepa.target.") for name in trained)
