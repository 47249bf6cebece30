"""``python -m ehmam.launch``: ``fairseq-hydra-train`` on several processes, GPUs or machines.

fairseq's own ways of starting a multi-process run infer the settings from the machine, and
with fairseq-fixed 0.12.3.1 each fails somewhere: its automatic spawn counts CUDA devices (a
CPU machine gets none), ``torchrun`` without explicit settings divides by the device count,
SLURM detection calls ``torch.cuda.set_device``, and an ``init_method`` without
``distributed_no_spawn`` spawns ``min(devices, world size)`` processes, zero on a CPU machine,
and exits 0 without training. This launcher turns where it runs into fairseq's explicit
settings instead, and shows the command it runs:

* ``--nproc-per-node N``: it starts the N processes of this node itself, and waits for them;
  when one fails it stops the others. With ``--nnodes M --node-rank I --master-addr HOST`` this
  node is node I of M (start the same command on every node).
* under ``torchrun``: one process, its rank and world from ``RANK``, ``WORLD_SIZE``,
  ``LOCAL_RANK`` and the ``env://`` rendezvous torchrun sets up.
* under SLURM's ``srun`` (one task per GPU): ``SLURM_PROCID``, ``SLURM_NTASKS``,
  ``SLURM_LOCALID``; the first node of the job is the rendezvous.

Each process runs ``fairseq-hydra-train`` with the user's arguments, then
``distributed_training.*`` set explicitly (world size, rank, device, ``init_method``,
``distributed_no_spawn=true``, gloo on CPU or nccl on GPUs) and
``checkpoint.load_checkpoint_on_all_dp_ranks=true`` (fairseq otherwise broadcasts rank 0's
checkpoint state by pickle, which the other ranks' ``weights_only`` loads refuse, so a resume
fails). An argument that contradicts these is refused before anything starts.
"""
from __future__ import annotations

import argparse
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence

DT = "distributed_training."
DEFAULT_PORT = 29500


class LaunchError(ValueError):
    """Settings that cannot train, refused before a process starts."""


@dataclass(frozen=True)
class Placement:
    """Where one process sits: its global rank and its index on its node."""

    rank: int
    local_rank: int


@dataclass(frozen=True)
class Layout:
    """How the processes were (or are to be) started."""

    how: str  # "local" (this launcher starts them), "torchrun" or "slurm"
    nproc_per_node: int
    world_size: int
    init_method: str  # the rendezvous every process joins
    placements: tuple  # the Placements this launcher runs (all of a node for "local")


def _int_env(env: Dict[str, str], name: str) -> int:
    try:
        return int(env[name])
    except (KeyError, ValueError):
        raise LaunchError(f"{name}={env.get(name)!r} in the environment: expected an integer") from None


def first_slurm_host(nodelist: str) -> str:
    """The first host of a SLURM node list, as ``scontrol show hostnames`` expands it."""
    scontrol = shutil.which("scontrol")
    if scontrol is None:
        raise LaunchError("SLURM's scontrol is not on PATH: pass --master-addr (the first node of the job)")
    hosts = subprocess.run([scontrol, "show", "hostnames", nodelist], capture_output=True, text=True,
                           check=True).stdout.split()
    if not hosts:
        raise LaunchError(f"scontrol show hostnames {nodelist!r} listed no host: pass --master-addr")
    return hosts[0]


def layout(args, env: Dict[str, str]) -> Layout:
    under_torchrun = "TORCHELASTIC_RUN_ID" in env or {"RANK", "WORLD_SIZE", "LOCAL_RANK"} <= env.keys()
    under_slurm = "SLURM_PROCID" in env and "SLURM_NTASKS" in env
    if args.nproc_per_node is not None:
        if under_torchrun:
            raise LaunchError("--nproc-per-node under torchrun would start every process twice: "
                              "let torchrun start them (torchrun --nproc-per-node N -m ehmam.launch -- ...)")
        if args.nproc_per_node < 1 or args.nnodes < 1 or not 0 <= args.node_rank < args.nnodes:
            raise LaunchError(f"--nproc-per-node {args.nproc_per_node} --nnodes {args.nnodes} "
                              f"--node-rank {args.node_rank}: need N >= 1, M >= 1 and 0 <= I < M")
        if args.nnodes > 1 and args.master_addr is None:
            raise LaunchError(f"--nnodes {args.nnodes}: pass --master-addr, the address of node 0 "
                              "that every node can reach")
        world = args.nnodes * args.nproc_per_node
        init = f"tcp://{args.master_addr or '127.0.0.1'}:{args.master_port or DEFAULT_PORT}"
        placements = tuple(Placement(args.node_rank * args.nproc_per_node + i, i) for i in range(args.nproc_per_node))
        return Layout("local", args.nproc_per_node, world, init, placements)
    if under_torchrun:
        rank, world, local = (_int_env(env, k) for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK"))
        per_node = int(env.get("LOCAL_WORLD_SIZE", world))
        return Layout("torchrun", per_node, world, "env://", (Placement(rank, local),))
    if under_slurm:
        rank, world = _int_env(env, "SLURM_PROCID"), _int_env(env, "SLURM_NTASKS")
        local = _int_env(env, "SLURM_LOCALID") if "SLURM_LOCALID" in env else 0
        per_node = int(re.match(r"\d+", env.get("SLURM_NTASKS_PER_NODE", "1")).group())  # "4(x2)", "4,2"
        addr = args.master_addr
        if addr is None:
            nodelist = env.get("SLURM_JOB_NODELIST") or env.get("SLURM_NODELIST")
            addr = first_slurm_host(nodelist) if nodelist and world > 1 else "127.0.0.1"
        port = args.master_port or DEFAULT_PORT
        if args.master_port is None and "SLURM_JOB_ID" in env:
            port = 20000 + _int_env(env, "SLURM_JOB_ID") % 20000  # two jobs on one node do not collide
        return Layout("slurm", per_node, world, f"tcp://{addr}:{port}", (Placement(rank, local),))
    raise LaunchError("say how many processes: --nproc-per-node N (this launcher starts them), or run "
                      "this command under torchrun or SLURM's srun")


def parse_override(arg: str):
    """``key=value`` (also ``+key=`` and ``++key=``) of a hydra override, else None."""
    if arg.startswith("-") or "=" not in arg:
        return None
    key, value = arg.split("=", 1)
    return key.lstrip("+"), value


def _truthy(value: str) -> bool:
    return value.strip().lower() in ("true", "1", "yes", "on")


def settings(lay: Layout, place: Placement, device: str, user: Dict[str, str],
             device_id: Optional[int] = None) -> Dict[str, str]:
    """The explicit settings of one process; ``user``: the hydra overrides the user passed,
    checked against them; ``device_id``: its GPU (default: its local rank)."""
    backend = user.get(DT + "distributed_backend", "gloo" if device == "cpu" else "nccl")
    if device == "cpu" and backend != "gloo":
        raise LaunchError(f"{DT}distributed_backend={backend} on CPU processes: only gloo runs without GPUs")
    ours = {
        DT + "distributed_world_size": str(lay.world_size),
        DT + "distributed_rank": str(place.rank),
        DT + "device_id": str(place.local_rank if device_id is None else device_id),
        DT + "distributed_init_method": lay.init_method,
        DT + "distributed_no_spawn": "true",
        DT + "distributed_backend": backend,
        "checkpoint.load_checkpoint_on_all_dp_ranks": "true",
        "common.cpu": "true" if device == "cpu" else "false",
    }
    why = {
        DT + "distributed_world_size": f"{lay.world_size} processes take part; fairseq would wait forever for "
                                       "ranks that never start, or refuse ranks beyond its world",
        DT + "distributed_rank": "the launcher gives each process its rank",
        DT + "device_id": "the launcher gives each process its device",
        DT + "distributed_init_method": "the launcher sets up the rendezvous (--master-addr, --master-port)",
        DT + "distributed_no_spawn": "without it fairseq spawns min(CUDA devices, world size) processes of its "
                                     "own: none on a CPU machine, and it exits 0 without training",
        "checkpoint.load_checkpoint_on_all_dp_ranks": "without it rank 0 broadcasts the checkpoint by pickle, "
                                                      "which the other ranks' weights_only loads refuse: a resume fails",
        "common.cpu": f"the launcher runs on {device} (--device)",
    }
    for key, value in ours.items():
        given = user.get(key)
        if given is None:
            continue
        same = _truthy(given) == _truthy(value) if value in ("true", "false") else given.strip() == value
        if not same:
            raise LaunchError(f"{key}={given} contradicts the launch ({key}={value}): {why[key]}. "
                              f"Drop it; the launcher sets it.")
    return ours


def hydra_train_program() -> str:
    beside = Path(sys.executable).parent / "fairseq-hydra-train"
    found = str(beside) if beside.exists() else shutil.which("fairseq-hydra-train")
    if found is None:
        raise LaunchError("fairseq-hydra-train is not installed beside this python nor on PATH: run scripts/setup.sh")
    return found


def commands(lay: Layout, device: str, hydra_args: Sequence[str], program: str,
             device_id: Optional[int] = None) -> List[List[str]]:
    """One ``fairseq-hydra-train`` command per process this launcher runs; ``device_id``: the
    one GPU of every process (see :func:`pick_device`), else each its local rank's."""
    user = dict(kv for kv in map(parse_override, hydra_args) if kv is not None)
    if lay.world_size < 1:
        raise LaunchError(f"world size {lay.world_size}: nothing would train")
    out = []
    for place in lay.placements:
        ours = settings(lay, place, device, user, device_id)
        passed = [a for a in hydra_args if (parse_override(a) or (None,))[0] not in ours]
        extra = []
        if place.rank > 0:  # rank 0 keeps hydra's files; the others write beside them
            extra = [f"hydra.job.name=hydra_train_rank{place.rank}", f"hydra.output_subdir=.hydra_rank{place.rank}"]
        out.append([program, *passed, *(f"{k}={v}" for k, v in ours.items()), *extra])
    return out


def pick_device(requested: Optional[str], lay: Layout):
    """(``cpu`` or ``cuda``, the GPU every process uses or None: its local rank's). A
    process that sees one GPU only (SLURM's per-task binding, CUDA_VISIBLE_DEVICES) uses GPU 0."""
    import torch

    available = torch.cuda.device_count() if torch.cuda.is_available() else 0
    device = requested or ("cuda" if available else "cpu")
    if device == "cpu":
        return device, None
    if not available:
        raise LaunchError("--device cuda: torch sees no CUDA device here; use --device cpu (gloo)")
    if available == 1 and lay.how != "local":
        return device, 0
    local = max(p.local_rank for p in lay.placements)
    if local >= available:
        raise LaunchError(f"local rank {local} needs GPU {local}, and torch sees {available}: start at most "
                          f"{available} processes per node")
    return device, None


def child_env(device: str, lay: Layout, env: Dict[str, str]) -> Dict[str, str]:
    env = dict(env)
    if device == "cpu" and "OMP_NUM_THREADS" not in env:
        # N processes each taking every core would oversubscribe them (torchrun sets 1)
        env["OMP_NUM_THREADS"] = str(max(1, (os.cpu_count() or 1) // lay.nproc_per_node))
    return env


def run_local(cmds: List[List[str]], env: Dict[str, str], poll: float = 0.2) -> int:
    """Start every process; when one fails, stop the rest. The exit code is the first failure's."""
    procs = [subprocess.Popen(cmd, env=env) for cmd in cmds]

    def stop_all(sig=signal.SIGTERM):
        for p in procs:
            if p.poll() is None:
                p.send_signal(sig)

    def forward(signum, frame):
        stop_all(signum)

    previous = {s: signal.signal(s, forward) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        while True:
            codes = [p.poll() for p in procs]
            failed = [(rank, code) for rank, code in enumerate(codes) if code not in (None, 0)]
            if failed:
                rank, code = failed[0]
                print(f"[ehmam.launch] local process {rank} exited with code {code}: stopping the others",
                      file=sys.stderr, flush=True)
                stop_all()
                deadline = time.monotonic() + 30
                while any(p.poll() is None for p in procs) and time.monotonic() < deadline:
                    time.sleep(poll)
                stop_all(signal.SIGKILL)
                for p in procs:
                    p.wait()
                return code
            if all(code == 0 for code in codes):
                return 0
            time.sleep(poll)
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m ehmam.launch", allow_abbrev=False,
        description="Run fairseq-hydra-train on several processes (CPU with gloo, GPUs with nccl), "
                    "started here, by torchrun or by SLURM's srun. Arguments after -- (or any the "
                    "launcher does not know) go to fairseq-hydra-train unchanged.",
        epilog="example: python -m ehmam.launch --nproc-per-node 2 --device cpu -- --config-dir "
               "examples/ehmam/config --config-name tiny_cpu task.data=... common.user_dir=$PWD/user_dir")
    parser.add_argument("--nproc-per-node", type=int, help="start this many processes on this node")
    parser.add_argument("--nnodes", type=int, default=1, help="nodes taking part (with --nproc-per-node)")
    parser.add_argument("--node-rank", type=int, default=0, help="this node's index (with --nproc-per-node)")
    parser.add_argument("--master-addr", help="the address of node 0 (rank 0); default: this machine, "
                        "or under SLURM the job's first node")
    parser.add_argument("--master-port", type=int,
                        help=f"a free port on node 0 (default {DEFAULT_PORT}; under SLURM 20000 + job id %% 20000)")
    parser.add_argument("--device", choices=("cpu", "cuda"), help="default: cuda where torch sees a GPU")
    parser.add_argument("--dry-run", action="store_true", help="print the commands, start nothing")
    return parser


def split_arguments(argv: Sequence[str]):
    """(the launcher's options, fairseq-hydra-train's arguments): split at the first ``--``;
    without one (torchrun drops it), everything the launcher does not know passes through."""
    argv = list(argv)
    parser = build_parser()
    if "--" in argv:
        cut = argv.index("--")
        return parser.parse_args(argv[:cut]), argv[cut + 1:]
    return parser.parse_known_args(argv)


def main(argv: Optional[Sequence[str]] = None, env: Optional[Dict[str, str]] = None) -> int:
    args, hydra_args = split_arguments(sys.argv[1:] if argv is None else argv)
    env = dict(os.environ if env is None else env)
    try:
        lay = layout(args, env)
        device, device_id = pick_device(args.device, lay)
        cmds = commands(lay, device, hydra_args, hydra_train_program(), device_id)
    except LaunchError as err:
        print(f"ehmam.launch: {err}", file=sys.stderr)
        return 2
    run_env = child_env(device, lay, env)
    threads = f", OMP_NUM_THREADS={run_env['OMP_NUM_THREADS']}" if "OMP_NUM_THREADS" in run_env else ""
    print(f"[ehmam.launch] {lay.how}: world size {lay.world_size}, {len(cmds)} process(es) here on {device}{threads}",
          file=sys.stderr)
    for place, cmd in zip(lay.placements, cmds):
        print(f"[ehmam.launch] rank {place.rank}: {shlex.join(cmd)}", file=sys.stderr, flush=True)
    if args.dry_run:
        return 0
    if lay.how == "local":
        return run_local(cmds, run_env)
    os.execve(cmds[0][0], cmds[0], run_env)  # torchrun / srun started this process: become the rank
    return 1  # not reached


if __name__ == "__main__":
    sys.exit(main())
