"""Lexicon beam search with a KenLM 4-gram (torchaudio's ctc_decoder) on constructed emissions."""
import math

import pytest
import torch

from ehmam.asr.beam_search import BeamSearchConfig, LexiconBeamSearch, search_weights
from ehmam.asr.decode import greedy_ctc
from ehmam.data.labels import letters_to_words
from ehmam.asr.error_rates import ErrorCounts
from ehmam.asr.language_model import LanguageModelError, build_ngram, write_lexicon

pytestmark = pytest.mark.timeout(120)

# fairseq's letter dictionary layout: specials first, then the word boundary and letters
TOKENS = ["<s>", "<pad>", "</s>", "<unk>", "|"] + list("ABCDEGHIMNORSTV")
BLANK = 0
WORDS = ["THE", "CAT", "CAR", "SAT", "ON", "MAT", "I", "DROVE", "A", "RED", "BIG", "DOG", "RAN"]
# The LM has seen cats sit and cars driven, never a car sitting.
LM_TEXT = ["THE CAT SAT ON THE MAT", "THE BIG CAT SAT", "A CAT SAT ON A MAT", "I DROVE THE CAR",
           "I DROVE A RED CAR", "THE DOG RAN", "THE BIG DOG SAT ON THE MAT", "A RED CAR"] * 3


@pytest.fixture(scope="module")
def lm_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("lm")
    text = out / "lm_text.txt"
    text.write_text("\n".join(LM_TEXT) + "\n")
    built = build_ngram(text, out, order=4, memory="64M", discount_fallback=True)  # tiny text: few counts
    write_lexicon(WORDS, out / "lexicon.txt", TOKENS)
    return built


def frames_for(sentence, uncertain=None):
    """CTC frames for ``sentence``: each letter over 2 frames, a blank after every letter,
    ``|`` between words. ``uncertain`` = (word index, letter index, {token: prob}) spreads
    one letter's probability over several tokens."""
    columns = []
    for w, word in enumerate(sentence.split()):
        if w:
            columns.append({"|": 1.0})
        for i, letter in enumerate(word):
            probs = {letter: 1.0}
            if uncertain is not None and uncertain[:2] == (w, i):
                probs = uncertain[2]
            columns += [probs, probs, {"<s>": 1.0}]
    emission = torch.full((len(columns), len(TOKENS)), 1e-4)
    for t, probs in enumerate(columns):
        for token, p in probs.items():
            emission[t, TOKENS.index(token)] = p
    return (emission / emission.sum(-1, keepdim=True)).log()


def greedy_words(emission):
    return letters_to_words(" ".join(TOKENS[i] for i in greedy_ctc(emission, BLANK)))


AMBIGUOUS = (1, 2, {"R": 0.55, "T": 0.45})  # the T of CAT looks a little more like an R


def test_peaked_emissions_decode_to_the_reference(lm_dir):
    search = LexiconBeamSearch(TOKENS, lm_dir.binary.parent / "lexicon.txt", lm_dir.binary)
    for sentence in ("THE CAT SAT ON THE MAT", "I DROVE A RED CAR", "THE BIG DOG RAN"):
        emission = frames_for(sentence)
        assert greedy_words(emission) == sentence
        assert search(emission) == sentence
    # the same without an LM: the lexicon alone
    no_lm = LexiconBeamSearch(TOKENS, lm_dir.binary.parent / "lexicon.txt", None)
    assert no_lm(frames_for("A BIG RED DOG")) == "A BIG RED DOG"


def test_the_lm_fixes_what_greedy_gets_wrong(lm_dir):
    reference = "THE CAT SAT ON THE MAT"
    emission = frames_for(reference, AMBIGUOUS)
    greedy = greedy_words(emission)
    assert greedy == "THE CAR SAT ON THE MAT"
    lexicon = lm_dir.binary.parent / "lexicon.txt"
    with_lm = LexiconBeamSearch(TOKENS, lexicon, lm_dir.binary)(emission)
    assert with_lm == reference
    assert ErrorCounts.of(reference, with_lm).wer < ErrorCounts.of(reference, greedy).wer
    # without the LM the acoustics win: the fix is the LM's doing, not the lexicon's
    assert LexiconBeamSearch(TOKENS, lexicon, None)(emission) == greedy
    # the ARPA file decodes the same as the binary
    assert LexiconBeamSearch(TOKENS, lexicon, lm_dir.arpa)(emission) == reference


def test_weight_search_picks_an_lm_weight_that_helps(lm_dir):
    references = ["THE CAT SAT ON THE MAT", "THE BIG CAT SAT", "I DROVE THE CAR"]
    emissions = [frames_for(references[0], AMBIGUOUS), frames_for(references[1], (2, 2, {"R": 0.55, "T": 0.45})),
                 frames_for(references[2])]
    search = LexiconBeamSearch(TOKENS, lm_dir.binary.parent / "lexicon.txt", lm_dir.binary)
    seen = []
    best, trials = search_weights(search, emissions, references, [0.0, 2.0], [-1.0, 0.0], seen.append)
    assert [(t.lm_weight, t.word_score) for t in trials] == [(0.0, -1.0), (0.0, 0.0), (2.0, -1.0), (2.0, 0.0)]
    assert seen == trials
    assert best.lm_weight == 2.0 and best.errors.wer == 0.0
    assert all(t.errors.wer > 0 for t in trials if t.lm_weight == 0.0)
    assert trials[0].errors.wer == pytest.approx(100 * 2 / 14)  # CAR for CAT twice, in 14 words


def test_config_defaults_are_fairseqs():
    cfg = BeamSearchConfig()
    assert (cfg.beam, cfg.beam_threshold, cfg.lm_weight, cfg.word_score) == (50, 50.0, 2.0, -1.0)
    assert cfg.unk_score == -math.inf and cfg.beam_size_token is None


# -- bad input ------------------------------------------------------------------------------


def test_emissions_of_the_wrong_size_name_the_dictionary(lm_dir):
    search = LexiconBeamSearch(TOKENS, lm_dir.binary.parent / "lexicon.txt", lm_dir.binary,
                               tokens_source="data/dict.ltr.txt")
    with pytest.raises(LanguageModelError, match=r"data/dict.ltr.txt: emissions of shape \(12, 21\)"):
        search(torch.zeros(12, len(TOKENS) + 1))


def test_a_lexicon_with_letters_the_model_cannot_emit_is_refused(lm_dir, tmp_path):
    lexicon = tmp_path / "lexicon.txt"
    lexicon.write_text("THE\tT H E |\nZEBRA\tZ E B R A |\n")
    with pytest.raises(LanguageModelError, match=r"lexicon.txt:2: 'ZEBRA' is spelled with \['Z'\]"):
        LexiconBeamSearch(TOKENS, lexicon, lm_dir.binary)


def test_missing_and_corrupt_lm_files_are_named(lm_dir, tmp_path):
    lexicon = lm_dir.binary.parent / "lexicon.txt"
    with pytest.raises(LanguageModelError, match="nope.bin: language model file does not exist"):
        LexiconBeamSearch(TOKENS, lexicon, tmp_path / "nope.bin")
    garbage = tmp_path / "garbage.bin"
    garbage.write_bytes(bytes(range(256)) * 8)
    with pytest.raises(LanguageModelError, match="garbage.bin: neither an ARPA file"):
        LexiconBeamSearch(TOKENS, lexicon, garbage)
    truncated = tmp_path / "truncated.bin"  # a real binary's header, cut short
    truncated.write_bytes(lm_dir.binary.read_bytes()[:200])
    with pytest.raises(LanguageModelError, match="truncated.bin: the decoder cannot load it"):
        LexiconBeamSearch(TOKENS, lexicon, truncated)
    broken_arpa = tmp_path / "broken.arpa"
    broken_arpa.write_text("\\data\\\nngram 1=3\n\n\\1-grams:\n-1.0\tA\n")
    with pytest.raises(LanguageModelError, match="broken.arpa: the decoder cannot load it"):
        LexiconBeamSearch(TOKENS, lexicon, broken_arpa)


def test_a_dictionary_without_blank_or_boundary_is_refused(lm_dir):
    with pytest.raises(LanguageModelError, match=r"dict.txt: has no '\|' symbol"):
        LexiconBeamSearch([t for t in TOKENS if t != "|"], lm_dir.binary.parent / "lexicon.txt", None,
                          tokens_source="dict.txt")
