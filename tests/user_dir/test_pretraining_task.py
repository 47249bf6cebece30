"""The ehmam_audio_pretraining task validates a split before fairseq loads it."""
import logging
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from fairseq import tasks
from fairseq.utils import import_user_module
from omegaconf import OmegaConf

from ehmam.data.manifest import ManifestError, read_manifest
from tests.user_dir.fairseq_runs import copy_corpus


@pytest.fixture(scope="module")
def task_class():
    import_user_module(OmegaConf.create({"user_dir": str(Path(__file__).resolve().parents[2] / "user_dir")}))
    return tasks.TASK_REGISTRY["ehmam_audio_pretraining"]


def make_task(task_class, data, **overrides):
    config_class = tasks.TASK_DATACLASS_REGISTRY["ehmam_audio_pretraining"]
    cfg = OmegaConf.structured(config_class(data=str(data), tpu=False, seed=1, **overrides))
    return task_class.setup_task(cfg)


def test_loads_a_valid_split_and_logs_skipped_short_inputs(task_class, demo_corpus, caplog):
    sizes = [e.num_samples for e in read_manifest(demo_corpus / "train.tsv").entries]
    threshold = int(np.median(sizes))
    task = make_task(task_class, demo_corpus, min_sample_size=threshold, labels="ltr")
    with caplog.at_level(logging.INFO):
        task.load_dataset("train")
    n_short = sum(s < threshold for s in sizes)
    assert n_short > 0 and len(task.datasets["train"]) == len(sizes) - n_short
    assert f"{len(sizes)} utterances" in caplog.text
    assert f"{n_short} shorter than min_sample_size" in caplog.text


def test_stereo_file_stops_the_load(task_class, demo_corpus, tmp_path):
    # fairseq alone would silently average the channels; the task refuses the file.
    data = copy_corpus(demo_corpus, tmp_path / "data")
    rel = (data / "valid.tsv").read_text().splitlines()[2].split("\t")[0]
    wav, _ = sf.read(str(data / rel))
    sf.write(data / rel, np.stack([wav, wav], 1), 16000, subtype="PCM_16")
    task = make_task(task_class, data)
    with pytest.raises(ManifestError, match=rf"valid\.tsv:3: .*{rel}: audio has 2 channels"):
        task.load_dataset("valid")
    assert "valid" not in task.datasets


def test_label_mismatch_stops_the_load(task_class, demo_corpus, tmp_path):
    data = copy_corpus(demo_corpus, tmp_path / "data")
    (data / "test.ltr").write_text("".join((data / "test.ltr").read_text().splitlines(True)[:-1]))
    task = make_task(task_class, data, labels="ltr")
    with pytest.raises(ManifestError, match=r"test\.ltr:3: has 3 lines but .*test\.tsv has 4"):
        task.load_dataset("test")
