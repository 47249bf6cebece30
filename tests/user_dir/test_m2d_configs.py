"""The M2D example configs say what they claim: tiny_cpu's model is tiny_m2d_config(), the
base model is the paper's (M2DConfig's defaults), the base recipe's update counts follow
from AudioSet's size, and a key the dataclasses do not know fails."""
from dataclasses import fields, replace
import pytest
from omegaconf import OmegaConf
from omegaconf.errors import ConfigKeyError

from ehmam.checkpoints import M2D_FAIRSEQ_KEYS
from ehmam.data.clips import ClipConfig
from ehmam.models.m2d import M2DConfig, tiny_m2d_config
from tests.user_dir.example_configs import (REPO, load_plugin, merged_model_config, merged_task_config, model_schema,
                                            task_schema)

CONFIGS = REPO / "examples/m2d/config"
AUDIOSET_CLIPS = 2_005_132  # M2D Sec. 4.1


@pytest.fixture(scope="module")
def plugin():
    return load_plugin("m2d")


def yaml(name):
    return OmegaConf.load(CONFIGS / name)


def model_config(plugin, name):
    """The yaml's model block merged into the registered dataclass, as fairseq does (the
    EMA's run length resolved against the yaml's optimization.max_update)."""
    m2d, _ = plugin
    return merged_model_config(m2d, m2d.M2DFairseqConfig, yaml(name), anneal_over_run=True)


def task_config(plugin, name):
    return merged_task_config(plugin[1], yaml(name))


def test_tiny_cpu_is_tiny_m2d_config(plugin):
    assert model_config(plugin, "tiny_cpu.yaml") == tiny_m2d_config()


def test_base_is_the_papers_model_annealed_over_the_run(plugin):
    cfg = model_config(plugin, "base.yaml")
    assert cfg == replace(M2DConfig(), ema=replace(M2DConfig().ema, anneal_updates=293_700))
    assert (cfg.encoder.embed_dim, cfg.encoder.depth, cfg.encoder.heads, cfg.encoder.patch_size) == (768, 12, 12, [16, 16])
    assert (cfg.predictor.embed_dim, cfg.predictor.depth, cfg.predictor.heads, cfg.predictor.attention) == (512, 8, 16, "global")
    assert (cfg.mask_ratio, cfg.ema.decay_start, cfg.ema.decay_end) == (0.7, 0.99995, 0.99999)


def test_base_recipe_is_the_papers_optimisation_in_updates(plugin):
    cfg = yaml("base.yaml")
    batch = cfg.dataset.batch_size * cfg.optimization.update_freq[0] * cfg.distributed_training.distributed_world_size
    assert batch == 2048
    per_epoch = AUDIOSET_CLIPS // batch
    assert cfg.optimization.max_update == 300 * per_epoch
    assert cfg.optimization.lr == [3e-4 * batch / 256] and cfg.optimization.clip_norm == 3.0
    groups = cfg.optimizer.groups
    assert cfg.optimizer._name == "composite" and set(groups) == {"default", "no_decay"}
    for name, decay in (("default", 0.05), ("no_decay", 0.0)):
        group = groups[name]
        assert group.lr_float == cfg.optimization.lr[0]
        assert list(group.optimizer.adam_betas) == [0.9, 0.95] and group.optimizer.weight_decay == decay
        assert group.lr_scheduler._name == "cosine" and group.lr_scheduler.warmup_updates == 20 * per_epoch
    task = task_config(plugin, "base.yaml")
    clip = ClipConfig(**OmegaConf.to_container(task.clip))
    assert clip.num_samples // 160 + 1 == 608  # the 80 x 608 input


def test_the_task_configs_fit_their_dataclass(plugin):
    for name in ("tiny_cpu.yaml", "base.yaml"):
        task = task_config(plugin, name)
        assert task.min_sample_size == 15 * 160  # one 16-frame patch column
        assert task.norm_mean is None and task.norm_std is None  # measured at start-up


def test_unknown_keys_fail(plugin):
    m2d, task = plugin
    schema = model_schema(m2d.M2DFairseqConfig)
    with pytest.raises(ConfigKeyError):
        OmegaConf.merge(schema, {"mask_ration": 0.6})
    with pytest.raises(ConfigKeyError):
        OmegaConf.merge(schema, {"encoder": {"layers": 6}})
    with pytest.raises(ConfigKeyError):
        OmegaConf.merge(task_schema(task), {"clip": {"second": 6}})


def test_the_fairseq_config_adds_exactly_the_keys_checkpoint_readers_skip(plugin):
    m2d, _ = plugin
    added = {f.name for f in fields(m2d.M2DFairseqConfig)} - {f.name for f in fields(M2DConfig)}
    assert added | {"_name"} == set(M2D_FAIRSEQ_KEYS)


def test_biases_and_norms_are_exempt_from_weight_decay_and_nothing_else(plugin):
    m2d, _ = plugin
    model = m2d.M2DFairseqModel(OmegaConf.merge(model_schema(m2d.M2DFairseqConfig),
                                                yaml("tiny_cpu.yaml").model, {"ema": {"anneal_updates": 10}}))
    tagged = {name for name, p in model.named_parameters() if getattr(p, "param_group", None) == "no_decay"}
    trained = {name for name, p in model.named_parameters() if p.requires_grad}
    assert tagged == {name for name, p in model.named_parameters()
                      if p.requires_grad and (name.endswith(".bias") or "norm" in name.split(".")[-2])}
    assert "m2d.encoder.cls_token" in trained - tagged and "m2d.predictor.mask_token" in trained - tagged
    assert not any(name.startswith("m2d.target.") for name in tagged | trained)  # the EMA target never trains


def test_a_clip_rate_other_than_the_tasks_is_refused(plugin):
    _, task = plugin
    cfg = OmegaConf.merge(task_schema(task), {"clip": {"sample_rate": 8000}})
    with pytest.raises(ValueError, match="task.clip.sample_rate=8000 differs from task.sample_rate=16000"):
        task.SpectrogramPretrainingTask.setup_task(cfg)
