"""A few hundred CPU steps of the tiny EH-MAM on synthesized speech: the loss falls,
nothing turns NaN, the schedule runs, and the loss predictor learns to rank."""

import math

import pytest

from scripts.pretrain_plain import main, train


def mean(values):
    values = list(values)
    return sum(values) / len(values)


def test_tiny_model_learns_on_the_demo_corpus(demo_corpus):
    history = train(demo_corpus, steps=300, batch_size=4, max_samples=32_000, seed=1, log_every=50)
    assert len(history) == 300
    assert all(math.isfinite(h.loss) for h in history)
    first, last = mean(h.loss for h in history[:25]), mean(h.loss for h in history[-50:])
    print(f"loss: first 25 steps {first:.3f}, last 50 steps {last:.3f}")
    assert last < 0.9 * first
    # easy-to-hard: the selective share of the mask grows linearly to (almost) all of it
    assert history[0].selective_share == 0.0
    assert 0.45 < history[149].selective_share < 0.55
    assert history[-1].selective_share > 0.95
    # the loss predictor orders masked frames better than chance once it has trained
    accuracy = mean(h.ranking_accuracy for h in history[100:])
    print(f"pairwise ranking accuracy, steps 101-300: {accuracy:.3f}")
    assert accuracy > 0.55
    assert mean(h.ranking for h in history[100:]) < math.log(2)


def test_an_unwritable_save_path_is_refused_before_training(demo_corpus, tmp_path, capsys):
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    with pytest.raises(SystemExit) as stop:
        main(["--data", str(demo_corpus), "--steps", "100000", "--save", str(blocker / "model.pt")])
    assert stop.value.code == 2
    assert f"--save {blocker / 'model.pt'}" in capsys.readouterr().err
