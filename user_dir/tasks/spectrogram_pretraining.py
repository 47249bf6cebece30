"""``spectrogram_pretraining``: the task of the spectrogram ViT methods (M2D, Audio-MAE and
MSM-MAE; the audio JEPA after them). It reads wav2vec-style ``.tsv`` manifests, validated
as the EH-MAM task validates them, and hands the model fixed-length waveform clips and how
many of their samples are audio; the model's own front end turns them into its normalised
spectrogram (M2D's log-mel, or Audio-MAE's Kaldi filter bank, which pads after the audio).

- Clips: a random crop of ``clip.samples`` (M2D: 608 mel frames, 6 s), zero padded when the
  file is shorter, drawn from (seed, epoch, utterance) alone, so a resumed run is exact.
- Files shorter than ``min_sample_size`` (one patch column) are refused, not skipped.
- Normalisation statistics: ``task.norm_mean`` / ``task.norm_std`` (print them with
  ``python -m ehmam.data.normalization_stats``). Left unset, the task measures them on the
  training split when the model is built, logs them, and writes them into the model's
  front end config, which every checkpoint stores. The front end config is ``model.frontend``
  (M2D) or, where ``model.frontend`` names one (Audio-MAE / MSM-MAE), ``model.<that name>``.
"""
import logging
import os
from dataclasses import dataclass, field
from typing import Optional

import numpy as np
import torch
from fairseq.data import FairseqDataset
from fairseq.tasks import FairseqTask, register_task
from omegaconf import II, MISSING

from ehmam.data.clips import ClipConfig, ManifestClips
from ehmam.data.normalization_stats import normalization_stats
from ehmam.models.frontends import SPECTROGRAM_FRONTENDS, spectrogram_frontend

from ..configs import plain_config
from .training_run import TrainingRunConfig, TrainingRunTask, _resolved

logger = logging.getLogger(__name__)


def m2d_clip() -> ClipConfig:
    # (608 - 1) x 160 samples: exactly 608 centred mel frames, M2D's 80 x 608 input (Sec. 4.1)
    return ClipConfig(seconds=None, samples=97_120)


@dataclass
class SpectrogramPretrainingConfig(TrainingRunConfig):
    data: str = field(default=MISSING, metadata={"help": "directory of the {split}.tsv manifests"})
    sample_rate: int = 16_000
    clip: ClipConfig = field(default_factory=m2d_clip)
    # one 16-frame patch column at a 10 ms hop: (16 - 1) x 160 samples; shorter files are refused
    min_sample_size: int = 2_400
    norm_mean: Optional[float] = field(
        default=None, metadata={"help": "mean of the raw spectrogram over the training corpus; unset: measured at start-up"})
    norm_std: Optional[float] = field(
        default=None, metadata={"help": "its standard deviation; unset: measured at start-up"})
    norm_crops: int = field(
        default=10_000, metadata={"help": "clips measured when the statistics are unset (M2D: 10000)"})
    seed: int = II("common.seed")


class ClipBatches(FairseqDataset):
    """fairseq's view of :class:`ehmam.data.clips.ManifestClips`: items ``{"id", "source",
    "length"}``, batches ``{"id": B, "net_input": {"source": B x S, "lengths": B}}``, where
    ``lengths`` counts each clip's samples of audio (the rest is zero padding). Every clip
    has the same length."""

    def __init__(self, clips: ManifestClips, shuffle: bool):
        super().__init__()
        self.clips, self.shuffle = clips, shuffle

    def __getitem__(self, index):
        clip, audio_samples = self.clips[index]
        return {"id": index, "source": clip, "length": audio_samples}

    def __len__(self):
        return len(self.clips)

    def collater(self, samples):
        if not samples:
            return {}
        return {"id": torch.tensor([s["id"] for s in samples], dtype=torch.long),
                "net_input": {"source": torch.stack([s["source"] for s in samples]),
                              "lengths": torch.tensor([s["length"] for s in samples], dtype=torch.long)}}

    def num_tokens(self, index):
        return self.clips.cfg.num_samples

    def size(self, index):
        return self.clips.cfg.num_samples

    def ordered_indices(self):
        # Which clips share a batch. fairseq groups them once, in the epoch the iterator is
        # built, and only reorders the batches in later epochs; a resumed run builds it in
        # the epoch it resumes, so an epoch-seeded grouping would differ from the
        # uninterrupted run's. The run's seed alone decides it.
        if not self.shuffle:
            return np.arange(len(self))
        return np.random.RandomState(self.clips.seed).permutation(len(self))

    def set_epoch(self, epoch):
        super().set_epoch(epoch)
        self.clips.set_epoch(epoch)

    def file_path(self, index) -> str:
        return str(self.clips.path(index))


@register_task("spectrogram_pretraining", dataclass=SpectrogramPretrainingConfig)
class SpectrogramPretrainingTask(TrainingRunTask, FairseqTask):
    cfg: SpectrogramPretrainingConfig
    refuse_short = "one patch column of the spectrogram"

    def __init__(self, cfg: SpectrogramPretrainingConfig, **kwargs):
        super().__init__(cfg, **kwargs)
        self.clip = plain_config(cfg.clip, ClipConfig)
        if self.clip.sample_rate != cfg.sample_rate:
            raise ValueError(f"task.clip.sample_rate={self.clip.sample_rate} differs from task.sample_rate="
                             f"{cfg.sample_rate}, the rate the manifests are checked against: set both alike")

    def load_dataset(self, split: str, task_cfg=None, **kwargs):
        task_cfg = task_cfg or self.cfg
        self.validate_split(split, task_cfg)
        clips = ManifestClips(os.path.join(self.cfg.data, f"{split}.tsv"), self.clip, self.cfg.seed)
        self.datasets[split] = ClipBatches(clips, shuffle=split == _resolved(self.cfg, "train_subset"))

    def build_model(self, cfg, from_checkpoint=False):
        if not from_checkpoint:
            self.set_normalization(cfg)
        return super().build_model(cfg, from_checkpoint)

    def set_normalization(self, model_cfg) -> None:
        """Write the corpus statistics into the model's front end config: the task's, or
        measured now on the training split."""
        name, frontend = frontend_node(model_cfg)
        config_class = SPECTROGRAM_FRONTENDS[name][0]
        mean, std = self.cfg.norm_mean, self.cfg.norm_std
        if (mean is None) != (std is None):
            raise ValueError(f"task.norm_mean={mean}, task.norm_std={std}: set both (from "
                             f"`python -m ehmam.data.normalization_stats --frontend {name}`) or neither")
        defaults = config_class()
        if (frontend.norm_mean, frontend.norm_std) != (defaults.norm_mean, defaults.norm_std):
            where = f"model.{name}" if isinstance(model_cfg.frontend, str) else "model.frontend"
            raise ValueError(f"{where}.norm_mean={frontend.norm_mean}, norm_std={frontend.norm_std}: "
                             "the task writes these; set task.norm_mean and task.norm_std instead")
        if mean is None:
            manifest = os.path.join(self.cfg.data, f"{_resolved(self.cfg, 'train_subset') or 'train'}.tsv")
            seconds = self.clip.num_samples / self.cfg.sample_rate
            logger.info("task.norm_mean / norm_std unset: measuring them on %d clips of %s", self.cfg.norm_crops, manifest)
            stats = normalization_stats(manifest, self.cfg.norm_crops, seconds, self.cfg.seed,
                                        frontend=frontend_of(model_cfg))
            mean, std = stats.mean, stats.std
            logger.info("%s statistics of %s: mean %.8g, std %.8g (stored in the checkpoint's model "
                        "config; task.norm_mean=%.8g task.norm_std=%.8g skips this at start-up)",
                        name, manifest, mean, std, mean, std)
        frontend.norm_mean, frontend.norm_std = float(mean), float(std)

    def max_positions(self):
        return None

    @property
    def source_dictionary(self):
        return None

    @property
    def target_dictionary(self):
        return None


def frontend_node(model_cfg):
    """``(name, node)``: the model's front end config, the node the corpus statistics go in.
    M2D's ``model.frontend`` is the log-mel config itself; Audio-MAE's names the block
    (``kaldi_fbank`` or ``log_mel``) that holds it."""
    frontend = model_cfg.get("frontend")
    if isinstance(frontend, str) and frontend in SPECTROGRAM_FRONTENDS and model_cfg.get(frontend) is not None:
        return frontend, model_cfg[frontend]
    if frontend is not None and not isinstance(frontend, str) and "n_mels" in frontend:
        return "log_mel", frontend
    raise ValueError(f"model {model_cfg.get('_name')!r} has no spectrogram front end to normalise "
                     f"(model.frontend={frontend!r}): the spectrogram_pretraining task trains the ViT methods")


def frontend_of(model_cfg):
    """The model's front end, built from its config with the geometry it trains with."""
    name, node = frontend_node(model_cfg)
    return spectrogram_frontend(plain_config(node, SPECTROGRAM_FRONTENDS[name][0]))
