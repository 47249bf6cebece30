"""``jepa``: fairseq's face of :class:`ehmam.models.jepa.JEPAModel`, the audio JEPA with
every design choice of Riou et al. (2024) one config key away.

No maths here: the shared :class:`TeacherStudentModel` steps the EMA target encoder once per
update, keeps the masks' random generator in checkpoints and runs the collapse guard. Unlike
M2D's recipe, the released JEPA code decays every parameter (one AdamW over the context
encoder and predictor), so nothing is tagged for a decay-free group.
"""
from dataclasses import dataclass

from fairseq.dataclass import FairseqDataclass
from fairseq.models import register_model
from omegaconf import II

from ehmam.checkpoints import JEPA_FAIRSEQ_KEYS
from ehmam.models.jepa import JEPAConfig, JEPAModel

from ..configs import plain_config
from .teacher_student import TeacherStudentModel


@dataclass
class JEPAFairseqConfig(FairseqDataclass, JEPAConfig):
    """JEPAConfig's fields plus what the trainer supplies (``ehmam.checkpoints.JEPA_FAIRSEQ_KEYS``)."""

    seed: int = II("common.seed")


def core_config(cfg) -> JEPAConfig:
    return plain_config(cfg, JEPAConfig, JEPA_FAIRSEQ_KEYS)


@register_model("jepa", dataclass=JEPAFairseqConfig)
class JEPAFairseqModel(TeacherStudentModel):
    def __init__(self, cfg: JEPAFairseqConfig):
        super().__init__()
        self.cfg = cfg
        self.jepa = JEPAModel(core_config(cfg))

    @property
    def core(self) -> JEPAModel:
        return self.jepa

    def forward(self, source, **unused):
        out = self.jepa(source, self.mask_generator(source.device))
        self.check_collapse(**out.stats())
        self.keep_masks(out.mask.mask)
        return out
