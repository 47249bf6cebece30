import pytest
import torch

from ehmam.checkpoints import plain_checkpoint
from ehmam.models import EhmamModel, tiny_config
from scripts.plot_hard_regions import main, ranks


def test_figure_for_a_checkpoint_and_a_manifest(demo_corpus, tmp_path, capsys):
    torch.manual_seed(0)
    torch.save(plain_checkpoint(EhmamModel(tiny_config()), steps=0), tmp_path / "model.pt")
    out = tmp_path / "hard.png"
    rho = main(["--checkpoint", str(tmp_path / "model.pt"), "--manifest", str(demo_corpus / "valid.tsv"),
                "--out", str(out), "--utterances", "2", "--repeats", "4"])
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 30_000
    assert -1 <= rho <= 1 and "rank correlation" in capsys.readouterr().out


def test_ranks_are_per_utterance_and_keep_nan():
    import numpy as np

    r = ranks(np.array([3.0, np.nan, 1.0, 2.0]))
    assert np.isnan(r[1]) and list(r[[0, 2, 3]]) == [1.0, 0.0, 0.5]


def test_a_fine_tuned_checkpoint_names_the_pretraining_one(demo_corpus, tmp_path, capsys):
    torch.save({"model": {}, "cfg": {"model": {"_name": "wav2vec_ctc", "w2v_path": "/runs/pre/checkpoint_last.pt"}}},
               tmp_path / "ft.pt")
    with pytest.raises(SystemExit) as exit:
        main(["--checkpoint", str(tmp_path / "ft.pt"), "--manifest", str(demo_corpus / "valid.tsv"),
              "--out", str(tmp_path / "hard.png")])
    assert exit.value.code == 1
    assert (f"error: {tmp_path / 'ft.pt'} is a CTC fine-tuned checkpoint (wav2vec_ctc); scripts/plot_hard_regions.py "
            "--checkpoint needs the pretraining checkpoint it was fine-tuned from: /runs/pre/checkpoint_last.pt. "
            "Fix: pass that file") in capsys.readouterr().err


def test_out_under_a_file_is_refused_before_the_model_loads(demo_corpus, tmp_path, capsys):
    out = demo_corpus / "valid.tsv" / "hard.png"
    with pytest.raises(SystemExit) as exit:
        main(["--checkpoint", str(tmp_path / "missing.pt"), "--manifest", str(demo_corpus / "valid.tsv"),
              "--out", str(out)])
    assert exit.value.code == 1
    assert f"error: --out {out}: {demo_corpus / 'valid.tsv'} is a file" in capsys.readouterr().err
