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
from dataclasses import dataclass, field

import torch
from fairseq.dataclass import FairseqDataclass
from fairseq.models import register_model
from omegaconf import II

from ehmam.checkpoints import FAIRSEQ_MODEL_KEYS
from ehmam.models import EhmamConfig, EhmamModel
from ehmam.models.ehmam import PRETRAINING_ONLY

from ..configs import plain_config
from .teacher_student import TeacherStudentModel


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
    return plain_config(cfg, EhmamConfig, FAIRSEQ_MODEL_KEYS)


@register_model("ehmam", dataclass=EhmamFairseqConfig)
class EhmamFairseqModel(TeacherStudentModel):
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

    @property
    def core(self) -> EhmamModel:
        return self.ehmam

    @property
    def teacher_active(self) -> bool:
        return not self.ehmam.pretraining_removed

    @property
    def progress(self) -> float:
        """t / T of easy-to-hard masking."""
        return self.num_updates / self.cfg.easy_to_hard_updates

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
        self.check_collapse(float(out.target_std), float(out.prediction_std))
        self.keep_masks(out.mask.mask)
        return out

