"""Bad inputs through the real entry points, as a new user would misuse them.

Every row of the table runs a command as a user types it (``fairseq-hydra-train`` with our
configs, ``python -m ehmam...``, the scripts) on a private copy of the corpus and asserts three
things: a non-zero exit, a message naming the file, line or key and the fix, and that nothing
already in the run's output or checkpoint directory was changed. The README's bad-input table
is this table in prose.
"""
import hashlib
import re
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, List

import numpy as np
import pytest
import soundfile as sf

from tests.user_dir.fairseq_runs import FINETUNE_CONFIGS, PRETRAIN_CONFIGS, REPO, hydra_train_command

PYTHON = sys.executable


@dataclass
class Env:
    """What a case may use: a private corpus copy, a directory holding an earlier run's
    outputs, the shared pretraining and fine-tuning checkpoints, and scratch space."""

    data: Path
    earlier: Path  # the case's save_dir / --out: an earlier run's files are in it already
    pretrained: Path
    finetuned: Path  # a fine-tuning run's checkpoint_last.pt
    finetune_log: Path
    scratch: Path


@dataclass
class Attempt:
    command: List[str]
    expect: str  # a regex the output must match: what, where, and the fix
    watched: List[Path] = field(default_factory=list)  # more directories that must not change


@dataclass
class Case:
    name: str
    prepare: Callable[[Env], Attempt]

    def __repr__(self):
        return self.name


# -- corruptions -------------------------------------------------------------------------------


def manifest_line(data: Path, split: str, line: int) -> Path:
    """The audio file on ``line`` (1-based, the root is line 1) of ``split``'s manifest."""
    lines = (data / f"{split}.tsv").read_text().splitlines()
    return Path(lines[0]) / lines[line - 1].split("\t")[0]


def rewrite_rate(path: Path, rate: int) -> None:
    wav, _ = sf.read(str(path), dtype="float32")
    sf.write(str(path), wav, rate, subtype="PCM_16")


def edit_line(path: Path, line: int, edit: Callable[[str], str]) -> None:
    lines = path.read_text().splitlines()
    lines[line - 1] = edit(lines[line - 1])
    path.write_text("\n".join(lines) + "\n")


def prepend_byte_order_mark(path: Path) -> None:
    path.write_text("\ufeff" + path.read_text(), encoding="utf-8")


def truncate(path: Path) -> Path:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


# -- commands ----------------------------------------------------------------------------------


def earlier_run(env: Env, *checkpoints: Path) -> None:
    """An earlier run's checkpoints in the case's save_dir, to be kept intact."""
    for checkpoint in checkpoints:
        shutil.copyfile(checkpoint, env.earlier / checkpoint.name)


def pretrain(env: Env, *overrides: str) -> List[str]:
    earlier_run(env, env.pretrained)
    return hydra_train_command(PRETRAIN_CONFIGS, "tiny_cpu", env.data, env.earlier, "optimization.max_update=2",
                               *overrides)


def finetune(env: Env, *overrides: str, w2v_path=None) -> List[str]:
    earlier_run(env, env.finetuned, env.finetuned.with_name("checkpoint_best.pt"))
    return hydra_train_command(FINETUNE_CONFIGS, "tiny_cpu", env.data, env.earlier,
                               f"model.w2v_path={w2v_path or env.pretrained}", "optimization.max_update=2", *overrides)


def pretraining_cases() -> List[Case]:
    def wrong_rate(env):
        rewrite_rate(manifest_line(env.data, "train", 4), 44_100)
        return Attempt(pretrain(env), r"train\.tsv:4: .*\.wav: sample rate is 44100 Hz, expected 16000 Hz\. Fix: resample")

    def byte_order_mark(env):
        prepend_byte_order_mark(env.data / "valid.tsv")
        return Attempt(pretrain(env), r"valid\.tsv:1: starts with a UTF-8 byte-order mark.*Fix: remove it")

    def all_too_short(env):
        return Attempt(pretrain(env, "task.min_sample_size=10000000"),
                       r"train\.tsv: every utterance is shorter than min_sample_size=10000000 .*Fix: lower task\.min_sample_size")

    def no_clones(env):
        return Attempt(pretrain(env, "model.clone_batch=0"), r"clone_batch=0: .*model\.clone_batch")

    return [Case("pretraining: 44.1 kHz audio", wrong_rate), Case("pretraining: byte-order mark in the manifest", byte_order_mark),
            Case("pretraining: every utterance below min_sample_size", all_too_short),
            Case("pretraining: model.clone_batch=0", no_clones)]


def finetuning_cases() -> List[Case]:
    def lowercase_letters(env):
        edit_line(env.data / "train.ltr", 3, str.lower)
        return Attempt(finetune(env), r"train\.ltr:3: symbols .*\b[a-z]\b.* are not in the dictionary\. Fix: normalise")

    def extra_label_line(env):
        (env.data / "train.ltr").write_text((env.data / "train.ltr").read_text() + "A B |\n")
        return Attempt(finetune(env), r"train\.ltr:33: has 33 lines but .*train\.tsv has 32 utterances\. Fix:")

    def wrong_rate(env):
        rewrite_rate(manifest_line(env.data, "train", 5), 44_100)
        return Attempt(finetune(env), r"train\.tsv:5: .*\.wav: sample rate is 44100 Hz")

    def byte_order_mark(env):
        prepend_byte_order_mark(env.data / "train.tsv")
        return Attempt(finetune(env), r"train\.tsv:1: starts with a UTF-8 byte-order mark")

    def missing_w2v_path(env):
        return Attempt(finetune(env, w2v_path=env.scratch / "nowhere.pt"),
                       r"model\.w2v_path: .*nowhere\.pt: checkpoint file does not exist\. Fix: point model\.w2v_path")

    def truncated_w2v_path(env):
        broken = env.scratch / "pretrained_cut.pt"
        shutil.copyfile(env.pretrained, broken)
        return Attempt(finetune(env, w2v_path=truncate(broken)),
                       r"model\.w2v_path: .*pretrained_cut\.pt: not a readable torch checkpoint")

    def fine_tuned_w2v_path(env):
        return Attempt(finetune(env, w2v_path=env.finetuned),
                       rf"model\.w2v_path=.*checkpoint_last\.pt is a fine-tuned 'wav2vec_ctc' checkpoint.*Fix: .*{re.escape(str(env.pretrained))}")

    def no_time_masks(env):
        return Attempt(finetune(env, "model.mask_prob=0"), r"model\.mask_prob=0 .*Fix: .*model\.apply_mask=false")

    return [Case("fine-tuning: letters outside dict.ltr.txt", lowercase_letters),
            Case("fine-tuning: an extra label line", extra_label_line), Case("fine-tuning: 44.1 kHz audio", wrong_rate),
            Case("fine-tuning: byte-order mark in the manifest", byte_order_mark),
            Case("fine-tuning: missing model.w2v_path", missing_w2v_path),
            Case("fine-tuning: truncated model.w2v_path", truncated_w2v_path),
            Case("fine-tuning: a fine-tuned checkpoint as model.w2v_path", fine_tuned_w2v_path),
            Case("fine-tuning: model.mask_prob=0", no_time_masks)]


CASES = pretraining_cases() + finetuning_cases()


# -- the sweep ---------------------------------------------------------------------------------


def copy_corpus(src: Path, dst: Path) -> Path:
    """A private copy of the corpus whose manifests point at the copied audio."""
    shutil.copytree(src, dst)
    for manifest in dst.glob("*.tsv"):
        if not manifest.name.endswith(".meta.tsv"):
            lines = manifest.read_text().splitlines()
            manifest.write_text("\n".join([str(dst), *lines[1:]]) + "\n")
    return dst


IGNORED = ("hydra", ".ehmam.lock")  # the failed run's own log and its lock


def snapshot(directory: Path) -> dict:
    return {str(p.relative_to(directory)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(directory.rglob("*")) if p.is_file() and p.relative_to(directory).parts[0] not in IGNORED}


@pytest.fixture
def env(demo_corpus, pretrained, finetuned, tmp_path) -> Env:
    save_dir, _ = finetuned
    for name in ("earlier", "scratch"):
        (tmp_path / name).mkdir()
    return Env(copy_corpus(demo_corpus, tmp_path / "data"), tmp_path / "earlier", pretrained, save_dir / "checkpoint_last.pt",
               save_dir / "hydra/hydra_train.log", tmp_path / "scratch")


@pytest.mark.parametrize("case", CASES, ids=repr)
def test_bad_input_is_refused_with_a_message_that_names_it(case, env):
    attempt = case.prepare(env)
    watched = [env.earlier, *attempt.watched]
    before = [snapshot(d) for d in watched]
    run = subprocess.run(attempt.command, capture_output=True, text=True, timeout=300, cwd=env.scratch)
    output = run.stdout + run.stderr
    assert run.returncode != 0, f"{case.name}: exit 0\n{output[-3000:]}"
    assert re.search(attempt.expect, output), f"{case.name}: expected /{attempt.expect}/ in\n{output[-3000:]}"
    assert [snapshot(d) for d in watched] == before, f"{case.name}: an earlier output changed"


# -- faults that used to lose work -------------------------------------------------------------


def updates_of(path: Path) -> int:
    import torch

    return torch.load(path, map_location="cpu", weights_only=False)["optimizer_history"][-1]["num_updates"]


def wait_for(condition: Callable[[], bool], process: subprocess.Popen, what: str, seconds: float = 180) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert process.poll() is None, f"the first run ended before {what}:\n{process.stdout.read()[-3000:]}"
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def test_a_second_run_into_a_live_runs_directory_is_refused_and_a_killed_run_leaves_no_lock(env):
    save_dir = env.scratch / "ckpt"
    first = subprocess.Popen(
        hydra_train_command(PRETRAIN_CONFIGS, "tiny_cpu", env.data, save_dir, "optimization.max_update=100000",
                            "checkpoint.save_interval_updates=2", "dataset.validate_interval_updates=100000"),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=env.scratch)
    try:
        wait_for(lambda: (save_dir / "checkpoint_last.pt").is_file(), first, "a checkpoint")
        second = subprocess.run(pretrain_into(env, save_dir, "optimization.max_update=2"),
                                capture_output=True, text=True, timeout=300, cwd=env.scratch)
        output = second.stdout + second.stderr
        assert second.returncode != 0, output[-3000:]
        assert re.search(rf"{re.escape(str(save_dir))}: another run is training into this directory "
                         rf"\(pid {first.pid} on .*fairseq-hydra-train.*\)\. .*Fix: ", output), output[-3000:]
        assert first.poll() is None  # the first run goes on
    finally:
        first.send_signal(signal.SIGKILL)  # no clean-up: the kernel must drop the lock
        first.wait(timeout=60)
    third = subprocess.run(pretrain_into(env, save_dir, "optimization.max_update=1"),
                           capture_output=True, text=True, timeout=300, cwd=env.scratch)
    output = third.stdout + third.stderr
    assert third.returncode == 0, output[-3000:]
    assert re.search(r"Loaded checkpoint .*checkpoint_last\.pt \(epoch \d+ @ [1-9]\d* updates\)", output), output[-3000:]


def pretrain_into(env: Env, save_dir: Path, *overrides: str) -> List[str]:
    return hydra_train_command(PRETRAIN_CONFIGS, "tiny_cpu", env.data, save_dir, "common.log_interval=1",
                               "checkpoint.save_interval_updates=3", *overrides)


def test_a_run_killed_while_copying_checkpoint_last_resumes_from_the_intact_checkpoint(env):
    save_dir = env.scratch / "ckpt"
    first = subprocess.run(pretrain_into(env, save_dir, "optimization.max_update=6"),
                           capture_output=True, text=True, timeout=300, cwd=env.scratch)
    assert first.returncode == 0, (first.stdout + first.stderr)[-3000:]
    intact = save_dir / "checkpoint_1_6.pt"
    assert updates_of(intact) == 6
    cut = truncate(save_dir / "checkpoint_last.pt")  # fairseq copies to _last with a plain copy
    cut_bytes = cut.read_bytes()

    resumed = subprocess.run(pretrain_into(env, save_dir, "optimization.max_update=8"),
                             capture_output=True, text=True, timeout=300, cwd=env.scratch)
    output = resumed.stdout + resumed.stderr
    assert resumed.returncode == 0, output[-3000:]
    assert re.search(r"checkpoint_last\.pt was unreadable .*moved it to .*checkpoint_last\.pt\.corrupt and resuming "
                     r"from .*checkpoint_(1_6|best)\.pt", output), output[-3000:]
    assert re.search(r"Loaded checkpoint .*checkpoint_last\.pt \(epoch \d+ @ 6 updates\)", output), output[-3000:]
    assert re.findall(r'"num_updates": "(\d+)"', output)[:2] == ["7", "8"]  # continued, not restarted
    assert (save_dir / "checkpoint_last.pt.corrupt").read_bytes() == cut_bytes  # kept for inspection
    assert updates_of(save_dir / "checkpoint_last.pt") == 8
