"""The linear probe: it solves what is linearly separable, lines frames up with phones, and
its command prints the pretrained-vs-random table."""
import json

import pytest
import torch

from ehmam.checkpoints import StudentEncoder, plain_checkpoint
from ehmam.data.alignments import AlignmentError, frame_labels
from ehmam.models import EhmamModel, tiny_config
from ehmam.models.frontends.waveform import conv_output_length
from ehmam.evaluation.probe import accuracy, fit_linear_probe, frame_set, load_split, main


def test_probe_solves_a_linearly_separable_toy_case_and_not_a_shuffled_one():
    gen = torch.Generator().manual_seed(0)
    centres = 4.0 * torch.randn(5, 16, generator=gen)
    labels = torch.randint(0, 5, (2000,), generator=gen)
    points = centres[labels] + torch.randn(2000, 16, generator=gen)
    fit, test = slice(0, 1500), slice(1500, None)
    probe = fit_linear_probe(points[fit], labels[fit], num_classes=5, steps=200)
    assert accuracy(probe, points[test], labels[test]) > 0.99
    # the same points with labels that carry no information: chance, not memory
    shuffled = labels[torch.randperm(2000, generator=gen)]
    probe = fit_linear_probe(points[fit], shuffled[fit], num_classes=5, steps=200)
    assert accuracy(probe, points[test], shuffled[test]) < 0.3


def test_frame_set_has_one_label_per_frame_for_every_layer(demo_corpus):
    waveforms, alignments = load_split(demo_corpus, "valid")
    torch.manual_seed(0)
    encoder = StudentEncoder(tiny_config()).eval()
    frames = frame_set(encoder, waveforms, alignments)
    cfg = tiny_config().frontend
    lengths = [conv_output_length(len(w), cfg.conv_kernels, cfg.conv_strides) for w in waveforms]
    assert len(frames.layers) == 1 + tiny_config().encoder.layers
    assert all(x.shape == (sum(lengths), 64) for x in frames.layers)
    assert frames.labels == sum((frame_labels(a, n, 320, 400, 16000) for a, n in zip(alignments, lengths)), [])
    assert len(set(frames.labels)) > 10


def test_command_prints_the_table_and_writes_json(demo_corpus, tmp_path, capsys):
    torch.manual_seed(1)
    torch.save(plain_checkpoint(EhmamModel(tiny_config()), steps=0), tmp_path / "model.pt")
    result = main([str(tmp_path / "model.pt"), str(demo_corpus), "--max-utterances", "4", "--steps", "20",
                   "--json", str(tmp_path / "probe.json")])
    out = capsys.readouterr().out
    assert "pretrained" in out and "random init" in out and "best layer" in out
    saved = json.loads((tmp_path / "probe.json").read_text())
    assert saved["layers"] == ["front end"] + [f"transformer {i}" for i in range(1, 5)]
    for scores in saved["accuracy"].values():
        assert len(scores) == 5 and all(0 <= s <= 1 for s in scores)
    assert 0 < saved["chance"] < 1 and saved == json.loads(json.dumps(result.__dict__))


def test_missing_alignments_are_a_clear_error(demo_corpus, tmp_path):
    for name in ("valid.tsv",):
        (tmp_path / name).write_text((demo_corpus / name).read_text())
    with pytest.raises(AlignmentError, match="no phone alignment file"):
        load_split(tmp_path, "valid")
