"""Nested config dataclasses to and from plain dicts.

Checkpoints store configs as plain dicts (``dataclasses.asdict``) so that ``torch.load``'s
``weights_only=True`` reads them; :func:`config_from_dict` turns such a dict back into the
dataclass, strictly: a key the dataclass does not know means the checkpoint was written by
different code, and silently dropping it would build a different model.
"""

import dataclasses
import typing
from typing import Any, Iterable, Mapping, Type, TypeVar

T = TypeVar("T")


class ConfigMismatchError(ValueError):
    """A stored config does not fit the code's config dataclass."""


def config_from_dict(cls: Type[T], data: Mapping[str, Any], ignore: Iterable[str] = (), where: str = "") -> T:
    """Build ``cls`` from ``data``; nested dataclass fields come from nested dicts.

    Keys missing from ``data`` take the dataclass defaults; keys in ``ignore`` are skipped;
    any other unknown key raises :class:`ConfigMismatchError` naming its dotted path.
    """
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f"{cls!r} is not a dataclass")
    if not isinstance(data, Mapping):
        raise ConfigMismatchError(f"config {where or cls.__name__}: expected a mapping, got {type(data).__name__}")
    ignore = set(ignore)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields) - ignore)
    if unknown:
        names = ", ".join(f"{where}{key}" for key in unknown)
        raise ConfigMismatchError(
            f"config keys not known to {cls.__name__}: {names}. The checkpoint or config was "
            f"written by a different version of ehmam; remove the keys or use that version"
        )
    hints = typing.get_type_hints(cls)
    values = {}
    for name, value in data.items():
        if name in ignore:
            continue
        kind = hints[name]
        if dataclasses.is_dataclass(kind) and not isinstance(value, kind):
            value = config_from_dict(kind, value, where=f"{where}{name}.")
        elif isinstance(value, (list, tuple)):
            value = list(value)
        values[name] = value
    return cls(**values)


def config_to_dict(cfg: Any) -> dict:
    """Plain nested dict of a config dataclass (what checkpoints store)."""
    return dataclasses.asdict(cfg)
