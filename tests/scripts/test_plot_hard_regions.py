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
