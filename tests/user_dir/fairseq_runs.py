"""Run fairseq-hydra-train with our user_dir, as a user would, for the integration tests."""
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[2]
HYDRA_TRAIN = Path(sys.executable).parent / "fairseq-hydra-train"
PRETRAIN_CONFIGS = REPO / "examples/ehmam/config"
FINETUNE_CONFIGS = PRETRAIN_CONFIGS / "finetuning"
# the shared fine-tuning run (tests/conftest.py): updates with the encoder frozen, updates in all
FINETUNE_FROZEN = 6
FINETUNE_UPDATES = 12


def hydra_train_command(config_dir: Path, config_name: str, data: Path, save_dir: Path, *overrides: str) -> list:
    """fairseq-hydra-train into ``save_dir``, its hydra log in ``save_dir / "hydra"``."""
    return [str(HYDRA_TRAIN), "--config-dir", str(config_dir), "--config-name", config_name,
            f"task.data={data}", f"common.user_dir={REPO / 'user_dir'}",
            f"checkpoint.save_dir={save_dir}", f"hydra.run.dir={save_dir / 'hydra'}", *overrides]


def run_training(cmd: list, save_dir: Path, expect_success: bool, timeout: int, env: dict) -> str:
    """Run ``cmd`` in ``save_dir`` with ``env`` added to the environment; stdout + stderr."""
    save_dir.mkdir(parents=True, exist_ok=True)
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=save_dir,
                         env={**os.environ, **(env or {})})
    log = run.stdout + run.stderr
    if expect_success:
        assert run.returncode == 0, log[-5000:]
    else:
        assert run.returncode != 0, "training was expected to fail:\n" + log[-3000:]
    return log


def hydra_train(config_dir: Path, config_name: str, data: Path, save_dir: Path, *overrides: str,
                expect_success: bool = True, timeout: int = 300, env: dict = None) -> str:
    """Train (or resume) into ``save_dir``; returns stdout + stderr. The hydra log goes to
    ``save_dir / "hydra" / "hydra_train.log"``. ``env``: variables to add to the environment."""
    cmd = hydra_train_command(config_dir, config_name, data, save_dir, *overrides)
    return run_training(cmd, save_dir, expect_success, timeout, env)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def launched_train(processes: int, config_dir: Path, config_name: str, data: Path, save_dir: Path, *overrides: str,
                   expect_success: bool = True, timeout: int = 300, threads: int = 1) -> str:
    """``python -m ehmam.launch --nproc-per-node processes --device cpu`` (gloo) into
    ``save_dir``, ``threads`` per process; returns stdout + stderr of every rank."""
    hydra = hydra_train_command(config_dir, config_name, data, save_dir, *overrides)[1:]
    cmd = [sys.executable, "-m", "ehmam.launch", "--nproc-per-node", str(processes), "--device", "cpu",
           "--master-port", str(free_port()), "--", *hydra]
    return run_training(cmd, save_dir, expect_success, timeout,
                        {"OMP_NUM_THREADS": str(threads), "PYTHONPATH": str(REPO)})


def pretrain(data: Path, save_dir: Path, *overrides: str, **kwargs) -> str:
    """The tiny EH-MAM recipe (examples/ehmam/config/tiny_cpu.yaml)."""
    return hydra_train(PRETRAIN_CONFIGS, "tiny_cpu", data, save_dir, *overrides, **kwargs)


def finetune(data: Path, save_dir: Path, w2v_path, *overrides: str, **kwargs) -> str:
    """The tiny CTC recipe (examples/ehmam/config/finetuning/tiny_cpu.yaml) from ``w2v_path``."""
    return hydra_train(FINETUNE_CONFIGS, "tiny_cpu", data, save_dir, f"model.w2v_path={w2v_path}",
                       "common.log_interval=1", *overrides, **kwargs)


def copy_corpus(src: Path, dst: Path) -> Path:
    """A private copy of a corpus, to break, whose manifests point at the copied audio."""
    shutil.copytree(src, dst)
    for manifest in dst.glob("*.tsv"):
        if not manifest.name.endswith(".meta.tsv"):
            lines = manifest.read_text().splitlines()
            manifest.write_text("\n".join([str(dst), *lines[1:]]) + "\n")
    return dst


def corpus_with_nan_audio(src: Path, dst: Path, line: int = 7):
    """A private copy of a corpus whose training file on manifest line ``line`` holds NaN
    samples; returns (the copy, that file)."""
    import numpy as np
    import soundfile as sf

    data = copy_corpus(src, dst)
    path = data / (data / "train.tsv").read_text().splitlines()[line - 1].split("\t")[0]
    wav, rate = sf.read(str(path), dtype="float32")
    wav[100:200] = np.nan
    sf.write(str(path), wav, rate, subtype="FLOAT")
    return data, path


def assert_replayed(reference_dir: Path, save_dir: Path, after: int, keys) -> None:
    """The run resumed in ``save_dir`` replays the uninterrupted one in ``reference_dir``:
    every logged ``keys`` of each update after ``after``, and every final weight, bit for bit."""
    from scripts.plot_pretraining import read_fairseq_log

    def records(directory):
        return {int(r["num_updates"]): r for r in read_fairseq_log(directory / "hydra/hydra_train.log")["train_inner"]
                if int(r["num_updates"]) > after}

    resumed, expected = records(save_dir), records(reference_dir)
    assert sorted(resumed) == sorted(expected) and expected
    for update, record in expected.items():
        for key in keys:
            assert resumed[update][key] == record[key], (update, key)
    ours, theirs = (torch.load(d / "checkpoint_last.pt", map_location="cpu", weights_only=False)["model"]
                    for d in (save_dir, reference_dir))
    assert ours.keys() == theirs.keys()
    for name, tensor in theirs.items():
        assert torch.equal(ours[name], tensor), name


def encoder_weights(checkpoint: Path, prefix: str) -> dict:
    """The encoder weights of a fairseq checkpoint under ``prefix``, the prefix stripped."""
    state = torch.load(checkpoint, map_location="cpu", weights_only=False)
    return {k[len(prefix):]: v for k, v in state["model"].items() if k.startswith(prefix)}


def checkpoint_updates(path: Path) -> int:
    """The updates a fairseq checkpoint was saved after."""
    state = torch.load(path, map_location="cpu", weights_only=False)
    return state["optimizer_history"][-1]["num_updates"]


def reference_training(train, data: Path, save_dir: Path, updates: int):
    """``train(data, save_dir, *overrides)`` for ``updates`` uninterrupted updates, a checkpoint
    (and validation) every 50, all kept, for the resume comparisons: ``(save_dir, log, the
    parsed json log)``."""
    from scripts.plot_pretraining import read_fairseq_log

    log = train(data, save_dir, f"optimization.max_update={updates}", "checkpoint.save_interval_updates=50",
                "checkpoint.keep_interval_updates=-1", "dataset.validate_interval_updates=50")
    return save_dir, log, read_fairseq_log(save_dir / "hydra/hydra_train.log")
