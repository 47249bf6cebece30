"""Error rates against independent counts, and what an empty reference gives."""
import math

from ehmam.asr.error_rates import ErrorCounts


def test_rates_are_edits_over_reference_length():
    errors = ErrorCounts.of("THE CAT SAT", "THE BAT SAT DOWN")  # 1 substitution + 1 insertion
    assert (errors.word_edits, errors.words) == (2, 3)
    assert errors.wer == 100 * 2 / 3
    assert errors.cer == 100 * 6 / 11  # C->B and " DOWN" against "THE CAT SAT"


def test_an_empty_reference_is_not_a_percentage_of_one_word():
    nothing = ErrorCounts.of("", "")
    assert (nothing.wer, nothing.cer) == (0.0, 0.0)  # nothing said, nothing recognised
    inserted = ErrorCounts.of("", "A B C")
    assert inserted.word_edits == 3 and math.isinf(inserted.wer) and math.isinf(inserted.cer)  # not 300 %
    corpus = ErrorCounts.of("THE CAT", "THE CAT") + inserted
    assert corpus.wer == 100 * 3 / 2  # the corpus rate counts the insertions against the real words
