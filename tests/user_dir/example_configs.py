"""What the tests of the spectrogram methods' example configs share: the plugin's modules,
and an example yaml's model and task blocks merged into the registered dataclasses as
fairseq merges them."""
import importlib
from pathlib import Path

from fairseq.utils import import_user_module
from omegaconf import OmegaConf

REPO = Path(__file__).resolve().parents[2]


def load_plugin(model: str):
    """(``user_dir.models.<model>``, ``user_dir.tasks.spectrogram_pretraining``), imported as
    fairseq imports the plugin."""
    import_user_module(OmegaConf.create({"user_dir": str(REPO / "user_dir")}))
    return (importlib.import_module(f"user_dir.models.{model}"),
            importlib.import_module("user_dir.tasks.spectrogram_pretraining"))


def model_schema(fairseq_config_class):
    """A registered model dataclass as fairseq structures it, the trainer's seed supplied."""
    return OmegaConf.structured(fairseq_config_class(seed=1))


def task_schema(task_module):
    return OmegaConf.structured(task_module.SpectrogramPretrainingConfig(data="x", seed=1))


def merged_model_config(model_module, fairseq_config_class, cfg, anneal_over_run: bool = False):
    """The yaml ``cfg``'s model block merged into the registered dataclass, then the plain
    config the model is built from. ``anneal_over_run``: the EMA's run length must be
    ``${optimization.max_update}`` (checked), resolved against the yaml's value."""
    block = cfg.model
    if anneal_over_run:
        assert OmegaConf.is_interpolation(block.ema, "anneal_updates")  # tau rises over the whole run
        block.ema.anneal_updates = cfg.optimization.max_update
    return model_module.core_config(OmegaConf.merge(model_schema(fairseq_config_class), block))


def merged_task_config(task_module, cfg):
    """The yaml ``cfg``'s task block merged into the task's dataclass (``data`` filled in)."""
    block = cfg.task
    block.data = "x"
    return OmegaConf.merge(task_schema(task_module), {k: v for k, v in block.items() if k != "_name"})
