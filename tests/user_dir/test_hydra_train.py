"""fairseq-hydra-train with our user_dir trains on the demo corpus, checkpoints, and resumes."""
import math
import re
from pathlib import Path

from tests.user_dir.fairseq_runs import REPO, checkpoint_updates, hydra_train


def train(data: Path, save_dir: Path, max_update: int) -> str:
    return hydra_train(REPO / "examples/demo", "wav2vec2_tiny", data, save_dir,
                       f"optimization.max_update={max_update}", "checkpoint.save_interval_updates=3",
                       "common.log_interval=1")


def logged_updates(log: str) -> list[tuple[int, float]]:
    """(num_updates, loss) of every train_inner line."""
    return [(int(m.group(2)), float(m.group(1)))
            for m in re.finditer(r"\[train_inner\].* loss=([-\d.e+naninf]+),.*num_updates=(\d+)", log)]


def test_trains_checkpoints_and_resumes(demo_corpus, tmp_path):
    save_dir = tmp_path / "ckpt"
    first = train(demo_corpus, save_dir, max_update=6)
    assert "task: EhmamAudioPretrainingTask" in first
    assert re.search(r"validated .*train\.tsv: 32 utterances", first)
    updates = logged_updates(first)
    assert [u for u, _ in updates] == list(range(1, 7))
    assert all(math.isfinite(loss) for _, loss in updates)
    assert checkpoint_updates(save_dir / "checkpoint_last.pt") == 6

    second = train(demo_corpus, save_dir, max_update=10)
    assert re.search(r"Loaded checkpoint .*checkpoint_last\.pt \(epoch \d+ @ 6 updates\)", second)
    assert [u for u, _ in logged_updates(second)] == list(range(7, 11))  # continued, not restarted
    assert checkpoint_updates(save_dir / "checkpoint_last.pt") == 10
