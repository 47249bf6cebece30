"""The Audio-MAE / MSM-MAE example configs say what they claim: the tiny configs' models are
tiny_audio_mae_config() and tiny_msm_mae_config(), the base models are the papers'
(AudioMAEConfig's defaults, msm_mae_config()), the base recipes' update counts follow from
AudioSet's size, and a key the dataclasses do not know fails."""
from dataclasses import fields
import pytest
from omegaconf import OmegaConf
from omegaconf.errors import ConfigKeyError

from ehmam.checkpoints import AUDIO_MAE_FAIRSEQ_KEYS
from ehmam.data.clips import ClipConfig
from ehmam.models.audio_mae import AudioMAEConfig, msm_mae_config, tiny_audio_mae_config, tiny_msm_mae_config
from ehmam.models.frontends.log_mel import KaldiFbankFrontend
from tests.user_dir.example_configs import (REPO, load_plugin, merged_model_config, merged_task_config,
                                            model_schema)

CONFIGS = REPO / "examples/audio_mae/config"
AUDIOSET_CLIPS = 2_005_132  # as examples/m2d


@pytest.fixture(scope="module")
def plugin():
    return load_plugin("audio_mae")


def yaml(name):
    return OmegaConf.load(CONFIGS / name)


def model_config(plugin, name):
    """The yaml's model block merged into the registered dataclass, as fairseq does."""
    audio_mae, _ = plugin
    return merged_model_config(audio_mae, audio_mae.AudioMAEFairseqConfig, yaml(name))


def task_config(plugin, name):
    return merged_task_config(plugin[1], yaml(name))


def test_the_tiny_configs_are_the_tiny_dataclasses(plugin):
    assert model_config(plugin, "tiny_cpu.yaml") == tiny_audio_mae_config()
    assert model_config(plugin, "msm_mae_tiny_cpu.yaml") == tiny_msm_mae_config()


def test_the_base_models_are_the_papers(plugin):
    assert model_config(plugin, "base.yaml") == AudioMAEConfig()
    assert model_config(plugin, "msm_mae_base.yaml") == msm_mae_config()


def optimisation(cfg):
    batch = cfg.dataset.batch_size * cfg.optimization.update_freq[0] * cfg.distributed_training.distributed_world_size
    groups = cfg.optimizer.groups
    assert cfg.optimizer._name == "composite" and set(groups) == {"default", "no_decay"}
    decays, warmups = {}, set()
    for name, group in groups.items():
        assert group.lr_float == cfg.optimization.lr[0] and list(group.optimizer.adam_betas) == [0.9, 0.95]
        assert group.lr_scheduler._name == "cosine"
        decays[name] = group.optimizer.weight_decay
        warmups.add(group.lr_scheduler.warmup_updates)
    assert decays["no_decay"] == 0.0 and len(warmups) == 1
    return batch, decays["default"], warmups.pop()


def test_the_audio_mae_recipe_is_the_papers_in_updates(plugin):
    cfg = yaml("base.yaml")
    batch, decay, warmup = optimisation(cfg)
    per_epoch = AUDIOSET_CLIPS // batch
    assert batch == 512 and decay == 1e-4
    assert cfg.optimization.max_update == 33 * per_epoch and warmup == 3 * per_epoch
    assert cfg.optimization.lr == [2e-4 * batch / 256]
    task = task_config(plugin, "base.yaml")
    clip = ClipConfig(**OmegaConf.to_container(task.clip))
    assert (clip.num_samples, clip.roll, clip.gain_db) == (160_000, True, 6.0)  # 10 s, roll, +-6 dB
    frontend = KaldiFbankFrontend(AudioMAEConfig().kaldi_fbank)
    assert frontend.num_frames(clip.num_samples) == 998  # padded to 1024 as Audio-MAE pads
    assert (task.norm_mean, task.norm_std) == (-4.2677393, 4.5689974)  # Audio-MAE's AudioSet statistics
    assert task.min_sample_size == frontend.samples_for(16)


def test_the_msm_mae_recipe_is_the_released_codes_in_updates(plugin):
    cfg = yaml("msm_mae_base.yaml")
    batch, decay, warmup = optimisation(cfg)
    per_epoch = AUDIOSET_CLIPS // batch
    assert batch == 256 and decay == 0.05
    assert cfg.optimization.max_update == 100 * per_epoch and warmup == 10 * per_epoch
    assert cfg.optimization.lr == [1.5e-4 * batch / 128]  # msm-mae scales by batch / 128
    clip = ClipConfig(**OmegaConf.to_container(task_config(plugin, "msm_mae_base.yaml").clip))
    assert clip.num_samples // 160 + 1 == 512  # the 80 x 512 input


def test_the_tiny_tasks_fit_their_inputs(plugin):
    audio_mae = task_config(plugin, "tiny_cpu.yaml")
    frontend = KaldiFbankFrontend(tiny_audio_mae_config().kaldi_fbank)
    assert frontend.num_frames(audio_mae.clip.samples) == 254  # padded to 256
    msm = task_config(plugin, "msm_mae_tiny_cpu.yaml")
    assert msm.clip.samples // 160 + 1 == 320 and msm.min_sample_size == 15 * 160
    for task in (audio_mae, msm):
        assert task.norm_mean is None and task.norm_std is None  # measured at start-up


def test_unknown_keys_fail(plugin):
    audio_mae, _ = plugin
    schema = model_schema(audio_mae.AudioMAEFairseqConfig)
    with pytest.raises(ConfigKeyError):
        OmegaConf.merge(schema, {"norm_pixel_loss": True})
    with pytest.raises(ConfigKeyError):
        OmegaConf.merge(schema, {"decoder": {"window_size": [4, 4]}})
    with pytest.raises(ConfigKeyError):
        OmegaConf.merge(schema, {"kaldi_fbank": {"n_mels": 80}})


def test_the_fairseq_config_adds_exactly_the_keys_checkpoint_readers_skip(plugin):
    audio_mae, _ = plugin
    added = {f.name for f in fields(audio_mae.AudioMAEFairseqConfig)} - {f.name for f in fields(AudioMAEConfig)}
    assert added | {"_name"} == set(AUDIO_MAE_FAIRSEQ_KEYS)


def test_biases_and_norms_are_exempt_from_weight_decay_and_nothing_else(plugin):
    audio_mae, _ = plugin
    model = audio_mae.AudioMAEFairseqModel(OmegaConf.merge(model_schema(audio_mae.AudioMAEFairseqConfig),
                                                           yaml("tiny_cpu.yaml").model))
    tagged = {name for name, p in model.named_parameters() if getattr(p, "param_group", None) == "no_decay"}
    assert tagged == {name for name, p in model.named_parameters()
                      if name.endswith(".bias") or "norm" in name.split(".")[-2]}
    assert {"audio_mae.encoder.cls_token", "audio_mae.decoder.mask_token"}.isdisjoint(tagged)
