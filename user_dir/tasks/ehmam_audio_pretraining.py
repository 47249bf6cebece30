"""``ehmam_audio_pretraining``: fairseq's audio pretraining task with manifests checked at load,
the checkpoint directory claimed, and crops that replay exactly after a resume."""
from dataclasses import dataclass

from fairseq.data import BaseWrapperDataset, data_utils
from fairseq.tasks import register_task
from fairseq.tasks.audio_pretraining import AudioPretrainingConfig, AudioPretrainingTask

from .training_run import TrainingRunConfig, TrainingRunTask


@dataclass
class EhmamAudioPretrainingConfig(AudioPretrainingConfig, TrainingRunConfig):
    pass


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
class EhmamAudioPretrainingTask(TrainingRunTask, AudioPretrainingTask):
    cfg: EhmamAudioPretrainingConfig

    def load_dataset(self, split: str, task_cfg=None, **kwargs):
        super().load_dataset(split, task_cfg, **kwargs)  # validated first (TrainingRunTask)
        self.datasets[split] = SeededCrops(self.datasets[split], (task_cfg or self.cfg).seed)
