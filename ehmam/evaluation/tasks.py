"""Downstream audio classification tasks, each read from its own published layout.

Linear evaluation (as EVAR, nttcslab/eval-audio-repr, runs it) needs, for eight data sets,
the audio files, their labels and how they are split. Every data set ships differently: a
CSV with folds (ESC-50, UrbanSound8K), word folders plus list files (Speech Commands V2), a
split file (VoxCeleb1), per-recording archives (VoxForge), labels in file names (CREMA-D),
third-party split lists (GTZAN), JSON (NSynth). :func:`read_task` turns each into one
:class:`TaskData`: a tuple of :class:`Clip` (absolute audio path, label, and either a
``split`` or a ``fold``) plus EVAR's clip duration for the task.

Nothing here decodes audio; a file a layout names must exist, and anything absent or
malformed stops with a :class:`TaskError` naming the file (and line) and the fix. A UTF-8
byte-order mark at the start of a CSV or list file is stripped: these files are read by this
module alone, and a spreadsheet that re-saved them adds one without changing their meaning.

Splits that the data sets leave to the user (VoxForge without EVAR's ``voxforge.csv``,
CREMA-D) are made by speaker, so no speaker is in two splits, from a shuffle seeded by
:data:`SPLIT_SEED`: the same files give the same split on every machine.
"""
from __future__ import annotations

import csv
import io
import json
import os
import random
import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Callable, Dict, Iterable, List, Optional, Sequence, Tuple

from ehmam.messages import listed

SPLITS = ("train", "valid", "test")
SPLIT_SEED = 42  # the speaker shuffle of VoxForge and CREMA-D; changing it changes published numbers
MAX_LISTED = 5  # problems shown in one message before "... and N more"


class TaskError(ValueError):
    """A data set that is absent or malformed; message names file (and line) and the fix."""


@dataclass(frozen=True)
class Clip:
    path: Path  # absolute path of the audio file
    label: str
    split: Optional[str]  # "train" / "valid" / "test" for fixed-split tasks, None for fold tasks
    fold: Optional[int]  # 1..K for fold tasks (esc50, us8k), None otherwise


@dataclass(frozen=True)
class TaskData:
    """One downstream task: its clips and how EVAR evaluates it.

    ``folds`` is K for K-fold cross-validation (every clip has ``fold`` in 1..K and no
    ``split``), 1 for fixed train/valid/test splits (every clip has ``split`` and no
    ``fold``). ``unit_sec`` is the duration in seconds EVAR crops or pads each clip to.
    """

    name: str
    root: Path
    clips: Tuple[Clip, ...]
    folds: int
    unit_sec: float

    @property
    def classes(self) -> List[str]:
        """The sorted distinct labels."""
        return sorted({clip.label for clip in self.clips})

    def split(self, name: str) -> List[Clip]:
        """The clips of split ``name`` ("train", "valid" or "test"), in reading order."""
        if self.folds != 1:
            raise TaskError(f"{self.name} is evaluated by {self.folds}-fold cross-validation and has no "
                            f"{name!r} split. Fix: select clips by Clip.fold (1..{self.folds}) instead")
        if name not in SPLITS:
            raise TaskError(f"{self.name}: unknown split {name!r}. Fix: ask for one of {', '.join(SPLITS)}")
        return [clip for clip in self.clips if clip.split == name]


# EVAR's definitions: (folds, unit_sec)
DEFINITIONS: Dict[str, Tuple[int, float]] = {
    "us8k": (10, 4.0),
    "esc50": (5, 5.0),
    "gtzan": (1, 30.0),
    "nsynth": (1, 4.0),
    "cremad": (1, 2.5),
    "spcv2": (1, 1.0),
    "vc1": (1, 8.2),
    "voxforge": (1, 5.8),
}

# Where each data set comes from and what ROOT must hold: the "Fix:" of a missing layout.
SOURCES: Dict[str, str] = {
    "esc50": "pass the ESC-50 folder (github.com/karolpiczak/ESC-50, master.zip), which holds "
             "meta/esc50.csv and audio/",
    "us8k": "pass the unpacked UrbanSound8K folder (urbansounddataset.weebly.com), which holds "
            "metadata/UrbanSound8K.csv and audio/fold1 .. audio/fold10",
    "spcv2": "pass the folder speech_commands_v0.02.tar.gz (download.tensorflow.org/data/) unpacks to: "
             "one folder per word, validation_list.txt and testing_list.txt",
    "vc1": "pass the VoxCeleb1 folder holding wav/id*/ (the dev and test parts together) and "
           "iden_split.txt (www.robots.ox.ac.uk/~vgg/data/voxceleb/meta/iden_split.txt)",
    "voxforge": "pass the folder the VoxForge archives were unpacked into (each a "
                "{user}-{YYYYMMDD}-{id} folder with wav/ and etc/README), or put EVAR's "
                "voxforge.csv (file_name,label,split) in it",
    "cremad": "pass the CREMA-D folder (github.com/CheyneyComputerScience/CREMA-D) that holds "
              "AudioWAV/",
    "gtzan": "pass the GTZAN folder holding genres/{genre}/{genre}.{nnnnn}.wav and the fault-filtered "
             "lists train_filtered.txt, valid_filtered.txt and test_filtered.txt "
             "(github.com/jongpillee/music_dataset_split, folder GTZAN_split)",
    "nsynth": "pass the folder the three NSynth archives (magenta.tensorflow.org/datasets/nsynth, "
              "nsynth-{train,valid,test}.jsonwav.tar.gz) were unpacked into",
}


# ---------------------------------------------------------------------------- shared steps


def _root(root: Path | str, name: str) -> Path:
    path = Path(root).expanduser().absolute()
    if not path.is_dir():
        raise TaskError(f"{path}: the {name} data set folder does not exist. Fix: {SOURCES[name]}")
    return path


def _missing_file(path: Path, name: str, needs: str) -> TaskError:
    return TaskError(f"{path}: does not exist; the {name} layout needs {needs}. Fix: {SOURCES[name]}")


def _read_text(path: Path, name: str, needs: str) -> str:
    """A metadata file's text, byte-order mark stripped (see the module docstring)."""
    if not path.is_file():
        raise _missing_file(path, name, needs)
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as e:
        line = path.read_bytes()[: e.start].count(b"\n") + 1
        raise TaskError(f"{path}:{line}: not UTF-8 text ({e.reason} at byte {e.start}). Fix: re-download "
                        f"the file; {SOURCES[name]}") from None


def _list_lines(path: Path, name: str, needs: str) -> List[Tuple[int, str]]:
    """``(line number, stripped text)`` of a list file's non-blank lines."""
    text = _read_text(path, name, needs)
    return [(n, line.strip()) for n, line in enumerate(text.splitlines(), start=1) if line.strip()]


def _read_csv(path: Path, name: str, needs: str, columns: Sequence[str],
              problems: List[str]) -> List[Tuple[int, Dict[str, str]]]:
    """``(line number, row)`` of a CSV with a header holding ``columns``.

    A row with a different field count than the header, or an empty needed field, is
    appended to ``problems`` and left out.
    """
    reader = csv.reader(io.StringIO(_read_text(path, name, needs), newline=""))
    header = [h.strip() for h in next(reader, [])]
    absent = [c for c in columns if c not in header]
    if absent:
        raise TaskError(f"{path}:1: header {','.join(header)!r} lacks column(s) {', '.join(absent)}; the "
                        f"{name} layout reads {', '.join(columns)}. Fix: use the published file with its "
                        f"header line; {SOURCES[name]}")
    rows = []
    for fields in reader:
        line = reader.line_num
        if not fields:
            continue  # a blank line
        if len(fields) != len(header):
            problems.append(f"{path}:{line}: {len(fields)} field(s), the header has {len(header)}")
            continue
        row = {h: f.strip() for h, f in zip(header, fields)}
        empty = [c for c in columns if not row[c]]
        if empty:
            problems.append(f"{path}:{line}: empty {', '.join(empty)}")
            continue
        rows.append((line, row))
    return rows


def _raise_problems(what: str, problems: Sequence[str], fix: str) -> None:
    if problems:
        raise TaskError(f"{len(problems)} {what}:{listed(problems, MAX_LISTED)}\nFix: {fix}")


def _raise_row_problems(path: Path, name: str, problems: Sequence[str]) -> None:
    _raise_problems(f"malformed row(s) in {path}", problems,
                    f"correct or delete these rows (the published file has none); {SOURCES[name]}")


def _fold(text: str, folds: int) -> Optional[int]:
    """``text`` as a fold number in 1..``folds``, None if it is not one."""
    try:
        fold = int(text)
    except ValueError:
        return None
    return fold if 1 <= fold <= folds else None


class _Existing:
    """Whether files exist, listing each directory once: data sets of 10^5 files on a network
    file system take minutes to stat one by one."""

    def __init__(self):
        self._names: Dict[Path, frozenset] = {}

    def __call__(self, path: Path) -> bool:
        names = self._names.get(path.parent)
        if names is None:
            try:
                names = frozenset(os.listdir(path.parent))
            except OSError:
                names = frozenset()
            self._names[path.parent] = names
        return path.name in names


def _check_audio(named: Iterable[Tuple[str, Path]], source: Path | str, name: str) -> None:
    """Every ``(where, path)`` names an existing file; otherwise one TaskError listing the
    first few as ``where: path``."""
    exists = _Existing()
    absent = [f"{where}: {path}" for where, path in named if not exists(path)]
    _raise_problems(f"audio file(s) named in {source} do not exist", absent,
                    f"unpack the audio where the layout expects it (or remove the rows); {SOURCES[name]}")


def _speaker_splits(speakers: Iterable[str], percents: Tuple[int, int, int]) -> Dict[str, str]:
    """Speaker -> split: the sorted distinct speakers, shuffled with :data:`SPLIT_SEED`, cut
    at the cumulative ``percents`` (train, valid, test; summing to 100), each cut rounded half
    up in integers so that the counts do not depend on float rounding."""
    order = sorted(set(speakers))
    random.Random(SPLIT_SEED).shuffle(order)
    n = len(order)
    cut_train = (n * percents[0] + 50) // 100
    cut_valid = (n * (percents[0] + percents[1]) + 50) // 100
    return {s: ("train" if i < cut_train else "valid" if i < cut_valid else "test") for i, s in enumerate(order)}


def _task(name: str, root: Path, clips: Sequence[Clip], source: Path) -> TaskData:
    """A :class:`TaskData` once it has clips, every fold (fold tasks) or a train and a test
    split (fixed-split tasks); ``source`` is the file or folder named in the error."""
    folds, unit_sec = DEFINITIONS[name]
    if not clips:
        raise TaskError(f"{source}: the {name} layout gives no clips. Fix: {SOURCES[name]}")
    if folds > 1:
        empty = sorted(set(range(1, folds + 1)) - {c.fold for c in clips})
        if empty:
            raise TaskError(f"{source}: fold(s) {', '.join(map(str, empty))} of {name} have no clips, so "
                            f"{folds}-fold cross-validation cannot run. Fix: use the complete data set; "
                            f"{SOURCES[name]}")
    else:
        for split in ("train", "test"):
            if not any(c.split == split for c in clips):
                raise TaskError(f"{source}: the {split} split of {name} is empty ({len(clips)} clips in "
                                f"all). Fix: use the complete data set; {SOURCES[name]}")
    return TaskData(name, root, tuple(clips), folds, unit_sec)


# ---------------------------------------------------------------------------- the layouts


def _read_fold_csv(root: Path | str, name: str, meta_path: str, columns: Tuple[str, str, str],
                   audio: Callable[[Path, int, str], Path]) -> TaskData:
    """A metadata CSV with one row per clip: ``columns`` = (file name, fold, label) headers;
    ``audio(root, fold, file name)`` is where the clip lives."""
    root = _root(root, name)
    meta = root / meta_path
    folds = DEFINITIONS[name][0]
    problems: List[str] = []
    rows = _read_csv(meta, name, f"ROOT/{meta_path}", columns, problems)
    file_column, fold_column, label_column = columns
    clips, named = [], []
    for line, row in rows:
        fold = _fold(row[fold_column], folds)
        if fold is None:
            problems.append(f"{meta}:{line}: fold {row[fold_column]!r} is not an integer in 1..{folds}")
            continue
        clips.append(Clip(audio(root, fold, row[file_column]), row[label_column], None, fold))
        named.append((f"{meta}:{line}", clips[-1].path))
    _raise_row_problems(meta, name, problems)
    _check_audio(named, meta, name)
    return _task(name, root, clips, meta)


def read_esc50(root: Path | str) -> TaskData:
    """ESC-50: ``ROOT/meta/esc50.csv`` rows (filename, fold 1..5, category) and
    ``ROOT/audio/{filename}``."""
    return _read_fold_csv(root, "esc50", "meta/esc50.csv", ("filename", "fold", "category"),
                          lambda root, fold, file: root / "audio" / file)


def read_us8k(root: Path | str) -> TaskData:
    """UrbanSound8K: ``ROOT/metadata/UrbanSound8K.csv`` rows (slice_file_name, fold 1..10,
    class) and ``ROOT/audio/fold{fold}/{slice_file_name}``."""
    return _read_fold_csv(root, "us8k", "metadata/UrbanSound8K.csv", ("slice_file_name", "fold", "class"),
                          lambda root, fold, file: root / "audio" / f"fold{fold}" / file)


def read_spcv2(root: Path | str) -> TaskData:
    """Speech Commands V2: every ``ROOT/{word}/*.wav`` (folders starting with ``_``, i.e.
    ``_background_noise_``, skipped) labelled ``word``; ``validation_list.txt`` and
    ``testing_list.txt`` name the valid and test clips, the rest are train."""
    root = _root(root, "spcv2")
    listed_split: Dict[str, str] = {}
    where: Dict[str, str] = {}
    problems: List[str] = []
    for split, file_name in (("valid", "validation_list.txt"), ("test", "testing_list.txt")):
        path = root / file_name
        for line, rel in _list_lines(path, "spcv2", f"ROOT/{file_name}"):
            rel = PurePosixPath(rel).as_posix()
            if not (root / rel).is_file():
                problems.append(f"{path}:{line}: {root / rel} does not exist")
            elif rel in listed_split:
                problems.append(f"{path}:{line}: {rel} is listed in {where[rel]} too")
            else:
                listed_split[rel], where[rel] = split, f"{path}:{line}"
    _raise_problems("listed file(s) missing or listed twice", problems,
                    "use the lists and the audio of one speech_commands_v0.02 download; " + SOURCES["spcv2"])
    clips = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("_")):
        for wav in sorted(folder.glob("*.wav")):
            rel = f"{folder.name}/{wav.name}"
            clips.append(Clip(wav, folder.name, listed_split.get(rel, "train"), None))
    return _task("spcv2", root, clips, root)


def read_vc1(root: Path | str) -> TaskData:
    """VoxCeleb1 identification: ``ROOT/iden_split.txt`` lines ``{1|2|3} id/video/n.wav``
    (train, valid, test) and ``ROOT/wav/{path}``; the label is the speaker id."""
    root = _root(root, "vc1")
    meta = root / "iden_split.txt"
    problems: List[str] = []
    clips, named = [], []
    for line, text in _list_lines(meta, "vc1", "ROOT/iden_split.txt"):
        fields = text.split()
        if len(fields) != 2 or fields[0] not in ("1", "2", "3") or "/" not in fields[1]:
            problems.append(f"{meta}:{line}: {text!r} is not '{{1|2|3}} id.../video/file.wav'")
            continue
        rel = PurePosixPath(fields[1])
        clips.append(Clip(root / "wav" / rel, rel.parts[0], SPLITS[int(fields[0]) - 1], None))
        named.append((f"{meta}:{line}", clips[-1].path))
    _raise_row_problems(meta, "vc1", problems)
    _check_audio(named, meta, "vc1")
    return _task("vc1", root, clips, meta)


_LANGUAGE = re.compile(r"^\s*language\s*:\s*(\S+)", re.IGNORECASE | re.MULTILINE)


def read_voxforge(root: Path | str) -> TaskData:
    """VoxForge language identification: EVAR's ``ROOT/voxforge.csv`` (file_name relative
    to ROOT, label, split) when present; otherwise every ``ROOT/{archive}/wav/*.wav``
    labelled with the ``Language:`` line of ``ROOT/{archive}/etc/README`` (upper-cased), split
    70/15/15 by speaker (the archive name before its first ``-``), each language's speakers
    apart so that every language is in every split."""
    root = _root(root, "voxforge")
    if (root / "voxforge.csv").is_file():
        return _read_voxforge_csv(root)
    archives = sorted(p.parent for p in root.glob("*/wav") if p.is_dir())
    problems: List[str] = []
    found = []  # (speaker, label, wav)
    for archive in archives:
        readme = archive / "etc" / "README"
        if not readme.is_file():
            problems.append(f"{readme}: does not exist (the archive has wav/)")
            continue
        match = _LANGUAGE.search(readme.read_bytes().decode("utf-8", errors="replace"))
        if match is None:
            problems.append(f"{readme}: has no 'Language: XX' line")
            continue
        speaker = archive.name.split("-", 1)[0]
        found += [(speaker, match.group(1).upper(), wav) for wav in sorted((archive / "wav").glob("*.wav"))]
    _raise_problems("VoxForge archive(s) without a language", problems,
                    "unpack each archive whole (it carries etc/README with its 'Language:' line), or "
                    "delete the archive's folder")
    # Split each language's speakers on their own, so every language is in every split
    # (one pool of speakers leaves small languages out of valid or test).
    languages: Dict[str, List[str]] = {}
    for speaker, label, _ in found:
        languages.setdefault(speaker, []).append(label)
    by_language: Dict[str, List[str]] = {}
    for speaker, labels in languages.items():  # a speaker of several languages goes with their most recorded
        by_language.setdefault(max(sorted(set(labels)), key=labels.count), []).append(speaker)
    split_of: Dict[str, str] = {}
    for speakers in by_language.values():
        split_of.update(_speaker_splits(speakers, (70, 15, 15)))
    clips = [Clip(wav, label, split_of[speaker], None) for speaker, label, wav in found]
    return _task("voxforge", root, clips, root)


def _read_voxforge_csv(root: Path) -> TaskData:
    meta = root / "voxforge.csv"
    problems: List[str] = []
    rows = _read_csv(meta, "voxforge", "ROOT/voxforge.csv", ("file_name", "label", "split"), problems)
    clips, named = [], []
    for line, row in rows:
        if row["split"] not in SPLITS:
            problems.append(f"{meta}:{line}: split {row['split']!r} is not one of {', '.join(SPLITS)}")
            continue
        clips.append(Clip(root / row["file_name"], row["label"], row["split"], None))
        named.append((f"{meta}:{line}", clips[-1].path))
    _raise_row_problems(meta, "voxforge", problems)
    _check_audio(named, meta, "voxforge")
    return _task("voxforge", root, clips, meta)


_CREMAD_NAME = re.compile(r"^(\d{4})_([A-Z]{3})_(ANG|DIS|FEA|HAP|NEU|SAD)_([A-Z]{2})\.wav$")


def read_cremad(root: Path | str) -> TaskData:
    """CREMA-D emotion: ``ROOT/AudioWAV/{ActorID}_{Sentence}_{Emotion}_{Level}.wav``,
    labelled with the emotion, split 70/10/20 by actor."""
    root = _root(root, "cremad")
    folder = root / "AudioWAV"
    if not folder.is_dir():
        raise _missing_file(folder, "cremad", "ROOT/AudioWAV/*.wav")
    found, problems = [], []
    for wav in sorted(folder.glob("*.wav")):
        match = _CREMAD_NAME.match(wav.name)
        if match is None:
            problems.append(f"{wav}")
            continue
        found.append((match.group(1), match.group(3), wav))
    _raise_problems(f"file name(s) in {folder} not of the form "
                    "{ActorID}_{Sentence}_{ANG|DIS|FEA|HAP|NEU|SAD}_{Level}.wav (e.g. 1001_DFA_ANG_XX.wav)",
                    problems, "rename or remove them; the emotion label is read from the name")
    split_of = _speaker_splits((actor for actor, _, _ in found), (70, 10, 20))
    clips = [Clip(wav, emotion, split_of[actor], None) for actor, emotion, wav in found]
    return _task("cremad", root, clips, folder)


_GTZAN_LISTS = (("train", "train_filtered.txt"), ("valid", "valid_filtered.txt"), ("test", "test_filtered.txt"))


def _strip_audio_suffix(rel: str) -> str:
    path = PurePosixPath(rel)
    return str(path.with_suffix("")) if path.suffix in (".wav", ".au") else str(path)


def read_gtzan(root: Path | str) -> TaskData:
    """GTZAN: ``ROOT/genres/{genre}/{genre}.{nnnnn}.wav`` (or ``ROOT/{genre}/...``; ``.au``
    read when no ``.wav``), split by the fault-filtered lists ``ROOT/{train,valid,test}_filtered.txt``
    (lines ``genre/genre.nnnnn.wav`` or ``.au``, matched by genre/stem); unlisted files are out."""
    root = _root(root, "gtzan")
    genres = root / "genres" if (root / "genres").is_dir() else root
    audio: Dict[str, Path] = {}
    for suffix in (".au", ".wav"):  # .wav last: it wins where both exist
        for path in sorted(genres.glob(f"*/*{suffix}")):
            audio[f"{path.parent.name}/{path.stem}"] = path
    clips, problems = [], []
    where: Dict[str, str] = {}
    for split, file_name in _GTZAN_LISTS:
        path = root / file_name
        for line, rel in _list_lines(path, "gtzan", f"ROOT/{file_name}"):
            key = _strip_audio_suffix(rel)
            if key in where:
                problems.append(f"{path}:{line}: {rel} is listed in {where[key]} too")
            elif key not in audio:
                problems.append(f"{path}:{line}: no {genres}/{key}.wav (or .au)")
            else:
                where[key] = f"{path}:{line}"
                clips.append(Clip(audio[key], PurePosixPath(key).parts[0], split, None))
    _raise_problems("GTZAN list line(s) without their audio or listed twice", problems,
                    "put the GTZAN audio in ROOT/genres/{genre}/ and use the three lists of the "
                    "GTZAN_split folder of github.com/jongpillee/music_dataset_split unchanged")
    return _task("gtzan", root, clips, root)


def read_nsynth(root: Path | str) -> TaskData:
    """NSynth: for each split, ``ROOT/nsynth-{split}/examples.json`` (note_str ->
    {"instrument_family_str": ...}) and ``ROOT/nsynth-{split}/audio/{note_str}.wav``."""
    root = _root(root, "nsynth")
    clips, named, problems = [], [], []
    for split in SPLITS:
        meta = root / f"nsynth-{split}" / "examples.json"
        text = _read_text(meta, "nsynth", f"ROOT/nsynth-{split}/examples.json")
        try:
            examples = json.loads(text)
        except json.JSONDecodeError as e:
            raise TaskError(f"{meta}:{e.lineno}: not JSON ({e.msg}). Fix: re-download the archive; "
                            f"{SOURCES['nsynth']}") from None
        if not isinstance(examples, dict):
            raise TaskError(f"{meta}:1: holds a JSON {type(examples).__name__}, not an object of note_str -> "
                            f"example. Fix: re-download the archive; {SOURCES['nsynth']}")
        for note, example in examples.items():
            family = example.get("instrument_family_str") if isinstance(example, dict) else None
            if not isinstance(family, str) or not family:
                problems.append(f"{meta}: example {note!r} has no instrument_family_str")
                continue
            clips.append(Clip(root / f"nsynth-{split}" / "audio" / f"{note}.wav", family, split, None))
            named.append((f"{meta}: {note!r}", clips[-1].path))
    _raise_problems("malformed NSynth example(s)", problems,
                    f"re-download the archive; {SOURCES['nsynth']}")
    _check_audio(named, f"{root}/nsynth-{{train,valid,test}}/examples.json", "nsynth")
    return _task("nsynth", root, clips, root)


TASKS: Dict[str, Callable[[Path], TaskData]] = {
    "esc50": read_esc50,
    "us8k": read_us8k,
    "spcv2": read_spcv2,
    "vc1": read_vc1,
    "voxforge": read_voxforge,
    "cremad": read_cremad,
    "gtzan": read_gtzan,
    "nsynth": read_nsynth,
}


def read_task(name: str, root: Path | str) -> TaskData:
    """Task ``name`` (a key of :data:`TASKS`) read from its published layout under ``root``."""
    if name not in TASKS:
        raise TaskError(f"unknown task {name!r}. Fix: use one of {', '.join(sorted(TASKS))}")
    return TASKS[name](Path(root))
