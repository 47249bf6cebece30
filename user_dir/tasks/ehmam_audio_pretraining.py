"""``ehmam_audio_pretraining``: fairseq's audio pretraining task with manifests checked at load."""
import logging
import os
from dataclasses import dataclass, field

from fairseq.tasks import register_task
from fairseq.tasks.audio_pretraining import AudioPretrainingConfig, AudioPretrainingTask

from ehmam.data.manifest import validate_manifest

logger = logging.getLogger(__name__)


@dataclass
class EhmamAudioPretrainingConfig(AudioPretrainingConfig):
    validate_audio: bool = field(
        default=True,
        metadata={"help": "read every audio header when a split loads (missing, unreadable, "
                  "empty, stereo, wrong rate, wrong sample count); manifest lines and label "
                  "line counts are always checked"},
    )


@register_task("ehmam_audio_pretraining", dataclass=EhmamAudioPretrainingConfig)
class EhmamAudioPretrainingTask(AudioPretrainingTask):
    cfg: EhmamAudioPretrainingConfig

    def load_dataset(self, split: str, task_cfg=None, **kwargs):
        task_cfg = task_cfg or self.cfg
        if getattr(task_cfg, "binarized_dataset", False):
            logger.warning("binarized dataset %s: manifest validation does not apply", split)
        else:
            self._validate_split(split, task_cfg)
        super().load_dataset(split, task_cfg, **kwargs)

    def _validate_split(self, split: str, task_cfg) -> None:
        # A multi-corpus split reads "key:file,key:file"; each file is a manifest.
        names = ([split] if getattr(task_cfg, "multi_corpus_keys", None) is None
                 else [part.split(":")[1].strip() for part in split.split(",")])
        labels = getattr(task_cfg, "labels", None)
        for name in names:
            stem = os.path.join(self.cfg.data, name)
            report = validate_manifest(
                f"{stem}.tsv",
                sample_rate=getattr(task_cfg, "sample_rate", self.cfg.sample_rate),
                min_sample_size=self.cfg.min_sample_size,
                label_paths=[f"{stem}.{labels}"] if labels else (),
                check_audio=self.cfg.validate_audio,
            )
            logger.info("validated %s", report.summary())
