"""``ehmam_audio_finetuning``: fairseq's ``audio_finetuning`` with the checks pretraining runs.

A task of ours rather than a patch applied to fairseq's class: the config then says which
task runs (``task._name: ehmam_audio_finetuning``), fairseq's own task stays as fairseq ships
it for everything else in the process, and its checkpoints read back exactly as before (the
class adds checks, no state). Before fairseq reads a split it validates the manifest and
audio headers as pretraining does, and checks every label against the label dictionary
(fairseq would silently map unknown letters to ``<unk>``); before the model is built it
checks ``model.w2v_path`` and the masking settings.
"""
from dataclasses import dataclass

from fairseq.tasks import register_task
from fairseq.tasks.audio_finetuning import AudioFinetuningConfig, AudioFinetuningTask

from ehmam.checkpoints import CheckpointError, read_checkpoint, refuse_fine_tuned

from .training_run import TrainingRunConfig, TrainingRunTask


@dataclass
class EhmamAudioFinetuningConfig(AudioFinetuningConfig, TrainingRunConfig):
    pass


@register_task("ehmam_audio_finetuning", dataclass=EhmamAudioFinetuningConfig)
class EhmamAudioFinetuningTask(TrainingRunTask, AudioFinetuningTask):
    cfg: EhmamAudioFinetuningConfig

    def label_symbols(self):
        return self.target_dictionary.symbols if self.target_dictionary is not None else None

    def build_model(self, model_cfg, from_checkpoint=False):
        if not from_checkpoint:
            check_finetuning_model(model_cfg)
        return super().build_model(model_cfg, from_checkpoint)


def check_finetuning_model(model_cfg) -> None:
    """Settings fairseq's wav2vec_ctc would fail on with a message naming another cause."""
    if getattr(model_cfg, "apply_mask", False) and getattr(model_cfg, "mask_prob", None) == 0:
        raise ValueError("model.mask_prob=0 with model.apply_mask=true. Fix: to fine-tune without "
                         "SpecAugment masks set model.apply_mask=false")
    w2v_path = getattr(model_cfg, "w2v_path", None)
    if w2v_path is None or getattr(model_cfg, "w2v_args", None) is not None:
        return  # the pretrained model comes with the config (a fine-tuned checkpoint read back)
    try:
        # fairseq reads the file again to build the model: map it here, only the config is read
        state = read_checkpoint(w2v_path, "model.w2v_path", mmap=True)
    except CheckpointError as err:
        raise CheckpointError(f"model.w2v_path: {err.problem}. Fix: point model.w2v_path at the pretraining "
                              "run's checkpoint_last.pt (or checkpoint_best.pt)") from err
    refuse_fine_tuned(state, f"model.w2v_path={w2v_path}", "fine-tuning")
