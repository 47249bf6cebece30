"""Normalisation statistics equal numpy's mean and std over the same crops, computed one
crop at a time from the files themselves; seeds decide the crops; bad data stops with
the file, the line and the fix."""
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
import torchaudio

from ehmam.data.audio import AudioError
from ehmam.data.manifest import ManifestError, write_manifest
from ehmam.data.normalization_stats import draw_crops, main, normalization_stats
from ehmam.models.frontends.log_mel import LogMelConfig, LogMelFrontend

SR = 16_000
SECONDS = [1.0, 0.3, 2.5, 0.7]  # 0.3 s is shorter than the 0.5 s crops: zero padded


@pytest.fixture
def corpus(tmp_path) -> Path:
    """Four 16 kHz mono files of differing loudness and content, and their manifest."""
    rng = np.random.default_rng(0)
    entries = []
    for i, seconds in enumerate(SECONDS):
        n = int(seconds * SR)
        t = np.arange(n) / SR
        wav = 0.1 * (i + 1) * np.sin(2 * np.pi * 150 * (i + 1) * t) + 0.02 * rng.standard_normal(n)
        sf.write(tmp_path / f"u{i}.wav", wav.astype(np.float32), SR, subtype="FLOAT")
        entries.append((f"u{i}.wav", n))
    write_manifest(tmp_path / "train.tsv", tmp_path, entries)
    return tmp_path


def brute_force(corpus: Path, crops: int, seconds: float, seed: int, frontend: str):
    """numpy mean and std over all values of the crops, in draw order, one crop at a time."""
    samples = int(seconds * SR)
    plan = draw_crops([int(s * SR) for s in SECONDS], crops, samples, torch.Generator().manual_seed(seed))
    log_mel = LogMelFrontend(LogMelConfig())
    values = []
    for crop in plan:
        wav, _ = sf.read(corpus / f"u{crop.entry}.wav", dtype="float32")
        audio = wav[crop.start:crop.start + samples]
        if frontend == "log_mel":  # the waveform the front end gets: zero padded to the crop length
            padded = torch.from_numpy(np.pad(audio, (0, samples - len(audio))))
            features = log_mel.log_mel(padded[None])
        else:  # Audio-MAE's _wav2fbank on the crop's audio
            waveform = torch.from_numpy(audio)[None]
            features = torchaudio.compliance.kaldi.fbank(
                waveform - waveform.mean(), htk_compat=True, sample_frequency=16000, use_energy=False,
                window_type="hanning", num_mel_bins=128, dither=0.0, frame_shift=10)
        values.append(features.numpy().astype(np.float64).ravel())
    values = np.concatenate(values)
    return values.mean(), values.std(), values.size


@pytest.mark.parametrize("frontend", ["log_mel", "kaldi_fbank"])
def test_stats_equal_numpy_over_the_same_crops(corpus, frontend):
    stats = normalization_stats(corpus / "train.tsv", crops=40, seconds=0.5, seed=3, frontend=frontend)
    mean, std, size = brute_force(corpus, 40, 0.5, 3, frontend)
    assert stats.values == size
    assert stats.mean == pytest.approx(mean, rel=1e-9)
    assert stats.std == pytest.approx(std, rel=1e-7)  # sum-of-squares form, float64


def test_log_mel_counts_every_bin_and_frame_of_every_crop(corpus):
    stats = normalization_stats(corpus / "train.tsv", crops=10, seconds=0.5, seed=0)
    assert stats.values == 10 * 80 * (8000 // 160 + 1)


def test_crops_are_files_and_starts_within_them():
    plan = draw_crops([1000, 50, 400], 300, 100, torch.Generator().manual_seed(0))
    assert {c.entry for c in plan} == {0, 1, 2}
    limits = {0: 900, 1: 0, 2: 300}  # last possible start; a short file starts at 0
    assert all(0 <= c.start <= limits[c.entry] for c in plan)
    assert max(c.start for c in plan if c.entry == 0) > 800  # starts reach the end


def test_same_seed_same_numbers_other_seed_other_numbers(corpus):
    manifest = corpus / "train.tsv"
    first = normalization_stats(manifest, crops=20, seconds=0.5, seed=1)
    assert normalization_stats(manifest, crops=20, seconds=0.5, seed=1) == first
    other = normalization_stats(manifest, crops=20, seconds=0.5, seed=2)
    assert (other.mean, other.std) != (first.mean, first.std)


def test_empty_manifest_is_refused(tmp_path):
    write_manifest(tmp_path / "empty.tsv", tmp_path, [])
    with pytest.raises(ManifestError, match="no utterances"):
        normalization_stats(tmp_path / "empty.tsv", crops=5, seconds=0.5, seed=0)


def test_missing_file_names_the_manifest_line_and_the_file(corpus):
    (corpus / "u2.wav").unlink()
    with pytest.raises(AudioError, match=r"train.tsv:4: .*u2.wav: audio file does not exist"):
        normalization_stats(corpus / "train.tsv", crops=40, seconds=0.5, seed=0)


def test_wrong_sample_count_in_the_manifest_is_refused(corpus):
    write_manifest(corpus / "bad.tsv", corpus, [("u0.wav", 12345)])
    with pytest.raises(AudioError, match=r"bad.tsv:2: .*says 12345 samples, the file has 16000.*regenerate"):
        normalization_stats(corpus / "bad.tsv", crops=2, seconds=0.5, seed=0)


def test_bad_arguments_are_refused(corpus):
    with pytest.raises(ValueError, match="shorter than one 25 ms window"):
        normalization_stats(corpus / "train.tsv", crops=2, seconds=0.01, seed=0)
    with pytest.raises(ValueError, match="at least 1 crop"):
        normalization_stats(corpus / "train.tsv", crops=0, seconds=0.5, seed=0)
    with pytest.raises(ValueError, match="frontend='mfcc'"):
        normalization_stats(corpus / "train.tsv", crops=2, seconds=0.5, seed=0, frontend="mfcc")


def test_command_prints_overrides_and_writes_json(corpus, tmp_path, capsys):
    out = tmp_path / "stats.json"
    assert main([str(corpus / "train.tsv"), "--crops", "8", "--seconds", "0.5", "--seed", "4", "--out", str(out)]) == 0
    stats = normalization_stats(corpus / "train.tsv", crops=8, seconds=0.5, seed=4)
    printed = capsys.readouterr().out
    assert f"task.norm_mean={stats.mean:.8g} task.norm_std={stats.std:.8g}" in printed
    written = json.loads(out.read_text())
    assert (written["mean"], written["std"], written["frontend"]) == (stats.mean, stats.std, "log_mel")


def test_command_reports_errors_without_a_traceback(tmp_path, capsys):
    assert main([str(tmp_path / "nope.tsv"), "--seconds", "1"]) == 1
    assert "manifest does not exist" in capsys.readouterr().err
