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
