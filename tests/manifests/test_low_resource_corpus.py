"""The low-resource corpus: an unlabelled pool, nested labelled subsets, held-out speakers and
sentences, byte-reproducible."""
import json
import random

import pytest
import soundfile as sf

from ehmam.data.manifest import read_manifest
from manifests.make_demo_corpus import sentences_from_fortunes
from manifests.make_low_resource_corpus import (
    AUDIO_SPLITS, labelled_subsets, make_corpus, plan_corpus, speakers_by_split, subset_name)
from tests.manifests.test_demo_corpus import corpus_files

SMALL = dict(pool_utterances=8, train_utterances=14, eval_utterances=3, eval_speakers=4, seed=5,
             labelled_minutes=(0.1, 0.3))


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    out = tmp_path_factory.mktemp("low_resource") / "corpus"
    make_corpus(out, **SMALL)
    return out


def test_subset_names_follow_librilight():
    assert [subset_name(m) for m in (10, 60, 600, 0.5, 90)] == [
        "train_10m", "train_1h", "train_10h", "train_30s", "train_90m"]


def test_plan_keeps_sentences_apart_and_eval_speakers_to_themselves():
    sentences = [f"SENTENCE NUMBER {i}" for i in range(500)]
    counts = dict(pool=200, train=100, valid=40, test=40)
    plan = plan_corpus(sentences, counts, eval_speakers=8, seed=3)
    assert [sum(u.split == s for u in plan) for s in AUDIO_SPLITS] == [200, 100, 40, 40]
    assert len({u.words for u in plan}) == len(plan)  # no sentence twice, so no split shares one
    voices = {s: {u.speaker for u in plan if u.split == s} for s in AUDIO_SPLITS}
    assert len(voices["valid"]) <= 8 and len(voices["test"]) <= 8
    assert not voices["valid"] & voices["test"]
    assert not (voices["valid"] | voices["test"]) & (voices["pool"] | voices["train"])
    assert len(voices["pool"] | voices["train"]) > 40  # the other 72 voices, most of them drawn
    assert plan == plan_corpus(sentences, counts, eval_speakers=8, seed=3)


def test_bad_sizes_are_refused_with_the_fix():
    with pytest.raises(ValueError, match="distinct sentences"):
        plan_corpus(["A B C D"] * 3, dict(pool=2, train=1, valid=1, test=1), 4, 0)
    with pytest.raises(ValueError, match="--eval-speakers"):
        speakers_by_split(random.Random(0), 44)


def test_labelled_subsets_are_the_shortest_nested_prefixes():
    class U:
        def __init__(self, uid):
            self.uid = uid
    train = [U(f"u{i}") for i in range(10)]
    sizes = {f"u{i}": 16000 * 30 for i in range(10)}  # 30 s each
    subsets = labelled_subsets(train, sizes, (1, 2.5))
    assert [len(subsets["train_1m"]), len(subsets["train_150s"])] == [2, 5]
    with pytest.raises(ValueError, match="--train-utterances"):
        labelled_subsets(train, sizes, (6,))


def test_the_written_corpus(corpus):
    meta = json.loads((corpus / "corpus.json").read_text())
    small, large = subset_name(0.1), subset_name(0.3)
    words = {s: (corpus / f"{s}.wrd").read_text().splitlines() for s in (small, large, "valid", "test")}
    assert words[large][:len(words[small])] == words[small] and len(words[large]) > len(words[small])
    for split, minutes in ((small, 0.1), (large, 0.3)):
        frames = [e.num_samples for e in read_manifest(corpus / f"{split}.tsv").entries]
        assert sum(frames) >= minutes * 60 * 16000 > sum(frames[:-1])  # the shortest prefix
        assert len((corpus / f"{split}.ltr").read_text().splitlines()) == len(frames)
        assert len((corpus / f"{split}.phn").read_text().splitlines()) >= len(frames)
    held_out = set(words["valid"]) | set(words["test"])
    assert not held_out & set(words[large])
    assert not held_out & set((corpus / "lm_text.txt").read_text().splitlines())
    # the pool is unlabelled; pretraining reads the pool and the labelled audio
    assert not (corpus / "pool.wrd").exists() and not (corpus / "pool.ltr").exists()
    pool = [e.path for e in read_manifest(corpus / "pool.tsv").entries]
    pretrain = [e.path for e in read_manifest(corpus / "pretrain.tsv").entries]
    assert pretrain == pool + [e.path for e in read_manifest(corpus / f"{large}.tsv").entries]
    assert meta["utterances"]["pool"] == 8 and meta["utterances"]["pretrain"] == 8 + len(words[large])
    speakers = {s: set(l.split("\t")[1] for l in (corpus / f"{s}.meta.tsv").read_text().splitlines()[1:])
                for s in ("pool", large, "valid", "test")}
    assert not (speakers["valid"] | speakers["test"]) & (speakers["pool"] | speakers[large])
    valid = read_manifest(corpus / "valid.tsv")
    info = sf.info(str(valid.audio_path(valid.entries[0])))
    assert info.samplerate == 16000 and info.channels == 1


def test_same_seed_same_bytes_and_a_rerun_is_a_no_op(corpus, tmp_path, capsys):
    again = tmp_path / "again"
    make_corpus(again, **SMALL)
    a, b = corpus_files(corpus), corpus_files(again)
    assert a.keys() == b.keys() and all(a[k] == b[k] for k in a), [k for k in a if a[k] != b[k]]
    stamp = (again / "pretrain.tsv").stat().st_mtime_ns
    make_corpus(again, **SMALL)
    assert "up to date" in capsys.readouterr().out
    assert (again / "pretrain.tsv").stat().st_mtime_ns == stamp


def test_sentences_exist_for_the_study_size():
    # the study's default: 3,600 pool + 1,300 train + 2 x 150 held out, each sentence once
    assert len(sentences_from_fortunes()) >= 3600 + 1300 + 300
