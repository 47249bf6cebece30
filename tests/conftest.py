import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # `manifests` and `user_dir` are top-level folders, not installed


def pytest_addoption(parser):
    parser.addoption("--run-slow", action="store_true", help="also run tests marked slow")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--run-slow") or os.environ.get("EHMAM_RUN_SLOW") == "1":
        return
    skip = pytest.mark.skip(reason="slow: opt in with --run-slow or EHMAM_RUN_SLOW=1")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def demo_corpus(tmp_path_factory) -> Path:
    """A small synthesized corpus shared by the tests that only read it."""
    from manifests.make_demo_corpus import make_corpus

    out = tmp_path_factory.mktemp("corpus") / "demo"
    make_corpus(out, num_utterances=40, seed=3)
    return out


@pytest.fixture(scope="session")
def valid_utterance(demo_corpus) -> Path:
    """The first validation file of the demo corpus, for the figure scripts."""
    from ehmam.data.manifest import read_manifest

    manifest = read_manifest(demo_corpus / "valid.tsv")
    return manifest.audio_path(manifest.entries[0])


@pytest.fixture(scope="session")
def pretrained(demo_corpus, tmp_path_factory) -> Path:
    """checkpoint_last.pt of a 20-update tiny EH-MAM run through fairseq-hydra-train."""
    from tests.user_dir.fairseq_runs import pretrain

    save_dir = tmp_path_factory.mktemp("pretrain") / "ckpt"
    pretrain(demo_corpus, save_dir, "optimization.max_update=20")
    return save_dir / "checkpoint_last.pt"


@pytest.fixture(scope="session")
def finetuned(pretrained, demo_corpus, tmp_path_factory):
    """(save_dir, log) of a tiny CTC fine-tuning of ``pretrained``: FINETUNE_UPDATES updates,
    the first FINETUNE_FROZEN with the encoder frozen; a checkpoint (and validation) every 3."""
    from tests.user_dir.fairseq_runs import FINETUNE_FROZEN, FINETUNE_UPDATES, finetune

    save_dir = tmp_path_factory.mktemp("finetune") / "ckpt"
    log = finetune(demo_corpus, save_dir, pretrained, f"optimization.max_update={FINETUNE_UPDATES}",
                   f"model.freeze_finetune_updates={FINETUNE_FROZEN}", "checkpoint.save_interval_updates=3",
                   "dataset.validate_interval_updates=3", "checkpoint.keep_interval_updates=-1")
    return save_dir, log
