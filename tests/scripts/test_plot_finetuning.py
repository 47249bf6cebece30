"""The fine-tuning plot reads validation UER/WER from fairseq's JSON log lines, one curve per run."""
import json

import pytest

from scripts.plot_finetuning import main, parse_run, validation_curves


def valid_line(update, uer, wer):
    values = {"valid_loss": 100, "valid_uer": uer, "valid_wer": wer, "valid_num_updates": update}
    return "[2026-11-25 01:02:59,196][valid][INFO] - " + json.dumps({k: str(v) for k, v in values.items()})


TRAIN = "[2026-11-25 01:02:50,000][train_inner][INFO] - " + json.dumps({"loss": "120", "num_updates": "200"})


def write_log(path, points):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join([TRAIN] + [valid_line(*p) for p in points]) + "\n")
    return path


def test_curves_and_figure(tmp_path):
    pretrained = write_log(tmp_path / "pre/hydra_train.log", [(250, 76.1, 99.8), (500, 53.0, 95.1)])
    random = write_log(tmp_path / "rand/hydra_train.log", [(250, 90.0, 100.0), (500, 70.5, 99.0)])
    assert validation_curves(pretrained) == {"updates": [250.0, 500.0], "uer": [76.1, 53.0], "wer": [99.8, 95.1]}
    assert parse_run(f"{random}:random init") == (random, "random init")
    assert parse_run(str(random)) == (random, "rand")
    out = tmp_path / "ft.png"
    main([f"{pretrained}:pretrained", f"{random}:random init", "--out", str(out)])
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 20_000


def test_a_pretraining_log_is_refused(tmp_path):
    log = tmp_path / "hydra_train.log"
    log.write_text(TRAIN + "\n[2026-11-25 01:02:59,196][valid][INFO] - "
                   + json.dumps({"valid_loss": "8.1", "valid_num_updates": "20"}) + "\n")
    with pytest.raises(ValueError, match="no validation records with uer and wer"):
        validation_curves(log)


def pretraining_line(kind, **values):
    return f"[2026-11-25 01:02:59,196][{kind}][INFO] - " + json.dumps({k: str(v) for k, v in values.items()})


def test_the_command_refuses_a_pretraining_log_naming_the_script_for_it(tmp_path, capsys):
    fine = write_log(tmp_path / "ft/hydra_train.log", [(250, 76.1, 99.8)])
    log = tmp_path / "pre/hydra_train.log"
    log.parent.mkdir()
    log.write_text("\n".join([pretraining_line("train_inner", loss=9.1, reconstruction=9.0, ranking=0.7,
                                               num_updates=10),
                              pretraining_line("valid", valid_loss=9.0, valid_reconstruction=8.9,
                                               valid_num_updates=10)]) + "\n")
    out = tmp_path / "ft.png"
    assert main([str(fine), str(log), "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert f"error: {log}: an EH-MAM pretraining log" in err
    assert f"Fix: plot it with scripts/plot_pretraining.py {log}" in err
    assert not out.exists()  # every log is checked before drawing


def test_the_command_refuses_a_log_without_wer(tmp_path, capsys):
    log = tmp_path / "hydra_train.log"
    log.write_text(TRAIN + "\n")  # no validation at all
    assert main([str(log), "--out", str(tmp_path / "ft.png")]) == 1
    assert f"error: {log}: no validation records with uer and wer. Fix: " in capsys.readouterr().err


def test_a_short_run_with_validations_only_is_plotted(tmp_path):
    log = tmp_path / "hydra_train.log"  # fewer updates than common.log_interval: no [train_inner] lines
    log.write_text(valid_line(6, 81.2, 100.0) + "\n")
    assert validation_curves(log) == {"updates": [6.0], "uer": [81.2], "wer": [100.0]}
