"""The learning-curve script reads fairseq's JSON log lines (the last record of an update wins
after a resume) and draws them."""
import json

import pytest

from scripts.plot_pretraining import main, read_fairseq_log


def line(kind, **values):
    return f"[2026-11-24 21:59:35,172][{kind}][INFO] - " + json.dumps({k: str(v) for k, v in values.items()})


def record(update, loss):
    return dict(epoch=1, loss=loss, reconstruction=loss - 0.03, ranking=0.7, selective_share=update / 10,
                ranking_accuracy=0.6, target_std=1.0, prediction_std=0.2, ema_decay=0.99, num_updates=update)


def test_reads_records_and_the_resumed_run_wins(tmp_path):
    log = tmp_path / "hydra_train.log"
    lines = [line("train_inner", **record(u, 10 - u)) for u in (1, 2, 3)]
    lines.append("[2026-11-24 21:59:35,172][fairseq_cli.train][INFO] - begin validation")
    lines.append(line("valid", valid_loss=9.5, valid_num_updates=3, valid_ema_decay=0.99))
    lines += [line("train_inner", **record(u, 20 - u)) for u in (3, 4)]  # resumed from update 2
    log.write_text("\n".join(lines) + "\n")
    parsed = read_fairseq_log(log)
    assert [r["num_updates"] for r in parsed["train_inner"]] == [1, 2, 3, 4]
    assert [r["loss"] for r in parsed["train_inner"]] == [9.0, 8.0, 17.0, 16.0]
    assert parsed["valid"] == [{"loss": 9.5, "num_updates": 3.0, "ema_decay": 0.99}]

    out = tmp_path / "curves.png"
    main([str(log), "--out", str(out)])
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 20_000


def test_a_log_without_json_records_is_an_error(tmp_path):
    log = tmp_path / "hydra_train.log"
    log.write_text("epoch 001:     10 / 60 loss=9.1, num_updates=10\n")
    with pytest.raises(ValueError, match="log_format=json"):
        read_fairseq_log(log)


def finetuning_log(path):
    lines = [line("train_inner", loss=120.0, num_updates=u) for u in (1, 2)]
    lines.append(line("valid", valid_loss=100.0, valid_uer=80.1, valid_wer=99.0, valid_num_updates=2))
    path.write_text("\n".join(lines) + "\n")
    return path


def test_a_fine_tuning_log_is_refused_naming_the_script_for_it(tmp_path, capsys):
    log = finetuning_log(tmp_path / "hydra_train.log")
    out = tmp_path / "curves.png"
    assert main([str(log), "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert f"error: {log}: a CTC fine-tuning log" in err and f"Fix: plot it with scripts/plot_finetuning.py {log}" in err
    assert not out.exists()


def test_a_log_without_pretraining_records_is_refused(tmp_path, capsys):
    log = tmp_path / "hydra_train.log"
    log.write_text(line("train_inner", loss=3.0, num_updates=1) + "\n")
    assert main([str(log), "--out", str(tmp_path / "curves.png")]) == 1
    assert f"error: {log}: no pretraining records" in capsys.readouterr().err


def test_out_under_a_file_is_refused(tmp_path, capsys):
    log = tmp_path / "hydra_train.log"
    log.write_text(line("train_inner", **record(1, 9.0)) + "\n")
    out = log / "curves.png"
    assert main([str(log), "--out", str(out)]) == 1
    assert f"error: --out {out}: {log} is a file" in capsys.readouterr().err


def test_a_spectrogram_method_s_log_gets_its_own_panels(tmp_path, capsys):
    """An M2D run logs loss, spreads, EMA decay and one learning rate per optimizer group."""
    from scripts.plot_pretraining import log_kind

    log = tmp_path / "hydra_train.log"
    lines = [line("train_inner", loss=2.0 - u / 10, target_std=0.8, prediction_std=0.4, ema_decay=0.99 + u / 1000,
                  lr_default=u * 1e-4, lr_no_decay=u * 1e-4, num_updates=u) for u in range(1, 6)]
    lines.append(line("valid", valid_loss=1.6, valid_target_std=0.8, valid_num_updates=5))
    log.write_text("\n".join(lines) + "\n")
    assert log_kind(read_fairseq_log(log)) == "spectrogram"
    out = tmp_path / "curves.png"
    assert main([str(log), "--out", str(out)]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "loss 1.9000 -> 1.5000" in capsys.readouterr().out


def test_a_run_without_a_teacher_is_drawn_and_named_by_its_model(tmp_path):
    """Audio-MAE logs no EMA decay; the title names the method from the model fairseq logged."""
    from scripts.plot_pretraining import spectrogram_method

    log = tmp_path / "hydra_train.log"
    lines = ["[2026-01-01 00:00:00,000][fairseq_cli.train][INFO] - model: AudioMAEFairseqModel",
             "[2026-01-01 00:00:00,000][fairseq_cli.train][INFO] - {'model': {'frontend': 'kaldi_fbank'}}"]
    lines += [line("train_inner", loss=1.0 - u / 10, target_std=0.9, prediction_std=0.4, lr_default=u * 1e-4,
                   lr_no_decay=u * 1e-4, num_updates=u) for u in range(1, 6)]
    log.write_text("\n".join(lines) + "\n")
    assert spectrogram_method(log) == "Audio-MAE"
    assert main([str(log), "--out", str(tmp_path / "curves.png")]) == 0
    log.write_text(log.read_text().replace("'kaldi_fbank'", "'log_mel'"))
    assert spectrogram_method(log) == "MSM-MAE"
    log.write_text(log.read_text().replace("AudioMAEFairseqModel", "M2DFairseqModel"))
    assert spectrogram_method(log) == "M2D"
    log.write_text(log.read_text().replace("M2DFairseqModel", "JEPAFairseqModel"))
    assert spectrogram_method(log) == "audio JEPA"
