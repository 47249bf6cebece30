import numpy as np

from ehmam.data.manifest import read_manifest
from scripts.plot_patch_masks import main, strategy_masks, window_labels


def test_patch_mask_figure(demo_corpus, tmp_path):
    manifest = read_manifest(demo_corpus / "valid.tsv")
    out = tmp_path / "patch_masks.png"
    main(["--audio", str(manifest.audio_path(manifest.entries[0])), "--out", str(out), "--seconds", "1.6"])
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 10_000


def test_the_drawn_masks_and_windows_are_the_library_s():
    grid = (5, 20)
    masks = dict(strategy_masks(grid, seed=0))
    time = next(m for title, m in masks.items() if title.startswith("time 0.5"))
    assert time.shape == grid and time.all(axis=0).sum() == 10 and (time.any(axis=0) == time.all(axis=0)).all()
    window, wrapped = window_labels(grid, (2, 2))
    # the roll to the top-left puts columns 18, 19, 0, 1 in one window, and rows 0 and 1 wrap
    assert window[2, 18] == window[2, 0] and window[2, 1] != window[2, 2]
    assert wrapped[0].all() and wrapped[1].all() and not wrapped[2:, 2:].any()
    plain, nothing = window_labels(grid, (0, 0))
    assert not nothing.any() and len(np.unique(plain)) == 2 * 5
