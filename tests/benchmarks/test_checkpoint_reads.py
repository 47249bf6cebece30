"""The checkpoint-read benchmark times the three reads and ends on the mapped read's speed-up."""
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_small_run_prints_the_three_reads_and_the_ratio_last():
    proc = subprocess.run([sys.executable, str(REPO / "benchmarks" / "checkpoint_reads.py"), "--gib", "0.1",
                           "--repeats", "1"], capture_output=True, text=True, timeout=300, cwd=REPO)
    assert proc.returncode == 0, proc.stderr[-4000:]
    lines = proc.stdout.strip().splitlines()
    rows = [line for line in lines if re.match(r"(read_checkpoint|is_readable_checkpoint)", line)]
    assert len(rows) == 3
    assert re.fullmatch(r"mapped read vs full read: \d+x faster", lines[-1]), lines[-1]
