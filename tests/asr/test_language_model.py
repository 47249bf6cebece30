"""KenLM n-gram estimation (lmplz/build_binary from scripts/build_kenlm.sh), queries and lexicons."""
import random
import sys

import pytest

from ehmam.asr import language_model as lm
from ehmam.data.labels import normalize_transcript
from manifests.make_demo_corpus import sentences_from_fortunes

pytestmark = pytest.mark.timeout(180)


@pytest.fixture(scope="module")
def english(tmp_path_factory):
    """An LM estimated on 90% of the fortunes sentences (the demo's LM text source) and the
    held-out 10%."""
    sentences = sorted({normalize_transcript(s) for s in sentences_from_fortunes()} - {""})
    random.Random(0).shuffle(sentences)
    held_out, train = sentences[:300], sentences[300:]
    out = tmp_path_factory.mktemp("english")
    (out / "lm_text.txt").write_text("\n".join(train) + "\n")
    built = lm.build_ngram(out / "lm_text.txt", out, order=4, memory="256M")
    return built, train, held_out


def test_built_lm_prefers_in_domain_sentences_to_the_same_words_shuffled(english):
    built, train, held_out = english
    assert built.arpa.read_text().startswith("\\data\\\nngram 1=")
    assert "ngram 4=" in built.arpa.read_text()[:200]
    assert built.binary.read_bytes().startswith(lm.KENLM_BINARY_MAGIC)
    assert built.sentences == len(train)
    rng = random.Random(1)
    for path in (built.arpa, built.binary):
        model = lm.load_kenlm(path)
        assert model.order == 4
        in_domain = shuffled = 0.0
        wins = 0
        for sentence in held_out:
            words = sentence.split()
            mixed = words[:]
            while len(words) > 1 and mixed == words:
                rng.shuffle(mixed)
            a, b = model.score(sentence), model.score(" ".join(mixed))
            in_domain, shuffled, wins = in_domain + a, shuffled + b, wins + (a > b)
        # total log10 probability: word order the LM has seen beats the same bag of words
        assert in_domain > shuffled + 0.1 * abs(shuffled)
        assert wins / len(held_out) > 0.8


def test_arpa_vocabulary_is_the_lm_texts_words(english):
    built, train, _ = english
    assert sorted(lm.arpa_words(built.arpa)) == sorted({w for s in train for w in s.split()})


def test_lexicon_round_trips(tmp_path):
    words = ["HELLO", "IT'S", "A", "WORLD"]
    letters = ["<s>", "<pad>", "</s>", "<unk>", "|"] + sorted(set("HELLOIT'SAWORLD"))
    path = tmp_path / "lexicon.txt"
    assert lm.write_lexicon(words + ["A"], path, letters) == 4  # duplicates written once
    assert path.read_text().splitlines()[1] == "IT'S\tI T ' S |"
    lexicon = lm.read_lexicon(path, letters)
    assert list(lexicon) == words
    for word, spellings in lexicon.items():
        assert spellings == [lm.spell(word)]
        assert "".join(spellings[0][:-1]) == word and spellings[0][-1] == "|"


def test_lexicon_words_come_from_the_lm_text_and_the_training_labels(tmp_path):
    (tmp_path / "lm.txt").write_text("THE CAT\nA DOG\n")
    (tmp_path / "train.wrd").write_text("THE ZEBU\n")
    assert lm.text_words([tmp_path / "lm.txt", tmp_path / "train.wrd"]) == ["A", "CAT", "DOG", "THE", "ZEBU"]


def test_build_cli_writes_lm_and_lexicon(tmp_path, capsys):
    (tmp_path / "lm.txt").write_text("THE CAT SAT\nTHE DOG RAN\nA CAT RAN\n" * 4)
    (tmp_path / "train.wrd").write_text("THE EMU SAT\n")
    (tmp_path / "dict.ltr.txt").write_text("".join(f"{c} 1\n" for c in "|THECATSDOGRNMU"))
    out = tmp_path / "lm"
    assert lm.main(["build", "--text", str(tmp_path / "lm.txt"), "--words", str(tmp_path / "train.wrd"),
                    "--dict", str(tmp_path / "dict.ltr.txt"), "--out", str(out), "--discount-fallback"]) == 0
    assert "4-gram from 12 sentences" in capsys.readouterr().out
    assert (out / "4-gram.bin").is_file() and (out / "4-gram.arpa").is_file()
    assert list(lm.read_lexicon(out / "lexicon.txt")) == ["A", "CAT", "DOG", "EMU", "RAN", "SAT", "THE"]
    # the lexicon command over the ARPA's vocabulary gives the LM's words
    assert lm.main(["lexicon", "--arpa", str(out / "4-gram.arpa"), "--dict", str(tmp_path / "dict.ltr.txt"),
                    "--out", str(tmp_path / "lex2.txt")]) == 0
    assert list(lm.read_lexicon(tmp_path / "lex2.txt")) == ["A", "CAT", "DOG", "RAN", "SAT", "THE"]


# -- bad input ---------------------------------------------------------------------------------


def test_tiny_text_without_discount_fallback_fails_with_lmplz_s_reason(tmp_path):
    (tmp_path / "lm.txt").write_text("THE CAT SAT\n")
    with pytest.raises(lm.LanguageModelError, match=r"(?s)lmplz on .*lm.txt failed .*BadDiscountException.*Fix: .*pass --discount-fallback"):
        lm.build_ngram(tmp_path / "lm.txt", tmp_path / "out")
    assert list((tmp_path / "out").iterdir()) == []  # no partial ARPA left to be mistaken for an LM


def test_missing_or_empty_text_is_named(tmp_path):
    with pytest.raises(lm.LanguageModelError, match="nope.txt: LM text file does not exist"):
        lm.build_ngram(tmp_path / "nope.txt", tmp_path)
    (tmp_path / "empty.txt").write_text("\n\n")
    with pytest.raises(lm.LanguageModelError, match="empty.txt: LM text file holds no sentences"):
        lm.build_ngram(tmp_path / "empty.txt", tmp_path)


def test_missing_kenlm_tools_say_how_to_build_them(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "executable", str(tmp_path / "python"))
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(lm.LanguageModelError, match=r"lmplz is not installed. Fix: bash scripts/setup.sh --with-kenlm"):
        lm.kenlm_tool("lmplz")


def test_corrupt_lm_files_are_named(tmp_path, english):
    with pytest.raises(lm.LanguageModelError, match="missing.arpa: language model file does not exist"):
        lm.load_kenlm(tmp_path / "missing.arpa")
    (tmp_path / "text.arpa").write_text("THE CAT SAT\n")
    with pytest.raises(lm.LanguageModelError, match="text.arpa: neither an ARPA file"):
        lm.load_kenlm(tmp_path / "text.arpa")
    built, _, _ = english
    (tmp_path / "cut.bin").write_bytes(built.binary.read_bytes()[:300])
    with pytest.raises(lm.LanguageModelError, match="cut.bin: KenLM cannot read this language model"):
        lm.load_kenlm(tmp_path / "cut.bin")
    with pytest.raises(lm.LanguageModelError, match="4-gram.bin: a KenLM binary has no readable word list"):
        lm.arpa_words(built.binary)


def test_bad_lexicons_are_named_with_their_line(tmp_path):
    path = tmp_path / "lexicon.txt"
    path.write_text("THE\tT H E |\nLONELY\n")
    with pytest.raises(lm.LanguageModelError, match=r"lexicon.txt:2: 'LONELY' has a word but no spelling"):
        lm.read_lexicon(path)
    with pytest.raises(lm.LanguageModelError, match=r"out.txt: 1 words use letters outside the dictionary \['Z'\]"):
        lm.write_lexicon(["THE", "ZOO"], tmp_path / "out.txt", letters=list("|THEO"))
    path.write_text("\n")
    with pytest.raises(lm.LanguageModelError, match="lexicon.txt: lexicon is empty"):
        lm.read_lexicon(path)


# -- build checks its inputs before lmplz and leaves nothing behind on failure -------------------


def never_run_kenlm(monkeypatch):
    monkeypatch.setattr(lm, "kenlm_tool", lambda name: pytest.fail(f"{name} ran"))


def test_text_letters_outside_the_dictionary_are_named_before_lmplz(tmp_path, capsys, monkeypatch):
    never_run_kenlm(monkeypatch)
    (tmp_path / "lm.txt").write_text("THE CAT SAT\nthe dog ran\nA CAT, RAN\n")
    (tmp_path / "dict.ltr.txt").write_text("".join(f"{c} 1\n" for c in "|THECATSDOGRN"))
    out = tmp_path / "lm"
    assert lm.main(["build", "--text", str(tmp_path / "lm.txt"), "--dict", str(tmp_path / "dict.ltr.txt"),
                    "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert (f"error: {tmp_path / 'lm.txt'}: 2 line(s) use letters that the letter dictionary "
            f"{tmp_path / 'dict.ltr.txt'} does not have: [',', 'a', 'd', 'e', 'g', 'h', 'n', 'o', 'r', 't']") in err
    assert f"{tmp_path / 'lm.txt'}:2: ['a', 'd', 'e', 'g', 'h', 'n', 'o', 'r', 't'] in 'the dog ran'" in err
    assert f"{tmp_path / 'lm.txt'}:3: [','] in 'A CAT, RAN'" in err
    assert "Fix: normalise the text to the dictionary's letters" in err and "upper-case" in err
    assert not out.exists()


def test_word_sources_are_checked_too(tmp_path):
    (tmp_path / "train.wrd").write_text("THE EMU\nZEBU\n")
    with pytest.raises(lm.LanguageModelError, match=r"train.wrd:2: \['B', 'Z'\] in 'ZEBU'"):
        lm.check_text_letters(tmp_path / "train.wrd", list("|THEMU"), tmp_path / "dict.ltr.txt")
    lm.check_text_letters(tmp_path / "train.wrd", list("|THEMUZB"), tmp_path / "dict.ltr.txt")


@pytest.mark.parametrize("order", [0, -1, lm.KENLM_MAX_ORDER + 1])
def test_orders_kenlm_cannot_load_are_refused_before_lmplz(order, tmp_path, capsys, monkeypatch):
    never_run_kenlm(monkeypatch)
    (tmp_path / "lm.txt").write_text("THE CAT\n")
    (tmp_path / "dict.ltr.txt").write_text("".join(f"{c} 1\n" for c in "|THECA"))
    assert lm.main(["build", "--text", str(tmp_path / "lm.txt"), "--dict", str(tmp_path / "dict.ltr.txt"),
                    "--out", str(tmp_path / "lm"), "--order", str(order)]) == 1
    assert (f"error: --order {order}: an n-gram order must be from 1 to {lm.KENLM_MAX_ORDER}"
            in capsys.readouterr().err)
    with pytest.raises(lm.LanguageModelError, match=f"--order {order}: "):
        lm.build_ngram(tmp_path / "lm.txt", tmp_path / "lm", order=order)
    assert not (tmp_path / "lm").exists()


def test_a_failed_build_leaves_no_files(tmp_path, capsys):
    (tmp_path / "lm.txt").write_text("THE CAT SAT\n")  # too small for Kneser-Ney without the fallback
    (tmp_path / "dict.ltr.txt").write_text("".join(f"{c} 1\n" for c in "|THECAS"))
    out = tmp_path / "lm"
    assert lm.main(["build", "--text", str(tmp_path / "lm.txt"), "--dict", str(tmp_path / "dict.ltr.txt"),
                    "--out", str(out)]) == 1
    assert "BadDiscountException" in capsys.readouterr().err
    assert not out.exists()
    out.mkdir()  # an existing folder stays, without partial files
    assert lm.main(["build", "--text", str(tmp_path / "lm.txt"), "--dict", str(tmp_path / "dict.ltr.txt"),
                    "--out", str(out)]) == 1
    assert list(out.iterdir()) == []


def test_unwritable_outputs_are_refused_before_lmplz(tmp_path, capsys, monkeypatch):
    never_run_kenlm(monkeypatch)
    (tmp_path / "lm.txt").write_text("THE CAT\n")
    (tmp_path / "dict.ltr.txt").write_text("".join(f"{c} 1\n" for c in "|THECA"))
    out = tmp_path / "lm.txt" / "lm"
    assert lm.main(["build", "--text", str(tmp_path / "lm.txt"), "--dict", str(tmp_path / "dict.ltr.txt"),
                    "--out", str(out)]) == 1
    assert f"error: --out {out}: {tmp_path / 'lm.txt'} is a file" in capsys.readouterr().err
    assert lm.main(["lexicon", "--words", str(tmp_path / "lm.txt"), "--dict", str(tmp_path / "dict.ltr.txt"),
                    "--out", str(out / "lexicon.txt")]) == 1
    assert f"error: --out {out / 'lexicon.txt'}: {tmp_path / 'lm.txt'} is a file" in capsys.readouterr().err
