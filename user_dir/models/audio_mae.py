"""``audio_mae``: fairseq's face of :class:`ehmam.models.audio_mae.AudioMAEModel`, masked
spectrogram reconstruction (Audio-MAE; MSM-MAE is a config of the same model).

No maths here: the shared :class:`MaskedModel` keeps the masks' random generator in
checkpoints and runs the collapse guard; biases and norms are tagged for a weight-decay-free
optimizer group, as MAE exempts them.
"""
from dataclasses import dataclass

from fairseq.dataclass import FairseqDataclass
from fairseq.models import register_model
from omegaconf import II

from ehmam.checkpoints import AUDIO_MAE_FAIRSEQ_KEYS
from ehmam.models.audio_mae import AudioMAEConfig, AudioMAEModel

from ..configs import plain_config
from .teacher_student import MaskedModel, tag_no_decay


@dataclass
class AudioMAEFairseqConfig(FairseqDataclass, AudioMAEConfig):
    """AudioMAEConfig's fields plus what the trainer supplies (``ehmam.checkpoints.AUDIO_MAE_FAIRSEQ_KEYS``)."""

    seed: int = II("common.seed")


def core_config(cfg) -> AudioMAEConfig:
    return plain_config(cfg, AudioMAEConfig, AUDIO_MAE_FAIRSEQ_KEYS)


@register_model("audio_mae", dataclass=AudioMAEFairseqConfig)
class AudioMAEFairseqModel(MaskedModel):
    def __init__(self, cfg: AudioMAEFairseqConfig):
        super().__init__()
        self.cfg = cfg
        self.audio_mae = AudioMAEModel(core_config(cfg))
        tag_no_decay(self.audio_mae)

    @property
    def core(self) -> AudioMAEModel:
        return self.audio_mae

    def forward(self, source, lengths=None, **unused):
        out = self.audio_mae(source, self.mask_generator(source.device), lengths)
        self.check_collapse(**out.stats())
        self.keep_masks(out.mask.mask)
        return out
