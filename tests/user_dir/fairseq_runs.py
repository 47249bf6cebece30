"""Run fairseq-hydra-train with our user_dir, as a user would, for the integration tests."""
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
HYDRA_TRAIN = Path(sys.executable).parent / "fairseq-hydra-train"


def hydra_train(config_dir: Path, config_name: str, data: Path, save_dir: Path, *overrides: str,
                expect_success: bool = True, timeout: int = 300) -> str:
    """Train (or resume) into ``save_dir``; returns stdout + stderr. The hydra log goes to
    ``save_dir / "hydra" / "hydra_train.log"``."""
    cmd = [str(HYDRA_TRAIN), "--config-dir", str(config_dir), "--config-name", config_name,
           f"task.data={data}", f"common.user_dir={REPO / 'user_dir'}",
           f"checkpoint.save_dir={save_dir}", f"hydra.run.dir={save_dir / 'hydra'}", *overrides]
    save_dir.mkdir(parents=True, exist_ok=True)
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=save_dir)
    log = run.stdout + run.stderr
    if expect_success:
        assert run.returncode == 0, log[-5000:]
    else:
        assert run.returncode != 0, "training was expected to fail:\n" + log[-3000:]
    return log
