"""``ehmam_audio_pretraining``: fairseq's audio pretraining task with manifests checked at load."""
import logging
import os
from dataclasses import dataclass, field

from fairseq.data import BaseWrapperDataset, data_utils
from fairseq.tasks import register_task
from fairseq.tasks.audio_pretraining import AudioPretrainingConfig, AudioPretrainingTask
from omegaconf import II

from ehmam.data.manifest import validate_manifest
from ehmam.losses import NonFiniteLossError

logger = logging.getLogger(__name__)


@dataclass
class EhmamAudioPretrainingConfig(AudioPretrainingConfig):
    validate_audio: bool = field(
        default=True,
        metadata={"help": "read every audio header when a split loads (missing, unreadable, "
                  "empty, stereo, wrong rate, wrong sample count); manifest lines and label "
                  "line counts are always checked"},
    )
    # which splits train and validate: a non-finite loss names the batch's files from them
    train_subset: str = II("dataset.train_subset")
    valid_subset: str = II("dataset.valid_subset")


class SeededCrops(BaseWrapperDataset):
    """Batches whose random crops depend on (seed, epoch, utterance ids) alone.

    fairseq's audio datasets crop each batch with numpy's global generator, which a resumed
    run reseeds at start-up: without this the crops after a resume differ from those an
    uninterrupted run would have taken, and so do the losses."""

    def __init__(self, dataset, seed: int):
        super().__init__(dataset)
        self.seed = seed
        self.epoch = 1

    def set_epoch(self, epoch):
        super().set_epoch(epoch)
        self.epoch = epoch

    def collater(self, samples):
        ids = [sample["id"] for sample in samples]
        with data_utils.numpy_seed(self.seed, self.epoch, *ids):
            return self.dataset.collater(samples)


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
        self.datasets[split] = SeededCrops(self.datasets[split], task_cfg.seed)

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

    # -- a non-finite loss stops training with the update and the files named ----------

    def train_step(self, sample, model, criterion, optimizer, update_num, ignore_grad=False, **kwargs):
        try:
            return super().train_step(sample, model, criterion, optimizer, update_num, ignore_grad, **kwargs)
        except FloatingPointError as err:
            raise NonFiniteLossError(
                f"update {update_num + 1}: {err}. Batch: {self.batch_files(sample, [self.cfg.train_subset])}. "
                f"Check these files for silence, clipping or NaN samples; if they are fine, lower "
                f"the learning rate (fairseq saved crash.pt beside the checkpoints)"
            ) from err

    def valid_step(self, sample, model, criterion):
        try:
            return super().valid_step(sample, model, criterion)
        except FloatingPointError as err:
            raise NonFiniteLossError(
                f"validation: {err}. Batch: {self.batch_files(sample, self.cfg.valid_subset.split(','))}"
            ) from err

    def batch_files(self, sample, splits) -> str:
        """The audio files of a batch, by its dataset indices, for error messages."""
        ids = sample["id"].tolist() if sample and "id" in sample else []
        described = []
        for split in splits:
            dataset = getattr(self.datasets.get(split), "dataset", None)  # inside SeededCrops
            if dataset is None or not hasattr(dataset, "fnames"):
                continue
            names = []
            for i in ids:
                name = dataset.fnames[i]  # a list item, or a pyarrow scalar when pyarrow is installed
                name = name if isinstance(dataset.fnames, list) else name.as_py()
                names.append(os.path.join(dataset.root_dir, dataset.text_compressor.decompress(name)))
            described.append(f"{split}: " + ", ".join(names))
        return "; ".join(described) or f"dataset indices {ids}"
