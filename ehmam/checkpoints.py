"""Reading EH-MAM checkpoints: fairseq's (``checkpoint_last.pt`` from fairseq-hydra-train)
and the plain loop's, with ``torch.load(weights_only=True)``.

Both formats hold only tensors and plain Python types (configs as dicts), so nothing here
unpickles code. :func:`load_student_encoder` returns the student's front end and encoder
alone, the part fine-tuning and feature extraction use; the teacher, decoder and loss
predictor stay in the file.
"""

import pickle
from pathlib import Path
from typing import Dict, Optional, Tuple, Union

import torch
from torch import nn

from .configs import config_from_dict, config_to_dict
from .models.ehmam import EhmamConfig, EhmamModel
from .models.encoders.context import ContextEncoder, EncoderOutput
from .models.frontends.waveform import WaveformFrontend

# Keys the fairseq model config adds to EhmamConfig's: the registry name and what the
# trainer supplies (user_dir/models/ehmam.py; a test keeps the two in step).
FAIRSEQ_MODEL_KEYS = ("_name", "seed", "easy_to_hard_updates", "encoder_embed_dim")
# The fairseq wrapper keeps the EhmamModel under this attribute.
FAIRSEQ_PREFIX = "ehmam."
STUDENT_ENCODER_PARTS = ("frontend.", "encoder.")

PathLike = Union[str, Path]


class CheckpointError(ValueError):
    """The file is not an EH-MAM checkpoint this code can read."""


def read_checkpoint(path: PathLike) -> dict:
    """``torch.load`` with ``weights_only=True`` on the CPU, with errors that say what to do."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint file does not exist")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        raise CheckpointError(
            f"{path}: holds objects that torch.load(weights_only=True) refuses ({err}). "
            f"ehmam writes tensors and plain types only; a file from elsewhere or an older "
            f"version needs re-saving. Load it with weights_only=False only if you trust it"
        ) from err
    except (RuntimeError, EOFError) as err:
        raise CheckpointError(f"{path}: not a readable torch checkpoint (truncated or another format?): {err}") from err
    if not isinstance(state, dict) or "model" not in state:
        raise CheckpointError(f"{path}: not a checkpoint (no 'model' entry)")
    return state


def config_and_weights(state: dict, source: str = "checkpoint") -> Tuple[EhmamConfig, Dict[str, torch.Tensor]]:
    """The model config and the EhmamModel's own state dict, from either format."""
    if "ehmam_config" in state:  # the plain loop (scripts/pretrain_plain.py)
        return config_from_dict(EhmamConfig, state["ehmam_config"]), state["model"]
    run_cfg = state.get("cfg")  # fairseq: the whole run's config as nested dicts
    model_cfg = run_cfg.get("model") if isinstance(run_cfg, dict) else None
    if not isinstance(model_cfg, dict):
        raise CheckpointError(f"{source}: no model config (neither an ehmam nor a fairseq checkpoint)")
    name = model_cfg.get("_name")
    if name != "ehmam":
        raise CheckpointError(f"{source}: holds a fairseq {name!r} model, not an 'ehmam' model")
    cfg = config_from_dict(EhmamConfig, model_cfg, ignore=FAIRSEQ_MODEL_KEYS)
    weights = {k[len(FAIRSEQ_PREFIX):]: v for k, v in state["model"].items() if k.startswith(FAIRSEQ_PREFIX)}
    return cfg, weights


def plain_checkpoint(model: EhmamModel, steps: int) -> dict:
    """What the plain loop saves: config as a dict, weights, steps."""
    return {"ehmam_config": config_to_dict(model.cfg), "model": model.state_dict(), "steps": steps}


def load_ehmam_model(path: PathLike) -> EhmamModel:
    """The whole model (student, teacher, decoder, loss predictor), in eval mode."""
    cfg, weights = config_and_weights(read_checkpoint(path), str(path))
    model = EhmamModel(cfg)
    _load(model, weights, path)
    return model.eval()


class StudentEncoder(nn.Module):
    """The pretrained student without teacher, decoder or loss predictor: waveform -> frames
    -> contextual representations. Has :meth:`encode`, like :class:`EhmamModel`, so
    :func:`ehmam.features.extract_features` accepts either."""

    def __init__(self, cfg: EhmamConfig):
        super().__init__()
        self.cfg = cfg
        self.frontend = WaveformFrontend(cfg.frontend, cfg.encoder.embed_dim)
        self.encoder = ContextEncoder(cfg.encoder)

    def encode(self, source: torch.Tensor, padding_mask: Optional[torch.Tensor] = None):
        features, frame_padding = self.frontend(source, padding_mask)
        return features, self.encoder(features, frame_padding)

    def forward(self, source: torch.Tensor, padding_mask: Optional[torch.Tensor] = None) -> EncoderOutput:
        return self.encode(source, padding_mask)[1]


def load_student_encoder(path: PathLike) -> StudentEncoder:
    """The student's front end and encoder from a checkpoint of either format, in eval mode."""
    cfg, weights = config_and_weights(read_checkpoint(path), str(path))
    student = {k: v for k, v in weights.items() if k.startswith(STUDENT_ENCODER_PARTS)}
    encoder = StudentEncoder(cfg)
    _load(encoder, student, path)
    return encoder.eval()


def _load(module: nn.Module, weights: Dict[str, torch.Tensor], path: PathLike) -> None:
    try:
        missing, unexpected = module.load_state_dict(weights, strict=False)
    except RuntimeError as err:  # shape mismatches
        raise CheckpointError(f"{path}: weights do not match the config's model: {err}") from err
    if missing or unexpected:
        raise CheckpointError(
            f"{path}: weights do not match the config's model: missing {missing[:5]}"
            f"{'...' if len(missing) > 5 else ''}, unexpected {unexpected[:5]}"
            f"{'...' if len(unexpected) > 5 else ''}"
        )
