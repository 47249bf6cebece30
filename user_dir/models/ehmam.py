"""``ehmam``: fairseq's face of :class:`ehmam.models.EhmamModel`.

No maths here. This wrapper turns the trainer's update count into what the model needs:
training progress for easy-to-hard masking, the EMA teacher's update, a masking random
generator whose state travels in checkpoints, and the collapse guard.

It also answers what fairseq's stock ``wav2vec_ctc`` fine-tuning wrapper
(``Wav2VecEncoder``) asks of a pretrained model: ``encoder_embed_dim`` in its config,
``remove_pretraining_modules()``, a strict ``load_state_dict`` of the pretraining
checkpoint afterwards (the removed modules' weights are dropped on the way in), and
``extract_features(source, padding_mask, mask)``. Its ``model.mask_prob``, dropout,
``layerdrop`` and ``feature_grad_mult`` settings reach our config because fairseq overwrites
every key of those names in the stored pretraining config.
"""
import logging
from dataclasses import dataclass, field

import torch
import torch.distributed as dist
from fairseq.dataclass import FairseqDataclass
from fairseq.models import BaseFairseqModel, register_model
from omegaconf import II, OmegaConf

from ehmam.checkpoints import FAIRSEQ_MODEL_KEYS
from ehmam.collapse import check_collapse
from ehmam.configs import config_from_dict
from ehmam.ema import ema_decay
from ehmam.models import EhmamConfig, EhmamModel
from ehmam.models.ehmam import PRETRAINING_ONLY

logger = logging.getLogger(__name__)


@dataclass
class EhmamFairseqConfig(FairseqDataclass, EhmamConfig):
    """EhmamConfig's fields (nested: ``model.encoder.layers``, ``model.masking.masking``...)
    plus what the trainer supplies. ``ehmam.checkpoints.FAIRSEQ_MODEL_KEYS`` lists the extras."""

    seed: int = II("common.seed")
    # T in t/T: updates over which the selective share grows from none to all masked frames
    easy_to_hard_updates: int = field(
        default=II("optimization.max_update"),
        metadata={"help": "updates over which the teacher-chosen share of the mask grows to 1"},
    )
    # read by fairseq's wav2vec_ctc to size its output layer; always the encoder's width
    encoder_embed_dim: int = field(
        default=II(".encoder.embed_dim"),
        metadata={"help": "derived from encoder.embed_dim for fairseq's fine-tuning wrapper; do not set"},
    )


def core_config(cfg) -> EhmamConfig:
    """The plain-PyTorch config inside a fairseq model config (DictConfig or dataclass)."""
    data = OmegaConf.to_container(OmegaConf.structured(cfg) if not OmegaConf.is_config(cfg) else cfg, resolve=True)
    return config_from_dict(EhmamConfig, data, ignore=FAIRSEQ_MODEL_KEYS)


@register_model("ehmam", dataclass=EhmamFairseqConfig)
class EhmamFairseqModel(BaseFairseqModel):
    def __init__(self, cfg: EhmamFairseqConfig):
        super().__init__()
        if cfg.easy_to_hard_updates <= 0:
            raise ValueError(f"model.easy_to_hard_updates={cfg.easy_to_hard_updates}: set "
                             f"optimization.max_update or model.easy_to_hard_updates to a positive count")
        self.cfg = cfg
        self.ehmam = EhmamModel(core_config(cfg))
        if cfg.encoder_embed_dim != self.ehmam.cfg.encoder.embed_dim:
            raise ValueError(f"model.encoder_embed_dim={cfg.encoder_embed_dim} differs from "
                             f"model.encoder.embed_dim={self.ehmam.cfg.encoder.embed_dim}: leave "
                             "encoder_embed_dim unset, it follows encoder.embed_dim")
        self.num_updates = 0
        # updates the teacher has followed; a buffer so that it is saved and restored with it
        self.register_buffer("teacher_updates", torch.zeros((), dtype=torch.long))
        self._mask_generator = None
        self._restored_generator_state = None

    @classmethod
    def build_model(cls, cfg, task=None):
        return cls(cfg)

    # -- training progress --------------------------------------------------------------

    def set_num_updates(self, num_updates: int) -> None:
        """Called by the task before every forward with the updates done so far. The EMA step
        for update n happens here, lazily, at the start of update n + 1 (once per update,
        whatever update_freq is); a resumed run's buffer says which steps it already took."""
        super().set_num_updates(num_updates)
        if self.training and not self.ehmam.pretraining_removed and num_updates > int(self.teacher_updates):
            self.ehmam.update_teacher(num_updates)
            self.teacher_updates.fill_(num_updates)
        self.num_updates = num_updates

    @property
    def progress(self) -> float:
        return self.num_updates / self.cfg.easy_to_hard_updates

    @property
    def ema_decay(self) -> float:
        """The decay of the teacher's latest EMA step."""
        return ema_decay(int(self.teacher_updates), self.ehmam.cfg.ema)

    # -- masking randomness -------------------------------------------------------------

    def mask_generator(self, device: torch.device) -> torch.Generator:
        """Training masks come from one generator per run (state saved in checkpoints);
        validation masks from a fresh one per batch, so validation never shifts training."""
        if not self.training:
            return torch.Generator(device=device).manual_seed(self.cfg.seed)
        if self._mask_generator is None or self._mask_generator.device != device:
            rank = dist.get_rank() if dist.is_available() and dist.is_initialized() else 0
            generator = torch.Generator(device=device).manual_seed(self.cfg.seed + 1_000_003 * rank)
            if self._restored_generator_state is not None:
                try:
                    generator.set_state(self._restored_generator_state)
                except RuntimeError:
                    logger.warning("the checkpoint's masking generator state is from another device "
                                   "type; masks are reseeded, so this run will not replay the saved one")
                self._restored_generator_state = None
            self._mask_generator = generator
        return self._mask_generator

    def get_extra_state(self):
        state = self._mask_generator.get_state() if self._mask_generator is not None else self._restored_generator_state
        return {"mask_generator": state}

    def set_extra_state(self, state):
        self._restored_generator_state = state.get("mask_generator")
        self._mask_generator = None

    # -- fine-tuning through fairseq's wav2vec_ctc -----------------------------------------

    def remove_pretraining_modules(self, **unused) -> None:
        self.ehmam.remove_pretraining_modules()

    def upgrade_state_dict_named(self, state_dict, name):
        """Once the pretraining modules are gone, a pretraining checkpoint's weights for them
        are dropped before the strict load (everything else must still match)."""
        super().upgrade_state_dict_named(state_dict, name)
        if self.ehmam.pretraining_removed:
            prefix = f"{name}.ehmam." if name else "ehmam."
            removed = tuple(f"{prefix}{module}" for module in PRETRAINING_ONLY)
            for key in [k for k in state_dict if k.startswith(removed)]:
                del state_dict[key]
        return state_dict

    def extract_features(self, source, padding_mask=None, mask=False, frame_masks=None, **unused):
        """What ``Wav2VecEncoder`` calls: ``x`` B x T x D, ``padding_mask`` B x T (True =
        padding) or None, ``layer_results`` every block's output. ``mask`` applies SpecAugment.
        ``frame_masks``, one boolean vector of frames per utterance (shorter ones padded with
        False), hides those frames (the hard-region analysis of ``ehmam.evaluation.hard_region_effect``)."""
        generator = self.mask_generator(source.device) if mask else None
        frame_mask = None
        if frame_masks is not None:
            frames = int(self.ehmam.frontend.extractor.output_lengths(torch.tensor(source.shape[1])))
            frame_mask = torch.zeros(len(frame_masks), frames, dtype=torch.bool)
            for i, m in enumerate(frame_masks):
                if m.shape[0] > frames:
                    raise ValueError(f"frame mask {i} has {m.shape[0]} frames; the batch has {frames}")
                frame_mask[i, : m.shape[0]] = m
        _, out = self.ehmam.encode(source, padding_mask, augment=mask, generator=generator, frame_mask=frame_mask)
        return {"x": out.hidden, "padding_mask": out.padding_mask, "layer_results": out.layers}

    # -- forward ------------------------------------------------------------------------

    def forward(self, source, padding_mask=None, **unused):
        out = self.ehmam(source, padding_mask, self.progress, self.mask_generator(source.device))
        if self.training:
            check_collapse(self.num_updates, float(out.target_std), float(out.prediction_std),
                           self.ehmam.cfg.collapse)
        return out

