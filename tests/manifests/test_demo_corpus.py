"""The synthesized demo corpus: deterministic, disjoint splits, real speech matching its text."""
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from ehmam.data.labels import letters_to_words
from ehmam.data.manifest import read_manifest, validate_manifest
from manifests.make_demo_corpus import SPLITS, make_corpus, plan_corpus, sentences_from_fortunes


def corpus_files(root: Path) -> dict[str, bytes]:
    """Every file's bytes, with the manifests' absolute root line dropped."""
    files = {}
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        data = path.read_bytes()
        if path.suffix == ".tsv" and not path.name.endswith(".meta.tsv"):
            data = data.split(b"\n", 1)[1]
        files[str(path.relative_to(root))] = data
    return files


def test_same_seed_same_corpus_other_seed_other_corpus(tmp_path):
    def make(name: str, seed: int) -> dict[str, bytes]:
        make_corpus(tmp_path / name, num_utterances=12, seed=seed)
        return corpus_files(tmp_path / name)

    a, b, c = make("a", 7), make("b", 7), make("c", 8)
    assert len(a) > 12 and a.keys() == b.keys()
    assert all(a[k] == b[k] for k in a), [k for k in a if a[k] != b[k]]
    assert a["train.wrd"] != c["train.wrd"]


def test_rerun_with_same_parameters_is_a_no_op(tmp_path, capsys):
    make_corpus(tmp_path / "x", num_utterances=6, seed=1)
    stamp = (tmp_path / "x" / "train.tsv").stat().st_mtime_ns
    make_corpus(tmp_path / "x", num_utterances=6, seed=1)
    assert "up to date" in capsys.readouterr().out
    assert (tmp_path / "x" / "train.tsv").stat().st_mtime_ns == stamp


def test_splits_share_no_sentence_and_lm_text_excludes_held_out(demo_corpus):
    words = {s: (demo_corpus / f"{s}.wrd").read_text().splitlines() for s in SPLITS}
    assert [len(words[s]) for s in SPLITS] == [32, 4, 4]
    for i, s in enumerate(SPLITS):
        assert len(set(words[s])) == len(words[s])
        for t in SPLITS[i + 1:]:
            assert not set(words[s]) & set(words[t]), (s, t)
    lm = set((demo_corpus / "lm_text.txt").read_text().splitlines())
    assert set(words["train"]) <= lm
    assert not lm & (set(words["valid"]) | set(words["test"]))


def test_manifests_and_labels_are_consistent(demo_corpus):
    meta = json.loads((demo_corpus / "corpus.json").read_text())
    assert meta["speakers"] > 10  # many voices, not one
    for split in SPLITS:
        report = validate_manifest(demo_corpus / f"{split}.tsv",
                                   label_paths=[demo_corpus / f"{split}.{e}" for e in ("ltr", "wrd")])
        manifest = read_manifest(demo_corpus / f"{split}.tsv")
        assert manifest.root == demo_corpus.resolve()
        assert report.num_entries == meta["utterances"][split]
        ltr = (demo_corpus / f"{split}.ltr").read_text().splitlines()
        wrd = (demo_corpus / f"{split}.wrd").read_text().splitlines()
        for letters, words in zip(ltr, wrd):
            assert letters.endswith(" |") and letters_to_words(letters) == words
        for entry in manifest.entries:
            info = sf.info(str(manifest.audio_path(entry)))
            assert (info.samplerate, info.channels, info.subtype) == (16000, 1, "PCM_16")


def test_audio_is_speech_whose_length_follows_its_text(demo_corpus):
    """Independent evidence the audio speaks the label: duration ~ letters / speaking rate."""
    manifest = read_manifest(demo_corpus / "train.tsv")
    words = (demo_corpus / "train.wrd").read_text().splitlines()
    rates = [int(l.split("\t")[2]) for l in (demo_corpus / "train.meta.tsv").read_text().splitlines()[1:]]
    expected, seconds = [], []
    for entry, text, rate in zip(manifest.entries, words, rates):
        wav, _ = sf.read(str(manifest.audio_path(entry)))
        assert np.sqrt(np.mean(wav ** 2)) > 0.01  # not silence
        expected.append(len(text.replace(" ", "")) / rate)
        seconds.append(len(wav) / 16000)
    assert np.corrcoef(expected, seconds)[0, 1] > 0.8


def test_dictionary_covers_every_label_symbol(demo_corpus):
    symbols = [line.split()[0] for line in (demo_corpus / "dict.ltr.txt").read_text().splitlines()]
    assert symbols[0] == "|"  # the most frequent symbol in any English text
    for split in SPLITS:
        used = set((demo_corpus / f"{split}.ltr").read_text().split())
        assert used <= set(symbols)


def test_too_large_request_is_refused_with_the_limit():
    sentences = sentences_from_fortunes()
    with pytest.raises(ValueError, match=f"only {len(sentences)} distinct sentences"):
        plan_corpus(sentences, len(sentences) + 1, 0.1, 0.1, seed=0)


def test_phone_alignments_cover_the_speech_of_every_utterance(demo_corpus):
    from ehmam.data.alignments import read_alignments

    for split in SPLITS:
        manifest = read_manifest(demo_corpus / f"{split}.tsv")
        alignments = read_alignments(demo_corpus / f"{split}.phn", expected=len(manifest.entries))
        words = (demo_corpus / f"{split}.wrd").read_text().splitlines()
        for entry, segments, text in zip(manifest.entries, alignments, words):
            wav, rate = sf.read(str(manifest.audio_path(entry)))
            assert segments[0].start < 0.1 and segments[-1].end == pytest.approx(len(wav) / rate, abs=0.01)
            # the sound is in the phones, not in the pauses (espeak-ng's "_" phones)
            def rms(kind):
                parts = [wav[int(s.start * rate):int(s.end * rate)] for s in segments if s.phone.startswith("_") == kind]
                return np.sqrt(np.mean(np.concatenate(parts) ** 2))
            assert rms(True) < 0.2 * rms(False)
            speech = [s for s in segments if not s.phone.startswith("_")]
            assert len(text.split()) < len(speech) < len(text)  # more than a phone a word, fewer than letters
