"""The synthesized SUPERB KS and IC sets, read by s3prl 0.4.18's own downstream code."""
import hashlib
import json
import re
from collections import Counter
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from manifests.make_audio_tasks import WORDS, spc_split
from manifests.make_superb_sets import AUX_WORDS, INTENTS, SMALL, main, make_ic, make_ks

SEED = ["--seed", "3"]


@pytest.fixture(scope="module")
def sets(tmp_path_factory) -> Path:
    """``all --small``: ROOT/ks and ROOT/ic."""
    root = tmp_path_factory.mktemp("superb")
    main(["all", "--small", "--out", str(root), *SEED])
    return root


@pytest.fixture(scope="module")
def s3prl():
    """s3prl's KS and IC modules, importable on this stack through ehmam's compatibility shims."""
    from ehmam.integrations.s3prl import compat

    compat.install()
    from s3prl.downstream.fluent_commands import dataset as ic_dataset, expert as ic_expert
    from s3prl.downstream.speech_commands import dataset as ks_dataset, expert as ks_expert

    return SimpleNamespace(ks_dataset=ks_dataset, ks_expert=ks_expert, ic_dataset=ic_dataset,
                           ic_expert=ic_expert)


def digests(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def frames(path: Path) -> int:
    info = sf.info(str(path))
    assert (info.samplerate, info.channels, info.subtype) == (16000, 1, "PCM_16"), path
    return info.frames


def speaker(path: Path) -> str:
    return path.name.split("_nohash_")[0]


def test_same_seed_same_bytes_other_seed_other_bytes(sets, tmp_path):
    main(["all", "--small", "--out", str(tmp_path / "again"), *SEED])
    main(["all", "--small", "--out", str(tmp_path / "other"), "--seed", "4"])
    for task in ("ks", "ic"):
        first = digests(sets / task)
        assert len(first) > 30 and first == digests(tmp_path / "again" / task), task
        other = digests(tmp_path / "other" / task)
        assert other != first, task
        # the seed changes the audio itself, not only the names
        assert set(other.values()) & set(first.values()) <= {d for p, d in first.items() if "_noise.wav" in p}


def test_ks_splits_as_s3prl_does_and_every_clip_is_one_second(sets, s3prl):
    train_root, test_root = sets / "ks" / "train", sets / "ks" / "test"
    train, dev = s3prl.ks_expert.split_dataset(train_root)
    assert train and dev
    assert {c for c, _ in dev} >= set(WORDS) and {c for c, _ in train} >= set(WORDS)
    aux = set(AUX_WORDS[:SMALL["keywords"]["unknown_words"]])
    assert {c for c, _ in dev} & aux and {c for c, _ in train} & aux  # unknown words in both
    assert {p.name for p in train_root.iterdir()} == set(WORDS) | aux | {"_background_noise_"}

    classes = s3prl.ks_dataset.CLASSES
    assert sorted(p.name for p in test_root.iterdir()) == sorted(classes)
    test = s3prl.ks_dataset.SpeechCommandsTestingDataset(speech_commands_test_root=test_root)
    assert Counter(c for c, _ in test.data).keys() == set(classes)  # all 12, each non-empty
    for _, path in [*train, *dev, *test.data]:
        assert frames(path) == 16000
    noise = list((train_root / "_background_noise_").glob("*.wav"))
    assert len(noise) >= 2 and all(frames(p) > 16000 for p in noise)

    # s3prl's own readers: dev maps the auxiliary words to _unknown_ and crops 1 s of silence
    dev_set = s3prl.ks_dataset.SpeechCommandsDataset(dev, speech_commands_root=train_root)
    labels = [classes[dev_set[i][1]] for i in range(len(dev_set))]
    assert set(labels) == set(classes) and all(len(dev_set[i][0]) == 16000 for i in range(len(dev_set)))
    wav, label, _ = test[[c for c, _ in test.data].index("_silence_")]
    assert classes[label] == "_silence_" and len(wav) == 16000 and 0 < np.abs(wav).max() < 0.05

    # no speaker of s3prl's train or dev speaks in the test tree, and all of those hash to "testing"
    test_speakers = {speaker(p) for c, p in test.data if c != "_silence_"}
    assert test_speakers and all(spc_split(s) == "testing" for s in test_speakers)
    assert not test_speakers & {speaker(p) for _, p in [*train, *dev]}
    assert not {speaker(p) for _, p in train} & {speaker(p) for _, p in dev}
    unknown = sorted(p.name for p in (test_root / "_unknown_").iterdir())
    assert all(re.fullmatch(r"[0-9a-f]{8}_nohash_\d+\.wav", n) for n in unknown)


def read_ic(root: Path) -> dict[str, pd.DataFrame]:
    return {s: pd.read_csv(root / "data" / f"{s}_data.csv") for s in ("train", "valid", "test")}


def test_ic_csvs_are_fluent_speech_commands(sets, s3prl):
    root = sets / "ic"
    frames_by_split = read_ic(root)
    n_intents = SMALL["intents"]["intents"]
    triples = {(i.action, i.object, i.location) for i in INTENTS[:n_intents]}
    speakers = {}
    for split, df in frames_by_split.items():
        assert list(df.columns) == ["Unnamed: 0", "path", "speakerId", "transcription", "action", "object",
                                    "location"]
        assert list(df["Unnamed: 0"]) == list(range(len(df))) and not df.isna().any().any()
        assert set(zip(df.action, df.object, df.location)) == triples, split  # every intent, every split
        for path, spk in zip(df.path, df.speakerId):
            assert re.fullmatch(r"wavs/speakers/[A-Za-z0-9]{16}/[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}\.wav",
                                path) and path.split("/")[2] == spk
            assert frames(root / path) > 1600
        speakers[split] = set(df.speakerId)
    assert not speakers["train"] & speakers["valid"] and not speakers["train"] & speakers["test"]
    assert not speakers["valid"] & speakers["test"]
    paths = [p for df in frames_by_split.values() for p in df.path]
    assert len(set(paths)) == len(paths) == len(list((root / "wavs").rglob("*.wav")))

    # s3prl builds its label vocabulary from train alone: every valid/test value must be in it
    expert = SimpleNamespace(datarc={"file_path": str(root)})
    s3prl.ic_expert.DownstreamExpert.get_dataset(expert)
    for slot in ("action", "object", "location"):
        assert set(expert.valid_df[slot]) | set(expert.test_df[slot]) <= set(expert.train_df[slot])
    test = s3prl.ic_dataset.FluentCommandsDataset(expert.test_df, expert.base_path, expert.Sy_intent)
    for i in range(len(test)):
        wav, label, stem = test[i]
        row = expert.test_df.loc[i]
        assert wav.ndim == 1 and len(wav) == frames(root / row.path) and stem == Path(row.path).stem
        assert [expert.Sy_intent[s][int(v)] for s, v in zip(("action", "object", "location"), label)] == \
            [row.action, row.object, row.location]


def test_impossible_parameters_are_refused_before_writing(tmp_path):
    with pytest.raises(ValueError, match="every split needs its own speakers"):
        make_ic(tmp_path / "ic", speakers=(4, 0, 1))
    with pytest.raises(ValueError, match=r"intents must be 1\.\.31"):
        make_ic(tmp_path / "ic", intents=40)
    with pytest.raises(ValueError, match="_silence_ class needs"):
        make_ks(tmp_path / "ks", silence=0)
    assert not list(tmp_path.iterdir())


def test_rerun_is_a_no_op_and_a_foreign_out_is_refused(sets, tmp_path, capsys):
    stamps = {p: p.stat().st_mtime_ns for p in sets.rglob("*")}
    main(["all", "--small", "--out", str(sets), *SEED])
    assert capsys.readouterr().out.count("up to date") == 2
    assert {p: p.stat().st_mtime_ns for p in sets.rglob("*")} == stamps
    with pytest.raises(SystemExit, match="holds the 'superb-ks' task, not 'superb-ic'"):
        main(["intents", "--small", "--out", str(sets / "ks")])
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep")
    with pytest.raises(SystemExit, match="not write it"):
        main(["keywords", "--small", "--out", str(mine)])
    assert [p.name for p in mine.iterdir()] == ["notes.txt"]
    assert json.loads((sets / "ks" / "task.json").read_text())["params"]["task"] == "superb-ks"


def test_missing_tool_names_the_fix(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(SystemExit, match="apt-get install espeak-ng"):
        main(["intents", "--small", "--out", str(tmp_path / "ic")])
