"""Features of frozen models: one API for every ehmam checkpoint, plain PyTorch (no fairseq).

    from ehmam.features import load_encoder
    encoder = load_encoder("checkpoints/demo/checkpoint_last.pt")   # any ehmam checkpoint
    encoder.sample_rate, encoder.hop, encoder.feature_dim            # 16000, 320 samples, D
    frames = encoder.frame_features([wav_a, wav_b], sample_rate=16000)   # 1-D clips, any lengths
    frames.features       # B x T x D (last layer; layer=k or layer="all" for L x B x T x D)
    frames.padding_mask   # B x T bool, True = padding
    frames.timestamps     # T frame centres, seconds
    encoder.clip_features(wav, sample_rate=16000)   # B x D, the mean over each clip's frames

Long audio is chunked to the length the model was trained on, so a 1 s clip and a 10 min
recording go through the same call. :func:`extract_features` is the lower-level call on an
:class:`~ehmam.models.ehmam.EhmamModel` (every layer, one forward pass, no chunking).
"""

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .checkpoints import (SPECTROGRAM_METHODS, CheckpointError, SpectrogramWeights, StudentEncoder, fairseq_config,
                          holds_ehmam, load_weights, read_checkpoint, student_weights)
from .data.audio import SAMPLE_RATE
from .models.ehmam import EhmamModel
from .models.encoders.vit import ViTEncoder
from .models.frontends import spectrogram_frontend
from .models.frontends.waveform import conv_output_length, normalize_waveform


@dataclass
class Features:
    """``frames``: the front end's projected frames, B x T x D (before the Transformer);
    ``layers``: every Transformer layer's output, each B x T x D; ``hidden``: the
    encoder's output; ``padding_mask``: B x T bool, True = padding, or None."""

    frames: torch.Tensor
    layers: List[torch.Tensor]
    hidden: torch.Tensor
    padding_mask: Optional[torch.Tensor]


def pad_waveforms(waveforms: Sequence[torch.Tensor]):
    """Stack 1-D waveforms of different lengths: (B x S batch, B x S padding mask or None)."""
    if not waveforms:
        raise ValueError("no waveforms to extract features from")
    for index, wav in enumerate(waveforms):
        if wav.dim() != 1:
            raise ValueError(f"waveform {index} has shape {tuple(wav.shape)}; expected 1-D samples")
    longest = max(len(w) for w in waveforms)
    batch = waveforms[0].new_zeros(len(waveforms), longest)
    padding = torch.ones(len(waveforms), longest, dtype=torch.bool, device=batch.device)
    for row, wav in enumerate(waveforms):
        batch[row, : len(wav)] = wav
        padding[row, : len(wav)] = False
    return batch, (padding if bool(padding.any()) else None)


@torch.no_grad()
def extract_features(
    model: EhmamModel,
    waveforms: Union[torch.Tensor, Sequence[torch.Tensor]],
    padding_mask: Optional[torch.Tensor] = None,
    normalize: bool = True,
) -> Features:
    """Run the student encoder (no masking, eval mode) on raw 16 kHz audio.

    waveforms: a B x S batch (with an optional B x S padding mask, True = padding),
        one 1-D waveform, or a list of 1-D waveforms of any lengths.
    normalize: zero mean / unit variance per utterance, as in pretraining.
    """
    if isinstance(waveforms, torch.Tensor) and waveforms.dim() == 1:
        waveforms = waveforms[None]
    if not isinstance(waveforms, torch.Tensor):
        if padding_mask is not None:
            raise ValueError("pass padding_mask only with a B x S batch; lists are padded here")
        waveforms, padding_mask = pad_waveforms(list(waveforms))
    if normalize:
        waveforms = normalize_waveform(waveforms, padding_mask)
    was_training = model.training
    model.eval()
    try:
        frames, out = model.encode(waveforms, padding_mask)
    finally:
        model.train(was_training)
    return Features(frames=frames, layers=out.layers, hidden=out.hidden, padding_mask=out.padding_mask)


# ---------------------------------------------------------------------------------------
# The feature API: one encoder object per checkpoint, whatever the method.
# ---------------------------------------------------------------------------------------

DEFAULT_TRAINING_SECONDS = 15.625  # wav2vec 2.0 / data2vec's max_sample_size (250,000 samples)


class EncoderInputError(ValueError):
    """Audio the feature API cannot take (stereo, empty, wrong rate, NaN); says how to fix it."""


@dataclass
class FrameFeatures:
    """``features``: B x T x D (one layer) or L x B x T x D (``layer="all"``, index 0 = the
    front end's frames); ``padding_mask``: B x T bool, True = padding; ``timestamps``: T frame
    centres in seconds from the start of the audio (the same for every row)."""

    features: torch.Tensor
    padding_mask: torch.Tensor
    timestamps: torch.Tensor

    def clip(self) -> torch.Tensor:
        """The mean over each clip's own frames (padding excluded): B x D (or L x B x D)."""
        keep = (~self.padding_mask).to(self.features.dtype)[..., None]  # B x T x 1
        return (self.features * keep).sum(dim=-2) / keep.sum(dim=-2)


Layer = Union[int, str]


def concatenate_layers(features: torch.Tensor) -> torch.Tensor:
    """Every layer's features side by side: L x B x ... x D -> B x ... x LD (layer 0 first),
    the form classifiers take ``layer="all"`` in (EVAR stacks wav2vec 2.0's hidden states so)."""
    return features.movedim(0, -2).flatten(-2)


class AudioEncoder(nn.Module):
    """What every ehmam model offers downstream: frame features with a padding mask, clip
    features, and the facts a harness needs (``sample_rate``, ``hop`` and ``receptive_field``
    in samples, ``feature_dim``, ``num_layers``, ``training_samples``).

    A method plugs in by subclassing and implementing :meth:`num_frames` and
    :meth:`encode_chunks`; chunking, batching, input checks and pooling live here, so callers
    never change. Layer 0 is the front end's output, layers 1..``num_layers`` the blocks'.

    Long audio is cut into chunks of ``training_samples`` (the crop length the model was
    trained on). Consecutive chunks start ``chunk_step`` samples apart: a whole number of
    frame hops, so the chunks' frames concatenate into the same regular frame grid a single
    pass would give; neighbouring chunks share less than one receptive field of audio, and a
    frame near a chunk's start sees only that chunk's context.
    """

    sample_rate: int
    hop: int
    receptive_field: int
    feature_dim: int
    num_layers: int
    training_samples: int
    # the features linear evaluation uses unless told otherwise: an index or "all" (concatenated)
    default_layer: Layer = -1

    def num_frames(self, samples: int) -> int:
        """Frames out of ``samples`` samples (0 when shorter than the receptive field)."""
        raise NotImplementedError

    def encode_chunks(self, chunks: torch.Tensor) -> List[torch.Tensor]:
        """B x C equal-length chunks (no padding) -> every layer's B x T x D frames, layer 0 first."""
        raise NotImplementedError

    def randomly_initialised(self, seed: int) -> "AudioEncoder":
        """The same architecture and settings with fresh random weights: the untrained
        reference every downstream score is compared with."""
        raise NotImplementedError

    @property
    def chunk_step(self) -> int:
        return self.num_frames(self.training_samples) * self.hop

    def chunk_starts(self, samples: int) -> List[int]:
        """Where each chunk of a ``samples``-long clip starts; a tail too short for one frame is
        covered by the previous chunk already (its frames are the grid's last ones)."""
        starts, start = [0], self.chunk_step
        while start < samples and self.num_frames(samples - start) > 0:
            starts.append(start)
            start += self.chunk_step
        return starts

    def timestamps(self, frames: int) -> torch.Tensor:
        """Centres of the first ``frames`` frames of the grid, in seconds."""
        return (torch.arange(frames, dtype=torch.float64) * self.hop + self.receptive_field / 2) / self.sample_rate

    @torch.no_grad()
    def frame_features(self, audio, sample_rate: int, layer: Layer = -1, batch_size: int = 16) -> FrameFeatures:
        """Frame features of mono audio at ``sample_rate`` (checked against the model's).

        audio: one 1-D waveform, a B x S batch of equal-length clips, or a list of 1-D
            waveforms of any lengths (tensors or numpy arrays).
        layer: an index into the layers (0 = front end, -1 = last) or ``"all"``.
        batch_size: chunks per forward pass.
        """
        waveforms = self.check_audio(audio, sample_rate)
        layers = self.layer_indices(layer)
        plans = [self.chunk_starts(len(w)) for w in waveforms]
        pieces = [(row, start) for row, starts in enumerate(plans) for start in starts]
        outputs = self._run_chunks(waveforms, pieces, layers, batch_size)
        per_clip = [[] for _ in waveforms]
        for (row, _), out in zip(pieces, outputs):
            per_clip[row].append(out)
        clips = [torch.cat(chunks, dim=-2) for chunks in per_clip]  # (L x) T_b x D each
        longest = max(c.shape[-2] for c in clips)
        features = clips[0].new_zeros(len(layers), len(clips), longest, clips[0].shape[-1])
        padding = torch.ones(len(clips), longest, dtype=torch.bool)
        for row, c in enumerate(clips):
            features[:, row, : c.shape[-2]] = c
            padding[row, : c.shape[-2]] = False
        if layer != "all":
            features = features[0]
        return FrameFeatures(features, padding.to(features.device), self.timestamps(longest))

    def clip_features(self, audio, sample_rate: int, layer: Layer = -1, batch_size: int = 16) -> torch.Tensor:
        """The mean of :meth:`frame_features` over each clip's frames: B x D (L x B x D for "all")."""
        return self.frame_features(audio, sample_rate, layer, batch_size).clip()

    def layer_indices(self, layer: Layer) -> List[int]:
        if layer == "all":
            return list(range(self.num_layers + 1))
        if not isinstance(layer, int) or not -(self.num_layers + 1) <= layer <= self.num_layers:
            raise ValueError(f"layer={layer!r}: expected 'all' or an index in "
                             f"[-{self.num_layers + 1}, {self.num_layers}] (0 = front end)")
        return [layer % (self.num_layers + 1)]

    def _run_chunks(self, waveforms, pieces, layers, batch_size) -> List[torch.Tensor]:
        """Every (row, start) chunk through :meth:`encode_chunks`, equal lengths batched together
        so no padding ever enters the model; returns each chunk's L x T x D frames in order."""
        device = next(self.parameters()).device
        by_length: Dict[int, List[int]] = {}
        for index, (row, start) in enumerate(pieces):
            length = min(self.training_samples, len(waveforms[row]) - start)
            by_length.setdefault(length, []).append(index)
        outputs: List[Optional[torch.Tensor]] = [None] * len(pieces)
        was_training = self.training
        self.eval()
        try:
            for length, indices in by_length.items():
                for first in range(0, len(indices), batch_size):
                    group = indices[first: first + batch_size]
                    batch = torch.stack([waveforms[pieces[i][0]][pieces[i][1]: pieces[i][1] + length] for i in group])
                    every_layer = self.encode_chunks(batch.to(device))
                    chosen = torch.stack([every_layer[l] for l in layers])  # L x B x T x D
                    for position, i in enumerate(group):
                        outputs[i] = chosen[:, position]
        finally:
            self.train(was_training)
        return outputs

    def check_audio(self, audio, sample_rate: int) -> List[torch.Tensor]:
        """The clips as 1-D float32 tensors, or :class:`EncoderInputError` saying what is wrong."""
        if sample_rate != self.sample_rate:
            raise EncoderInputError(
                f"audio at {sample_rate} Hz, but this model takes {self.sample_rate} Hz. Fix: resample "
                f"first, e.g. torchaudio.functional.resample(audio, {sample_rate}, {self.sample_rate})")
        if isinstance(audio, (torch.Tensor, np.ndarray)):
            audio = torch.as_tensor(audio)
            if audio.dim() == 3 and audio.shape[1] == 1:
                audio = audio[:, 0]
            if audio.dim() == 1:
                audio = audio[None]
            if audio.dim() != 2:
                raise EncoderInputError(
                    f"audio of shape {tuple(audio.shape)}: expected mono, as S samples, a B x S batch or "
                    "a list of 1-D clips. Stereo or multi-channel? Fix: average the channels first")
            clips = list(audio)
        else:
            clips = [torch.as_tensor(c) for c in audio]
        if not clips:
            raise EncoderInputError("no audio: an empty list or batch")
        for index, clip in enumerate(clips):
            if clip.dim() != 1:
                raise EncoderInputError(
                    f"clip {index} has shape {tuple(clip.shape)}: expected mono samples (1-D). "
                    "Stereo or multi-channel? Fix: average the channels first, e.g. clip.mean(0)")
            if len(clip) == 0:
                raise EncoderInputError(f"clip {index} is empty (0 samples)")
            if self.num_frames(len(clip)) == 0:
                raise EncoderInputError(
                    f"clip {index} has {len(clip)} samples, fewer than the model's receptive field of "
                    f"{self.receptive_field} ({1000 * self.receptive_field / self.sample_rate:.0f} ms). "
                    "Fix: pad it with zeros or drop it")
            if not bool(torch.isfinite(clip).all()):
                raise EncoderInputError(f"clip {index} holds NaN or infinite samples")
        return [c.float() for c in clips]


class EhmamEncoder(AudioEncoder):
    """EH-MAM's student (front end and Transformer) behind the feature API. Every chunk is
    normalised to zero mean and unit variance, as in pretraining. Linear evaluation uses every
    layer by default, concatenated, as EVAR does for wav2vec 2.0 and HuBERT."""

    default_layer = "all"

    def __init__(self, student: StudentEncoder, training_samples: Optional[int] = None):
        super().__init__()
        self.student = student.eval()
        frontend = student.frontend
        self.sample_rate = SAMPLE_RATE
        self.hop = frontend.stride
        self.receptive_field = frontend.receptive_field
        self.feature_dim = student.cfg.encoder.embed_dim
        self.num_layers = student.cfg.encoder.layers
        self.training_samples = int(training_samples or round(DEFAULT_TRAINING_SECONDS * SAMPLE_RATE))
        self.eval()

    def num_frames(self, samples: int) -> int:
        cfg = self.student.cfg.frontend
        return int(conv_output_length(samples, cfg.conv_kernels, cfg.conv_strides))

    def randomly_initialised(self, seed: int) -> "EhmamEncoder":
        return EhmamEncoder(StudentEncoder.with_random_weights(self.student.cfg, seed), self.training_samples)

    def encode_chunks(self, chunks: torch.Tensor) -> List[torch.Tensor]:
        frames, out = self.student.encode(normalize_waveform(chunks))
        # layer_norm_first models end with a layer norm: the last layer is the encoder's output
        return [frames] + out.layers[:-1] + [out.hidden]


# Readers of checkpoint kinds: (name, does this state hold one?, build the encoder). A method
# registers its own with register_encoder; load_encoder asks each in turn.
EncoderReader = Callable[[dict, str], AudioEncoder]
_READERS: List[Tuple[str, Callable[[dict], bool], EncoderReader]] = []


def register_encoder(name: str, recognises: Callable[[dict], bool], read: EncoderReader) -> None:
    """Make :func:`load_encoder` read another kind of checkpoint (a spectrogram method's)."""
    _READERS.append((name, recognises, read))


def _read_ehmam(state: dict, source: str) -> AudioEncoder:
    found = student_weights(state, source)
    student = StudentEncoder(found.cfg)
    load_weights(student, found.weights, source)
    return EhmamEncoder(student, found.training_samples)


register_encoder("EH-MAM", holds_ehmam, _read_ehmam)


def _spectrogram_reader(weights: Callable[[dict, str], SpectrogramWeights]) -> EncoderReader:
    def read(state: dict, source: str) -> AudioEncoder:
        found = weights(state, source)
        vit = ViTEncoder(found.cfg.encoder)
        load_weights(vit, found.encoder, source)
        frontend = found.frontend
        if getattr(frontend, "target_frames", None) is not None:
            # chunks are cut to the training frames already; no padding to a clip length
            frontend = dataclasses.replace(frontend, target_frames=None)
        return SpectrogramViTEncoder(spectrogram_frontend(frontend), vit, found.training_frames)
    return read


for _method in SPECTROGRAM_METHODS:  # M2D, Audio-MAE / MSM-MAE, the audio JEPA
    register_encoder(_method.label, _method.holds, _spectrogram_reader(_method.weights))
del _method


def encoder_kinds() -> List[str]:
    """The names of the checkpoint kinds :func:`load_encoder` reads ("EH-MAM", "M2D", ...)."""
    return [name for name, _, _ in _READERS]


def load_encoder(checkpoint: Union[str, Path], device: Union[str, torch.device] = "cpu",
                 expect: Optional[str] = None) -> AudioEncoder:
    """The encoder of any ehmam checkpoint (fairseq pretraining, CTC fine-tuned, the plain
    loop; the spectrogram methods as they register), in eval mode on ``device``.
    ``expect``: one of :func:`encoder_kinds`; a checkpoint of another kind is refused.
    :class:`~ehmam.checkpoints.CheckpointError` for a missing, unreadable or foreign file."""
    if expect is not None and expect not in encoder_kinds():
        raise ValueError(f"expect={expect!r}: not a checkpoint kind; expected one of {encoder_kinds()}")
    state = read_checkpoint(checkpoint, "the feature API")
    for name, recognises, read in _READERS:
        if recognises(state):
            if expect is not None and name != expect:
                raise CheckpointError(f"{checkpoint}: holds {name} weights, not {expect}",
                                      f"pass a {expect} checkpoint, or read this one as {name}")
            return read(state, str(checkpoint)).to(device).eval()
    name = (fairseq_config(state) or {}).get("_name")
    held = f"a fairseq {name!r} model" if name else "no model config ehmam knows"
    raise CheckpointError(
        f"{checkpoint}: holds {held}, not one of ehmam's ({', '.join(encoder_kinds())}). "
        "Fix: pass a checkpoint written by ehmam's training (fairseq-hydra-train with our user_dir, "
        "or scripts/pretrain_plain.py)")


class SpectrogramViTEncoder(AudioEncoder):
    """A spectrogram front end and a ViT behind the feature API, by M2D's convention: the
    frequency patches of each time step are concatenated (F' x D per step: 5 x 768 = 3840 at
    ViT-B on 80 mel bins, 8 x 768 = 6144 on Audio-MAE's 128), so a frame is one column of
    patches, ``patch_size[1]`` spectrogram frames (160 ms at 16 x 16 patches and a 10 ms
    hop) apart. M2D, Audio-MAE / MSM-MAE and the audio JEPA register readers that build this
    from their checkpoints; the front end is M2D's log-mel or Audio-MAE's Kaldi filter bank.

    Chunks hold ``training_frames`` frames, rounded down to whole patch columns as training
    cropped them; they are that many hops apart, so the chunks' frames continue one grid. A
    chunk whose frames do not fill whole patch columns (the last one of a clip) is padded with
    zeros after normalisation, up to the next column, as M2D's ``encode_lms`` does. Layer 0 is the embedded patches (with positions),
    then every block; the last is the final layer norm's output (M2D's features). Linear
    evaluation uses the last layer, as EVAR's M2D config does.
    """

    default_layer = -1

    def __init__(self, frontend: nn.Module, vit: ViTEncoder, training_frames: int):
        super().__init__()
        self.frontend, self.vit = frontend, vit
        self.patch_frequency, self.patch_time = vit.cfg.patch_size
        rows = frontend.bins // self.patch_frequency
        if rows < 1 or training_frames < self.patch_time:
            raise ValueError(f"{frontend.bins} frequency bins x {training_frames} frames hold no "
                             f"{self.patch_frequency} x {self.patch_time} patch")
        # the models train on whole patch columns (models.patches.whole_columns drops a partial
        # one), so a chunk is whole columns too, and chunks continue one regular column grid
        training_frames -= training_frames % self.patch_time
        self.sample_rate = frontend.cfg.sample_rate
        self.hop = self.patch_time * frontend.hop_samples
        # the samples one patch column needs
        self.receptive_field = frontend.samples_for(self.patch_time)
        self.feature_dim = rows * vit.cfg.embed_dim
        self.num_layers = vit.cfg.depth
        self.training_samples = frontend.samples_for(training_frames)  # exactly training_frames frames
        self.training_frames = training_frames
        self.eval()

    @property
    def chunk_step(self) -> int:
        return self.training_frames * self.frontend.hop_samples

    def num_frames(self, samples: int) -> int:
        if samples < self.frontend.min_samples:
            return 0
        return -(-self.frontend.num_frames(samples) // self.patch_time)

    def encode_chunks(self, chunks: torch.Tensor) -> List[torch.Tensor]:
        images = self.frontend.images(chunks)
        images = F.pad(images, (0, -images.shape[-1] % self.patch_time))
        out = self.vit(images)
        rows, columns = out.grid
        states = [out.embedded] + out.layers[:-1] + [out.hidden]
        frames = []
        for x in states:
            x = x[:, 1:] if out.has_cls else x
            # patch n = row * columns + column: B x rows x columns x D -> B x columns x (rows * D)
            x = x.reshape(len(x), rows, columns, -1).permute(0, 2, 1, 3)
            frames.append(x.reshape(len(x), columns, -1))
        return frames

    def randomly_initialised(self, seed: int) -> "SpectrogramViTEncoder":
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            vit = ViTEncoder(self.vit.cfg)
        return SpectrogramViTEncoder(spectrogram_frontend(self.frontend.cfg), vit, self.training_frames)
