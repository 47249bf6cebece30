"""Are the frames the teacher calls hard the ones speech recognition needs? (EH-MAM Fig. 2 and 5)

Hide p% of each test utterance's encoder input frames from a CTC fine-tuned model (they take
the model's mask embedding, as in pretraining) and measure how much the WER rises, for two
choices of frames:

- ``predicted``: the p% with the highest loss predicted by the *pretrained* teacher's loss
  predictor (the frames easy-to-hard masking would pick);
- ``random``: p% chosen uniformly at random (seeded, per utterance).

If the predictor finds hard, information-rich regions, hiding them costs more than hiding
random frames. The relative WER increase is ``(WER_p - WER_0) / WER_0``, with ``WER_0`` the
same model with nothing hidden, decoded the same way.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence

import torch

from ..asr.decode import CtcModel, Utterance, corpus_summary, emit_manifest, transcribe
from ..asr.error_rates import ErrorCounts
from ..models.ehmam import EhmamModel
from ..models.frontends.waveform import normalize_waveform

RULES = ("predicted", "random")


def choose_frames(scores: torch.Tensor, share: float, rule: str, generator: torch.Generator) -> torch.Tensor:
    """Boolean mask over the T frames of one utterance with round(share * T) frames set:
    those with the highest ``scores`` (``predicted``) or uniformly random ones (``random``)."""
    if rule not in RULES:
        raise ValueError(f"rule {rule!r}: expected one of {RULES}")
    if not 0.0 <= share <= 1.0:
        raise ValueError(f"share {share}: expected a fraction in [0, 1]")
    frames = scores.shape[0]
    count = round(share * frames)
    order = scores.argsort(descending=True) if rule == "predicted" else torch.randperm(frames, generator=generator)
    mask = torch.zeros(frames, dtype=torch.bool)
    mask[order[:count]] = True
    return mask


@torch.no_grad()
def teacher_predicted_losses(pretrained: EhmamModel, waveform: torch.Tensor) -> torch.Tensor:
    """The pretrained teacher's predicted loss per frame (T) of one 1-D waveform, from the
    unmasked input, as easy-to-hard masking computes it during pretraining."""
    if pretrained.pretraining_removed:
        raise ValueError("this model has no teacher or loss predictor: load the pretraining checkpoint")
    pretrained.eval()
    features, _ = pretrained.frontend(normalize_waveform(waveform.float()[None]))
    _, predicted = pretrained.teacher_pass(features, None)
    return predicted[0].float().cpu()


@dataclass
class EffectRow:
    share: float  # fraction of frames hidden
    rule: str  # "predicted", "random", or "none" for the baseline
    errors: ErrorCounts
    baseline: ErrorCounts

    @property
    def relative_wer_increase(self) -> float:
        """Percent: how much higher the WER is than with nothing hidden."""
        return 100.0 * (self.errors.wer - self.baseline.wer) / max(self.baseline.wer, 1e-9)

    @property
    def relative_cer_increase(self) -> float:
        return 100.0 * (self.errors.cer - self.baseline.cer) / max(self.baseline.cer, 1e-9)


def measure_hard_region_effect(ctc: CtcModel, pretrained: EhmamModel, data: Path, split: str,
                               shares: Sequence[float], search: Optional[Callable[[torch.Tensor], str]] = None,
                               seed: int = 0, max_samples: int = 1_600_000, progress: bool = True) -> List[EffectRow]:
    """The baseline and, per share and rule, the corpus error counts on ``{data}/{split}``.
    ``search`` decodes emissions (default: the model's greedy decoding)."""
    search = search or ctc.greedy
    scores: Dict[int, torch.Tensor] = {}

    def masks_for(share: float, rule: str):
        def frame_masks(batch: List[Utterance], waveforms: List[torch.Tensor]) -> List[torch.Tensor]:
            masks = []
            for utt, waveform in zip(batch, waveforms):
                if utt.index not in scores:
                    scores[utt.index] = teacher_predicted_losses(pretrained, waveform)
                # one generator per utterance: the random frames do not depend on batching
                generator = torch.Generator().manual_seed(seed * 1_000_003 + utt.index)
                masks.append(choose_frames(scores[utt.index], share, rule, generator))
            return masks
        return frame_masks

    def errors(frame_masks=None, desc="") -> ErrorCounts:
        emitted = emit_manifest(ctc, data, split, max_samples, progress=False, frame_masks=frame_masks)
        if any(e.utterance.reference is None for e in emitted):
            raise ValueError(f"{data / split}: needs .wrd or .ltr references to measure error rates")
        if frame_masks is not None:
            frames = [scores[e.utterance.index].shape[0] for e in emitted]
            lengths = [e.emission.shape[0] for e in emitted]
            if frames != lengths:
                raise ValueError("the pretrained model's frames do not line up with the fine-tuned model's "
                                 "(different front ends?): pass the checkpoint the model was fine-tuned from")
        return corpus_summary(transcribe(emitted, search, desc, progress=False))

    from tqdm import tqdm

    steps = [(0.0, "none")] + [(s, r) for s in shares for r in RULES]
    rows: List[EffectRow] = []
    baseline = None
    for share, rule in tqdm(steps, desc=f"hiding frames, {split}", unit="setting", disable=not progress):
        if rule == "none":
            baseline = errors()
            rows.append(EffectRow(0.0, "none", baseline, baseline))
        else:
            rows.append(EffectRow(share, rule, errors(masks_for(share, rule)), baseline))
    return rows
