"""Reading EH-MAM checkpoints: fairseq's (``checkpoint_last.pt`` from fairseq-hydra-train)
and the plain loop's, with ``torch.load(weights_only=True)``.

Both formats hold only tensors and plain Python types (configs as dicts), so nothing here
unpickles code. :func:`load_student_encoder` returns the student's front end and encoder
alone, the part fine-tuning and feature extraction use; the teacher, decoder and loss
predictor stay in the file.

A CTC fine-tuned checkpoint (fairseq's ``wav2vec_ctc``) is not a pretraining checkpoint:
every reader here refuses it with the path of the pretraining checkpoint it was fine-tuned
from (its ``model.w2v_path``).
"""

import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Optional, Tuple, Union

import torch
from torch import nn

from .configs import config_from_dict, config_to_dict
from .data.clips import ClipConfig
from .models.ehmam import EhmamConfig, EhmamModel
from .models.audio_mae import AudioMAEConfig, AudioMAEModel
from .models.frontends import spectrogram_frontend
from .models.jepa import JEPAConfig, JEPAModel
from .models.m2d import M2DConfig, M2DModel
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
    """The file is not an EH-MAM checkpoint this code can read. ``problem`` is what is wrong
    without the generic fix, for a caller that knows a better one."""

    def __init__(self, problem: str, fix: Optional[str] = None):
        super().__init__(problem if fix is None else f"{problem}. Fix: {fix}")
        self.problem = problem


FINE_TUNED_MODEL = "wav2vec_ctc"  # fairseq's CTC fine-tuning model, which wraps a pretrained one
# What fine-tuned fairseq checkpoints pickle besides plain types: the task's label dictionary.
FAIRSEQ_DICTIONARY = "fairseq.data.dictionary.Dictionary"
DEFAULT_WHAT = "loading an EH-MAM model"


def _fine_tuned_error(path: PathLike, what: str, w2v_path: Optional[str]) -> CheckpointError:
    source = (f": {w2v_path}" if w2v_path else
              " (its model.w2v_path; this file does not record it)")
    return CheckpointError(
        f"{path} is a CTC fine-tuned checkpoint ({FINE_TUNED_MODEL}); {what} needs the pretraining checkpoint "
        f"it was fine-tuned from{source}. Fix: pass that file")


class PickledLabelDictionary:
    """Stands in for fairseq's ``Dictionary`` when unpickling a fine-tuned checkpoint: its
    fields land in ``__dict__`` as plain types, so reading a fine-tuned file needs neither
    fairseq nor an unsafe unpickler."""


# the name the pickle stores, so weights_only's allow-list maps it to the stand-in
PickledLabelDictionary.__module__, _, PickledLabelDictionary.__qualname__ = FAIRSEQ_DICTIONARY.rpartition(".")
PickledLabelDictionary.__name__ = PickledLabelDictionary.__qualname__


def read_checkpoint(path: PathLike, what: str = DEFAULT_WHAT, mmap: bool = False) -> dict:
    """``torch.load`` with ``weights_only=True`` on the CPU, with errors that say what to do.

    A fine-tuned fairseq checkpoint pickles its label dictionary (a fairseq ``Dictionary``),
    which ``weights_only`` refuses; that one class is read into a :class:`PickledLabelDictionary`
    (no fairseq import), so the feature API can read the fine-tuned encoder and
    :func:`config_and_weights` can say which pretraining file to pass instead. ``what``
    names the caller in that message. ``mmap=True`` maps the tensors instead of reading them,
    for a caller that only looks at the config."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint file does not exist", "correct the path (a training run "
                              "writes checkpoint_last.pt into its checkpoint.save_dir)")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)
    except pickle.UnpicklingError as err:
        if FAIRSEQ_DICTIONARY not in str(err):
            raise CheckpointError(
                f"{path}: holds objects that torch.load(weights_only=True) refuses ({err}). "
                f"ehmam writes tensors and plain types only; a file from elsewhere or an older "
                f"version needs re-saving. Load it with weights_only=False only if you trust it"
            ) from err
        try:
            with torch.serialization.safe_globals([PickledLabelDictionary]):
                state = torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)
        except pickle.UnpicklingError as again:
            raise CheckpointError(
                f"{path}: holds objects that torch.load(weights_only=True) refuses ({again}). "
                f"A fine-tuned fairseq checkpoint? {what} needs a pretraining checkpoint. Fix: pass the "
                "EH-MAM pretraining checkpoint (checkpoint_last.pt of fairseq-hydra-train or the plain loop)"
            ) from again
    except (RuntimeError, EOFError) as err:
        raise CheckpointError(f"{path}: not a readable torch checkpoint (truncated or another format?): {err}") from err
    if not isinstance(state, dict) or "model" not in state:
        raise CheckpointError(f"{path}: not a checkpoint (no 'model' entry)")
    return state


def weights_under(state: dict, prefix: str) -> Dict[str, torch.Tensor]:
    """The checkpoint's weights whose names start with ``prefix``, with it removed: the
    state dict of the submodule the fairseq wrapper keeps there."""
    return {k[len(prefix):]: v for k, v in state["model"].items() if k.startswith(prefix)}


def fairseq_config(state: dict, part: str = "model") -> Optional[dict]:
    """One part of a fairseq checkpoint's run config (``"model"``, ``"task"``), as the nested
    dict fairseq saved; None when the file has no such part (the plain loop's, a foreign file)."""
    run_cfg = state.get("cfg")
    found = run_cfg.get(part) if isinstance(run_cfg, dict) else None
    return found if isinstance(found, dict) else None


def holds_ehmam(state: dict) -> bool:
    """Whether ``state`` is an EH-MAM checkpoint: the plain loop's, fairseq pretraining's, or a
    CTC fine-tuning of an EH-MAM model."""
    if "ehmam_config" in state:
        return True
    model_cfg = fairseq_config(state) or {}
    if model_cfg.get("_name") == FINE_TUNED_MODEL:
        model_cfg = (model_cfg.get("w2v_args") or {}).get("model") or {}
    return model_cfg.get("_name") == "ehmam"


def refuse_fine_tuned(state: dict, source: str, what: str = DEFAULT_WHAT) -> None:
    """:class:`CheckpointError` naming the pretraining checkpoint if ``state`` (read by
    :func:`read_checkpoint`) is a fine-tuned fairseq checkpoint; other checkpoints pass."""
    model_cfg = fairseq_config(state)
    if isinstance(model_cfg, dict) and (model_cfg.get("_name") == FINE_TUNED_MODEL or "w2v_path" in model_cfg):
        raise _fine_tuned_error(source, what, model_cfg.get("w2v_path"))


def config_and_weights(state: dict, source: str = "checkpoint",
                       what: str = DEFAULT_WHAT) -> Tuple[EhmamConfig, Dict[str, torch.Tensor]]:
    """The model config and the EhmamModel's own state dict, from either format. A CTC
    fine-tuned checkpoint is refused with the pretraining checkpoint it names (``w2v_path``)."""
    if "ehmam_config" in state:  # the plain loop (scripts/pretrain_plain.py)
        return config_from_dict(EhmamConfig, state["ehmam_config"]), state["model"]
    model_cfg = fairseq_config(state)  # fairseq: the whole run's config as nested dicts
    if model_cfg is None:
        raise CheckpointError(f"{source}: no model config (neither an ehmam nor a fairseq checkpoint)")
    refuse_fine_tuned(state, source, what)
    name = model_cfg.get("_name")
    if name != "ehmam":
        raise CheckpointError(f"{source}: holds a fairseq {name!r} model, not an 'ehmam' model")
    cfg = config_from_dict(EhmamConfig, model_cfg, ignore=FAIRSEQ_MODEL_KEYS)
    return cfg, weights_under(state, FAIRSEQ_PREFIX)


def plain_checkpoint(model: EhmamModel, steps: int, max_samples: Optional[int] = None) -> dict:
    """What the plain loop saves: config as a dict, weights, steps and the crop length it
    trained on (``max_samples``; the feature API chunks long audio to it)."""
    return {"ehmam_config": config_to_dict(model.cfg), "model": model.state_dict(), "steps": steps,
            "max_samples": max_samples}


# Where a fine-tuned wav2vec_ctc checkpoint keeps the pretrained EhmamModel's weights.
FINE_TUNED_PREFIX = "w2v_encoder.w2v_model." + FAIRSEQ_PREFIX


@dataclass(frozen=True)
class StudentWeights:
    """What feature extraction needs from any EH-MAM checkpoint: the model config, the
    student's front-end and encoder weights and the crop length training used (None when the
    file does not record it)."""

    cfg: EhmamConfig
    weights: Dict[str, torch.Tensor]
    training_samples: Optional[int]


def student_weights(state: dict, source: str = "checkpoint") -> StudentWeights:
    """The student encoder of a plain-loop, fairseq pretraining or CTC fine-tuned checkpoint
    (read by :func:`read_checkpoint`). A fine-tuned file gives its fine-tuned encoder, with
    the model config of the pretraining run it started from (``w2v_args``)."""
    model_cfg = fairseq_config(state)
    if model_cfg is not None and model_cfg.get("_name") == FINE_TUNED_MODEL:
        w2v_args = model_cfg.get("w2v_args")
        pretrain_model = w2v_args.get("model") if isinstance(w2v_args, dict) else None
        if not isinstance(pretrain_model, dict) or pretrain_model.get("_name") != "ehmam":
            name = pretrain_model.get("_name") if isinstance(pretrain_model, dict) else None
            raise CheckpointError(f"{source}: a CTC fine-tuned checkpoint of a fairseq {name!r} model, "
                                  "not of an 'ehmam' one")
        cfg = config_from_dict(EhmamConfig, pretrain_model, ignore=FAIRSEQ_MODEL_KEYS)
        weights = weights_under(state, FINE_TUNED_PREFIX)
        task = w2v_args.get("task") or {}
        return StudentWeights(cfg, _student_part(weights), task.get("max_sample_size"))
    cfg, weights = config_and_weights(state, source)
    if "ehmam_config" in state:
        return StudentWeights(cfg, _student_part(weights), state.get("max_samples"))
    return StudentWeights(cfg, _student_part(weights), (fairseq_config(state, "task") or {}).get("max_sample_size"))


def _student_part(weights: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    return {k: v for k, v in weights.items() if k.startswith(STUDENT_ENCODER_PARTS)}


def load_ehmam_model(path: PathLike, what: str = DEFAULT_WHAT) -> EhmamModel:
    """The whole model (student, teacher, decoder, loss predictor), in eval mode. ``what``
    names the caller in errors (e.g. ``"--pretrained"``)."""
    cfg, weights = config_and_weights(read_checkpoint(path, what), str(path), what)
    model = EhmamModel(cfg)
    load_weights(model, weights, path)
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

    @classmethod
    def with_random_weights(cls, cfg: EhmamConfig, seed: int) -> "StudentEncoder":
        """The architecture of ``cfg`` with fresh random weights drawn from ``seed``, in eval
        mode: the untrained reference of the probes and of linear evaluation. The caller's
        random stream is left where it was."""
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            return cls(cfg).eval()

    def encode(self, source: torch.Tensor, padding_mask: Optional[torch.Tensor] = None):
        features, frame_padding = self.frontend(source, padding_mask)
        return features, self.encoder(features, frame_padding)

    def forward(self, source: torch.Tensor, padding_mask: Optional[torch.Tensor] = None) -> EncoderOutput:
        return self.encode(source, padding_mask)[1]


def load_student_encoder(path: PathLike, what: str = DEFAULT_WHAT) -> StudentEncoder:
    """The student's front end and encoder from a checkpoint of either format, in eval mode."""
    cfg, weights = config_and_weights(read_checkpoint(path, what), str(path), what)
    encoder = StudentEncoder(cfg)
    load_weights(encoder, _student_part(weights), path)
    return encoder.eval()


def load_weights(module: nn.Module, weights: Dict[str, torch.Tensor], path: PathLike) -> None:
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


# ---- the spectrogram methods (user_dir/models/{m2d,audio_mae,jepa}.py) --------------------

# Keys each fairseq config of a spectrogram method adds to its plain config's: the registry
# name and what the trainer supplies
SPECTROGRAM_FAIRSEQ_KEYS = ("_name", "seed")
M2D_FAIRSEQ_KEYS = AUDIO_MAE_FAIRSEQ_KEYS = JEPA_FAIRSEQ_KEYS = SPECTROGRAM_FAIRSEQ_KEYS


@dataclass(frozen=True)
class SpectrogramWeights:
    """What the feature API needs from a spectrogram method's checkpoint: the model config,
    its front end's config (corpus statistics included), the encoder's weights and the
    spectrogram frames of a training clip."""

    cfg: Union[M2DConfig, AudioMAEConfig, JEPAConfig]
    frontend: object
    encoder: Dict[str, torch.Tensor]
    training_frames: int


@dataclass(frozen=True)
class SpectrogramMethod:
    """How a spectrogram method's fairseq checkpoints read: the model's registry name (which is
    also the attribute the fairseq wrapper keeps the plain model under), its name in messages,
    its plain config and model classes, and where its recipes live."""

    name: str
    label: str
    config: type
    model: type
    recipes: str

    @property
    def prefix(self) -> str:
        return self.name + "."

    def holds(self, state: dict) -> bool:
        return (fairseq_config(state) or {}).get("_name") == self.name

    def weights(self, state: dict, source: str = "checkpoint") -> SpectrogramWeights:
        """The encoder (the rest stays in the file), the config, whose front end carries the
        corpus statistics, and the frames of a training clip (the front end's own
        ``target_frames`` where it pads to them, as Audio-MAE's)."""
        try:
            cfg = config_from_dict(self.config, fairseq_config(state), ignore=SPECTROGRAM_FAIRSEQ_KEYS)
            clip = config_from_dict(ClipConfig, (fairseq_config(state, "task") or {}).get("clip") or {})
        except (TypeError, ValueError) as err:
            raise CheckpointError(f"{source}: its {self.label} config does not fit this version of ehmam: "
                                  f"{err}") from err
        frontend = getattr(cfg, "frontend_config", cfg.frontend)
        frames = getattr(frontend, "target_frames", None) or spectrogram_frontend(frontend).num_frames(clip.num_samples)
        return SpectrogramWeights(cfg, frontend, weights_under(state, self.prefix + "encoder."), frames)

    def load(self, path: PathLike, what: str):
        """The whole plain model (encoder and whatever trains beside it), in eval mode, and the
        :class:`SpectrogramWeights`, from one read of the file: for figures and analyses."""
        state = read_checkpoint(path, what)
        if not self.holds(state):
            name = (fairseq_config(state) or {}).get("_name")
            raise CheckpointError(f"{path}: holds {f'a fairseq {name!r} model' if name else 'no fairseq model'}, "
                                  f"not an {self.label} one", f"pass a checkpoint of {self.recipes}")
        found = self.weights(state, str(path))
        model = self.model(found.cfg)
        load_weights(model, weights_under(state, self.prefix), path)
        return model.eval(), found


M2D = SpectrogramMethod("m2d", "M2D", M2DConfig, M2DModel, "examples/m2d/config's recipes")
AUDIO_MAE = SpectrogramMethod("audio_mae", "Audio-MAE / MSM-MAE", AudioMAEConfig, AudioMAEModel,
                              "examples/audio_mae/config's recipes")
JEPA = SpectrogramMethod("jepa", "audio JEPA", JEPAConfig, JEPAModel, "examples/jepa/config's recipes")
SPECTROGRAM_METHODS = (M2D, AUDIO_MAE, JEPA)

holds_m2d, holds_audio_mae, holds_jepa = M2D.holds, AUDIO_MAE.holds, JEPA.holds
m2d_weights, audio_mae_weights, jepa_weights = M2D.weights, AUDIO_MAE.weights, JEPA.weights


def load_m2d_model(path: PathLike, what: str = "loading an M2D model") -> M2DModel:
    """The whole :class:`~ehmam.models.m2d.M2DModel` (online encoder, predictor and target)."""
    return M2D.load(path, what)[0]


def load_audio_mae_model(path: PathLike, what: str = "loading an Audio-MAE model") -> AudioMAEModel:
    """The whole :class:`~ehmam.models.audio_mae.AudioMAEModel` (encoder and decoder)."""
    return AUDIO_MAE.load(path, what)[0]


def load_audio_mae_checkpoint(path: PathLike, what: str = "loading an Audio-MAE model"):
    """:func:`load_audio_mae_model` and what the checkpoint says of its training input (the
    :class:`SpectrogramWeights`), from one read of the file."""
    return AUDIO_MAE.load(path, what)


def load_jepa_model(path: PathLike, what: str = "loading an audio JEPA model") -> JEPAModel:
    """The whole :class:`~ehmam.models.jepa.JEPAModel` (context encoder, predictor and target
    encoder)."""
    return JEPA.load(path, what)[0]
