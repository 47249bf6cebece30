"""The decoding command refuses bad input before, or instead of, producing nonsense: an
unwritable --out, a beam of 0, NaN audio, blank references and too-short utterances are
errors naming the option, the manifest line or the label file, and the fix."""
import logging
import re
import tempfile

import numpy as np
import pytest
import soundfile as sf

from ehmam.asr import decode
from ehmam.asr.beam_search import BeamSearchConfig
from ehmam.asr.decode import load_ctc_model, main as decode_main, read_utterances

pytestmark = pytest.mark.timeout(300)


@pytest.fixture
def ctc_checkpoint(finetuned):
    """The shared tiny CTC fine-tuning run's best checkpoint (tests/conftest.py)."""
    return finetuned[0] / "checkpoint_best.pt"


def variant(demo, folder, split="test"):
    """A data folder with the demo's dictionary, ``split`` manifest and labels, to break."""
    folder.mkdir(exist_ok=True)
    for name in ("dict.ltr.txt", f"{split}.tsv", f"{split}.wrd", f"{split}.ltr"):
        (folder / name).write_text((demo / name).read_text())
    return folder


def replace_audio(data, line, samples, subtype, split="test"):
    """Point manifest line ``line`` (1-based; 1 is the root) at a new file holding ``samples``."""
    path = data / f"replaced-{line}.wav"
    sf.write(str(path), samples, 16000, subtype=subtype)
    manifest = data / f"{split}.tsv"
    lines = manifest.read_text().splitlines()
    lines[line - 1] = f"{path}\t{len(samples)}"  # an absolute path ignores the root
    manifest.write_text("\n".join(lines) + "\n")
    return manifest, path


def test_out_under_a_file_fails_before_the_model_loads(demo_corpus, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(decode, "load_ctc_model", lambda *a, **k: pytest.fail("the model was loaded"))
    (tmp_path / "notes.txt").write_text("a file, not a folder")
    out = tmp_path / "notes.txt" / "decode"
    assert decode_main([str(tmp_path / "model.pt"), "--data", str(demo_corpus), "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert f"error: --out {out}: {tmp_path / 'notes.txt'} is a file" in err and "Fix: " in err


def test_unwritable_out_fails_before_the_model_loads(demo_corpus, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(decode, "load_ctc_model", lambda *a, **k: pytest.fail("the model was loaded"))

    def refuse(*args, **kwargs):  # what a read-only folder does to a non-root user
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    out = tmp_path / "decode"
    assert decode_main([str(tmp_path / "model.pt"), "--data", str(demo_corpus), "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert f"error: --out {out}: cannot write into {out} (Permission denied). Fix: " in err


@pytest.mark.parametrize("option", ["--beam", "--beam-size-token"])
@pytest.mark.parametrize("value", ["0", "-3"])
def test_beam_sizes_must_be_positive(option, value, demo_corpus, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit:
        decode_main([str(tmp_path / "model.pt"), "--data", str(demo_corpus), "--lexicon", str(tmp_path / "lex"),
                     option, value])
    assert exit.value.code == 2
    assert f"argument {option}: '{value}': must be at least 1" in capsys.readouterr().err


def test_beam_search_config_refuses_empty_beams():
    with pytest.raises(ValueError, match=r"BeamSearchConfig.beam = 0: must be a whole number of at least 1"):
        BeamSearchConfig(beam=0)
    with pytest.raises(ValueError, match=r"BeamSearchConfig.beam_size_token = -1: must be at least 1"):
        BeamSearchConfig(beam_size_token=-1)
    with pytest.raises(ValueError, match=r"beam_threshold = -5.0: must be >= 0"):
        BeamSearchConfig(beam_threshold=-5.0)
    assert BeamSearchConfig(beam=1, beam_size_token=1).beam == 1


@pytest.mark.parametrize("ext, blank", [("wrd", ""), ("ltr", "|")])
def test_references_without_any_word_are_an_error(ext, blank, demo_corpus, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(decode, "load_ctc_model", lambda *a, **k: pytest.fail("the model was loaded"))
    data = variant(demo_corpus, tmp_path / "data")
    (data / "test.wrd").unlink()
    (data / f"test.{ext}").write_text(f"{blank}\n" * 4)
    assert decode_main([str(tmp_path / "model.pt"), "--data", str(data), "--split", "test"]) == 1
    err = capsys.readouterr().err
    assert f"error: {data / f'test.{ext}'}: no reference words: all 4 lines are empty" in err and "Fix: " in err


def test_some_empty_references_are_named_in_a_warning(demo_corpus, tmp_path, caplog):
    data = variant(demo_corpus, tmp_path / "data")
    words = (data / "test.wrd").read_text().splitlines()
    words[1] = ""
    (data / "test.wrd").write_text("\n".join(words) + "\n")
    with caplog.at_level(logging.WARNING, logger="ehmam.asr.decode"):
        utterances = read_utterances(data, "test")
    assert [u.reference == "" for u in utterances] == [False, True, False, False]  # still scored
    second = utterances[1]
    assert (second.manifest, second.line) == (data / "test.tsv", 3)
    warning = caplog.text
    assert f"{data / 'test.wrd'}: 1 of 4 references are empty" in warning
    assert f"{data / 'test.tsv'}:3: {second.path}" in warning


def test_non_finite_audio_is_refused_with_its_manifest_line(ctc_checkpoint, demo_corpus, tmp_path, capsys):
    data = variant(demo_corpus, tmp_path / "data")
    samples = np.random.default_rng(0).uniform(-0.1, 0.1, 16000).astype(np.float32)
    samples[[10, 11, 12]] = np.nan
    samples[500] = np.inf
    manifest, bad = replace_audio(data, 3, samples, "FLOAT")
    out = tmp_path / "decode"
    assert decode_main([str(ctc_checkpoint), "--data", str(data), "--split", "test", "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert f"error: {manifest}:3: {bad}: contains 4 non-finite samples (NaN or inf)" in err and "Fix: " in err
    assert not list(out.glob("*.wrd"))


def test_utterances_shorter_than_the_receptive_field_are_listed_before_the_acoustic_pass(
        ctc_checkpoint, demo_corpus, tmp_path, capsys, monkeypatch):
    data = variant(demo_corpus, tmp_path / "data")
    manifest, short = replace_audio(data, 4, np.zeros(300, dtype=np.float32), "PCM_16")
    monkeypatch.setattr(decode.CtcModel, "emissions", lambda *a, **k: pytest.fail("the acoustic pass ran"))
    assert decode_main([str(ctc_checkpoint), "--data", str(data), "--split", "test"]) == 1
    err = capsys.readouterr().err
    assert "shorter than the model's receptive field of 400 samples" in err
    assert f"{manifest}:4: {short}: 300 samples" in err
    assert "Fix: remove them from the manifest or pad them to at least 400 samples" in err
    assert "min_sample_size" not in err  # an option of fairseq's training, not of this command


def test_receptive_field_of_a_fine_tuned_model(ctc_checkpoint, demo_corpus):
    # wav2vec 2.0's convolutions: kernels 10,3,3,3,3,2,2, strides 5,2,2,2,2,2,2 -> 400 samples (25 ms)
    field = 1
    for kernel, stride in reversed(list(zip([10, 3, 3, 3, 3, 2, 2], [5, 2, 2, 2, 2, 2, 2]))):
        field = (field - 1) * stride + kernel
    assert load_ctc_model(ctc_checkpoint, demo_corpus).receptive_field == field == 400


def test_decoding_the_demo_still_works(ctc_checkpoint, demo_corpus, tmp_path, capsys):
    out = tmp_path / "new" / "decode"  # created, with its parent
    assert decode_main([str(ctc_checkpoint), "--data", str(demo_corpus), "--split", "test", "--out", str(out)]) == 0
    assert re.search(r"test greedy: CER [\d.]+%  WER [\d.]+%", capsys.readouterr().out)
    assert len((out / "test.greedy.wrd").read_text().splitlines()) == 4
    assert [p.name for p in out.iterdir() if p.name.startswith(".")] == []  # the write probe is gone
