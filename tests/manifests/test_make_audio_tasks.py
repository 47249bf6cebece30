"""The four synthesized classification sets: published layouts, balanced classes, clean splits."""
import csv
import hashlib
import json
import re
from collections import Counter
from pathlib import Path

import pytest
import soundfile as sf

from manifests.make_audio_tasks import (
    LANGUAGES, SOUND_CLASSES, WORDS, main, make_keywords, make_languages, make_sounds, make_speakers,
    spc_split)

SMALL = {  # 3-4 classes of 5-6 clips: each set in about a second
    "keywords": (make_keywords, dict(classes=3, per_class=6, repetitions=2)),
    "speakers": (make_speakers, dict(classes=4, per_class=6, videos=3)),
    "languages": (make_languages, dict(classes=3, per_class=6, users=3)),
    "sounds": (make_sounds, dict(classes=4, per_class=5)),
}


@pytest.fixture(scope="module")
def sets(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("tasks")
    for task, (make, kwargs) in SMALL.items():
        make(root / task, seed=3, **kwargs)
    return {task: root / task for task in SMALL}


def digests(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def audio(path: Path) -> sf._SoundFileInfo:
    info = sf.info(str(path))
    assert (info.samplerate, info.channels, info.subtype) == (16000, 1, "PCM_16"), path
    return info


def test_keywords_speech_commands_layout(sets):
    root = sets["keywords"]
    wavs = sorted(p.relative_to(root).as_posix() for p in root.glob("*/*.wav")
                  if p.parent.name != "_background_noise_")
    assert len(wavs) == 3 * 6
    assert Counter(w.split("/")[0] for w in wavs) == {w: 6 for w in WORDS[:3]}
    for w in wavs:
        assert re.fullmatch(r"[a-z]+/[0-9a-f]{8}_nohash_[0-9]+\.wav", w), w
        info = audio(root / w)
        assert info.frames == 16000
        samples, _ = sf.read(str(root / w))
        assert abs(samples).max() > 0.05  # a spoken word, not the padding alone
    noise = list((root / "_background_noise_").glob("*.wav"))
    assert noise and all(audio(p).frames > 16000 for p in noise)

    lists = {s: (root / f"{s}_list.txt").read_text().splitlines() for s in ("validation", "testing")}
    lists["training"] = sorted(set(wavs) - set(lists["validation"]) - set(lists["testing"]))
    assert not set(lists["validation"]) & set(lists["testing"]) and set(lists["validation"]) <= set(wavs)
    speakers = {s: {Path(p).name.split("_nohash_")[0] for p in ps} for s, ps in lists.items()}
    for s, ps in lists.items():
        assert {p.split("/")[0] for p in ps} == set(WORDS[:3]), s  # every word in every split
        assert all(spc_split(spk) == s for spk in speakers[s])  # SPC's own which_set agrees
    assert not speakers["training"] & speakers["validation"]
    assert not speakers["training"] & speakers["testing"]
    assert not speakers["validation"] & speakers["testing"]


def test_spc_split_is_speech_commands_which_set():
    # SPC's README code, written out independently: sha1 of the speaker id, scaled to percent.
    for speaker in ("0a7c2a8d", "ffd2ba2f", "3bfd30e6", "c0445658"):
        value = int(hashlib.sha1(speaker.encode()).hexdigest(), 16) % 2 ** 27
        percent = value * 100.0 / (2 ** 27 - 1)
        expected = "validation" if percent < 10 else "testing" if percent < 20 else "training"
        assert spc_split(speaker) == expected


def test_speakers_voxceleb1_iden_layout(sets):
    root = sets["speakers"]
    lines = (root / "iden_split.txt").read_text().splitlines()
    assert len(lines) == 4 * 6
    by_split: dict[str, set] = {"1": set(), "2": set(), "3": set()}
    videos_by_split: dict[str, set] = {"1": set(), "2": set(), "3": set()}
    for line in lines:
        split, path = line.split(" ")
        assert re.fullmatch(r"id1\d{4}/[A-Za-z0-9_-]{11}/\d{5}\.wav", path), line
        audio(root / "wav" / path)
        by_split[split].add(path.split("/")[0])
        videos_by_split[split].add(tuple(path.split("/")[:2]))
    assert set(by_split) == {"1", "2", "3"}
    assert by_split["1"] == by_split["2"] == by_split["3"] == {f"id1000{i}" for i in range(1, 5)}
    assert not videos_by_split["1"] & (videos_by_split["2"] | videos_by_split["3"])  # held-out videos
    assert len(list((root / "wav").rglob("*.wav"))) == len(lines)
    voices = json.loads((root / "task.json").read_text())["summary"]["voices"]
    assert len(set(voices.values())) == 4  # distinct voices


def test_languages_voxforge_layout(sets):
    root = sets["languages"]
    archives = sorted(p for p in root.iterdir() if p.is_dir())
    per_language: Counter = Counter()
    user_language: dict[str, str] = {}
    for archive in archives:
        match = re.fullmatch(r"([a-z0-9]+)-(\d{8})-([a-z]{3})", archive.name)
        assert match, archive.name
        readme = (archive / "etc" / "README").read_text().splitlines()
        assert f"User Name:{match[1]}" in readme
        assert any(re.fullmatch(r"Gender: (Male|Female)", l) for l in readme)
        language = next(l.split(": ")[1] for l in readme if l.startswith("Language: "))
        assert language in list(LANGUAGES)[:3]
        assert user_language.setdefault(match[1], language) == language
        prompts = (archive / "etc" / "PROMPTS").read_text().splitlines()
        wavs = sorted(p.name for p in (archive / "wav").iterdir())
        assert [l.split(" ", 1)[0] for l in prompts] == [f"{archive.name}/mfc/{w[:-4]}" for w in wavs]
        assert all(re.fullmatch(r"\d{4}\.wav", w) for w in wavs)
        assert all(re.search(r"\d", l.split(" ", 1)[1]) for l in prompts)  # digits, read per language
        for w in wavs:
            audio(archive / "wav" / w)
        per_language[language] += len(wavs)
    assert per_language == {code: 6 for code in list(LANGUAGES)[:3]}
    # A split by user cannot leak a speaker: every user has one voice, no voice two users.
    users = json.loads((root / "task.json").read_text())["summary"]["users"]
    assert set(users) == set(user_language) and len(set(users.values())) == len(users)
    assert Counter(user_language.values()) == {code: 3 for code in list(LANGUAGES)[:3]}


def test_sounds_esc50_layout(sets):
    root = sets["sounds"]
    with open(root / "meta" / "esc50.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["filename", "fold", "target", "category", "esc10", "src_file", "take"]
    assert len(rows) == 4 * 5 == len(list((root / "audio").glob("*.wav")))
    for r in rows:
        assert r["filename"] == f"{r['fold']}-{r['src_file']}-{r['take']}-{r['target']}.wav"
        assert list(SOUND_CLASSES)[int(r["target"])] == r["category"] and r["esc10"] in ("True", "False")
        assert audio(root / "audio" / r["filename"]).frames == 80000
        samples, _ = sf.read(str(root / "audio" / r["filename"]))
        rms = (samples.reshape(50, 1600) ** 2).mean(axis=1) ** 0.5
        assert rms.min() > 0  # background noise fills every silence
        assert rms.max() > 3 * rms.min() and abs(samples).max() > 0.04  # events stand out of it
    folds = Counter((r["fold"], r["target"]) for r in rows)
    assert folds == {(str(f), str(t)): 1 for f in range(1, 6) for t in range(4)}


def test_same_seed_same_bytes_other_seed_other_bytes(sets, tmp_path):
    for task, (make, kwargs) in SMALL.items():
        make(tmp_path / f"{task}-again", seed=3, **kwargs)
        make(tmp_path / f"{task}-other", seed=4, **kwargs)
        first, again = digests(sets[task]), digests(tmp_path / f"{task}-again")
        assert first == again, task
        assert first != digests(tmp_path / f"{task}-other"), task


def test_rerun_is_a_no_op_and_new_parameters_regenerate(sets, capsys):
    for task, (make, kwargs) in SMALL.items():
        stamps = {p: p.stat().st_mtime_ns for p in sets[task].rglob("*")}
        make(sets[task], seed=3, **kwargs)
        assert "up to date" in capsys.readouterr().out
        assert {p: p.stat().st_mtime_ns for p in sets[task].rglob("*")} == stamps, task


def test_cli_small_and_refusals(tmp_path, capsys):
    main(["sounds", "--small", "--out", str(tmp_path / "esc"), "--jobs", "2"])
    assert json.loads((tmp_path / "esc" / "task.json").read_text())["params"]["per_class"] == 5
    with pytest.raises(SystemExit, match="multiple of 5"):
        main(["sounds", "--out", str(tmp_path / "x"), "--per-class", "7"])
    with pytest.raises(SystemExit, match="speakers"):
        main(["keywords", "--out", str(tmp_path / "x"), "--per-class", "2"])
    with pytest.raises(SystemExit, match=">= 3 videos"):
        main(["speakers", "--out", str(tmp_path / "x"), "--videos", "2"])
    with pytest.raises(SystemExit, match="not write it"):
        (tmp_path / "mine").mkdir()
        (tmp_path / "mine" / "notes.txt").write_text("keep")
        main(["sounds", "--small", "--out", str(tmp_path / "mine")])
    with pytest.raises(SystemExit, match="holds the 'sounds' task"):
        main(["keywords", "--small", "--out", str(tmp_path / "esc")])
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep"
    assert not (tmp_path / "x").exists()


def test_missing_tool_names_the_fix(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="apt-get install espeak-ng"):
        make_keywords(tmp_path / "k", classes=3, per_class=6)
