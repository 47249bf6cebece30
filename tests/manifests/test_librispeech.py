"""LibriSpeech / LibriLight layouts -> manifests and labels that fairseq's own classes read."""
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from fairseq.data import AddTargetDataset, Dictionary, FileAudioDataset
from fairseq.data.text_compressor import TextCompressionLevel, TextCompressor
from fairseq.tasks.audio_finetuning import LabelEncoder, label_len_fn

from ehmam.data.labels import letters_to_words, words_to_letters
from ehmam.data.manifest import ManifestError, validate_manifest
from manifests.librispeech import (
    librilight_subset_dirs,
    librilight_utterances,
    librispeech_utterances,
    write_split,
)

REPO = Path(__file__).resolve().parents[2]
SENTENCES = ("HELLO WORLD", "THE CAT SAT ON THE MAT", "IT'S A FINE DAY")


@dataclass(frozen=True)
class Clip:
    flac: Path
    words: str


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> list[Clip]:
    """A few sentences spoken by espeak-ng, as 16 kHz mono FLAC; copied into every fake tree."""
    out = tmp_path_factory.mktemp("clips")
    made = []
    for i, words in enumerate(SENTENCES):
        raw, wav16 = out / f"{i}.wav", out / f"{i}_16k.wav"
        subprocess.run(["espeak-ng", "-w", str(raw), words.lower()], check=True, timeout=60)
        subprocess.run(["sox", str(raw), "-r", "16000", "-c", "1", "-b", "16", str(wav16)],
                       check=True, timeout=60)
        samples, rate = sf.read(wav16, dtype="int16")
        assert rate == 16000 and samples.ndim == 1 and len(samples) > 8000
        sf.write(out / f"{i}.flac", samples, 16000, format="FLAC")
        made.append(Clip(out / f"{i}.flac", words))
    return made


def make_chapter(chapter_dir: Path, clips: list[Clip], count: int) -> dict[str, str]:
    """``count`` utterances in LibriSpeech's chapter layout; returns uid -> words."""
    spk, chapter = chapter_dir.parent.name, chapter_dir.name
    chapter_dir.mkdir(parents=True)
    made = {}
    for n in range(count):
        uid = f"{spk}-{chapter}-{n:04d}"
        clip = clips[(int(spk) + n) % len(clips)]
        shutil.copyfile(clip.flac, chapter_dir / f"{uid}.flac")
        made[uid] = clip.words
    (chapter_dir / f"{spk}-{chapter}.trans.txt").write_text(
        "".join(f"{uid} {words}\n" for uid, words in made.items()))
    return made


@pytest.fixture
def librispeech(tmp_path, clips) -> tuple[Path, dict[str, str]]:
    """A LibriSpeech subset folder with 3 speakers (7 utterances) and its transcripts."""
    subset = tmp_path / "LibriSpeech" / "dev-clean"
    expected = {}
    for spk, chapter, count in (("84", "121123", 3), ("174", "50561", 2), ("1272", "128104", 2)):
        expected.update(make_chapter(subset / spk / chapter, clips, count))
    return subset, expected


@pytest.fixture
def librilight(tmp_path, clips) -> tuple[Path, dict[str, set[str]]]:
    """A librispeech_finetuning folder: 1h/0..5 and 9h, clean and other; uids per part."""
    root = tmp_path / "librispeech_finetuning"
    parts: dict[str, set[str]] = {}
    for fold in range(6):
        for offset, condition in enumerate(("clean", "other")):
            spk = str(1000 + 10 * fold + 5 * offset)
            made = make_chapter(root / "1h" / str(fold) / condition / spk / str(100 + fold), clips, 2)
            parts.setdefault(f"1h/{fold}", set()).update(made)
    for offset, condition in enumerate(("clean", "other")):
        for chapter in ("200", "201"):
            made = make_chapter(root / "9h" / condition / str(2000 + 5 * offset) / chapter, clips, 2)
            parts.setdefault("9h", set()).update(made)
    (root / "phones").mkdir()
    (root / "phones" / "10h_phones.txt").write_text("not a transcript\n")  # must be ignored
    return root, parts


def read_lines(path: Path) -> list[str]:
    return path.read_text().splitlines()


@pytest.mark.filterwarnings("ignore:Using a non-tuple sequence:UserWarning")  # inside fairseq
def test_librispeech_split_is_read_by_fairseq(librispeech, tmp_path):
    subset, expected = librispeech
    utterances = librispeech_utterances(subset)
    assert {u.uid: u.words for u in utterances} == expected
    out = tmp_path / "out"
    tsv = write_split(utterances, out, "dev-clean", write_dict=True, root=subset)

    lines = read_lines(tsv)
    assert lines[0] == str(subset.resolve()) and Path(lines[0]).is_absolute()
    rels = [line.split("\t")[0] for line in lines[1:]]
    assert rels == sorted(rels) and len(rels) == 7
    assert rels[0] == "1272/128104/1272-128104-0000.flac"

    audio = FileAudioDataset(str(tsv), sample_rate=16000)
    assert len(audio) == 7
    for i, rel in enumerate(rels):
        reference, _ = sf.read(subset / rel, dtype="float32")
        assert audio.sizes[i] == sf.info(str(subset / rel)).frames == len(reference)
        np.testing.assert_array_equal(audio[i]["source"].numpy(), reference)

    words = read_lines(out / "dev-clean.wrd")
    letters = read_lines(out / "dev-clean.ltr")
    assert words == [expected[Path(rel).stem] for rel in rels]
    assert letters == [words_to_letters(w) for w in words]
    assert [letters_to_words(line) for line in letters] == words

    dictionary = Dictionary.load(str(out / "dict.ltr.txt"))
    for line in letters:
        ids = dictionary.encode_line(line, append_eos=False, add_if_not_exist=False)
        assert dictionary.unk() not in ids.tolist(), line

    # Labels exactly as audio_finetuning.load_dataset reads and wraps them.
    compressor = TextCompressor(level=TextCompressionLevel.none)
    with open(out / "dev-clean.ltr") as f:
        labels = [compressor.compress(line) for line in f]
    targets = AddTargetDataset(audio, labels, pad=dictionary.pad(), eos=dictionary.eos(),
                               batch_targets=True, process_label=LabelEncoder(dictionary),
                               label_len_fn=label_len_fn)
    item = targets[3]
    assert item["label"].tolist() == [dictionary.index(s) for s in letters[3].split()]
    assert dictionary.string(item["label"]) == letters[3]
    assert targets.size(3) == (audio.sizes[3], len(letters[3].split()))
    batch = targets.collater([targets[0], targets[3]])
    assert batch["target_lengths"].tolist() == [len(letters[0].split()), len(letters[3].split())]

    report = validate_manifest(tsv, label_paths=[out / "dev-clean.ltr", out / "dev-clean.wrd"])
    assert report.num_entries == 7


def test_output_does_not_depend_on_input_order(librispeech, tmp_path):
    subset, _ = librispeech
    utterances = librispeech_utterances(subset)
    assert utterances == librispeech_utterances(subset)
    write_split(utterances, tmp_path / "a", "s", write_dict=True, root=subset)
    write_split(utterances[::-1], tmp_path / "b", "s", write_dict=True, root=subset)
    for name in ("s.tsv", "s.wrd", "s.ltr", "dict.ltr.txt"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def test_librilight_sets_hold_the_right_folds(librilight):
    root, parts = librilight
    folds = set().union(*(parts[f"1h/{fold}"] for fold in range(6)))
    expected = {"10m": parts["1h/0"], "1h": folds, "10h": folds | parts["9h"]}
    for name, uids in expected.items():
        utterances = librilight_utterances(root, name)
        assert [u.uid for u in utterances] == [u.uid for u in librilight_utterances(root, name)]
        assert {u.uid for u in utterances} == uids and len(utterances) == len(uids)
        assert [u.audio for u in utterances] == sorted(u.audio for u in utterances)
        conditions = {u.audio.relative_to(root.resolve()).parts[-4] for u in utterances}
        assert conditions == {"clean", "other"}
    assert (len(expected["10m"]), len(expected["1h"]), len(expected["10h"])) == (4, 24, 32)
    assert librilight_subset_dirs(root, "10m") == [root.resolve() / "1h/0/clean",
                                                   root.resolve() / "1h/0/other"]
    with pytest.raises(ValueError, match="unknown LibriLight set"):
        librilight_subset_dirs(root, "100h")


def test_librilight_split_validates(librilight, tmp_path):
    root, _ = librilight
    tsv = write_split(librilight_utterances(root, "10h"), tmp_path, "train_10h", write_dict=True, root=root)
    lines = read_lines(tsv)
    assert lines[0] == str(root.resolve())
    assert all(line.startswith(("1h/", "9h/")) for line in lines[1:])
    report = validate_manifest(tsv, label_paths=[tmp_path / "train_10h.ltr", tmp_path / "train_10h.wrd"])
    assert report.num_entries == 32
    assert len(FileAudioDataset(str(tsv), sample_rate=16000)) == 32


def _set_line(trans: Path, number: int, text: str) -> None:
    lines = read_lines(trans)
    lines[number - 1] = text
    trans.write_text("\n".join(lines) + "\n")


# Each case breaks the 84/121123 chapter; returns (substrings the error must contain, problem count).
def _no_transcripts(chapter: Path, trans: Path):
    for t in chapter.parents[1].rglob("*.trans.txt"):
        t.unlink()
    return [str(chapter.parents[1]), "no *.trans.txt"], 1


def _missing_flac(chapter: Path, trans: Path):
    (chapter / "84-121123-0001.flac").unlink()
    return [f"{trans}:2", str(chapter / "84-121123-0001.flac"), "does not exist"], 1


def _unlisted_flac(chapter: Path, trans: Path):
    shutil.copyfile(chapter / "84-121123-0000.flac", chapter / "84-121123-0009.flac")
    return [str(chapter / "84-121123-0009.flac"), "no transcript line", str(trans)], 1


def _no_words(chapter: Path, trans: Path):
    _set_line(trans, 1, "84-121123-0000")
    return [f"{trans}:1", "malformed line"], 1


def _id_of_other_folder(chapter: Path, trans: Path):
    shutil.move(chapter / "84-121123-0000.flac", chapter / "85-121123-0000.flac")
    _set_line(trans, 1, "85-121123-0000 HELLO WORLD")
    return [f"{trans}:1", "does not match its folder"], 1


def _lower_case(chapter: Path, trans: Path):
    _set_line(trans, 2, read_lines(trans)[1].split(" ", 1)[0] + " hello World")
    return [f"{trans}:2", "outside the label alphabet"], 1


def _digits(chapter: Path, trans: Path):
    _set_line(trans, 3, "84-121123-0002 CHAPTER 12")
    return [f"{trans}:3", "'12'"], 1


def _unreadable(chapter: Path, trans: Path):
    (chapter / "84-121123-0002.flac").write_bytes(b"fLaC but not really audio")
    return [str(chapter / "84-121123-0002.flac"), "unreadable"], 1


def _wrong_rate(chapter: Path, trans: Path):
    flac = chapter / "84-121123-0000.flac"
    samples, _ = sf.read(flac, dtype="int16")
    sf.write(flac, samples[::2], 8000, format="FLAC")
    return [str(flac), "sample rate is 8000 Hz", "sox"], 1


def _duplicate_id(chapter: Path, trans: Path):
    trans.write_text(trans.read_text() + read_lines(trans)[0] + "\n")
    return [f"{trans}:4", "duplicate utterance id 84-121123-0000", f"first at {trans}:1"], 1


def _two_problems(chapter: Path, trans: Path):
    (chapter / "84-121123-0001.flac").unlink()
    _set_line(trans, 3, "84-121123-0002 chapter")
    return [f"{trans}:2", f"{trans}:3"], 2


@pytest.mark.parametrize("breakage", [
    _no_transcripts, _missing_flac, _unlisted_flac, _no_words, _id_of_other_folder, _lower_case,
    _digits, _unreadable, _wrong_rate, _duplicate_id, _two_problems,
], ids=lambda f: f.__name__.strip("_"))
def test_bad_librispeech_input_names_the_file(librispeech, breakage):
    subset, _ = librispeech
    chapter = (subset / "84" / "121123").resolve()
    needles, count = breakage(chapter, chapter / "84-121123.trans.txt")
    with pytest.raises(ManifestError) as error:
        librispeech_utterances(subset)
    assert len(error.value.problems) == count, error.value.problems
    for needle in needles:
        assert needle in str(error.value)
    assert "Fix:" in str(error.value)


def test_wrong_folder_level_is_reported(librispeech):
    subset, _ = librispeech
    with pytest.raises(ManifestError, match=r"not at <speaker>/<chapter>") as error:
        librispeech_utterances(subset.parent)  # LibriSpeech/ instead of LibriSpeech/dev-clean
    assert str(subset.resolve() / "84" / "121123" / "84-121123.trans.txt") in str(error.value)


def test_bad_librilight_root_names_the_missing_folder(librilight):
    root, _ = librilight
    shutil.rmtree(root / "9h")
    assert len(librilight_utterances(root, "1h")) == 24  # 9h is only needed by 10h
    with pytest.raises(ManifestError, match="missing from the LibriLight root") as error:
        librilight_utterances(root, "10h")
    assert str(root.resolve() / "9h" / "clean") in str(error.value)
    shutil.rmtree(root / "1h" / "0")
    with pytest.raises(ManifestError) as error:
        librilight_subset_dirs(root, "10m")
    assert str(root.resolve() / "1h" / "0" / "other") in str(error.value)
    with pytest.raises(ManifestError, match="missing from the LibriLight root"):
        librilight_subset_dirs(root.parent, "10m")  # the folder above librispeech_finetuning


def test_duplicate_across_librilight_folds(librilight):
    root, _ = librilight
    chapter = next((root / "1h" / "0" / "clean").glob("*/*"))
    copy = root / "9h" / "clean" / chapter.parent.name / chapter.name
    shutil.copytree(chapter, copy)
    assert len(librilight_utterances(root, "1h")) == 24
    with pytest.raises(ManifestError, match="duplicate utterance id") as error:
        librilight_utterances(root, "10h")
    assert str(copy.resolve() / f"{chapter.parent.name}-{chapter.name}.trans.txt") in str(error.value)


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "manifests.librispeech", *args], cwd=REPO,
                          capture_output=True, text=True, timeout=120)


def test_cli_end_to_end(librispeech, librilight, tmp_path):
    subset, _ = librispeech
    root, _ = librilight
    out = tmp_path / "manifests"
    train = run_cli("librilight", str(root), "--set", "1h", "--out", str(out), "--split", "train_1h", "--dict")
    assert train.returncode == 0, train.stderr
    assert "train_1h: 24 utterances" in train.stdout and str(out / "train_1h.tsv") in train.stdout
    dev = run_cli("librispeech", str(subset), "--out", str(out))  # split defaults to the folder name
    assert dev.returncode == 0, dev.stderr
    assert "dev-clean: 7 utterances" in dev.stdout
    for split, count in (("train_1h", 24), ("dev-clean", 7)):
        labels = [out / f"{split}.ltr", out / f"{split}.wrd"]
        assert validate_manifest(out / f"{split}.tsv", label_paths=labels).num_entries == count
    dictionary = Dictionary.load(str(out / "dict.ltr.txt"))  # from train, encodes dev too
    for line in read_lines(out / "dev-clean.ltr"):
        assert dictionary.unk() not in dictionary.encode_line(line, append_eos=False,
                                                              add_if_not_exist=False).tolist()

    (tmp_path / "empty").mkdir()
    bad = run_cli("librispeech", str(tmp_path / "empty"), "--out", str(tmp_path / "x"))
    assert bad.returncode == 1 and "FAILED" in bad.stderr and str(tmp_path / "empty") in bad.stderr
    assert not (tmp_path / "x").exists()
    assert run_cli("librilight", "--help").returncode == 0
