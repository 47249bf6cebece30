"""The fine-tuning configs fit fairseq's own dataclasses key by key and type by type, and the
paper's four recipes carry Table 5's settings."""
from dataclasses import fields
from pathlib import Path

import pytest
from fairseq.criterions.ctc import CtcCriterionConfig
from fairseq.dataclass.configs import FairseqConfig
from fairseq.models.wav2vec.wav2vec2_asr import Wav2Vec2CtcConfig
from fairseq.optim.adam import FairseqAdamConfig
from fairseq.optim.lr_scheduler.tri_stage_lr_scheduler import TriStageLRScheduleConfig
from fairseq.tasks import TASK_DATACLASS_REGISTRY
from fairseq.utils import import_user_module
from omegaconf import OmegaConf

REPO = Path(__file__).resolve().parents[2]
FINETUNING = REPO / "examples/ehmam/config/finetuning"
# fairseq registers every task of the user dir only when it imports the package itself
import_user_module(OmegaConf.create({"user_dir": str(REPO / "user_dir")}))
TOP_LEVEL = {f.name: f.type for f in fields(FairseqConfig)}
NAMED_GROUPS = {"task": TASK_DATACLASS_REGISTRY["ehmam_audio_finetuning"], "model": Wav2Vec2CtcConfig, "criterion": CtcCriterionConfig,
                "optimizer": FairseqAdamConfig, "lr_scheduler": TriStageLRScheduleConfig}
# Table 5: lr, updates, channel mask prob, layerdrop, updates with the encoder frozen
TABLE_5 = {"10m": (5e-5, 13_000, 0.25, 0.1, 10_000), "1h": (5e-5, 13_000, 0.25, 0.1, 10_000),
           "10h": (5e-5, 20_000, 0.5, 0.05, 10_000), "100h": (3e-5, 80_000, 0.5, 0.1, 0)}


def checked(name: str):
    """The yaml merged into fairseq's dataclasses: an unknown key or a wrong type raises."""
    raw = OmegaConf.load(FINETUNING / f"{name}.yaml")
    merged = {}
    for group, block in raw.items():
        schema = NAMED_GROUPS.get(group) or TOP_LEVEL[group]
        if group in NAMED_GROUPS:
            assert block._name == {"task": "ehmam_audio_finetuning", "model": "wav2vec_ctc", "criterion": "ctc",
                                   "optimizer": "adam", "lr_scheduler": "tri_stage"}[group]
        merged[group] = OmegaConf.merge(OmegaConf.structured(schema), block)
    return merged


@pytest.mark.parametrize("name", [*TABLE_5, "tiny_cpu"])
def test_config_fits_fairseqs_dataclasses(name):
    cfg = checked(name)
    assert cfg["task"].labels == "ltr" and cfg["task"].normalize is True  # EH-MAM pretrains normalised
    assert cfg["task"].validate_audio is True  # listed, so that task.validate_audio=false needs no "+"
    assert cfg["criterion"].post_process == "letter"  # validation logs greedy UER and WER
    assert cfg["checkpoint"].best_checkpoint_metric == "wer"
    assert cfg["checkpoint"].maximize_best_checkpoint_metric is False
    assert cfg["lr_scheduler"].phase_ratio == [0.1, 0.4, 0.5]
    assert cfg["model"].apply_mask is True and cfg["model"]._name == "wav2vec_ctc"


@pytest.mark.parametrize("name", TABLE_5)
def test_recipe_is_table_5(name):
    lr, updates, channel_prob, layerdrop, frozen = TABLE_5[name]
    cfg = checked(name)
    assert cfg["optimization"].lr == [lr] and cfg["optimization"].max_update == updates
    assert cfg["dataset"].batch_size == 32
    model = cfg["model"]
    assert (model.mask_prob, model.mask_length) == (0.65, 10)
    assert (model.mask_channel_prob, model.mask_channel_length) == (channel_prob, 64)
    assert model.layerdrop == layerdrop and model.activation_dropout == 0.1
    assert model.freeze_finetune_updates == frozen
    assert cfg["dataset"].train_subset.startswith("train_")
