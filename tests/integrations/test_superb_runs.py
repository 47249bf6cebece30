"""SUPERB through s3prl's own runner, end to end: a short KS run in the default suite, the
KS / IC comparison of a trained checkpoint with random weights opt-in (slow)."""
import re
import subprocess
import sys
from pathlib import Path

import pytest

from manifests.make_superb_sets import SMALL, make_ks

REPO = Path(__file__).resolve().parents[2]


def superb(*args):
    """``python -m ehmam.superb ARGS`` from the repository root (the configs' paths are relative)."""
    out = subprocess.run([sys.executable, "-m", "ehmam.superb", *map(str, args)], cwd=REPO, text=True,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=600)
    assert out.returncode == 0, out.stdout[-3000:]
    return out.stdout


@pytest.fixture(scope="module")
def ks_data(tmp_path_factory):
    root = tmp_path_factory.mktemp("ks")
    make_ks(root, seed=5, **SMALL["keywords"])
    return root


def test_a_short_ks_run_trains_keeps_the_dev_best_and_evaluates_it_on_test(pretrained, ks_data, tmp_path):
    expdir = tmp_path / "ks"
    # a high learning rate, so the dev score rises above its start of 0 within the run (the
    # dev-best checkpoint is written only on a strict rise)
    steps = ",,".join(["config.runner.total_steps=30", "config.runner.eval_step=10", "config.runner.save_step=10",
                       "config.runner.log_step=5", "config.optimizer.lr=0.01",
                       "config.downstream_expert.datarc.num_workers=0",
                       "config.downstream_expert.datarc.batch_size=8",
                       f"config.downstream_expert.datarc.speech_commands_root={ks_data / 'train'}",
                       f"config.downstream_expert.datarc.speech_commands_test_root={ks_data / 'test'}"])
    superb("-m", "train", "-u", "ehmam_local", "-k", pretrained, "-d", "speech_commands",
           "-c", "examples/superb/ks.yaml", "-p", expdir, "-o", steps)
    log = (expdir / "log.log").read_text()
    assert re.findall(r"^dev at step (\d+)", log, re.M) == ["10", "20", "30"]
    assert "New best on dev" in log
    from scripts.superb_compare import curves
    assert [step for step, _ in curves(expdir)["dev"]] == [10, 20, 30]
    assert (expdir / "dev-best.ckpt").is_file() and (expdir / "states-30.ckpt").is_file()
    out = superb("-m", "evaluate", "-e", expdir / "dev-best.ckpt")
    accuracy = float(re.search(r"^test acc: ([0-9.]+)$", out, re.M).group(1))
    test_clips = sorted(p.relative_to(ks_data / "test") for p in (ks_data / "test").rglob("*.wav"))
    predictions = (expdir / "test_predict.txt").read_text().splitlines()
    truths = dict(line.split() for line in (expdir / "test_truth.txt").read_text().splitlines())
    # every test clip scored once, its truth its folder's class, the accuracy their agreement
    assert sorted(line.split()[0] for line in predictions) == sorted("-".join(p.parts) for p in test_clips)
    assert all(truth == name.split("-")[0] for name, truth in truths.items())
    agree = sum(truths[name] == label for name, label in (line.split() for line in predictions))
    assert accuracy == pytest.approx(agree / len(predictions))


@pytest.mark.slow
def test_the_demo_checkpoint_beats_random_weights_on_ks_and_ic(tmp_path):
    """The README's comparison (scripts/superb_compare.py) on the generated sets; needs the demo
    checkpoint (bash scripts/demo.sh) and data/superb (manifests/make_superb_sets.py all)."""
    checkpoint = REPO / "checkpoints" / "demo" / "checkpoint_last.pt"
    if not checkpoint.is_file() or not (REPO / "data" / "superb" / "ks").is_dir():
        pytest.fail("needs checkpoints/demo (bash scripts/demo.sh) and data/superb "
                    "(python manifests/make_superb_sets.py all --out data/superb)")
    from scripts.superb_compare import main

    results = main(["--checkpoint", str(checkpoint), "--steps", "1000", "--lr", "1e-3", "--out", str(tmp_path)])
    for task, scores in results.items():
        assert scores["pretrained"] > scores["random"], (task, scores)
