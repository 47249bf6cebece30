#!/usr/bin/env python
"""One optimiser step of EH-MAM base against fairseq's wav2vec 2.0 base, same batch, CPU.

Ours: ``EhmamModel(EhmamConfig())`` (the paper's base model, ``clone_batch`` = 8 masked
copies per utterance for the student) at training progress 0.5: forward, backward, an
Adam step over the student's parameters, then the EMA teacher update.
Theirs: fairseq's ``Wav2Vec2Model`` with ``Wav2Vec2Config()`` plus the model overrides of
fairseq's ``wav2vec2_base_librispeech.yaml`` (the defaults alone have no quantizer, so
no diversity loss), and the loss of fairseq's ``wav2vec`` criterion as that file
configures it (InfoNCE + 0.1 x diversity + 10 x feature penalty), then an Adam step.
Both optimisers use fairseq's ``adam`` settings (betas 0.9/0.98, eps 1e-6, decoupled
weight decay 0.01, i.e. AdamW).

Both models see the same batch: ``--batch`` utterances of ``--seconds`` of a fixed-seed,
speech-like synthetic signal (or real audio from ``--manifest``), each normalised to
zero mean and unit variance. Each model runs in its own fresh subprocess, so the peak
memory (growth of the peak resident set over the steps, or the CUDA allocator's peak
with ``--device cuda``) of one does not hide the other's.

    python benchmarks/train_step.py [--batch 2] [--seconds 4.0] [--warmup 2] [--steps 5]
                                    [--manifest data/demo/train.tsv] [--device cpu] [--tiny]

Prints one table (per-step cost of both models and of EH-MAM with a single clone, then
where EH-MAM's step goes, from separately instrumented steps, then the cost per masked
view); the last line is EH-MAM's seconds of compute per second of audio divided by
wav2vec 2.0's (below 1: EH-MAM's step is cheaper per audio second). Clones are not
counted as audio.
"""

import argparse
import json
import math
import random
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.measure import Peak, run_worker  # noqa: E402

SAMPLE_RATE = 16_000
MODELS = ("ehmam", "wav2vec2")
# EH-MAM with one masked copy per utterance: what a single student view costs
ONE_CLONE = "ehmam_one_clone"
FORWARD_STAGES = ("front end", "teacher pass", "masking", "student pass (+ decoder, loss predictor)", "losses")
STAGES = FORWARD_STAGES + ("rest of forward", "backward", "optimiser", "EMA teacher update")

# the `model:` section of fairseq's examples/wav2vec/config/pretraining/wav2vec2_base_librispeech.yaml
WAV2VEC2_BASE_OVERRIDES = dict(quantize_targets=True, final_dim=256, encoder_layerdrop=0.05, dropout_input=0.1,
                               dropout_features=0.1, feature_grad_mult=0.1, encoder_embed_dim=768)
WAV2VEC2_TINY_OVERRIDES = dict(
    quantize_targets=True, conv_feature_layers="[(32, 10, 5)] + [(32, 3, 2)] * 4 + [(32, 2, 2)] * 2",
    encoder_layers=2, encoder_embed_dim=64, encoder_ffn_embed_dim=128, encoder_attention_heads=4,
    conv_pos=16, conv_pos_groups=4, final_dim=32, latent_vars=16, num_negatives=20, feature_grad_mult=0.1,
)
# the same file's criterion section
WAV2VEC2_CRITERION = dict(infonce=True, loss_weights=[0.1, 10], log_keys=["prob_perplexity", "code_perplexity", "temp"])
ADAM = dict(lr=5e-4, betas=(0.9, 0.98), eps=1e-6, weight_decay=0.01)


# -- the batch ------------------------------------------------------------------------

def synthetic_speech(batch: int, samples: int, seed: int) -> torch.Tensor:
    """Voiced harmonics on a wandering pitch, gated at syllable rate, plus noise bursts:
    enough structure that the convolutional front end does not see white noise."""
    gen = torch.Generator().manual_seed(seed)
    t = torch.arange(samples) / SAMPLE_RATE
    out = []
    for _ in range(batch):
        f0 = 100 + 80 * torch.rand(1, generator=gen) + 20 * torch.sin(2 * math.pi * 0.7 * t)
        phase = 2 * math.pi * torch.cumsum(f0, 0) / SAMPLE_RATE
        voiced = sum(torch.sin(k * phase) / k for k in range(1, 16))
        syllables = torch.sin(2 * math.pi * (3 + 2 * torch.rand(1, generator=gen)) * t).clamp(min=0)
        noise = torch.randn(samples, generator=gen) * (1 - syllables) * 0.3
        out.append(voiced * syllables + noise)
    return torch.stack(out)


def manifest_audio(path: Path, batch: int, samples: int) -> torch.Tensor:
    """The first ``batch`` utterances at least ``samples`` long, cut to ``samples``."""
    from ehmam.data.audio import read_audio
    from ehmam.data.manifest import read_manifest

    manifest = read_manifest(path)
    long_enough = [e for e in manifest.entries if e.num_samples >= samples][:batch]
    if len(long_enough) < batch:
        raise SystemExit(f"{path}: fewer than {batch} utterances of at least {samples} samples")
    return torch.stack([torch.from_numpy(read_audio(manifest.audio_path(e))[:samples]) for e in long_enough])


def make_batch(args) -> torch.Tensor:
    samples = int(args.seconds * SAMPLE_RATE)
    if args.manifest:
        wav = manifest_audio(Path(args.manifest), args.batch, samples)
    else:
        wav = synthetic_speech(args.batch, samples, args.seed)
    from ehmam.models.frontends.waveform import normalize_waveform

    return normalize_waveform(wav)  # both base configs train on per-utterance normalised audio


# -- the two models -------------------------------------------------------------------

def build_ehmam(args, source):
    from ehmam.models.ehmam import EhmamConfig, EhmamModel, tiny_config

    cfg = tiny_config() if args.tiny else EhmamConfig()
    if args.worker == ONE_CLONE:
        cfg.clone_batch = 1
    model = EhmamModel(cfg).to(args.device)
    model.train()
    optimizer = torch.optim.AdamW(model.student_parameters(), **ADAM)

    def step(i: int):
        gen = torch.Generator(device=args.device).manual_seed(args.seed + i)
        out = model(source, padding_mask=None, progress=args.progress, generator=gen)
        out.loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        model.update_teacher(i + 1)

    params = sum(p.numel() for p in model.student_parameters())
    teacher = sum(p.numel() for p in model.teacher.parameters())
    clones = model.cfg.clone_batch
    label = f"ehmam {'tiny' if args.tiny else 'base'} ({clones} clone{'s' if clones > 1 else ''})"
    return model, optimizer, step, dict(label=label, params=params, teacher_params=teacher, clones=clones)


def instrumented_ehmam_step(model, optimizer, source, i: int, args, sync):
    """A plain training step with a timer around each named step ``EhmamModel.forward``
    calls (wrapped on this instance only, so the timed code is the model's own)."""
    import ehmam.models.ehmam as ehmam_module

    times = dict.fromkeys(FORWARD_STAGES + ("forward", "backward", "optimiser", "EMA teacher update"), 0.0)

    def timed(stage, fn):
        def run(*a, **k):
            sync()
            start = time.perf_counter()
            out = fn(*a, **k)
            sync()
            times[stage] += time.perf_counter() - start
            return out
        return run

    for stage, name in (("teacher pass", "teacher_pass"), ("student pass (+ decoder, loss predictor)", "student_pass"),
                        ("losses", "compute_losses")):
        setattr(model, name, timed(stage, getattr(model, name)))
    frontend_forward = model.frontend.forward
    model.frontend.forward = timed("front end", frontend_forward)
    masking = ehmam_module.easy_to_hard_mask
    ehmam_module.easy_to_hard_mask = timed("masking", masking)
    try:
        gen = torch.Generator(device=args.device).manual_seed(args.seed + i)
        forward = timed("forward", model)(source, padding_mask=None, progress=args.progress, generator=gen)
        timed("backward", forward.loss.backward)()
        timed("optimiser", lambda: (optimizer.step(), optimizer.zero_grad()))()
        timed("EMA teacher update", model.update_teacher)(i + 1)
    finally:
        for name in ("teacher_pass", "student_pass", "compute_losses"):
            delattr(model, name)
        model.frontend.forward = frontend_forward
        ehmam_module.easy_to_hard_mask = masking
    # the rest of forward: cloning the batch, the collapse guard's spreads, glue
    times["rest of forward"] = times.pop("forward") - sum(times[s] for s in FORWARD_STAGES)
    return times


def build_wav2vec2(args, source):
    from fairseq.criterions.wav2vec_criterion import Wav2vecCriterion
    from fairseq.models.wav2vec.wav2vec2 import Wav2Vec2Config, Wav2Vec2Model

    cfg = Wav2Vec2Config(**(WAV2VEC2_TINY_OVERRIDES if args.tiny else WAV2VEC2_BASE_OVERRIDES))
    model = Wav2Vec2Model.build_model(cfg).to(args.device)
    model.train()
    # the criterion only keeps the task for target dictionaries, which wav2vec has none of
    criterion = Wav2vecCriterion(None, **WAV2VEC2_CRITERION)
    criterion.train()
    params = list(model.parameters())
    optimizer = torch.optim.AdamW(params, **ADAM)
    sample = {"id": torch.arange(len(source)), "net_input": {"source": source, "padding_mask": None}}

    def step(i: int):
        model.set_num_updates(i)  # anneals the Gumbel temperature, as fairseq's trainer does
        loss, sample_size, _ = criterion(model, sample)
        loss.backward()
        # fairseq's trainer divides the summed loss's gradients by the sample size
        for p in params:
            if p.grad is not None:
                p.grad.div_(sample_size)
        optimizer.step()
        optimizer.zero_grad()

    label = f"wav2vec2 {'tiny' if args.tiny else 'base'} (fairseq)"
    return model, optimizer, step, dict(label=label, params=sum(p.numel() for p in params))


# -- a worker: one model, in its own process --------------------------------------------

def worker(args) -> dict:
    torch.manual_seed(args.seed)
    random.seed(args.seed)
    np.random.seed(args.seed)  # fairseq's masks and negatives draw from NumPy and torch
    source = make_batch(args).to(args.device)
    build = build_wav2vec2 if args.worker == "wav2vec2" else build_ehmam
    model, optimizer, step, info = build(args, source)

    peak = Peak(args.device)
    sync = peak.sync
    for i in range(args.warmup):
        step(i)
    times = []
    for i in range(args.warmup, args.warmup + args.steps):
        sync()
        start = time.perf_counter()
        step(i)
        sync()
        times.append(time.perf_counter() - start)
    breakdown = {}
    if args.worker == "ehmam":
        laps = [instrumented_ehmam_step(model, optimizer, source, args.warmup + args.steps + k, args, sync)
                for k in range(args.breakdown_steps)]
        breakdown = {stage: statistics.median(lap[stage] for lap in laps) for stage in STAGES}
    return dict(info, step_s=statistics.median(times), peak_growth_bytes=peak.growth(),
                breakdown=breakdown, threads=torch.get_num_threads(), batch_sum=float(source.sum()))


# -- the parent: run both, print the table ------------------------------------------------

def forwarded(args) -> list:
    argv = ["--batch", str(args.batch), "--seconds", str(args.seconds), "--warmup", str(args.warmup),
            "--steps", str(args.steps), "--seed", str(args.seed), "--progress", str(args.progress),
            "--device", args.device, "--breakdown-steps", str(args.breakdown_steps)]
    if args.manifest:
        argv += ["--manifest", args.manifest]
    if args.tiny:
        argv.append("--tiny")
    return argv


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=2, help="utterances per batch")
    parser.add_argument("--seconds", type=float, default=4.0, help="length of each utterance")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--steps", type=int, default=5, help="timed steps; the median is reported")
    parser.add_argument("--breakdown-steps", type=int, default=2, help="instrumented EH-MAM steps (median per stage)")
    parser.add_argument("--progress", type=float, default=0.5, help="t/T: share of masked frames the teacher picks")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--manifest", help="read the batch from a wav2vec manifest instead of synthesising it")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--tiny", action="store_true", help="small configs of both models (a smoke test)")
    parser.add_argument("--worker", choices=MODELS + (ONE_CLONE,), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        raise SystemExit("--device cuda: no CUDA device here")

    if args.worker:
        print(json.dumps(worker(args)))
        return

    ours, theirs, one_clone = (run_worker(__file__, name, forwarded(args)) for name in MODELS + (ONE_CLONE,))
    if ours["batch_sum"] != theirs["batch_sum"]:
        raise SystemExit("the two workers built different batches")
    audio_s = args.batch * args.seconds
    memory = "peak CUDA memory growth" if args.device.startswith("cuda") else "peak RSS growth"
    source = f"from {args.manifest}" if args.manifest else "synthetic speech-like audio"
    print(f"one training step on {args.device} ({ours['threads']} threads), batch {args.batch} x {args.seconds:g} s "
          f"= {audio_s:g} s of {source}, median of {args.steps} steps after {args.warmup} warm-up")
    print(f"{'model':34s}{'trained params':>15s}{'s per step':>12s}{'s per audio s':>15s}{memory:>24s}")
    for r in (ours, one_clone, theirs):
        print(f"{r['label']:34s}{r['params'] / 1e6:>14.1f}M{r['step_s']:>12.3f}{r['step_s'] / audio_s:>15.3f}"
              f"{r['peak_growth_bytes'] / 2**20:>21.0f} MiB")
    print(f"  (ehmam also keeps an EMA teacher of {ours['teacher_params'] / 1e6:.1f}M params, not trained)")
    total = sum(ours["breakdown"].values())
    print(f"ehmam step by stage (median of {args.breakdown_steps} instrumented steps, total {total:.3f} s)")
    for stage in STAGES:
        seconds = ours["breakdown"][stage]
        print(f"  {stage:42s}{seconds:>10.3f} s{100 * seconds / total:>8.1f}%")
    clones = ours["clones"]
    print(f"per masked view (ehmam's cost / {clones} clones): {ours['step_s'] / audio_s / clones:.3f} s per audio s, "
          f"{ours['step_s'] / clones / theirs['step_s']:.2f} x wav2vec2's; one clone alone: "
          f"{one_clone['step_s'] / theirs['step_s']:.2f} x wav2vec2's")
    ratio = (ours["step_s"] / audio_s) / (theirs["step_s"] / audio_s)
    print(f"ratio ehmam/wav2vec2 seconds per audio second: {ratio:.2f}")


if __name__ == "__main__":
    main()
