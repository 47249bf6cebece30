"""Every kind of bad input stops with the file, the line and the fix; good input passes."""
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from ehmam.data.audio import AudioError, read_audio
from ehmam.data.manifest import ManifestError, read_manifest, validate_manifest, write_manifest


def tone(seconds: float, rate: int = 16000, channels: int = 1) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    wav = 0.3 * np.sin(2 * np.pi * 220 * t)
    return wav if channels == 1 else np.stack([wav] * channels, axis=1)


@pytest.fixture
def corpus(tmp_path) -> Path:
    """Three good 16 kHz mono files, their manifest and one label file."""
    for i, seconds in enumerate((1.0, 0.5, 0.2)):
        sf.write(tmp_path / f"u{i}.wav", tone(seconds), 16000, subtype="PCM_16")
    write_manifest(tmp_path / "train.tsv", tmp_path, [("u0.wav", 16000), ("u1.wav", 8000), ("u2.wav", 3200)])
    (tmp_path / "train.wrd").write_text("A\nB\nC\n")
    return tmp_path


def replace_line(manifest: Path, line_number: int, text: str) -> None:
    lines = manifest.read_text().splitlines()
    lines[line_number - 1] = text
    manifest.write_text("\n".join(lines) + "\n")


def test_good_corpus_passes_and_counts_short_inputs(corpus):
    report = validate_manifest(corpus / "train.tsv", min_sample_size=5000,
                               label_paths=[corpus / "train.wrd"])
    assert (report.num_entries, report.num_too_short, report.total_samples) == (3, 1, 27200)
    assert "1 shorter than min_sample_size" in report.summary()
    np.testing.assert_allclose(read_audio(corpus / "u1.wav"), tone(0.5), atol=1 / 32768)


def break_unreadable(c):
    (c / "u1.wav").write_bytes(b"this is not audio at all" * 10)


def break_empty(c):
    sf.write(c / "u1.wav", np.zeros(0), 16000, subtype="PCM_16")


def break_zero_bytes(c):
    (c / "u1.wav").write_bytes(b"")


def break_stereo(c):
    sf.write(c / "u1.wav", tone(0.5, channels=2), 16000, subtype="PCM_16")


def break_sample_rate(c):
    sf.write(c / "u1.wav", tone(1.0, rate=8000), 8000, subtype="PCM_16")


def break_missing(c):
    (c / "u1.wav").unlink()


def break_count(c):
    replace_line(c / "train.tsv", 3, "u1.wav\t8001")


def break_no_tab(c):
    replace_line(c / "train.tsv", 3, "u1.wav 8000")


def break_count_not_int(c):
    replace_line(c / "train.tsv", 3, "u1.wav\teight thousand")


def break_blank_line(c):
    replace_line(c / "train.tsv", 3, "")


@pytest.mark.parametrize("damage, where, what", [
    (break_unreadable, "u1.wav", "unreadable"),
    (break_empty, "u1.wav", "empty (0 samples)"),
    (break_zero_bytes, "u1.wav", "unreadable"),
    (break_stereo, "u1.wav", "2 channels, expected mono"),
    (break_sample_rate, "u1.wav", "sample rate is 8000 Hz, expected 16000 Hz"),
    (break_missing, "u1.wav", "does not exist"),
    (break_count, "u1.wav", "manifest says 8001 samples, the file has 8000"),
    (break_no_tab, "", "malformed line"),
    (break_count_not_int, "", "not a positive integer"),
    (break_blank_line, "", "malformed line"),
])
def test_bad_audio_line_names_file_line_and_fix(corpus, damage, where, what):
    damage(corpus)
    with pytest.raises(ManifestError) as err:
        validate_manifest(corpus / "train.tsv")
    assert len(err.value.problems) == 1
    problem = err.value.problems[0]
    assert problem.startswith(f"{corpus / 'train.tsv'}:3: ")  # line 3: root, u0, u1
    assert where in problem and what in problem and "Fix:" in problem


def test_label_line_count_mismatch(corpus):
    (corpus / "train.wrd").write_text("A\nB\n")
    with pytest.raises(ManifestError, match=r"train\.wrd:2: has 2 lines but .*train\.tsv has 3 utterances"):
        validate_manifest(corpus / "train.tsv", label_paths=[corpus / "train.wrd"])


def test_missing_label_file_and_manifest(corpus):
    with pytest.raises(ManifestError, match=r"train\.ltr: label file does not exist"):
        validate_manifest(corpus / "train.tsv", label_paths=[corpus / "train.ltr"])
    with pytest.raises(ManifestError, match=r"valid\.tsv: manifest does not exist"):
        validate_manifest(corpus / "valid.tsv")


def test_bad_root_and_empty_manifest(corpus):
    replace_line(corpus / "train.tsv", 1, str(corpus / "nowhere"))
    with pytest.raises(ManifestError, match=r"train\.tsv:1: root directory .*nowhere does not exist"):
        read_manifest(corpus / "train.tsv")
    (corpus / "train.tsv").write_text(f"{corpus}\n")
    with pytest.raises(ManifestError, match="no utterances"):
        read_manifest(corpus / "train.tsv")


def test_all_problems_are_reported_at_once(corpus):
    break_stereo(corpus)
    (corpus / "u2.wav").unlink()
    replace_line(corpus / "train.tsv", 2, "u0.wav\t15999")
    with pytest.raises(ManifestError) as err:
        validate_manifest(corpus / "train.tsv")
    lines = sorted(p.split(": ", 1)[0] for p in err.value.problems)
    assert lines == [f"{corpus / 'train.tsv'}:{n}" for n in (2, 3, 4)]
    assert str(err.value).startswith("3 problem(s)")


def test_read_audio_refuses_bad_files(corpus):
    break_stereo(corpus)
    with pytest.raises(AudioError, match=r"u1\.wav: audio has 2 channels"):
        read_audio(corpus / "u1.wav")


@pytest.mark.parametrize("name", ["train.tsv", "train.wrd"])
def test_a_byte_order_mark_is_refused(corpus, name):
    path = corpus / name
    path.write_text("\ufeff" + path.read_text(), encoding="utf-8")
    with pytest.raises(ManifestError, match=rf"{name}:1: starts with a UTF-8 byte-order mark.*Fix: remove it"):
        validate_manifest(corpus / "train.tsv", label_paths=[corpus / "train.wrd"])


def test_labels_are_checked_against_the_dictionary_line_by_line(corpus):
    (corpus / "train.ltr").write_text("A B |\nc a B |\nA 1 |\n")
    with pytest.raises(ManifestError) as err:
        validate_manifest(corpus / "train.tsv", label_paths=[corpus / "train.ltr"], label_symbols=["A", "B", "C", "|"])
    assert len(err.value.problems) == 2
    assert err.value.problems[0].startswith(f"{corpus / 'train.ltr'}:2: symbols a c are not in the dictionary. Fix:")
    assert err.value.problems[1].startswith(f"{corpus / 'train.ltr'}:3: symbols 1 are not")
    # without a dictionary the same labels pass (the pretraining task does not read them)
    validate_manifest(corpus / "train.tsv", label_paths=[corpus / "train.ltr"])


def test_empty_label_lines_warn_with_their_lines(corpus, caplog):
    (corpus / "train.ltr").write_text("A |\n\n  \n")
    validate_manifest(corpus / "train.tsv", label_paths=[corpus / "train.ltr"], label_symbols=["A", "|"])
    assert "2 empty label line(s)" in caplog.text
    assert f"{corpus / 'train.ltr'}:2, {corpus / 'train.ltr'}:3" in caplog.text


def test_nothing_left_to_train_on_is_an_error_naming_the_longest(corpus):
    with pytest.raises(ManifestError, match=r"every utterance is shorter than min_sample_size=16001 samples "
                                            r"\(the longest has 16000\).*Fix: lower task\.min_sample_size below 16000"):
        validate_manifest(corpus / "train.tsv", min_sample_size=16001)
    assert validate_manifest(corpus / "train.tsv", min_sample_size=16000).num_too_short == 2
