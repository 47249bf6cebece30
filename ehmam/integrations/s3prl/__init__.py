"""SUPERB with s3prl's own runner, unforked: ehmam's checkpoints as s3prl upstreams.

    python -m ehmam.superb -m train -u ehmam_local -k checkpoints/demo/checkpoint_last.pt \\
        -d speech_commands -c examples/superb/ks.yaml -p outputs/superb/ks

or from Python, with s3prl's own wrapper::

    from ehmam.integrations.s3prl import register
    from s3prl.nn import S3PRLUpstream
    register()
    upstream = S3PRLUpstream("m2d_local", path_or_url="checkpoints/m2d_demo/checkpoint_last.pt")

:func:`register` installs the compatibility shims (:mod:`.compat`) and sets one factory per
checkpoint kind on ``s3prl.hub`` (:data:`.upstream.UPSTREAMS`: ``ehmam_local``,
``m2d_local``, ``audio_mae_local`` for Audio-MAE and MSM-MAE, ``jepa_local``), which is where
the runner's ``-u NAME`` and ``S3PRLUpstream(NAME)`` look names up.
"""
from typing import List

from . import compat
from .upstream import UPSTREAMS, EhmamUpstream, build_upstream


def register() -> List[str]:
    """Install the shims and ehmam's upstream names on ``s3prl.hub``; returns the names."""
    compat.install()
    from s3prl import hub

    for name, factory in UPSTREAMS.items():
        setattr(hub, name, factory)
    return list(UPSTREAMS)


__all__ = ["register", "UPSTREAMS", "EhmamUpstream", "build_upstream", "compat"]
