import pytest
import torch

from ehmam.data.audio import read_audio
from ehmam.models.jepa import JEPA_STRATEGIES, JEPAModel, tiny_jepa_config
from scripts.plot_jepa_masks import jepa_views, main


def test_the_figure_is_written_without_a_checkpoint(valid_utterance, tmp_path):
    out = tmp_path / "jepa_masks.png"
    main(["--audio", str(valid_utterance), "--out", str(out)])
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 10_000


def test_each_row_is_the_strategys_mask_as_the_model_draws_it(valid_utterance):
    model = JEPAModel(tiny_jepa_config()).eval()
    waveform = torch.from_numpy(read_audio(valid_utterance))[:32_000]
    spec, views = jepa_views(model, waveform, seed=3, standardise=True, with_loss=True)
    assert list(views) == list(JEPA_STRATEGIES)
    rows, cols = views["unstructured"][0].shape
    assert spec.shape == (80, 16 * cols) and rows == 5
    for strategy, (targets, loss) in views.items():
        assert loss is not None and loss >= 0
        expected = round(0.6 * cols) * rows if strategy == "time" else round(0.6 * rows * cols)
        assert targets.sum() == expected, strategy
    time_targets = torch.from_numpy(views["time"][0])
    assert torch.equal(time_targets.all(dim=0), time_targets.any(dim=0))  # whole columns


def test_a_foreign_checkpoint_is_refused(pretrained, valid_utterance, tmp_path):
    from ehmam.checkpoints import CheckpointError

    with pytest.raises(CheckpointError, match="'ehmam' model, not an audio JEPA one"):
        main(["--audio", str(valid_utterance), "--checkpoint", str(pretrained),
              "--out", str(tmp_path / "x.png")])
