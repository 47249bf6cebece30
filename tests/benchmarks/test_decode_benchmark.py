"""The decoding benchmark runs on its synthetic task and ends on the beam search's real-time factor."""
import math
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_small_run_prints_both_searches_and_the_real_time_factor_last():
    proc = subprocess.run([sys.executable, str(REPO / "benchmarks" / "decode.py"), "--utterances", "40"],
                          capture_output=True, text=True, timeout=300, cwd=REPO)
    assert proc.returncode == 0, proc.stderr[-4000:]
    lines = proc.stdout.strip().splitlines()
    prefix = "beam search real-time factor (audio seconds per decoding second, beam 50): "
    assert lines[-1].startswith(prefix), lines[-1]
    assert math.isfinite(float(lines[-1][len(prefix):])) and float(lines[-1][len(prefix):]) > 0
    rows = {}
    for line in lines:
        m = re.match(r"(greedy \(Viterbi\)|lexicon beam 50 \+ 4-gram.*?)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)$", line)
        if m:
            rows[m.group(1).split()[0]] = [float(v) for v in m.groups()[1:]]
    assert set(rows) == {"greedy", "lexicon"}
    # the noisy synthetic emissions leave greedy decoding errors the 4-gram repairs
    assert rows["lexicon"][2] < rows["greedy"][2]
    assert lines[0].startswith("40 utterances")
