"""``m2d``: fairseq's face of :class:`ehmam.models.m2d.M2DModel` (Masked Modeling Duo).

No maths here: the shared :class:`TeacherStudentModel` steps the EMA target once per update,
keeps the masks' random generator in checkpoints and runs the collapse guard. Biases and
norms carry ``param_group = "no_decay"``, so a ``composite`` optimizer can exempt them from
weight decay as MAE (and so M2D) does; other optimizers ignore the tag.
"""
from dataclasses import dataclass

from fairseq.dataclass import FairseqDataclass
from fairseq.models import register_model
from omegaconf import II

from ehmam.checkpoints import M2D_FAIRSEQ_KEYS
from ehmam.models.m2d import M2DConfig, M2DModel

from ..configs import plain_config
from .teacher_student import TeacherStudentModel, tag_no_decay


@dataclass
class M2DFairseqConfig(FairseqDataclass, M2DConfig):
    """M2DConfig's fields plus what the trainer supplies (``ehmam.checkpoints.M2D_FAIRSEQ_KEYS``)."""

    seed: int = II("common.seed")


def core_config(cfg) -> M2DConfig:
    return plain_config(cfg, M2DConfig, M2D_FAIRSEQ_KEYS)


@register_model("m2d", dataclass=M2DFairseqConfig)
class M2DFairseqModel(TeacherStudentModel):
    def __init__(self, cfg: M2DFairseqConfig):
        super().__init__()
        self.cfg = cfg
        self.m2d = M2DModel(core_config(cfg))
        tag_no_decay(self.m2d)

    @property
    def core(self) -> M2DModel:
        return self.m2d

    def forward(self, source, **unused):
        out = self.m2d(source, self.mask_generator(source.device))
        self.check_collapse(**out.stats())
        self.keep_masks(out.mask.mask)
        return out
