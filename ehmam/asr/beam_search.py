"""Lexicon-constrained CTC beam search with a KenLM n-gram, and the search for its weights.

The search itself is flashlight's lexicon decoder as torchaudio exposes it
(``torchaudio.models.decoder.ctc_decoder``; ``flashlight-text`` bundles KenLM). Hypotheses
are words of the lexicon scored by

    log P_ctc(letters) + lm_weight * log P_lm(words) + word_score * |words|

Defaults are fairseq's flashlight decoder's (beam 50, beam threshold 50, LM weight 2, word
score -1, unknown words forbidden). The tokens are the letter dictionary's symbols in index
order, so emission column ``i`` is ``tokens[i]``; fairseq's ``<s>`` is the CTC blank and
``|`` the word boundary.
"""
from __future__ import annotations

import copy
import itertools
import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, List, Optional, Sequence, Tuple

import torch

from .error_rates import ErrorCounts
from .language_model import WORD_BOUNDARY, LanguageModelError, check_lm_file, read_lexicon


@dataclass(frozen=True)
class BeamSearchConfig:
    beam: int = 50  # hypotheses kept per frame
    beam_size_token: Optional[int] = None  # tokens considered per frame (None: all)
    beam_threshold: float = 50.0  # drop hypotheses this far below the best
    lm_weight: float = 2.0
    word_score: float = -1.0  # added per emitted word; negative discourages insertions
    unk_score: float = -math.inf  # words outside the lexicon are never emitted
    sil_score: float = 0.0

    def __post_init__(self):
        # flashlight accepts 0 or negative sizes and returns no hypothesis at all
        if not isinstance(self.beam, int) or self.beam < 1:
            raise ValueError(f"BeamSearchConfig.beam = {self.beam!r}: must be a whole number of at least 1. "
                             "Fix: --beam 50 (fairseq's default) or smaller for speed")
        if self.beam_size_token is not None and (not isinstance(self.beam_size_token, int) or self.beam_size_token < 1):
            raise ValueError(f"BeamSearchConfig.beam_size_token = {self.beam_size_token!r}: must be at least 1, "
                             "or None for every token. Fix: leave --beam-size-token out, or pass a positive number")
        if not self.beam_threshold >= 0:
            raise ValueError(f"BeamSearchConfig.beam_threshold = {self.beam_threshold!r}: must be >= 0 "
                             "(how far below the best a hypothesis may fall). Fix: --beam-threshold 50")


class LexiconBeamSearch:
    """Emissions (T x V log-probabilities) -> words, constrained to ``lexicon``, scored by
    the n-gram ``lm`` (ARPA or KenLM binary; None: lexicon only).

    ``tokens_source`` names where the tokens came from (the ``dict.ltr.txt``), for errors."""

    def __init__(self, tokens: Sequence[str], lexicon: Path | str, lm: Optional[Path | str] = None,
                 cfg: BeamSearchConfig = BeamSearchConfig(), blank: str = "<s>",
                 tokens_source: str = "the letter dictionary"):
        self.tokens = list(tokens)
        self.blank = blank
        self.tokens_source = tokens_source
        for symbol in (blank, WORD_BOUNDARY):
            if symbol not in self.tokens:
                raise LanguageModelError(f"{tokens_source}: has no {symbol!r} symbol, which CTC decoding needs")
        self.lexicon = Path(lexicon)
        read_lexicon(self.lexicon, self.tokens)  # a clear error for symbols the model cannot emit
        self.lm = None if lm is None else check_lm_file(lm)
        self._build(cfg)

    def _build(self, cfg: BeamSearchConfig) -> None:
        """flashlight's decoder for ``cfg`` (it fixes the weights when built and loads the LM)."""
        from torchaudio.models.decoder import ctc_decoder

        self.cfg = cfg
        try:
            self._decoder = ctc_decoder(
                lexicon=str(self.lexicon), tokens=self.tokens, lm=None if self.lm is None else str(self.lm),
                nbest=1, beam_size=cfg.beam, beam_size_token=cfg.beam_size_token,
                beam_threshold=cfg.beam_threshold, lm_weight=cfg.lm_weight, word_score=cfg.word_score,
                unk_score=cfg.unk_score, sil_score=cfg.sil_score, blank_token=self.blank,
                sil_token=WORD_BOUNDARY, unk_word="<unk>")
        except (RuntimeError, ValueError) as err:  # KenLM's load errors arrive as RuntimeError
            raise LanguageModelError(f"{self.lm or self.lexicon}: the decoder cannot load it ({err})") from err

    def __call__(self, emission: torch.Tensor) -> str:
        """One utterance: T x V -> its best word sequence, space separated."""
        if emission.dim() != 2 or emission.shape[-1] != len(self.tokens):
            raise LanguageModelError(
                f"{self.tokens_source}: emissions of shape {tuple(emission.shape)} do not match its "
                f"{len(self.tokens)} symbols (expected T x {len(self.tokens)}). Fix: decode with the "
                "dictionary the model was fine-tuned with")
        emission = emission.detach().float().cpu().contiguous()[None]
        hypotheses = self._decoder(emission, torch.tensor([emission.shape[1]], dtype=torch.int32))
        return " ".join(hypotheses[0][0].words) if hypotheses[0] else ""

    def with_weights(self, lm_weight: float, word_score: float) -> "LexiconBeamSearch":
        """The same search with other weights. The inputs were checked once; only flashlight's
        decoder is rebuilt (which reloads the LM: keep LMs used for searches in binary form)."""
        other = copy.copy(self)
        other._build(replace(self.cfg, lm_weight=lm_weight, word_score=word_score))
        return other


# -- weight search on a development set ----------------------------------------------------------


@dataclass
class WeightTrial:
    lm_weight: float
    word_score: float
    errors: ErrorCounts


def corpus_errors(decode: Callable[[torch.Tensor], str], emissions: Sequence[torch.Tensor],
                  references: Sequence[str]) -> ErrorCounts:
    return sum((ErrorCounts.of(ref, decode(e)) for e, ref in zip(emissions, references)), ErrorCounts())


def search_weights(search: LexiconBeamSearch, emissions: Sequence[torch.Tensor], references: Sequence[str],
                   lm_weights: Sequence[float], word_scores: Sequence[float],
                   progress: Optional[Callable[[WeightTrial], None]] = None) -> Tuple[WeightTrial, List[WeightTrial]]:
    """Grid search: decode the development emissions at every (LM weight, word score) and
    return the trial with the lowest corpus WER (ties: lower CER, then the earlier grid
    point) and all trials in grid order."""
    if len(emissions) != len(references) or not emissions:
        raise ValueError(f"need one reference per emission, got {len(emissions)} emissions "
                         f"and {len(references)} references")
    trials = []
    for lm_weight, word_score in itertools.product(lm_weights, word_scores):
        trial = WeightTrial(lm_weight, word_score,
                            corpus_errors(search.with_weights(lm_weight, word_score), emissions, references))
        trials.append(trial)
        if progress is not None:
            progress(trial)
    best = min(trials, key=lambda t: (t.errors.wer, t.errors.cer))
    return best, trials
