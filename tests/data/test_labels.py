import pytest

from ehmam.data.labels import LETTERS, letters_to_words, normalize_transcript, words_to_letters, write_letter_dictionary


@pytest.mark.parametrize("text, words", [
    ("Don't panic!", "DON'T PANIC"),
    ("A well-known, old saying; really.", "A WELL KNOWN OLD SAYING REALLY"),
    ("He has 3 cats", None),  # a digit would be spoken as a word the label lacks
    ("x & y", None),
    ("", None),
])
def test_normalize_transcript(text, words):
    assert normalize_transcript(text) == words


def test_letters_layout_matches_wav2vec():
    assert words_to_letters("HELLO WORLD") == "H E L L O | W O R L D |"
    assert letters_to_words("H E L L O | W O R L D |") == "HELLO WORLD"


def test_letter_dictionary_counts_and_order(tmp_path):
    write_letter_dictionary(["A B | A |", "B A |"], tmp_path / "dict.ltr.txt")
    rows = [line.split() for line in (tmp_path / "dict.ltr.txt").read_text().splitlines()]
    assert rows[:3] == [["A", "3"], ["|", "3"], ["B", "2"]]
    assert len(rows) == len(LETTERS) + 1 and rows[-1][1] == "0"
    with pytest.raises(ValueError, match="outside the label alphabet"):
        write_letter_dictionary(["A 1 |"], tmp_path / "bad.txt")
