"""Word n-gram language models and lexicons for CTC beam-search decoding.

    python -m ehmam.asr.language_model build --text data/demo/lm_text.txt --words data/demo/train.wrd \\
        --dict data/demo/dict.ltr.txt --out outputs/demo/lm            # 4-gram ARPA + binary + lexicon
    python -m ehmam.asr.language_model lexicon --arpa 4-gram.arpa --words train-clean-100.wrd \\
        --dict dict.ltr.txt --out lexicon.txt                           # the official LibriSpeech LM

Estimation is KenLM's own ``lmplz`` (modified Kneser-Ney) and ``build_binary``, built by
``scripts/setup.sh --with-kenlm``; queries go through the ``kenlm`` Python module. The
lexicon spells each word in the letter dictionary with ``|`` closing the word, the format
flashlight's lexicon decoder (torchaudio's ``ctc_decoder``) and fairseq's recipes share::

    HELLO	H E L L O |

``build`` checks its inputs before lmplz runs (the n-gram order; every letter of the text
and of ``--words`` must be in ``--dict``, or the lexicon could not spell them) and writes
into a staging folder inside ``--out``: on any failure no LM or lexicon is left behind.
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence

from ..messages import listed
from ..outputs import OutputError, prepare_output_dir, prepare_output_file

WORD_BOUNDARY = "|"
KENLM_BINARY_MAGIC = b"mmap lm "  # what build_binary writes first
SETUP_HINT = "Fix: bash scripts/setup.sh --with-kenlm (builds KenLM's lmplz and build_binary into .venv/bin)"
# lmplz estimates any order, but build_binary, the kenlm module and flashlight's decoder are
# compiled with KENLM_MAX_ORDER (6 by default) and refuse a longer model after the estimation
KENLM_MAX_ORDER = 6
MAX_LISTED_LINES = 5


class LanguageModelError(ValueError):
    """A language model, its text or a lexicon this toolkit cannot use; the message names the file."""


# -- KenLM's command-line tools ------------------------------------------------------------


def kenlm_tool(name: str) -> Path:
    """``lmplz`` or ``build_binary``: from this Python's bin folder (where the set-up puts
    them), else from PATH."""
    here = Path(sys.executable).parent / name
    if here.is_file() and os.access(here, os.X_OK):
        return here
    found = shutil.which(name)
    if found is None:
        raise LanguageModelError(f"KenLM's {name} is not installed. {SETUP_HINT}")
    return Path(found)


def _run(command: List[str], what: str) -> None:
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        lines = [l for l in done.stderr.strip().splitlines() if l.strip("-*0123456789 ")]  # no progress bars
        tail = "\n".join(lines[-6:])
        raise LanguageModelError(f"{what} failed (exit {done.returncode}): {' '.join(command)}\n{tail}")


@dataclass
class BuiltLanguageModel:
    arpa: Path
    binary: Path
    order: int
    sentences: int


def build_ngram(text: Path | str, out_dir: Path | str, order: int = 4, memory: str = "20%",
                discount_fallback: bool = False, prune: Sequence[int] = ()) -> BuiltLanguageModel:
    """Estimate an ``order``-gram from ``text`` (one normalised sentence per line) into
    ``out_dir/{order}-gram.arpa`` and its KenLM binary ``{order}-gram.bin``.

    ``memory`` bounds lmplz's sort buffers (``-S``: a size like ``2G`` or a share of RAM).
    Small corpora lack the count-of-counts Kneser-Ney discounts need: ``discount_fallback``
    substitutes KenLM's default discounts instead of failing. ``prune`` passes count
    thresholds per order (``--prune``), as for LibriSpeech's pruned 3-grams."""
    text, out_dir = Path(text), Path(out_dir)
    check_order(order)
    if not text.is_file():
        raise LanguageModelError(f"{text}: LM text file does not exist")
    sentences = sum(1 for line in text.open(encoding="utf-8") if line.strip())
    if sentences == 0:
        raise LanguageModelError(f"{text}: LM text file holds no sentences")
    out_dir.mkdir(parents=True, exist_ok=True)
    arpa, binary = out_dir / f"{order}-gram.arpa", out_dir / f"{order}-gram.bin"
    # both files appear only once complete: a failed run never leaves a partial LM behind
    with tempfile.TemporaryDirectory(dir=out_dir) as tmp:
        partial_arpa, partial_binary = Path(tmp) / arpa.name, Path(tmp) / binary.name
        command = [str(kenlm_tool("lmplz")), "-o", str(order), "-S", memory, "-T", tmp,
                   "--text", str(text), "--arpa", str(partial_arpa)]
        if discount_fallback:
            command.append("--discount_fallback")
        if prune:
            command += ["--prune", *map(str, prune)]
        try:
            _run(command, f"lmplz on {text}")
        except LanguageModelError as err:
            if "BadDiscountException" in str(err):
                raise LanguageModelError(f"{err}\nFix: the text is too small to estimate Kneser-Ney discounts; "
                                         "pass --discount-fallback (discount_fallback=True)") from None
            raise
        _run([str(kenlm_tool("build_binary")), str(partial_arpa), str(partial_binary)], f"build_binary on {arpa}")
        os.replace(partial_arpa, arpa)
        os.replace(partial_binary, binary)
    return BuiltLanguageModel(arpa, binary, order, sentences)


def check_order(order: int) -> None:
    """An n-gram order KenLM can estimate and load: 1 to :data:`KENLM_MAX_ORDER`."""
    if not isinstance(order, int) or not 1 <= order <= KENLM_MAX_ORDER:
        raise LanguageModelError(
            f"--order {order}: an n-gram order must be from 1 to {KENLM_MAX_ORDER} (KenLM's build_binary, the "
            f"kenlm module and the decoder are compiled for at most {KENLM_MAX_ORDER}). Fix: --order 4 "
            "(LibriSpeech's 4-gram), or rebuild KenLM with -DKENLM_MAX_ORDER for longer n-grams")


def check_text_letters(path: Path | str, letters: Iterable[str], dict_path: Path | str) -> None:
    """Every letter of the text file ``path`` (words between spaces) is a symbol of the letter
    dictionary ``dict_path``: the lexicon must spell each word in letters the acoustic model
    emits. :class:`LanguageModelError` naming the lines, the letters and the fix otherwise."""
    path, allowed = Path(path), set(letters)
    if not path.is_file():
        raise LanguageModelError(f"{path}: word source file does not exist")
    bad_lines: List[tuple] = []
    outside: set = set()
    with path.open(encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            bad = {c for c in line if not c.isspace()} - allowed
            if bad:
                bad_lines.append((number, sorted(bad), line.strip()))
                outside |= bad
    if not bad_lines:
        return
    shown = listed([f"{path}:{number}: {bad} in {text[:60]!r}" for number, bad, text in bad_lines], MAX_LISTED_LINES)
    lower = {c for c in outside if c.upper() != c and c.upper() in allowed}
    hint = " (lower-case letters whose upper case the dictionary has)" if lower else ""
    raise LanguageModelError(
        f"{path}: {len(bad_lines)} line(s) use letters that the letter dictionary {dict_path} does not have: "
        f"{sorted(outside)}{hint}:{shown}\n"
        "Fix: normalise the text to the dictionary's letters as the transcripts were (e.g. upper-case it, "
        "drop punctuation: ehmam.data.labels.normalize_transcript)")


# -- reading a language model ----------------------------------------------------------------


def check_lm_file(path: Path | str) -> Path:
    """A cheap check that ``path`` is a KenLM binary or an ARPA file, before a decoder
    spends minutes loading it (or crashes on it)."""
    path = Path(path)
    if not path.is_file():
        raise LanguageModelError(f"{path}: language model file does not exist")
    with path.open("rb") as f:
        head = f.read(4096)
    if head.startswith(KENLM_BINARY_MAGIC) or head.lstrip().startswith(b"\\data\\"):
        return path
    raise LanguageModelError(f"{path}: neither an ARPA file (starts with \\data\\) nor a KenLM binary "
                             "(from build_binary). Fix: pass the .arpa or .bin that lmplz/build_binary wrote")


def load_kenlm(path: Path | str):
    """A ``kenlm.Model`` for queries (``score``, ``perplexity``)."""
    import kenlm

    path = check_lm_file(path)
    try:
        return kenlm.Model(str(path))
    except (OSError, RuntimeError) as err:
        raise LanguageModelError(f"{path}: KenLM cannot read this language model ({err})") from err


def arpa_words(path: Path | str) -> List[str]:
    """The vocabulary of an ARPA file: its 1-grams, without ``<s>``, ``</s>``, ``<unk>``."""
    path = check_lm_file(path)
    with path.open("rb") as f:
        is_binary = f.read(len(KENLM_BINARY_MAGIC)) == KENLM_BINARY_MAGIC
    if is_binary:
        raise LanguageModelError(f"{path}: a KenLM binary has no readable word list. Fix: pass the .arpa")
    words, in_unigrams = [], False
    with path.open(encoding="utf-8", errors="strict") as f:
        for line in f:
            line = line.strip()
            if line == "\\1-grams:":
                in_unigrams = True
            elif in_unigrams and (not line or line.startswith("\\")):  # the 1-grams end
                break
            elif in_unigrams:
                fields = line.split("\t")
                if len(fields) < 2:
                    raise LanguageModelError(f"{path}: 1-gram line {line!r} is not 'logprob<TAB>word'")
                if fields[1] not in ("<s>", "</s>", "<unk>"):
                    words.append(fields[1])
    if not words:
        raise LanguageModelError(f"{path}: no 1-grams found in this ARPA file")
    return words


# -- the lexicon -------------------------------------------------------------------------------


def spell(word: str) -> List[str]:
    """``HELLO`` -> ``H E L L O |``: the letters CTC emits for the word, then the boundary."""
    return list(word) + [WORD_BOUNDARY]


def text_words(paths: Iterable[Path | str]) -> List[str]:
    """Every distinct word of the given text files (LM text, ``.wrd`` labels), sorted."""
    words = set()
    for path in paths:
        path = Path(path)
        if not path.is_file():
            raise LanguageModelError(f"{path}: word source file does not exist")
        with path.open(encoding="utf-8") as f:
            for line in f:
                words.update(line.split())
    return sorted(words)


def write_lexicon(words: Iterable[str], path: Path | str, letters: Optional[Iterable[str]] = None) -> int:
    """One ``WORD<TAB>W O R D |`` line per word. With ``letters`` (the dictionary's
    symbols), a word spelled with any other symbol is an error naming it."""
    path = Path(path)
    allowed = None if letters is None else set(letters)
    words = list(dict.fromkeys(words))
    if allowed is not None:
        bad = [w for w in words if not set(w) <= allowed]
        if bad:
            outside = sorted({c for w in bad for c in w} - allowed)
            raise LanguageModelError(
                f"{path}: {len(bad)} words use letters outside the dictionary {outside}, e.g. {bad[:5]}. "
                "Fix: normalise the LM text like the transcripts")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{w}\t{' '.join(spell(w))}\n" for w in words), encoding="utf-8")
    return len(words)


def read_lexicon(path: Path | str, letters: Optional[Iterable[str]] = None) -> Dict[str, List[List[str]]]:
    """word -> its spellings. Errors name ``path:line`` for a malformed line or, given the
    dictionary's ``letters``, a spelling that uses a symbol the acoustic model cannot emit."""
    path = Path(path)
    if not path.is_file():
        raise LanguageModelError(f"{path}: lexicon file does not exist")
    allowed = None if letters is None else set(letters)
    lexicon: Dict[str, List[List[str]]] = {}
    with path.open(encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            fields = line.split()
            if not fields:
                continue
            if len(fields) < 2:
                raise LanguageModelError(f"{path}:{number}: {line.strip()!r} has a word but no spelling. "
                                         "Fix: 'WORD<TAB>W O R D |'")
            word, spelling = fields[0], fields[1:]
            if allowed is not None and not set(spelling) <= allowed:
                outside = sorted(set(spelling) - allowed)
                raise LanguageModelError(f"{path}:{number}: {word!r} is spelled with {outside}, which the "
                                         "letter dictionary does not have. Fix: rebuild the lexicon with "
                                         "this dictionary (python -m ehmam.asr.language_model lexicon)")
            lexicon.setdefault(word, []).append(spelling)
    if not lexicon:
        raise LanguageModelError(f"{path}: lexicon is empty")
    return lexicon


def dictionary_letters(dict_path: Path | str) -> List[str]:
    """The symbols of a fairseq letter dictionary (``dict.ltr.txt``: ``symbol count`` lines)."""
    dict_path = Path(dict_path)
    if not dict_path.is_file():
        raise LanguageModelError(f"{dict_path}: letter dictionary does not exist")
    return [line.split()[0] for line in dict_path.read_text(encoding="utf-8").splitlines() if line.strip()]


# -- command line --------------------------------------------------------------------------------


def main(argv: Optional[List[str]] = None) -> int:
    p = argparse.ArgumentParser(prog="python -m ehmam.asr.language_model", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="estimate an n-gram LM (ARPA + binary) and write the lexicon")
    b.add_argument("--text", type=Path, required=True, help="LM training text, one sentence per line")
    b.add_argument("--order", type=int, default=4, help=f"n-gram order, 1 to {KENLM_MAX_ORDER}")
    b.add_argument("--memory", default="20%", help="lmplz -S: sort memory, e.g. 2G or 20%%")
    b.add_argument("--discount-fallback", action="store_true",
                   help="tiny corpora: use KenLM's default discounts where the counts cannot estimate them")
    l = sub.add_parser("lexicon", help="write a lexicon for an existing LM (e.g. LibriSpeech's 4-gram.arpa)")
    l.add_argument("--arpa", type=Path, help="take the LM's vocabulary from this ARPA file")
    for q in (b, l):
        q.add_argument("--words", type=Path, nargs="*", default=[],
                       help="more word sources for the lexicon (training .wrd files)")
        q.add_argument("--dict", type=Path, required=True, help="the letter dictionary (dict.ltr.txt)")
        q.add_argument("--out", type=Path, required=True,
                       help="build: output folder; lexicon: the lexicon file")
    a = p.parse_args(argv)
    try:
        letters = dictionary_letters(a.dict)
        if a.command == "build":
            check_order(a.order)
            for source in (a.text, *a.words):
                check_text_letters(source, letters, a.dict)
            built, lexicon, n = build_into(a.out, lambda staging: (
                build_ngram(a.text, staging, a.order, a.memory, a.discount_fallback),
                write_lexicon(text_words([a.text, *a.words]), staging / "lexicon.txt", letters)))
            print(f"{built.order}-gram from {built.sentences} sentences: {built.arpa}, {built.binary}; "
                  f"lexicon {lexicon} ({n} words)")
        else:
            prepare_output_file(a.out, "--out")
            words = arpa_words(a.arpa) if a.arpa else []
            words = sorted(set(words) | set(text_words(a.words)))
            if not words:
                raise LanguageModelError("no words: pass --arpa and/or --words")
            n = write_lexicon(words, a.out, letters)
            print(f"lexicon {a.out} ({n} words)")
    except (LanguageModelError, OutputError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


def build_into(out: Path, build) -> tuple:
    """Run ``build(staging)`` (it writes the LM and the lexicon into ``staging``), then move
    its files into ``out``. ``out`` is checked writable first; on failure nothing is moved
    and an ``out`` this call created is removed again. Returns (BuiltLanguageModel, lexicon
    path, words in the lexicon)."""
    created = not out.exists()
    prepare_output_dir(out, "--out")
    try:
        with tempfile.TemporaryDirectory(prefix=".building-", dir=out) as tmp:
            staging = Path(tmp)
            built, n = build(staging)
            moved = {}
            for name in (built.arpa.name, built.binary.name, "lexicon.txt"):
                os.replace(staging / name, out / name)
                moved[name] = out / name
    except BaseException:
        if created and out.is_dir() and not any(out.iterdir()):
            out.rmdir()
        raise
    built = BuiltLanguageModel(moved[built.arpa.name], moved[built.binary.name], built.order, built.sentences)
    return built, moved["lexicon.txt"], n


if __name__ == "__main__":
    sys.exit(main())
