"""Each downstream task read from a tiny copy of its published layout, checked against
hand-written expectations; every bad layout stops with the file, the line and the fix."""
import re
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from ehmam.evaluation.tasks import TASKS, Clip, TaskError, read_task


def wav(path: Path) -> Path:
    """A 10 ms silent 16 kHz mono wav at ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, np.zeros(160, dtype=np.float32), 16000, subtype="PCM_16")
    return path


def at(path: Path) -> str:
    """``path`` as a regular expression matching itself."""
    return re.escape(str(path))


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def summary(clips, root: Path):
    """Clips as sorted ``(path relative to root, label, split, fold)`` tuples."""
    return sorted((c.path.relative_to(root).as_posix(), c.label, c.split, c.fold) for c in clips)


# ---------------------------------------------------------------------------- layouts

ESC50_HEADER = "filename,fold,target,category,esc10,src_file,take\n"
ESC50_ROWS = [  # (filename, fold, category)
    ("1-100032-A-0.wav", 1, "dog"),
    ("2-100648-A-43.wav", 2, "chirping_birds"),
    ("3-100018-A-31.wav", 3, "mouse_click"),
    ("4-102844-A-49.wav", 4, "hand_saw"),
    ("5-103415-A-2.wav", 5, "pig"),
    ("5-103416-A-0.wav", 5, "dog"),
]


def make_esc50(root: Path) -> Path:
    lines = [f"{f},{fold},0,{cat},False,100,A\n" for f, fold, cat in ESC50_ROWS]
    write(root / "meta" / "esc50.csv", ESC50_HEADER + "".join(lines))
    for f, _, _ in ESC50_ROWS:
        wav(root / "audio" / f)
    return root


US8K_HEADER = "slice_file_name,fsID,start,end,salience,fold,classID,class\n"


def make_us8k(root: Path) -> Path:
    names = ["dog_bark", "siren"]
    lines = []
    for fold in range(1, 11):
        name = f"{fold}00-{fold}-0-0.wav"
        lines.append(f"{name},{fold}00,0.0,4.0,1,{fold},0,{names[fold % 2]}\n")
        wav(root / "audio" / f"fold{fold}" / name)
    write(root / "metadata" / "UrbanSound8K.csv", US8K_HEADER + "".join(lines))
    return root


def make_spcv2(root: Path) -> Path:
    for rel in ["yes/a1_nohash_0.wav", "yes/b2_nohash_0.wav", "yes/c3_nohash_1.wav",
                "no/a1_nohash_0.wav", "no/d4_nohash_0.wav", "_background_noise_/white_noise.wav"]:
        wav(root / rel)
    write(root / "README.md", "not a word folder\n")
    write(root / "validation_list.txt", "yes/b2_nohash_0.wav\n")
    write(root / "testing_list.txt", "yes/c3_nohash_1.wav\nno/d4_nohash_0.wav\n\n")
    return root


VC1_SPLIT = ("1 id10001/1zcIwhmdeo4/00001.wav\n"
             "1 id10002/0_laIeN-Q44/00001.wav\n"
             "2 id10001/1zcIwhmdeo4/00002.wav\n"
             "3 id10002/6WO410QOeuo/00001.wav\n")


def make_vc1(root: Path) -> Path:
    write(root / "iden_split.txt", VC1_SPLIT)
    for line in VC1_SPLIT.splitlines():
        wav(root / "wav" / line.split()[1])
    return root


VOXFORGE_SPEAKERS = [f"user{i}" for i in range(10)]


def make_voxforge(root: Path) -> Path:
    """Ten speakers, speakers 0 and 3 with two archives each; even speakers German, odd English
    (README keys in different cases)."""
    for i, speaker in enumerate(VOXFORGE_SPEAKERS):
        for archive in [f"{speaker}-20100101-abc"] + ([f"{speaker}-20110202-xyz"] if i in (0, 3) else []):
            readme = ("User Name:x\n\nPronunciation dialect: x\nLanguage: DE\n" if i % 2 == 0
                      else "Gender: Male\nlanguage:  en\n")
            write(root / archive / "etc" / "README", readme)
            wav(root / archive / "wav" / "a0001.wav")
            wav(root / archive / "wav" / "a0002.wav")
    return root


CREMAD_ACTORS = [f"10{n:02d}" for n in range(1, 11)]
CREMAD_EMOTIONS = ["ANG", "DIS", "FEA", "HAP", "NEU", "SAD"]


def make_cremad(root: Path, actors=CREMAD_ACTORS) -> Path:
    for i, actor in enumerate(actors):
        for emotion in (CREMAD_EMOTIONS[i % 6], CREMAD_EMOTIONS[(i + 1) % 6]):
            wav(root / "AudioWAV" / f"{actor}_DFA_{emotion}_XX.wav")
    return root


def make_gtzan(root: Path, genres_folder: bool = True) -> Path:
    base = root / "genres" if genres_folder else root
    for genre in ("blues", "jazz"):
        for n in range(4):
            wav(base / genre / f"{genre}.{n:05d}.wav")
    write(root / "train_filtered.txt", "blues/blues.00000.au\njazz/jazz.00000.wav\n")
    write(root / "valid_filtered.txt", "blues/blues.00001.au\n")
    write(root / "test_filtered.txt", "jazz/jazz.00002.au\njazz/jazz.00003.au\n")
    return root  # blues.00002, blues.00003 and jazz.00001 are in no list


NSYNTH = {
    "train": {"guitar_acoustic_000-060-075": "guitar", "bass_synthetic_009-052-050": "bass"},
    "valid": {"keyboard_electronic_001-021-127": "keyboard"},
    "test": {"guitar_acoustic_010-066-100": "guitar", "brass_acoustic_006-030-100": "brass"},
}


def make_nsynth(root: Path) -> Path:
    import json

    for split, notes in NSYNTH.items():
        examples = {note: {"note": 1, "instrument_family_str": family, "pitch": 60} for note, family in notes.items()}
        write(root / f"nsynth-{split}" / "examples.json", json.dumps(examples, indent=2))
        for note in notes:
            wav(root / f"nsynth-{split}" / "audio" / f"{note}.wav")
    return root


MAKERS = {"esc50": make_esc50, "us8k": make_us8k, "spcv2": make_spcv2, "vc1": make_vc1,
          "voxforge": make_voxforge, "cremad": make_cremad, "gtzan": make_gtzan, "nsynth": make_nsynth}


# ---------------------------------------------------------------------------- good layouts


def test_esc50_reads_categories_and_folds(tmp_path):
    task = read_task("esc50", make_esc50(tmp_path))
    assert (task.name, task.folds, task.unit_sec) == ("esc50", 5, 5.0)
    assert summary(task.clips, tmp_path) == sorted(
        (f"audio/{f}", cat, None, fold) for f, fold, cat in ESC50_ROWS)
    assert task.classes == ["chirping_birds", "dog", "hand_saw", "mouse_click", "pig"]
    assert all(c.path.is_absolute() and c.path.is_file() for c in task.clips)
    with pytest.raises(TaskError, match="5-fold cross-validation.*Clip.fold"):
        task.split("train")


def test_us8k_reads_fold_folders(tmp_path):
    task = read_task("us8k", str(make_us8k(tmp_path)))
    assert (task.folds, task.unit_sec) == (10, 4.0)
    assert summary(task.clips, tmp_path)[:3] == [
        ("audio/fold1/100-1-0-0.wav", "siren", None, 1),
        ("audio/fold10/1000-10-0-0.wav", "dog_bark", None, 10),
        ("audio/fold2/200-2-0-0.wav", "dog_bark", None, 2),
    ]
    assert sorted(c.fold for c in task.clips) == list(range(1, 11))
    assert task.classes == ["dog_bark", "siren"]


def test_spcv2_splits_by_lists_and_skips_background_noise(tmp_path):
    task = read_task("spcv2", make_spcv2(tmp_path))
    assert (task.folds, task.unit_sec) == (1, 1.0)
    assert summary(task.clips, tmp_path) == [
        ("no/a1_nohash_0.wav", "no", "train", None),
        ("no/d4_nohash_0.wav", "no", "test", None),
        ("yes/a1_nohash_0.wav", "yes", "train", None),
        ("yes/b2_nohash_0.wav", "yes", "valid", None),
        ("yes/c3_nohash_1.wav", "yes", "test", None),
    ]
    assert [c.path.name for c in task.split("valid")] == ["b2_nohash_0.wav"]
    assert len(task.split("train")) == 2 and len(task.split("test")) == 2
    with pytest.raises(TaskError, match="unknown split 'dev'"):
        task.split("dev")


def test_vc1_reads_iden_split(tmp_path):
    task = read_task("vc1", make_vc1(tmp_path))
    assert (task.folds, task.unit_sec) == (1, 8.2)
    assert summary(task.clips, tmp_path) == [
        ("wav/id10001/1zcIwhmdeo4/00001.wav", "id10001", "train", None),
        ("wav/id10001/1zcIwhmdeo4/00002.wav", "id10001", "valid", None),
        ("wav/id10002/0_laIeN-Q44/00001.wav", "id10002", "train", None),
        ("wav/id10002/6WO410QOeuo/00001.wav", "id10002", "test", None),
    ]


def speaker_splits(task, speaker_of) -> dict:
    splits = {}
    for clip in task.clips:
        splits.setdefault(speaker_of(clip), set()).add(clip.split)
    return splits


def test_voxforge_labels_from_readme_and_splits_by_speaker(tmp_path):
    task = read_task("voxforge", make_voxforge(tmp_path / "a"))
    assert (task.folds, task.unit_sec) == (1, 5.8)
    assert len(task.clips) == 2 * 12  # 12 archives of two wavs
    assert task.classes == ["DE", "EN"]
    for clip in task.clips:
        speaker = int(clip.path.parents[1].name.split("-")[0][len("user"):])
        assert clip.label == ("DE" if speaker % 2 == 0 else "EN")
    splits = speaker_splits(task, lambda c: c.path.parents[1].name.split("-")[0])
    assert all(len(s) == 1 for s in splits.values()), splits  # no speaker crosses splits
    counts = {name: sum(s == {name} for s in splits.values()) for name in ("train", "valid", "test")}
    # each language's 5 speakers apart: 70 / 15 / 15 of 5, halves rounded up, is 4 / 0 / 1
    assert counts == {"train": 8, "valid": 0, "test": 2}
    for language in ("DE", "EN"):
        assert {c.split for c in task.clips if c.label == language} == {"train", "test"}
    # the same split on a second read, and from another folder holding the same archives
    again = read_task("voxforge", make_voxforge(tmp_path / "b"))
    assert summary(task.clips, tmp_path / "a") == summary(again.clips, tmp_path / "b")


def test_voxforge_csv_is_used_when_present(tmp_path):
    make_voxforge(tmp_path)
    write(tmp_path / "voxforge.csv", "file_name,label,split\n"
          "user1-20100101-abc/wav/a0001.wav,en,train\n"
          "user2-20100101-abc/wav/a0001.wav,de,valid\n"
          "user3-20100101-abc/wav/a0002.wav,en,test\n")
    task = read_task("voxforge", tmp_path)
    assert summary(task.clips, tmp_path) == [
        ("user1-20100101-abc/wav/a0001.wav", "en", "train", None),
        ("user2-20100101-abc/wav/a0001.wav", "de", "valid", None),
        ("user3-20100101-abc/wav/a0002.wav", "en", "test", None),
    ]


def test_cremad_labels_from_names_and_splits_by_actor(tmp_path):
    task = read_task("cremad", make_cremad(tmp_path / "a"))
    assert (task.folds, task.unit_sec) == (1, 2.5)
    assert len(task.clips) == 20
    assert task.classes == CREMAD_EMOTIONS
    for clip in task.clips:
        assert clip.label == clip.path.stem.split("_")[2]
    splits = speaker_splits(task, lambda c: c.path.name[:4])
    assert sorted(splits) == CREMAD_ACTORS
    assert all(len(s) == 1 for s in splits.values()), splits
    counts = {name: sum(s == {name} for s in splits.values()) for name in ("train", "valid", "test")}
    assert counts == {"train": 7, "valid": 1, "test": 2}  # 70 / 10 / 20 of 10 actors
    again = read_task("cremad", make_cremad(tmp_path / "b"))
    assert summary(task.clips, tmp_path / "a") == summary(again.clips, tmp_path / "b")


@pytest.mark.parametrize("genres_folder", [True, False])
def test_gtzan_keeps_only_listed_files(tmp_path, genres_folder):
    task = read_task("gtzan", make_gtzan(tmp_path, genres_folder))
    assert (task.folds, task.unit_sec) == (1, 30.0)
    base = "genres/" if genres_folder else ""
    assert summary(task.clips, tmp_path) == [
        (f"{base}blues/blues.00000.wav", "blues", "train", None),
        (f"{base}blues/blues.00001.wav", "blues", "valid", None),
        (f"{base}jazz/jazz.00000.wav", "jazz", "train", None),
        (f"{base}jazz/jazz.00002.wav", "jazz", "test", None),
        (f"{base}jazz/jazz.00003.wav", "jazz", "test", None),
    ]


def test_nsynth_reads_examples_json(tmp_path):
    task = read_task("nsynth", make_nsynth(tmp_path))
    assert (task.folds, task.unit_sec) == (1, 4.0)
    assert summary(task.clips, tmp_path) == sorted(
        (f"nsynth-{split}/audio/{note}.wav", family, split, None)
        for split, notes in NSYNTH.items() for note, family in notes.items())
    assert task.classes == ["bass", "brass", "guitar", "keyboard"]


def test_every_task_has_evar_definition(tmp_path):
    expected = {"us8k": (10, 4.0), "esc50": (5, 5.0), "gtzan": (1, 30.0), "nsynth": (1, 4.0),
                "cremad": (1, 2.5), "spcv2": (1, 1.0), "vc1": (1, 8.2), "voxforge": (1, 5.8)}
    assert sorted(TASKS) == sorted(expected)
    for name, make in MAKERS.items():
        task = read_task(name, make(tmp_path / name))
        assert (task.folds, task.unit_sec) == expected[name], name
        assert all(isinstance(c, Clip) for c in task.clips)
        if task.folds == 1:
            assert all(c.split in ("train", "valid", "test") and c.fold is None for c in task.clips)
        else:
            assert all(c.split is None and 1 <= c.fold <= task.folds for c in task.clips)


def test_byte_order_mark_is_stripped(tmp_path):
    make_esc50(tmp_path)
    meta = tmp_path / "meta" / "esc50.csv"
    meta.write_text("\ufeff" + meta.read_text(), encoding="utf-8")
    make_spcv2(tmp_path / "spc")
    write(tmp_path / "spc" / "validation_list.txt", "\ufeffyes/b2_nohash_0.wav\n")
    assert len(read_task("esc50", tmp_path).clips) == len(ESC50_ROWS)
    assert [c.path.name for c in read_task("spcv2", tmp_path / "spc").split("valid")] == ["b2_nohash_0.wav"]


# ---------------------------------------------------------------------------- bad layouts


def test_unknown_task_lists_the_tasks(tmp_path):
    with pytest.raises(TaskError, match="unknown task 'esc-50'. Fix: use one of "
                                        "cremad, esc50, gtzan, nsynth, spcv2, us8k, vc1, voxforge"):
        read_task("esc-50", tmp_path)


@pytest.mark.parametrize("name", sorted(TASKS))
def test_absent_root(tmp_path, name):
    missing = tmp_path / "nowhere"
    with pytest.raises(TaskError, match=f"{at(missing)}: the {name} data set folder does not exist. Fix: pass"):
        read_task(name, tmp_path / "nowhere")


@pytest.mark.parametrize("name, remove, source", [
    ("esc50", "meta/esc50.csv", "github.com/karolpiczak/ESC-50"),
    ("us8k", "metadata/UrbanSound8K.csv", "urbansounddataset.weebly.com"),
    ("spcv2", "testing_list.txt", "speech_commands_v0.02.tar.gz"),
    ("vc1", "iden_split.txt", "www.robots.ox.ac.uk/~vgg/data/voxceleb/meta/iden_split.txt"),
    ("nsynth", "nsynth-valid/examples.json", "magenta.tensorflow.org/datasets/nsynth"),
    ("gtzan", "valid_filtered.txt", "github.com/jongpillee/music_dataset_split, folder GTZAN_split"),
])
def test_missing_metadata_file(tmp_path, name, remove, source):
    MAKERS[name](tmp_path)
    (tmp_path / remove).unlink()
    with pytest.raises(TaskError, match=re.escape(f"{tmp_path / remove}: does not exist; the {name} layout needs "
                                                  f"ROOT/{remove}. Fix: ") + ".*" + re.escape(source)):
        read_task(name, tmp_path)


def test_missing_cremad_folder_and_empty_voxforge(tmp_path):
    with pytest.raises(TaskError, match=r"AudioWAV: does not exist; the cremad layout needs ROOT/AudioWAV"):
        read_task("cremad", tmp_path)
    with pytest.raises(TaskError, match=f"{at(tmp_path)}: the voxforge layout gives no clips. Fix: .*etc/README"):
        read_task("voxforge", tmp_path)


@pytest.mark.parametrize("name, meta, column", [
    ("esc50", "meta/esc50.csv", "category"),
    ("us8k", "metadata/UrbanSound8K.csv", "fold"),
])
def test_missing_column(tmp_path, name, meta, column):
    MAKERS[name](tmp_path)
    path = tmp_path / meta
    lines = path.read_text().splitlines()
    lines[0] = lines[0].replace(column, "renamed")
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(TaskError, match=f"{at(path)}:1: header .* lacks column\\(s\\) {column};"):
        read_task(name, tmp_path)


def test_missing_voxforge_csv_column(tmp_path):
    write(tmp_path / "voxforge.csv", "file_name,language,split\nx.wav,en,train\n")
    with pytest.raises(TaskError, match="voxforge.csv:1: header .* lacks column\\(s\\) label"):
        read_task("voxforge", tmp_path)


@pytest.mark.parametrize("name, meta, line, bad, shown", [
    ("esc50", "meta/esc50.csv", 3, lambda r: r.replace(",2,", ",two,"), "fold 'two' is not an integer in 1..5"),
    ("esc50", "meta/esc50.csv", 2, lambda r: r.replace(",1,", ",0,"), "fold '0' is not an integer in 1..5"),
    ("us8k", "metadata/UrbanSound8K.csv", 11, lambda r: r.replace(",10,0,", ",11,0,"),
     "fold '11' is not an integer in 1..10"),
    ("esc50", "meta/esc50.csv", 4, lambda r: r.split(",", 1)[0], "1 field\\(s\\), the header has 7"),
    ("esc50", "meta/esc50.csv", 5, lambda r: r.replace("hand_saw", ""), "empty category"),
])
def test_malformed_row_names_file_and_line(tmp_path, name, meta, line, bad, shown):
    MAKERS[name](tmp_path)
    path = tmp_path / meta
    lines = path.read_text().splitlines()
    lines[line - 1] = bad(lines[line - 1])
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(TaskError, match=f"1 malformed row\\(s\\) in {at(path)}:\n  {at(path)}:{line}: {shown}\nFix: "):
        read_task(name, tmp_path)


def test_missing_audio_names_file_and_line(tmp_path):
    make_esc50(tmp_path)
    (tmp_path / "audio" / "3-100018-A-31.wav").unlink()
    meta = tmp_path / "meta" / "esc50.csv"
    with pytest.raises(TaskError) as error:
        read_task("esc50", tmp_path)
    assert str(error.value) == (
        f"1 audio file(s) named in {meta} do not exist:\n"
        f"  {meta}:4: {tmp_path / 'audio' / '3-100018-A-31.wav'}\n"
        f"Fix: unpack the audio where the layout expects it (or remove the rows); pass the ESC-50 folder "
        f"(github.com/karolpiczak/ESC-50, master.zip), which holds meta/esc50.csv and audio/")


def test_many_missing_audio_files_are_cut_short(tmp_path):
    make_us8k(tmp_path)
    for fold in range(1, 9):
        (tmp_path / "audio" / f"fold{fold}" / f"{fold}00-{fold}-0-0.wav").unlink()
    with pytest.raises(TaskError, match=r"^8 audio file\(s\) named in .*UrbanSound8K.csv do not exist:\n"
                                        r"  .*UrbanSound8K.csv:2: .*fold1/100-1-0-0.wav"
                                        r"(\n  .*){4}\n  \.\.\. and 3 more\nFix: "):
        read_task("us8k", tmp_path)


def test_missing_audio_vc1_and_nsynth(tmp_path):
    make_vc1(tmp_path / "vc1")
    (tmp_path / "vc1" / "wav" / "id10002" / "6WO410QOeuo" / "00001.wav").unlink()
    with pytest.raises(TaskError, match=r"iden_split.txt:4: .*6WO410QOeuo/00001.wav"):
        read_task("vc1", tmp_path / "vc1")
    make_nsynth(tmp_path / "ns")
    (tmp_path / "ns" / "nsynth-test" / "audio" / "brass_acoustic_006-030-100.wav").unlink()
    audio = tmp_path / "ns" / "nsynth-test" / "audio" / "brass_acoustic_006-030-100.wav"
    with pytest.raises(TaskError, match=re.escape(
            f"1 audio file(s) named in {tmp_path / 'ns'}/nsynth-{{train,valid,test}}/examples.json do not exist:\n"
            f"  {tmp_path / 'ns' / 'nsynth-test' / 'examples.json'}: 'brass_acoustic_006-030-100': {audio}\nFix: ")):
        read_task("nsynth", tmp_path / "ns")


def test_spcv2_listed_file_missing_names_list_and_line(tmp_path):
    make_spcv2(tmp_path)
    write(tmp_path / "testing_list.txt", "yes/c3_nohash_1.wav\nno/zz_nohash_0.wav\n")
    listed, audio = tmp_path / "testing_list.txt", tmp_path / "no" / "zz_nohash_0.wav"
    with pytest.raises(TaskError, match=f"{at(listed)}:2: {at(audio)} "
                                        "does not exist"):
        read_task("spcv2", tmp_path)


def test_gtzan_listed_file_without_audio(tmp_path):
    make_gtzan(tmp_path)
    write(tmp_path / "test_filtered.txt", "jazz/jazz.00002.au\nrock/rock.00007.au\n")
    listed = tmp_path / "test_filtered.txt"
    with pytest.raises(TaskError, match=f"{at(listed)}:2: no .*rock/rock.00007.wav \\(or .au\\)"):
        read_task("gtzan", tmp_path)


def test_cremad_bad_file_name_is_named(tmp_path):
    make_cremad(tmp_path)
    wav(tmp_path / "AudioWAV" / "1001_DFA_ANGRY_XX.wav")
    with pytest.raises(TaskError, match=r"1 file name\(s\) in .*AudioWAV not of the form .*\n"
                                        r"  .*1001_DFA_ANGRY_XX.wav\nFix: rename or remove"):
        read_task("cremad", tmp_path)


def test_voxforge_readme_without_language(tmp_path):
    make_voxforge(tmp_path)
    readme = tmp_path / "user4-20100101-abc" / "etc" / "README"
    readme.write_text("Gender: Female\n")
    with pytest.raises(TaskError, match=f"{at(readme)}: has no 'Language: XX' line"):
        read_task("voxforge", tmp_path)


def test_empty_test_split(tmp_path):
    make_vc1(tmp_path)
    write(tmp_path / "iden_split.txt", "".join(l + "\n" for l in VC1_SPLIT.splitlines()[:3]))
    with pytest.raises(TaskError, match=f"{at(tmp_path / 'iden_split.txt')}: the test split of vc1 is empty"):
        read_task("vc1", tmp_path)


def test_one_actor_leaves_the_test_split_empty(tmp_path):
    make_cremad(tmp_path, actors=["1001"])
    with pytest.raises(TaskError, match="AudioWAV: the test split of cremad is empty \\(2 clips in all\\)"):
        read_task("cremad", tmp_path)


def test_empty_train_split(tmp_path):
    make_gtzan(tmp_path)
    write(tmp_path / "train_filtered.txt", "\n")
    with pytest.raises(TaskError, match="the train split of gtzan is empty"):
        read_task("gtzan", tmp_path)


def test_fold_without_clips(tmp_path):
    make_esc50(tmp_path)
    meta = tmp_path / "meta" / "esc50.csv"
    meta.write_text("".join(l + "\n" for l in meta.read_text().splitlines() if ",4,0," not in l))
    with pytest.raises(TaskError, match=f"{at(meta)}: fold\\(s\\) 4 of esc50 have no clips"):
        read_task("esc50", tmp_path)


def test_empty_data_set(tmp_path):
    write(tmp_path / "meta" / "esc50.csv", ESC50_HEADER)
    with pytest.raises(TaskError, match="esc50.csv: the esc50 layout gives no clips. Fix: "):
        read_task("esc50", tmp_path)


def test_vc1_malformed_lines(tmp_path):
    make_vc1(tmp_path)
    meta = write(tmp_path / "iden_split.txt", VC1_SPLIT + "4 id10001/1zcIwhmdeo4/00003.wav\nid10001\n")
    with pytest.raises(TaskError, match=f"2 malformed row\\(s\\) in {at(meta)}:\n  {at(meta)}:5: '4 id10001.*\n  "
                                        f"{at(meta)}:6: 'id10001' is not"):
        read_task("vc1", tmp_path)


def test_nsynth_broken_json_names_the_line(tmp_path):
    make_nsynth(tmp_path)
    meta = write(tmp_path / "nsynth-train" / "examples.json", '{\n  "a": {\n  "instrument_family_str": \n}\n')
    with pytest.raises(TaskError, match=f"{at(meta)}:4: not JSON"):
        read_task("nsynth", tmp_path)


def test_csv_that_is_not_utf8_names_the_line(tmp_path):
    make_esc50(tmp_path)
    meta = tmp_path / "meta" / "esc50.csv"
    meta.write_bytes(meta.read_bytes().replace(b"pig", b"p\xefg"))
    with pytest.raises(TaskError, match=f"{at(meta)}:6: not UTF-8 text"):
        read_task("esc50", tmp_path)
