import torch

from ehmam.data.manifest import read_manifest
from scripts.plot_masking import PROGRESS, load_model, main, masks_over_training


def test_masking_figure(demo_corpus, tmp_path):
    manifest = read_manifest(demo_corpus / "valid.tsv")
    audio = manifest.audio_path(manifest.entries[0])
    out = tmp_path / "masking.png"
    main(["--audio", str(audio), "--out", str(out)])
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 10_000

    from ehmam.data.audio import read_audio

    predicted, rows = masks_over_training(load_model(None), torch.from_numpy(read_audio(audio)))
    budget = int(0.5 * len(predicted))
    for progress, (selective, random) in zip(PROGRESS, rows):
        assert not (selective & random).any()
        assert selective.sum() == int(budget * progress) and (selective | random).sum() == budget
