"""The masking ablation runs both maskings through fairseq and the probe, and reuses
finished runs."""
import pytest

from scripts.masking_ablation import main
from scripts.plot_pretraining import read_fairseq_log


@pytest.mark.timeout(600)
def test_both_maskings_are_trained_probed_and_tabled(demo_corpus, tmp_path, capsys):
    argv = ["--data", str(demo_corpus), "--out", str(tmp_path / "ablation"), "--seeds", "1",
            "--probe-steps", "20", "--probe-max-utterances", "4", "optimization.max_update=50"]
    summary = main(argv)
    out = capsys.readouterr().out
    assert out.count("pretrained in") == 2 and "| easy_to_hard |" in out and "| random |" in out
    for masking in ("easy_to_hard", "random"):
        s = summary[masking]
        assert s["seeds"] == [1] and 0 < s["best_layer"][0] <= 1 and -1 <= s["spearman"][0] <= 1
    # the two runs differ only in masking: the teacher picked frames in one of them
    last = {m: read_fairseq_log(tmp_path / "ablation" / f"{m}_seed1" / "hydra_train.log")["train_inner"][-1]
            for m in summary}
    assert last["random"]["selective_share"] == 0 and last["easy_to_hard"]["selective_share"] > 0.8  # updates 41-50 of 50
    # a second call reuses the finished runs
    assert main(argv) == summary
    assert "pretrained in" not in capsys.readouterr().out
