"""Bad inputs through the real entry points, as a new user would misuse them.

Every row of the table runs a command as a user types it (``fairseq-hydra-train`` with our
configs, ``python -m ehmam...``, the scripts) on a private copy of the corpus and asserts three
things: a non-zero exit, a message naming the file, line or key and the fix, and that nothing
already in the run's output or checkpoint directory was changed. The README's bad-input table
is this table in prose.
"""
import csv
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
import torch

from ehmam.evaluation.linear import RESULT_COLUMNS
from tests.user_dir.fairseq_runs import (FINETUNE_CONFIGS, PRETRAIN_CONFIGS, REPO, checkpoint_updates, copy_corpus,
                                        hydra_train_command)

PYTHON = sys.executable


@dataclass
class Env:
    """What a case may use: a private corpus copy, a directory holding an earlier run's
    outputs, the shared pretraining and fine-tuning checkpoints, scratch space, and the shared
    downstream sets of manifests/make_audio_tasks.py (copy one with :func:`audio_task` to break it)."""

    data: Path
    earlier: Path  # the case's save_dir / --out: an earlier run's files are in it already
    pretrained: Path
    finetuned: Path  # a fine-tuning run's checkpoint_last.pt
    finetune_log: Path
    scratch: Path
    audio_tasks: Path  # spcv2/ (Speech Commands layout) and esc50/ (ESC-50 layout), shared: read only


@dataclass
class Attempt:
    command: List[str]
    expect: str  # a regex the output must match: what, where, and the fix
    no_new_files: bool = False  # the command must not leave partial outputs behind either


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


def pretrain_into(env: Env, save_dir: Path, *overrides: str) -> List[str]:
    return hydra_train_command(PRETRAIN_CONFIGS, "tiny_cpu", env.data, save_dir, "common.log_interval=1",
                               "checkpoint.save_interval_updates=3", *overrides)


def pretrain(env: Env, *overrides: str) -> List[str]:
    earlier_run(env, env.pretrained)
    return pretrain_into(env, env.earlier, "optimization.max_update=2", *overrides)


def finetune(env: Env, *overrides: str, w2v_path=None) -> List[str]:
    earlier_run(env, env.finetuned, env.finetuned.with_name("checkpoint_best.pt"))
    return hydra_train_command(FINETUNE_CONFIGS, "tiny_cpu", env.data, env.earlier,
                               f"model.w2v_path={w2v_path or env.pretrained}", "optimization.max_update=2", *overrides)


def nan_samples(path: Path) -> Path:
    """Write ``path`` as a float WAV with NaN samples: its header is fine, its samples are not."""
    wav, rate = sf.read(str(path), dtype="float32")
    wav[100:200] = np.nan
    sf.write(str(path), wav, rate, subtype="FLOAT")
    return path


def shared_data_cases(stage: str, command: Callable[..., List[str]], split: str) -> List[Case]:
    """Bad audio and manifests, which every training entry point must refuse alike."""
    def wrong_rate(env):
        rewrite_rate(manifest_line(env.data, split, 4), 44_100)
        return Attempt(command(env), rf"{split}\.tsv:4: .*\.wav: sample rate is 44100 Hz, expected 16000 Hz\. Fix: resample")

    def byte_order_mark(env):
        prepend_byte_order_mark(env.data / f"{split}.tsv")
        return Attempt(command(env), rf"{split}\.tsv:1: starts with a UTF-8 byte-order mark.*Fix: remove it")

    def all_too_short(env):
        return Attempt(command(env, "task.min_sample_size=10000000"),
                       r"train\.tsv: every utterance is shorter than min_sample_size=10000000 .*Fix: lower task\.min_sample_size")

    return [Case(f"{stage}: 44.1 kHz audio", wrong_rate), Case(f"{stage}: byte-order mark in the manifest", byte_order_mark),
            Case(f"{stage}: every utterance below min_sample_size", all_too_short)]


def pretraining_cases() -> List[Case]:
    def no_clones(env):
        return Attempt(pretrain(env, "model.clone_batch=0"), r"clone_batch=0: .*model\.clone_batch")

    return shared_data_cases("pretraining", pretrain, "valid") + [Case("pretraining: model.clone_batch=0", no_clones)]


def finetuning_cases() -> List[Case]:
    def lowercase_letters(env):
        edit_line(env.data / "train.ltr", 3, str.lower)
        return Attempt(finetune(env), r"train\.ltr:3: symbols .*\b[a-z]\b.* are not in the dictionary\. Fix: normalise")

    def extra_label_line(env):
        (env.data / "train.ltr").write_text((env.data / "train.ltr").read_text() + "A B |\n")
        return Attempt(finetune(env), r"train\.ltr:33: has 33 lines but .*train\.tsv has 32 utterances\. Fix:")

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
                       rf"model\.w2v_path=.*checkpoint_last\.pt is a CTC fine-tuned checkpoint \(wav2vec_ctc\); fine-tuning "
                       rf"needs the pretraining checkpoint it was fine-tuned from: {re.escape(str(env.pretrained))}\. Fix: pass that file")

    def nan_audio(env):
        path = nan_samples(manifest_line(env.data, "train", 6))
        # resumes the earlier run (12 updates) and trains more than an epoch (5 batches), unsaved
        return Attempt(finetune(env, "optimization.max_update=20", "checkpoint.no_save=true"),
                       rf"NonFiniteLossError: update \d+: the loss is nan\. Batch: train: .*{re.escape(str(path))}")

    def no_time_masks(env):
        return Attempt(finetune(env, "model.mask_prob=0"), r"model\.mask_prob=0 .*Fix: .*model\.apply_mask=false")

    return shared_data_cases("fine-tuning", finetune, "train") + [
        Case("fine-tuning: letters outside dict.ltr.txt", lowercase_letters),
        Case("fine-tuning: an extra label line", extra_label_line),
        Case("fine-tuning: missing model.w2v_path", missing_w2v_path),
        Case("fine-tuning: truncated model.w2v_path", truncated_w2v_path),
        Case("fine-tuning: a fine-tuned checkpoint as model.w2v_path", fine_tuned_w2v_path),
        Case("fine-tuning: NaN samples in a float WAV", nan_audio), Case("fine-tuning: model.mask_prob=0", no_time_masks)]


def decode(env: Env, *options: str, out=None) -> List[str]:
    """``python -m ehmam.asr.decode`` on the test split into ``out`` (default: the earlier
    results' folder, which holds a previous decoding's hypotheses)."""
    out = out or env.earlier
    (env.earlier / "test.greedy.wrd").write_text("AN EARLIER RESULT\n")
    return [PYTHON, "-m", "ehmam.asr.decode", str(env.finetuned), "--data", str(env.data), "--split", "test",
            "--out", str(out), *options]


def decoding_cases() -> List[Case]:
    def no_beam(env):
        return Attempt(decode(env, "--lexicon", str(env.scratch / "lexicon.txt"), "--beam", "0"),
                       r"argument --beam: '0': must be at least 1")

    def out_under_a_file(env):
        return Attempt(decode(env, out=env.data / "test.tsv" / "decode"),
                       r"--out .*test\.tsv/decode: .*test\.tsv is a file, so no folder can be created .*Fix: ")

    def nan_audio(env):
        path = nan_samples(manifest_line(env.data, "test", 3))
        return Attempt(decode(env), rf"test\.tsv:3: {re.escape(str(path))}: contains 100 non-finite samples .*Fix: ")

    def blank_references(env):
        (env.data / "test.wrd").write_text("\n" * 4)
        return Attempt(decode(env), r"test\.wrd: no reference words: all 4 lines are empty.*Fix: ")

    def shorter_than_receptive_field(env):
        path = manifest_line(env.data, "test", 4)
        sf.write(str(path), np.zeros(300, dtype=np.float32), 16_000, subtype="PCM_16")
        edit_line(env.data / "test.tsv", 4, lambda line: line.split("\t")[0] + "\t300")
        return Attempt(decode(env), rf"shorter than the model's receptive field of 400 samples.*\n.*test\.tsv:4: "
                                    rf"{re.escape(str(path))}: 300 samples\nFix: remove them from the manifest or pad them")

    return [Case("decoding: --beam 0", no_beam), Case("decoding: --out under a file", out_under_a_file),
            Case("decoding: NaN samples", nan_audio), Case("decoding: every reference blank", blank_references),
            Case("decoding: a file shorter than the receptive field", shorter_than_receptive_field)]


def build_lm(env: Env, text: Path, *options: str) -> List[str]:
    """``python -m ehmam.asr.language_model build`` into the earlier results' folder."""
    (env.earlier / "4-gram.bin").write_bytes(b"an earlier LM")
    return [PYTHON, "-m", "ehmam.asr.language_model", "build", "--text", str(text), "--words", str(env.data / "train.wrd"),
            "--dict", str(env.data / "dict.ltr.txt"), "--out", str(env.earlier), *options]


def tool_cases() -> List[Case]:
    def lowercase_lm_text(env):
        text = env.scratch / "lm.txt"
        text.write_text("THE CAT SAT\nthe dog ran\n")
        return Attempt(build_lm(env, text), rf"{re.escape(str(text))}: 1 line\(s\) use letters that the letter dictionary "
                                            rf".*dict\.ltr\.txt does not have.*\n.*lm\.txt:2: .* in 'the dog ran'\nFix: normalise",
                       no_new_files=True)

    def lm_order(env):
        return Attempt(build_lm(env, env.data / "lm_text.txt", "--order", "7"),
                       r"--order 7: an n-gram order must be from 1 to 6 .*Fix: --order 4", no_new_files=True)

    def probe_fine_tuned(env):
        return Attempt([PYTHON, "-m", "ehmam.evaluation.probe", str(env.finetuned), str(env.data)],
                       rf"{re.escape(str(env.finetuned))} is a CTC fine-tuned checkpoint \(wav2vec_ctc\); .* needs the "
                       rf"pretraining checkpoint it was fine-tuned from: {re.escape(str(env.pretrained))}\. Fix: pass that file")

    def hard_regions_fine_tuned(env):
        return Attempt([PYTHON, str(REPO / "scripts/plot_hard_regions.py"), "--checkpoint", str(env.finetuned),
                        "--manifest", str(env.data / "valid.tsv"), "--out", str(env.earlier / "hard.png")],
                       rf"is a CTC fine-tuned checkpoint .* fine-tuned from: {re.escape(str(env.pretrained))}\. Fix: pass that file")

    def plot_pretraining_of_fine_tuning(env):
        return Attempt([PYTHON, str(REPO / "scripts/plot_pretraining.py"), str(env.finetune_log), "--out",
                        str(env.earlier / "curves.png")],
                       rf"{re.escape(str(env.finetune_log))}: a CTC fine-tuning log .*Fix: plot it with scripts/plot_finetuning\.py",
                       no_new_files=True)

    def plot_finetuning_of_pretraining(env):
        log = env.pretrained.parent / "hydra" / "hydra_train.log"
        return Attempt([PYTHON, str(REPO / "scripts/plot_finetuning.py"), str(log), "--out", str(env.earlier / "ft.png")],
                       rf"{re.escape(str(log))}: an EH-MAM pretraining log.*Fix: plot it with scripts/plot_pretraining\.py",
                       no_new_files=True)

    return [Case("LM build: lower-case text", lowercase_lm_text), Case("LM build: --order 7", lm_order),
            Case("probe: a fine-tuned checkpoint", probe_fine_tuned),
            Case("plot_hard_regions: a fine-tuned checkpoint", hard_regions_fine_tuned),
            Case("plot_pretraining: a fine-tuning log", plot_pretraining_of_fine_tuning),
            Case("plot_finetuning: a pretraining log", plot_finetuning_of_pretraining)]


def audio_task(env: Env, name: str) -> Path:
    """A private copy of the generated ``name`` set (spcv2 or esc50), to break."""
    return Path(shutil.copytree(env.audio_tasks / name, env.scratch / name))


def earlier_evaluation(env: Env) -> Path:
    """An earlier evaluation's results (one row) and cached features in the earlier results'
    folder; returns the results file."""
    results, cache = env.earlier / "linear.csv", env.earlier / "cache"
    with results.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=RESULT_COLUMNS)
        writer.writeheader()
        writer.writerow(dict(time="2025-01-01T00:00:00", model="ckpt", task="spcv2", score="0.500000", ci95="0.000000",
                             runs=1, scores="0.500000", folds=1, layer="all", checkpoint=str(env.pretrained),
                             settings="{}"))
    cache.mkdir()
    (cache / "spcv2-0123456789abcdef0123.pt").write_bytes(b"earlier features")
    return results


def linear(env: Env, data: Path, task: str = "spcv2", *options: str, checkpoint=None, results=None) -> List[str]:
    """``python -m ehmam.evaluation.linear run`` (one short run) with --results and --cache-dir in
    the earlier results' folder (default: the earlier evaluation's results file)."""
    default = earlier_evaluation(env)
    return [PYTHON, "-m", "ehmam.evaluation.linear", "run", str(checkpoint or env.pretrained), "--task", task,
            "--data", str(data), "--results", str(results or default), "--cache-dir", str(env.earlier / "cache"),
            "--runs", "1", "--epochs", "2", "--no-progress", *options]


def make_audio_tasks(*args: str) -> List[str]:
    return [PYTHON, str(REPO / "manifests/make_audio_tasks.py"), *args]


def linear_evaluation_cases() -> list:
    def missing_checkpoint(env):
        return Attempt(linear(env, env.audio_tasks / "spcv2", checkpoint=env.scratch / "nowhere.pt"),
                       r"error: .*nowhere\.pt: checkpoint file does not exist\. Fix: ", no_new_files=True)

    def foreign_checkpoint(env):
        foreign = env.scratch / "wav2vec2.pt"
        torch.save({"model": {}, "cfg": {"model": {"_name": "wav2vec2"}}}, foreign)
        return Attempt(linear(env, env.audio_tasks / "spcv2", checkpoint=foreign),
                       r"wav2vec2\.pt: holds a fairseq 'wav2vec2' model, not one of ehmam's \(EH-MAM, M2D, Audio-MAE / MSM-MAE, audio JEPA\)\. Fix: pass a "
                       r"checkpoint written by ehmam's training", no_new_files=True)

    def data_folder_absent(env):
        return Attempt(linear(env, env.scratch / "speech_commands"),
                       r"speech_commands: the spcv2 data set folder does not exist\. Fix: pass the folder "
                       r"speech_commands_v0\.02\.tar\.gz .* unpacks to", no_new_files=True)

    def esc50_without_metadata(env):
        data = audio_task(env, "esc50")
        (data / "meta" / "esc50.csv").unlink()
        return Attempt(linear(env, data, "esc50"),
                       r"meta/esc50\.csv: does not exist; the esc50 layout needs ROOT/meta/esc50\.csv\. Fix: pass the "
                       r"ESC-50 folder", no_new_files=True)

    def metadata_row_without_audio(env):
        data = audio_task(env, "esc50")
        path = data / "audio" / (data / "meta" / "esc50.csv").read_text().splitlines()[2].split(",")[0]
        path.unlink()
        return Attempt(linear(env, data, "esc50"),
                       rf"1 audio file\(s\) named in .*esc50\.csv do not exist:\n  .*meta/esc50\.csv:3: "
                       rf"{re.escape(str(path))}\nFix: unpack the audio where the layout expects it", no_new_files=True)

    def fold_out_of_range(env):
        data = audio_task(env, "esc50")
        edit_line(data / "meta" / "esc50.csv", 4, lambda line: re.sub(r"^([^,]*),\d+,", r"\1,6,", line))
        return Attempt(linear(env, data, "esc50"),
                       r"malformed row\(s\) in .*esc50\.csv:\n  .*meta/esc50\.csv:4: fold '6' is not an integer in "
                       r"1\.\.5\nFix: correct or delete these rows", no_new_files=True)

    def zero_byte_audio(env):
        data = audio_task(env, "spcv2")
        path = sorted((data / "up").glob("*.wav"))[0]
        path.write_bytes(b"")
        # the task reads (no audio is decoded then); the file is found when its features are computed
        return Attempt(linear(env, data),
                       rf"on spcv2 \(36 clips[\s\S]*error: {re.escape(str(path))}: unreadable audio \(.*\)\. Fix: "
                       rf"re-encode it as WAV or FLAC, or remove it", no_new_files=True)

    def results_under_a_file(env):
        results = env.earlier / "linear.csv" / "spcv2.csv"
        return Attempt(linear(env, env.audio_tasks / "spcv2", results=results),
                       r"--results .*linear\.csv/spcv2\.csv: .*linear\.csv is a file, so no folder can be created .*"
                       r"Fix: pass a path that is not inside a file", no_new_files=True)

    def foreign_results_header(env):
        foreign = env.earlier / "scores.csv"
        foreign.write_text("model,task,accuracy\nmine,spcv2,0.91\n")  # the user's own table: kept byte for byte
        # refused before the features are computed: no cache file, no evaluation lost
        return Attempt(linear(env, env.audio_tasks / "spcv2", results=foreign),
                       rf"{re.escape(str(foreign))}: its header \['model', 'task', 'accuracy'\] is not a "
                       rf"linear-evaluation results file's .*Fix: pass another --results file", no_new_files=True)

    def no_runs(env):
        return Attempt(linear(env, env.audio_tasks / "spcv2", "spcv2", "--runs", "0"), r"error: --runs 0: expected at least 1\. Fix: pass --runs 3",
                       no_new_files=True)

    def summary_of_a_missing_file(env):
        results = earlier_evaluation(env).with_name("linaer.csv")
        return Attempt([PYTHON, "-m", "ehmam.evaluation.linear", "summary", str(results)],
                       rf"{re.escape(str(results))}: no such results file\. Fix: run `python -m ehmam\.evaluation\.linear "
                       rf"run \.\.\. --results {re.escape(str(results))}` first", no_new_files=True)

    return [
        Case("linear: a missing checkpoint", missing_checkpoint),
        Case("linear: a wav2vec2 checkpoint", foreign_checkpoint),
        Case("linear: --data folder absent", data_folder_absent),
        Case("linear: ESC-50 without meta/esc50.csv", esc50_without_metadata),
        Case("linear: a metadata row naming a missing audio file", metadata_row_without_audio),
        Case("linear: fold 6 in esc50.csv", fold_out_of_range),
        Case("linear: a zero-byte WAV in the data set", zero_byte_audio),
        Case("linear: --results under a file", results_under_a_file),
        Case("linear: --results with a foreign header", foreign_results_header),
        Case("linear: --runs 0", no_runs),
        Case("linear summary: a missing results file", summary_of_a_missing_file)]


def audio_task_generator_cases() -> List[Case]:
    def per_class_not_a_multiple_of_five(env):
        out = Path(shutil.copytree(env.audio_tasks / "esc50", env.earlier / "esc50"))  # an earlier set: kept
        return Attempt(make_audio_tasks("sounds", "--out", str(out), "--per-class", "7"),
                       r"make_audio_tasks: sounds: --per-class 7 is not a positive multiple of 5; ESC-50 puts every "
                       r"class equally often in each of its 5 folds\. Fix: pass --per-class 5", no_new_files=True)

    def out_not_written_by_the_tool(env):
        out = env.earlier / "recordings"
        out.mkdir()
        (out / "take1.wav").write_bytes(b"the user's own recording")
        return Attempt(make_audio_tasks("keywords", "--small", "--out", str(out)),
                       rf"{re.escape(str(out))} exists and holds no task\.json, so this tool did not write it\. "
                       rf"Fix: choose another --out or remove it", no_new_files=True)

    def out_holding_another_task(env):
        out = Path(shutil.copytree(env.audio_tasks / "esc50", env.earlier / "esc50"))
        return Attempt(make_audio_tasks("keywords", "--small", "--out", str(out)),
                       rf"{re.escape(str(out))} holds the 'sounds' task, not 'keywords'\. Fix: choose another --out",
                       no_new_files=True)

    return [Case("make_audio_tasks: sounds --per-class 7", per_class_not_a_multiple_of_five),
            Case("make_audio_tasks: --out not written by it", out_not_written_by_the_tool),
            Case("make_audio_tasks: --out holding another task", out_holding_another_task)]


CASES = (pretraining_cases() + finetuning_cases() + decoding_cases() + tool_cases() + linear_evaluation_cases()
         + audio_task_generator_cases())


# -- the sweep ---------------------------------------------------------------------------------


IGNORED = ("hydra", ".ehmam.lock")  # the failed run's own log and its lock


def snapshot(directory: Path) -> dict:
    return {str(p.relative_to(directory)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(directory.rglob("*")) if p.is_file() and p.relative_to(directory).parts[0] not in IGNORED}


@pytest.fixture(scope="session")
def audio_tasks(tmp_path_factory) -> Path:
    """Tiny Speech Commands (3 words x 12 clips) and ESC-50 (4 classes x 5 clips) sets, made once."""
    from manifests.make_audio_tasks import make_keywords, make_sounds

    root = tmp_path_factory.mktemp("audio_tasks")
    make_keywords(root / "spcv2", classes=3, per_class=12)
    make_sounds(root / "esc50", classes=4, per_class=5)
    return root


@pytest.fixture
def env(demo_corpus, pretrained, finetuned, audio_tasks, tmp_path) -> Env:
    save_dir, _ = finetuned
    for name in ("earlier", "scratch"):
        (tmp_path / name).mkdir()
    return Env(copy_corpus(demo_corpus, tmp_path / "data"), tmp_path / "earlier", pretrained, save_dir / "checkpoint_last.pt",
               save_dir / "hydra/hydra_train.log", tmp_path / "scratch", audio_tasks)


@pytest.mark.parametrize("case", CASES, ids=repr)
def test_bad_input_is_refused_with_a_message_that_names_it(case, env):
    attempt = case.prepare(env)
    before = snapshot(env.earlier)
    run = subprocess.run(attempt.command, capture_output=True, text=True, timeout=300, cwd=env.scratch)
    output = run.stdout + run.stderr
    assert run.returncode != 0, f"{case.name}: exit 0\n{output[-3000:]}"
    assert re.search(attempt.expect, output), f"{case.name}: expected /{attempt.expect}/ in\n{output[-3000:]}"
    after = snapshot(env.earlier)
    changed = [name for name, digest in before.items() if after.get(name) != digest]
    assert not changed, f"{case.name}: earlier outputs changed or removed: {changed}"
    if attempt.no_new_files:
        assert set(after) == set(before), f"{case.name}: left {sorted(set(after) - set(before))}"


# -- faults that used to lose work -------------------------------------------------------------


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


def test_a_run_killed_while_copying_checkpoint_last_resumes_from_the_intact_checkpoint(env):
    save_dir = env.scratch / "ckpt"
    first = subprocess.run(pretrain_into(env, save_dir, "optimization.max_update=6"),
                           capture_output=True, text=True, timeout=300, cwd=env.scratch)
    assert first.returncode == 0, (first.stdout + first.stderr)[-3000:]
    intact = save_dir / "checkpoint_1_6.pt"
    assert checkpoint_updates(intact) == 6
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
    assert checkpoint_updates(save_dir / "checkpoint_last.pt") == 8


def test_the_documented_validate_audio_override_needs_no_plus(env):
    # a stereo file: refused when headers are read, let through (fairseq averages it) when not
    path = manifest_line(env.data, "train", 2)
    wav, rate = sf.read(str(path))
    sf.write(str(path), np.stack([wav, wav], 1), rate, subtype="PCM_16")
    run = subprocess.run(pretrain_into(env, env.scratch / "ckpt", "optimization.max_update=1", "task.validate_audio=false"),
                         capture_output=True, text=True, timeout=300, cwd=env.scratch)
    output = run.stdout + run.stderr
    assert run.returncode == 0, output[-3000:]
    assert re.search(r"validated .*train\.tsv: 32 utterances", output)  # lines and counts are still checked
