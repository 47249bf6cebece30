"""What the benchmarks share: one model per fresh worker process, and that worker's
peak-memory growth on the CPU (peak resident set) or on CUDA (the allocator's peak),
measured from a starting point."""

import json
import resource
import subprocess
import sys

import torch


def current_rss_kib() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() // 1024


def peak_rss_kib() -> int:
    """The peak resident set (VmHWM), which :func:`reset_peak_rss` can reset."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def reset_peak_rss() -> None:
    """Linux resets VmHWM to the current resident set on "5" in clear_refs; without it the
    peak includes whatever the process built before the measurement."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


class Peak:
    """Created just before the measured steps; :meth:`growth` is the peak memory since,
    above what was in use at creation, in bytes. :meth:`sync` waits for the device."""

    def __init__(self, device: str):
        self.cuda = str(device).startswith("cuda")
        if self.cuda:
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            self.before = torch.cuda.memory_allocated()
        else:
            reset_peak_rss()
            self.before = current_rss_kib() * 1024

    def sync(self) -> None:
        if self.cuda:
            torch.cuda.synchronize()

    def growth(self) -> int:
        if self.cuda:
            peak = torch.cuda.max_memory_allocated()
        else:
            peak = peak_rss_kib() * 1024
        return max(peak - self.before, 0)


def run_worker(script: str, name: str, argv) -> dict:
    """Run ``script --worker name *argv`` in a fresh Python; its last stdout line is JSON."""
    proc = subprocess.run([sys.executable, script, "--worker", name, *argv], capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"the {name} worker failed (exit {proc.returncode}):\n{proc.stderr[-4000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])
