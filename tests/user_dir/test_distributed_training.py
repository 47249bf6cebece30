"""Two CPU processes (gloo) through ``python -m ehmam.launch``: the ranks train on different
batches with different masks and hold the same student and teacher; two processes equal one
with ``update_freq=[2]`` bit for bit; a stopped two-process run resumes exactly; settings that
cannot train are refused before anything starts."""
import os
import re
import subprocess
import sys

import pytest
import torch

from ehmam.distributed import combined_digest, state_digests
from scripts.plot_pretraining import read_fairseq_log
from tests.user_dir.fairseq_runs import REPO, free_port, hydra_train, hydra_train_command, launched_train

EHMAM = REPO / "examples/ehmam/config"
FINETUNING = EHMAM / "finetuning"
SPECTROGRAM = {name: REPO / f"examples/{name}/config" for name in ("m2d", "audio_mae", "jepa")}
UPDATES = 8  # 32 utterances, 4 per batch: 8 batches an epoch, 4 updates of 2 batches
TRACE = "+task.batch_trace=true"
# the schedules of the whole run, for a run stopped early
PINNED = (f"+lr_scheduler.max_update={UPDATES}", f"model.easy_to_hard_updates={UPDATES}")


def ehmam_args(updates=UPDATES, *extra):
    return ("common.log_interval=1", f"optimization.max_update={updates}", TRACE, *extra)


def trace(save_dir, rank=0):
    """{update: [(seed, ids, masks digest), ...]} of a rank's batch trace, without the dummy
    batches (gradient zeroed) fairseq gives a rank whose share of an epoch ran out."""
    rows = {}
    for line in (save_dir / f"batch_trace.rank{rank}.tsv").read_text().splitlines()[1:]:
        update, seed, ids, masks, dummy = line.split("\t")
        if dummy == "0":
            rows.setdefault(int(update), []).append((seed, ids, masks))
    return rows


def weights(save_dir):
    return torch.load(save_dir / "checkpoint_last.pt", map_location="cpu", weights_only=False)["model"]


def assert_same_weights(save_dir, reference):
    """Every tensor of the two runs' last checkpoints, bit for bit (the EMA teacher included)."""
    ours, theirs = weights(save_dir), weights(reference)
    assert ours.keys() == theirs.keys()
    assert [k for k in theirs if not torch.equal(ours[k], theirs[k])] == []


def losses(save_dir):
    return [(int(r["num_updates"]), r["loss"]) for r in read_fairseq_log(save_dir / "hydra/hydra_train.log")["train_inner"]]


@pytest.fixture(scope="module")
def two_ranks(demo_corpus, tmp_path_factory):
    save_dir = tmp_path_factory.mktemp("ddp") / "ckpt"
    log = launched_train(2, EHMAM, "tiny_cpu", demo_corpus, save_dir, *ehmam_args())
    return save_dir, log


def test_the_ranks_train_different_batches_with_different_masks_into_the_same_weights(two_ranks):
    save_dir, log = two_ranks
    assert "[ehmam.launch] local: world size 2" in log
    rank0, rank1 = trace(save_dir, 0), trace(save_dir, 1)
    assert sorted(rank0) == sorted(rank1) == list(range(1, UPDATES + 1))
    for update in rank0:
        (seed0, ids0, masks0), = rank0[update]
        (seed1, ids1, masks1), = rank1[update]
        assert not set(ids0.split(",")) & set(ids1.split(",")), update  # different utterances
        assert seed0 != seed1 and masks0 != masks1, update
    # each validation (end of each epoch, and the last update) first compares every tensor of
    # both ranks; rank 0 logs the state's digest, which must be the saved checkpoint's
    checks = re.findall(r"ranks agree after (\d+) updates: (\d+) tensors equal on 2 processes "
                        r"\(state sha256 ([0-9a-f]+)\)", log)
    assert [int(u) for u, _, _ in checks] == [4, 8]
    state = weights(save_dir)
    assert any(k.startswith("ehmam.teacher") for k in state) and any(k.startswith("ehmam.encoder") for k in state)
    assert checks[-1][2] == combined_digest(state_digests(state))
    assert int(checks[-1][1]) == len(state)
    assert (save_dir / "hydra/hydra_train_rank1.log").exists()


def test_two_processes_equal_one_process_accumulating_two_batches(two_ranks, demo_corpus, tmp_path):
    save_dir, _ = two_ranks
    one = tmp_path / "ckpt"
    # one thread, as each of the two processes had: matrix products sum in the same order
    env_threads = {"OMP_NUM_THREADS": "1"}
    hydra_train(EHMAM, "tiny_cpu", demo_corpus, one, *ehmam_args(), "optimization.update_freq=[2]", env=env_threads)
    rank0, rank1, single = trace(save_dir, 0), trace(save_dir, 1), trace(one)
    assert all(single[u] == rank0[u] + rank1[u] for u in single) and len(single) == UPDATES
    assert losses(one) == losses(save_dir)
    assert_same_weights(one, save_dir)


def test_a_stopped_two_process_run_resumes_exactly(two_ranks, demo_corpus, tmp_path):
    reference, _ = two_ranks
    save_dir = tmp_path / "ckpt"
    launched_train(2, EHMAM, "tiny_cpu", demo_corpus, save_dir, *ehmam_args(3), *PINNED)
    log = launched_train(2, EHMAM, "tiny_cpu", demo_corpus, save_dir, *ehmam_args(), *PINNED)
    assert re.search(r"Loaded checkpoint .*checkpoint_last\.pt \(epoch \d+ @ 3 updates\)", log)
    for rank in (0, 1):
        assert trace(save_dir, rank) == trace(reference, rank)  # the same batches, seeds and masks
    assert losses(save_dir) == losses(reference)
    assert_same_weights(save_dir, reference)


@pytest.mark.parametrize("override, says", [
    ("distributed_training.distributed_no_spawn=false", "exits 0 without training"),
    ("distributed_training.distributed_world_size=3", "2 processes take part"),
])
def test_settings_that_cannot_train_stop_before_anything_starts(override, says, demo_corpus, tmp_path):
    log = launched_train(2, EHMAM, "tiny_cpu", demo_corpus, tmp_path / "ckpt", override, expect_success=False,
                         timeout=60)
    assert says in log and "contradicts the launch" in log
    assert not list((tmp_path / "ckpt").glob("*.pt"))


def test_torchs_ddp_refuses_a_cpu_module_and_the_plugins_takes_it(tmp_path):
    """The one fairseq name the plugin replaces, and why: fairseq passes device_ids=[id]."""
    script = tmp_path / "ddp.py"
    script.write_text(f"""
import sys, torch, torch.distributed as dist
sys.path.insert(0, {str(REPO)!r})
dist.init_process_group("gloo", init_method="file://{tmp_path / 'rendezvous'}", world_size=1, rank=0)
from fairseq.models import distributed_fairseq_model
import user_dir.distributed as patch
module = torch.nn.Linear(3, 2)
try:
    torch.nn.parallel.DistributedDataParallel(module, device_ids=[0], output_device=0)
    print("torch took it")
except ValueError as err:
    print("torch refused:", str(err)[:60])
patch.install(); patch.install()
assert distributed_fairseq_model.DistributedDataParallel is patch.DeviceAwareDistributedDataParallel
assert torch.nn.parallel.DistributedDataParallel is patch.TorchDistributedDataParallel
wrapped = distributed_fairseq_model.DistributedDataParallel(module, device_ids=[0], output_device=0)
wrapped(torch.ones(4, 3)).sum().backward()
assert torch.allclose(module.weight.grad, torch.ones(2, 3) * 4)
print("ok")
""")
    run = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "torch refused" in run.stdout and run.stdout.strip().endswith("ok")


def run_ranks(commands, timeout=300, expect_success=True):
    """Start one process per (command, environment) at once, as torchrun or srun would, and
    return their joint output; every process must exit 0 (or, not expecting success, not 0)."""
    procs = [subprocess.Popen(cmd, env={**os.environ, "PYTHONPATH": str(REPO), **env}, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True) for cmd, env in commands]
    outputs = [p.communicate(timeout=timeout)[0] for p in procs]
    for p, out in zip(procs, outputs):
        assert (p.returncode == 0) == expect_success, out[-4000:]
    return "\n".join(outputs)


def same_run(save_dir, reference):
    for rank in (0, 1):
        assert trace(save_dir, rank) == trace(reference, rank)
    assert_same_weights(save_dir, reference)


def test_torchrun_starts_the_same_run(two_ranks, demo_corpus, tmp_path):
    save_dir = tmp_path / "ckpt"
    save_dir.mkdir()
    hydra = hydra_train_command(EHMAM, "tiny_cpu", demo_corpus, save_dir, *ehmam_args())[1:]
    torchrun = [str(REPO / ".venv/bin/torchrun") if (REPO / ".venv/bin/torchrun").exists() else "torchrun",
                "--nproc-per-node", "2", "--master-port", str(free_port()), "-m", "ehmam.launch", "--", *hydra]
    log = run_ranks([(torchrun, {"OMP_NUM_THREADS": "1"})])
    assert log.count("[ehmam.launch] torchrun: world size 2") == 2
    assert "distributed_training.distributed_init_method=env://" in log
    same_run(save_dir, two_ranks[0])


@pytest.mark.slow  # the environment is unit-tested (tests/test_launch.py); this runs it as torchrun's
def test_a_slurm_job_starts_the_same_run(two_ranks, demo_corpus, tmp_path):
    """srun's environment, simulated: no SLURM here, so the rendezvous address is given."""
    save_dir = tmp_path / "ckpt"
    save_dir.mkdir()
    hydra = hydra_train_command(EHMAM, "tiny_cpu", demo_corpus, save_dir, *ehmam_args())[1:]
    launch = [sys.executable, "-m", "ehmam.launch", "--master-addr", "127.0.0.1", "--master-port", str(free_port()),
              "--device", "cpu", "--", *hydra]
    slurm = {"SLURM_NTASKS": "2", "SLURM_NTASKS_PER_NODE": "2", "SLURM_JOB_NODELIST": "localhost", "OMP_NUM_THREADS": "1"}
    log = run_ranks([(launch, {**slurm, "SLURM_PROCID": str(r), "SLURM_LOCALID": str(r)}) for r in (0, 1)])
    assert log.count("[ehmam.launch] slurm: world size 2") == 2
    same_run(save_dir, two_ranks[0])


# M2D in the default suite; Audio-MAE (no teacher) and the JEPA share its task and wrapper
@pytest.mark.parametrize("method", ["m2d", pytest.param("audio_mae", marks=pytest.mark.slow),
                                    pytest.param("jepa", marks=pytest.mark.slow)])
def test_the_spectrogram_methods_train_on_two_processes_as_on_one_accumulating_two_batches(method, demo_corpus,
                                                                                            tmp_path):
    args = ("common.log_interval=1", "optimization.max_update=4", "dataset.batch_size=4", "task.norm_crops=16", TRACE)
    two, one = tmp_path / "two", tmp_path / "one"
    log = launched_train(2, SPECTROGRAM[method], "tiny_cpu", demo_corpus, two, *args)
    assert re.search(r"ranks agree after 4 updates: \d+ tensors equal on 2 processes", log)
    hydra_train(SPECTROGRAM[method], "tiny_cpu", demo_corpus, one, *args, "optimization.update_freq=[2]",
                env={"OMP_NUM_THREADS": "1"})
    rank0, rank1, single = trace(two, 0), trace(two, 1), trace(one)
    assert len(single) == 4 and all(single[u] == rank0[u] + rank1[u] for u in single)
    assert all(r0[0][2] != r1[0][2] for r0, r1 in zip(rank0.values(), rank1.values()))  # masks differ
    assert_same_weights(one, two)


def test_ctc_fine_tuning_with_a_frozen_phase_trains_on_two_processes_as_on_one(pretrained, demo_corpus, tmp_path):
    """torch's DDP with find_unused_parameters leaves the frozen encoder's gradients empty, as
    one process does (fairseq's legacy_ddp would zero-fill them: 82 of 83 tensors drifted)."""
    args = (f"model.w2v_path={pretrained}", "common.log_interval=1", "optimization.max_update=6",
            "model.freeze_finetune_updates=3", TRACE)
    two, one = tmp_path / "two", tmp_path / "one"
    log = launched_train(2, FINETUNING, "tiny_cpu", demo_corpus, two, *args)
    assert "ranks agree after 6 updates" in log
    hydra_train(FINETUNING, "tiny_cpu", demo_corpus, one, *args, "optimization.update_freq=[2]",
                env={"OMP_NUM_THREADS": "1"})
    rank0, rank1, single = trace(two, 0), trace(two, 1), trace(one)
    assert len(single) == 6 and all(single[u] == rank0[u] + rank1.get(u, []) for u in single)
    assert len(rank1) < 6  # an epoch of 5 batches leaves rank 1 a dummy batch: its zero gradient adds nothing
    assert_same_weights(one, two)


def test_ranks_whose_weights_differ_stop_together_with_the_tensors_named(tmp_path):
    """Two gloo processes: equal models agree and log one digest; a model whose rank 1 moved
    one weight by one bit raises on both ranks, naming it. Both also refuse to start without
    load_checkpoint_on_all_dp_ranks (end to end: the opt-in test below)."""
    script = tmp_path / "diverge.py"
    script.write_text(f"""
import os, sys, torch, torch.distributed as dist, torch.multiprocessing as mp
sys.path.insert(0, {str(REPO)!r})

def say(*parts):  # one write per line: both ranks share the pipe, and print may split a line
    os.write(1, (" ".join(str(p) for p in parts) + "\\n").encode())

def run(rank):
    dist.init_process_group("gloo", init_method="file://{tmp_path / 'rendezvous'}", world_size=2, rank=rank)
    from user_dir.tasks.training_run import RanksDivergedError, TrainingRunTask
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.BatchNorm1d(2))
    digest = TrainingRunTask.check_ranks_agree(model, 5)
    if rank == 1:
        with torch.no_grad():
            model[0].weight[1, 2] = torch.nextafter(model[0].weight[1, 2], torch.tensor(2.0))
    try:
        TrainingRunTask.check_ranks_agree(model, 6)
        say(rank, "agreed")
    except RanksDivergedError as err:
        say(rank, digest[:8], "diverged:", err)
    from omegaconf import OmegaConf  # several processes without load_checkpoint_on_all_dp_ranks
    try:
        TrainingRunTask.check_distributed_settings(OmegaConf.create({{"load_checkpoint_on_all_dp_ranks": False}}))
    except ValueError as err:
        say(rank, "refused:", err)
    dist.barrier()
    dist.destroy_process_group()

if __name__ == "__main__":
    mp.spawn(run, nprocs=2)
""")
    run = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-3000:]
    refused = [line for line in run.stdout.splitlines() if " refused: " in line]
    assert sorted(line.split()[0] for line in refused) == ["0", "1"], run.stdout
    assert all("load_checkpoint_on_all_dp_ranks=false with several processes" in line for line in refused)
    lines = sorted(line for line in run.stdout.strip().splitlines() if " diverged: " in line)
    assert len(lines) == 2 and len({line.split()[1] for line in lines}) == 1, lines  # one digest first
    for rank, line in enumerate(lines):
        assert line.startswith(f"{rank} ") and "the 2 processes hold different weights after 6 updates: " \
            "0.weight (ranks 1 differ from rank 0)." in line, line


@pytest.mark.slow  # the check itself runs in the default suite (the test above)
def test_without_the_launcher_a_resume_that_would_fail_is_refused_at_start(demo_corpus, tmp_path):
    """fairseq-hydra-train by hand with explicit settings but rank 0 broadcasting the
    checkpoint: every rank stops at set-up with the reason, before any update."""
    port = free_port()
    commands = []
    for rank in (0, 1):
        cmd = hydra_train_command(EHMAM, "tiny_cpu", demo_corpus, tmp_path / "ckpt", *ehmam_args())
        cmd += ["distributed_training.distributed_world_size=2", f"distributed_training.distributed_rank={rank}",
                f"distributed_training.distributed_init_method=tcp://127.0.0.1:{port}",
                "distributed_training.distributed_no_spawn=true", "distributed_training.distributed_backend=gloo",
                f"hydra.job.name=rank{rank}"]
        commands.append((cmd, {"OMP_NUM_THREADS": "1"}))
    log = run_ranks(commands, timeout=120, expect_success=False)
    assert log.count("checkpoint.load_checkpoint_on_all_dp_ranks=false with several processes") == 2
    assert "num_updates" not in log and not list((tmp_path / "ckpt").glob("*.pt"))
