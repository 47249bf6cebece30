"""ehmam.launch turns "N processes here", torchrun's or SLURM's environment into fairseq's
explicit distributed settings, shows the commands, and refuses settings that cannot train."""
import pytest

from ehmam import launch

HYDRA = ["--config-dir", "examples/ehmam/config", "--config-name", "tiny_cpu", "task.data=/d",
         "common.user_dir=/u"]


def plan(argv, env=None, device="cpu"):
    """(layout, commands) for ``argv`` in ``env`` on ``device``, as ``main`` builds them."""
    args, hydra = launch.split_arguments(argv)
    lay = launch.layout(args, env or {})
    return lay, launch.commands(lay, device, hydra, "fairseq-hydra-train")


def overrides(cmd):
    return dict(kv for kv in map(launch.parse_override, cmd) if kv is not None)


def test_local_processes_get_ranks_one_rendezvous_and_the_users_arguments():
    lay, cmds = plan(["--nproc-per-node", "2", "--master-port", "31001", "--", *HYDRA])
    assert lay.how == "local" and lay.world_size == 2 and len(cmds) == 2
    for rank, cmd in enumerate(cmds):
        assert cmd[:len(HYDRA) + 1] == ["fairseq-hydra-train", *HYDRA]
        got = overrides(cmd)
        assert got["distributed_training.distributed_rank"] == str(rank)
        assert got["distributed_training.device_id"] == str(rank)
        assert got["distributed_training.distributed_world_size"] == "2"
        assert got["distributed_training.distributed_init_method"] == "tcp://127.0.0.1:31001"
        assert got["distributed_training.distributed_no_spawn"] == "true"
        assert got["distributed_training.distributed_backend"] == "gloo"
        assert got["checkpoint.load_checkpoint_on_all_dp_ranks"] == "true"
        assert got["common.cpu"] == "true"
    # rank 0 keeps hydra's log and .hydra; the others write their own beside them
    assert not any(a.startswith("hydra.job.name") for a in cmds[0])
    assert overrides(cmds[1])["hydra.job.name"] == "hydra_train_rank1"
    assert overrides(cmds[1])["hydra.output_subdir"] == ".hydra_rank1"


def test_node_i_of_n_numbers_its_ranks_after_the_nodes_before_it():
    lay, cmds = plan(["--nproc-per-node", "4", "--nnodes", "3", "--node-rank", "2", "--master-addr", "10.0.0.1",
                      "--", *HYDRA], device="cuda")
    assert lay.world_size == 12
    assert [overrides(c)["distributed_training.distributed_rank"] for c in cmds] == ["8", "9", "10", "11"]
    assert [overrides(c)["distributed_training.device_id"] for c in cmds] == ["0", "1", "2", "3"]
    assert {overrides(c)["distributed_training.distributed_backend"] for c in cmds} == {"nccl"}
    assert {overrides(c)["common.cpu"] for c in cmds} == {"false"}  # over tiny_cpu.yaml's cpu: true
    assert {overrides(c)["distributed_training.distributed_init_method"] for c in cmds} == {"tcp://10.0.0.1:29500"}


def test_under_torchrun_one_process_takes_torchruns_rank_and_rendezvous():
    env = {"RANK": "3", "WORLD_SIZE": "4", "LOCAL_RANK": "1", "LOCAL_WORLD_SIZE": "2",
           "MASTER_ADDR": "h", "MASTER_PORT": "1", "TORCHELASTIC_RUN_ID": "x"}
    lay, (cmd,) = plan(["--", *HYDRA], env)
    got = overrides(cmd)
    assert lay.how == "torchrun" and lay.nproc_per_node == 2
    assert (got["distributed_training.distributed_rank"], got["distributed_training.device_id"],
            got["distributed_training.distributed_world_size"]) == ("3", "1", "4")
    assert got["distributed_training.distributed_init_method"] == "env://"


def test_under_slurm_the_task_takes_its_rank_and_the_job_picks_the_port():
    env = {"SLURM_PROCID": "5", "SLURM_NTASKS": "8", "SLURM_LOCALID": "1", "SLURM_NTASKS_PER_NODE": "4,4",
           "SLURM_JOB_ID": "123456", "SLURM_JOB_NODELIST": "gpu[01-02]"}
    lay, (cmd,) = plan(["--master-addr", "gpu01", "--", *HYDRA], env, device="cuda")
    got = overrides(cmd)
    assert lay.how == "slurm" and lay.nproc_per_node == 4
    assert (got["distributed_training.distributed_rank"], got["distributed_training.device_id"]) == ("5", "1")
    assert got["distributed_training.distributed_init_method"] == f"tcp://gpu01:{20000 + 123456 % 20000}"


def test_under_slurm_a_port_given_is_kept_even_the_default_one():
    env = {"SLURM_PROCID": "0", "SLURM_NTASKS": "1", "SLURM_JOB_ID": "7"}
    assert plan(["--master-port", "29500", "--", *HYDRA], env)[0].init_method == "tcp://127.0.0.1:29500"
    assert plan(["--", *HYDRA], env)[0].init_method == "tcp://127.0.0.1:20007"


@pytest.mark.parametrize("override, says", [
    ("distributed_training.distributed_no_spawn=false", "exits 0 without training"),
    ("distributed_training.distributed_world_size=4", "wait forever"),
    ("distributed_training.distributed_init_method=tcp://h:1", "rendezvous"),
    ("checkpoint.load_checkpoint_on_all_dp_ranks=false", "resume fails"),
    ("distributed_training.distributed_backend=nccl", "only gloo runs without GPUs"),
    ("++common.cpu=false", "--device"),
])
def test_contradicting_settings_are_refused_before_anything_starts(override, says):
    with pytest.raises(launch.LaunchError, match=says):
        plan(["--nproc-per-node", "2", "--", *HYDRA, override])


def test_agreeing_settings_pass_once():
    _, cmds = plan(["--nproc-per-node", "2", "--", *HYDRA, "distributed_training.distributed_world_size=2",
                    "distributed_training.distributed_no_spawn=True"])
    assert sum(a.startswith("distributed_training.distributed_world_size=") for a in cmds[0]) == 1


@pytest.mark.parametrize("argv, env, says", [
    (["--", *HYDRA], {}, "say how many processes"),
    (["--nproc-per-node", "2", "--", *HYDRA], {"TORCHELASTIC_RUN_ID": "1", "RANK": "0", "WORLD_SIZE": "2",
                                               "LOCAL_RANK": "0"}, "twice"),
    (["--nproc-per-node", "2", "--nnodes", "2", "--", *HYDRA], {}, "--master-addr"),
    (["--nproc-per-node", "2", "--nnodes", "2", "--node-rank", "2", "--", *HYDRA], {}, "0 <= I < M"),
    (["--", *HYDRA], {"SLURM_PROCID": "x", "SLURM_NTASKS": "2"}, "SLURM_PROCID='x'"),
])
def test_an_unclear_layout_is_refused(argv, env, says):
    with pytest.raises(launch.LaunchError, match=says):
        plan(argv, env)


def test_without_a_double_dash_unknown_arguments_pass_through_in_order():
    # torchrun hands the script its arguments without the "--"
    args, hydra = launch.split_arguments(["--device", "cpu", *HYDRA, "--config-dir", "x"])
    assert args.device == "cpu" and hydra == [*HYDRA, "--config-dir", "x"]
    args, hydra = launch.split_arguments(["--nproc-per-node", "2", "--", "--device", "cuda"])
    assert args.device is None and hydra == ["--device", "cuda"]


def test_a_process_bound_to_one_gpu_uses_gpu_0(monkeypatch):
    import torch

    env = {"SLURM_PROCID": "1", "SLURM_NTASKS": "2", "SLURM_LOCALID": "1"}
    args, hydra = launch.split_arguments(["--master-addr", "n0", "--", *HYDRA])
    lay = launch.layout(args, env)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    assert launch.pick_device(None, lay) == ("cuda", 0)
    (cmd,) = launch.commands(lay, "cuda", hydra, "fairseq-hydra-train", 0)
    assert overrides(cmd)["distributed_training.device_id"] == "0"
    # this launcher's own processes share the node's GPUs: one each
    args, _ = launch.split_arguments(["--nproc-per-node", "2", "--", *HYDRA])
    with pytest.raises(launch.LaunchError, match="torch sees 1"):
        launch.pick_device("cuda", launch.layout(args, {}))
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert launch.pick_device("cuda", launch.layout(args, {})) == ("cuda", None)


def test_main_prints_the_commands_and_exits_2_on_a_refusal(capsys):
    assert launch.main(["--nproc-per-node", "2", "--device", "cpu", "--dry-run", "--", *HYDRA], env={}) == 0
    err = capsys.readouterr().err
    assert "world size 2" in err and "OMP_NUM_THREADS=" in err
    assert err.count("fairseq-hydra-train --config-dir examples/ehmam/config") == 2
    assert launch.main(["--nproc-per-node", "2", "--device", "cpu", "--", *HYDRA,
                        "distributed_training.distributed_no_spawn=false"], env={}) == 2
    assert "distributed_no_spawn=false contradicts the launch" in capsys.readouterr().err


def test_a_failing_process_stops_the_others(tmp_path):
    import sys
    import time

    start = time.monotonic()
    code = launch.run_local([[sys.executable, "-c", "import time; time.sleep(60)"],
                             [sys.executable, "-c", "raise SystemExit(3)"]], env=None)
    assert code == 3 and time.monotonic() - start < 30
