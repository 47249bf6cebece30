"""SUPERB through s3prl's own runner: ``python -m ehmam.superb`` takes exactly the arguments of
s3prl's ``run_downstream.py``, registers ehmam's upstream names (``ehmam_local``,
``m2d_local``, ``audio_mae_local``, ``jepa_local``), then calls s3prl's unmodified
``run_downstream.main``::

    python -m ehmam.superb -m train -u ehmam_local -k checkpoints/demo/checkpoint_last.pt \\
        -d speech_commands -c examples/superb/ks.yaml -p outputs/superb/ks/ehmam
    python -m ehmam.superb -m evaluate -e outputs/superb/ks/ehmam/dev-best.ckpt

Before handing over, it refuses what cannot work here, with the fix: upstream fine-tuning
(``-f``; the upstreams are frozen, as SUPERB's protocol has them), Hugging Face Hub loading or
upload (``--hub huggingface``, ``--push_to_hf_hub``), and a new experiment without ``-c``
(the pip package ships no downstream configs; ours are in ``examples/superb/``). Without
CUDA it adds ``--device cpu`` (s3prl's default is ``cuda``). See examples/superb/README.md.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import List, Optional

import torch

from .integrations.s3prl import register

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "superb"


class LauncherError(SystemExit):
    """An argument combination ehmam's launcher refuses (exit status 2, the message on stderr)."""

    def __init__(self, message: str):
        super().__init__(f"python -m ehmam.superb: error: {message}")


def check_arguments(argv: List[str]) -> List[str]:
    """The arguments to hand to s3prl, or :class:`LauncherError`."""
    parser = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    parser.add_argument("-m", "--mode")
    parser.add_argument("-c", "--config")
    parser.add_argument("-e", "--past_exp")
    parser.add_argument("-a", "--auto_resume", action="store_true")
    parser.add_argument("-f", "--upstream_trainable", action="store_true")
    parser.add_argument("--hub")
    parser.add_argument("--push_to_hf_hub")
    parser.add_argument("--device")
    known, _ = parser.parse_known_args(argv)
    if known.upstream_trainable:
        raise LauncherError("-f/--upstream_trainable: ehmam's upstreams are frozen feature extractors "
                            "(SUPERB's protocol). Fix: leave -f out")
    if known.hub not in (None, "torch"):
        raise LauncherError(f"--hub {known.hub}: ehmam's upstreams are local checkpoints. Fix: -u NAME -k PATH")
    if known.push_to_hf_hub not in (None, "False", "false"):
        raise LauncherError("--push_to_hf_hub: not available with huggingface_hub >= 1.0. "
                            "Fix: leave it out and upload the experiment directory yourself")
    if known.mode == "train" and not known.past_exp and not known.auto_resume and not known.config:
        configs = ", ".join(sorted(str(p.relative_to(EXAMPLES.parents[1])) for p in EXAMPLES.glob("*.yaml")))
        raise LauncherError("a new experiment needs -c CONFIG: the s3prl wheel ships no downstream "
                            f"configs. Fix: pass one of ours ({configs})")
    argv = list(argv)
    if known.device is None and not torch.cuda.is_available():
        print("[ehmam.superb] no CUDA device: adding --device cpu", file=sys.stderr)
        argv += ["--device", "cpu"]
    return argv


def main(argv: Optional[List[str]] = None) -> None:
    argv = check_arguments(list(sys.argv[1:] if argv is None else argv))
    names = register()
    print(f"[ehmam.superb] registered s3prl upstreams: {', '.join(names)}", file=sys.stderr)
    from s3prl import run_downstream

    saved = sys.argv
    sys.argv = ["run_downstream.py", *argv]
    try:
        run_downstream.main()
    finally:
        sys.argv = saved


if __name__ == "__main__":
    main()
