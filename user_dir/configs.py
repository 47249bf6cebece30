"""The plain-PyTorch config inside a fairseq one: fairseq hands models and tasks DictConfigs
(or their dataclasses); the ``ehmam`` package takes its own dataclasses, built strictly."""
from typing import Iterable, Type, TypeVar

from omegaconf import OmegaConf

from ehmam.configs import config_from_dict

T = TypeVar("T")


def plain_config(cfg, cls: Type[T], fairseq_keys: Iterable[str] = ()) -> T:
    """``cls`` from ``cfg`` (a DictConfig or a dataclass, interpolations resolved);
    ``fairseq_keys`` are the fields the fairseq dataclass adds, skipped."""
    data = OmegaConf.to_container(OmegaConf.structured(cfg) if not OmegaConf.is_config(cfg) else cfg, resolve=True)
    return config_from_dict(cls, data, ignore=fairseq_keys)
