"""The ViT benchmark runs end to end on the tiny config and ends on its ratio line."""
import math
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_tiny_run_prints_both_models_and_the_ratio_last():
    proc = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "vit.py"), "--tiny", "--warmup", "1", "--steps", "1",
         "--rounds", "1", "--batch", "2", "--frames", "160"],
        capture_output=True, text=True, timeout=300, cwd=REPO,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    lines = proc.stdout.strip().splitlines()
    prefix = "ratio ehmam/timm seconds per step: "
    assert lines[-1].startswith(prefix), lines[-1]
    assert math.isfinite(float(lines[-1][len(prefix):]))
    table = "\n".join(lines[:-1])
    # CLS + 30 % of 5 x 10 patches
    assert "batch 2 x 16 tokens" in table and "timm 1.0 Blocks" in table and "MiB" in table
