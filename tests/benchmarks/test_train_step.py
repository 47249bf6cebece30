"""The train-step benchmark runs end to end on the tiny configs and ends on its ratio line."""
import math
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_tiny_run_prints_both_models_and_the_ratio_last():
    proc = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "train_step.py"), "--tiny", "--warmup", "1", "--steps", "1"],
        capture_output=True, text=True, timeout=300, cwd=REPO,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    lines = proc.stdout.strip().splitlines()
    prefix = "ratio ehmam/wav2vec2 seconds per audio second: "
    assert lines[-1].startswith(prefix), lines[-1]
    ratio = float(lines[-1][len(prefix):])
    assert math.isfinite(ratio) and ratio > 0
    table = "\n".join(lines[:-1])
    assert "ehmam tiny" in table and "wav2vec2 tiny (fairseq)" in table
    assert "teacher pass" in table and "EMA teacher update" in table
