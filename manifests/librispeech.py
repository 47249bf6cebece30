#!/usr/bin/env python
"""LibriSpeech and LibriLight limited-resource sets as wav2vec-style manifests and labels.

Writes ``{split}.tsv``, ``{split}.wrd``, ``{split}.ltr`` and, with ``--dict``,
``dict.ltr.txt``, as fairseq's ``audio_finetuning`` task reads them::

    python -m manifests.librispeech librispeech LibriSpeech/dev-other --out data/ls --split dev_other
    python -m manifests.librispeech librilight librispeech_finetuning --set 10h --out data/ls --split train_10h --dict

Every problem in the corpus (missing audio or transcript, malformed line, wrong sample
rate, duplicate id) is reported at once as ``file:line: what. Fix: how.``.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Iterable, Optional, Sequence

from ehmam.data.audio import SAMPLE_RATE
from ehmam.data.librispeech import TRANSCRIPTS, LibriUtterance, read_subsets
from ehmam.data.labels import LETTERS, words_to_letters, write_letter_dictionary
from ehmam.data.manifest import ManifestError, write_manifest

# LibriLight's limited-resource sets: 10 min is fold 0 of the 1 h set; 10 h adds the 9 h part.
LIBRILIGHT_SETS = {
    "10m": ("1h/0",),
    "1h": tuple(f"1h/{fold}" for fold in range(6)),
    "10h": (*(f"1h/{fold}" for fold in range(6)), "9h"),
}
CONDITIONS = ("clean", "other")
_LAYOUT_FIX = ("pass a LibriSpeech subset directory such as LibriSpeech/train-clean-100 "
               "(the folder holding <speaker>/<chapter>/<speaker>-<chapter>.trans.txt)")


# An utterance of the corpus: uid, audio (absolute), words, where (its trans.txt line), num_samples.
Utterance = LibriUtterance


def _collect(subset_dirs: Sequence[Path]) -> list[Utterance]:
    """Utterances of LibriSpeech-layout folders, checked together, sorted by path; ManifestError
    on any problem (the layout's, from :func:`ehmam.data.librispeech.read_subsets`, and a
    transcript outside the label alphabet)."""
    problems: list[str] = []
    untranscribed = [s for s in subset_dirs if s.is_dir() and not any(s.rglob(TRANSCRIPTS))]
    for subset in untranscribed:  # a folder that is no sub-set: one problem, not one per chapter
        problems.append(f"{subset}: no {TRANSCRIPTS} transcripts found. Fix: {_LAYOUT_FIX}")
    utterances = []
    for u in read_subsets([s for s in subset_dirs if s not in untranscribed], problems, _LAYOUT_FIX):
        bad = sorted(set(u.words) - set(LETTERS) - {" "})
        if bad:
            problems.append(f"{u.where}: characters {''.join(bad)!r} outside the label alphabet "
                            "(A-Z and '). Fix: upper-case the words and remove other characters")
        else:
            utterances.append(u)
    if problems:
        raise ManifestError(problems)
    return sorted(utterances, key=lambda u: u.audio)


def librispeech_utterances(subset_dir: Path | str) -> list[Utterance]:
    """Every utterance of a LibriSpeech subset directory (e.g. ``LibriSpeech/dev-other``), sorted by path."""
    return _collect([Path(subset_dir).resolve()])


def librilight_subset_dirs(root: Path | str, name: str) -> list[Path]:
    """The LibriSpeech-layout folders of LibriLight set ``name`` (10m, 1h or 10h) under ``root``."""
    if name not in LIBRILIGHT_SETS:
        raise ValueError(f"unknown LibriLight set {name!r}; choose one of {sorted(LIBRILIGHT_SETS)}")
    root = Path(root).resolve()
    dirs = [root / part / condition for part in LIBRILIGHT_SETS[name] for condition in CONDITIONS]
    missing = [d for d in dirs if not d.is_dir()]
    if missing:
        raise ManifestError([f"{d}: missing from the LibriLight root {root}. Fix: pass the unpacked "
                             "librispeech_finetuning directory (it holds 1h/0..5/{clean,other} and "
                             "9h/{clean,other})" for d in missing])
    return dirs


def librilight_utterances(root: Path | str, name: str) -> list[Utterance]:
    """Every utterance of LibriLight set ``name`` (10m, 1h or 10h), sorted by path."""
    return _collect(librilight_subset_dirs(root, name))


def write_split(utterances: Iterable[Utterance], out: Path | str, split: str,
                write_dict: bool = False, root: Optional[Path | str] = None) -> Path:
    """Write ``{split}.tsv/.wrd/.ltr`` (and ``dict.ltr.txt``) into ``out``; returns the manifest path.

    ``root`` is the manifest's audio root (default: the deepest folder holding all audio).
    """
    utterances = list(utterances)
    if not utterances:
        raise ManifestError([f"split {split!r} has no utterances. Fix: point at a non-empty corpus"])
    root = Path(root).resolve() if root else Path(os.path.commonpath([u.audio.parent for u in utterances]))
    # Sorting on the relative path makes the output independent of how the corpus was walked.
    rows = sorted((u.audio.relative_to(root).as_posix(), u) for u in utterances)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    manifest = out / f"{split}.tsv"
    write_manifest(manifest, root, [(rel, u.num_samples) for rel, u in rows])
    letters = [words_to_letters(u.words) for _, u in rows]
    (out / f"{split}.wrd").write_text("".join(f"{u.words}\n" for _, u in rows))
    (out / f"{split}.ltr").write_text("".join(f"{line}\n" for line in letters))
    if write_dict:
        write_letter_dictionary(letters, out / "dict.ltr.txt")
    return manifest


def main(argv: Optional[Sequence[str]] = None) -> int:
    p = argparse.ArgumentParser(prog="python -m manifests.librispeech", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="corpus", required=True)
    ls = sub.add_parser("librispeech", help="one LibriSpeech subset, e.g. LibriSpeech/dev-other")
    ls.add_argument("subset_dir", type=Path, help="folder holding <speaker>/<chapter>/ folders")
    ll = sub.add_parser("librilight", help="a LibriLight limited-resource set (10m, 1h, 10h)")
    ll.add_argument("root", type=Path, help="the librispeech_finetuning folder (holds 1h/ and 9h/)")
    ll.add_argument("--set", dest="name", choices=sorted(LIBRILIGHT_SETS), required=True,
                    help="10m = 1h/0; 1h = 1h/0..5; 10h = 1h/0..5 + 9h")
    for parser in (ls, ll):
        parser.add_argument("--out", type=Path, required=True, help="output directory")
        parser.add_argument("--split", help="output name {split}.tsv (default: subset folder or set name)")
        parser.add_argument("--dict", dest="write_dict", action="store_true",
                            help="also write dict.ltr.txt (for fine-tuning sets; dev/test reuse it)")
    a = p.parse_args(argv)
    try:
        if a.corpus == "librispeech":
            root, split = a.subset_dir.resolve(), a.split or a.subset_dir.resolve().name
            utterances = librispeech_utterances(root)
        else:
            root, split = a.root.resolve(), a.split or a.name
            utterances = librilight_utterances(root, a.name)
        manifest = write_split(utterances, a.out, split, a.write_dict, root=root)
    except ManifestError as e:
        print(f"FAILED: {e}", file=sys.stderr)
        return 1
    hours = sum(u.num_samples for u in utterances) / SAMPLE_RATE / 3600
    print(f"{split}: {len(utterances)} utterances, {hours:.2f} h -> {manifest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
