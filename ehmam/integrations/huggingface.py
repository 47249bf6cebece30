"""EH-MAM checkpoints as HuggingFace ``transformers`` models, with no code but the library's.

The default EH-MAM student is, weight for weight, transformers' ``Data2VecAudioModel``: the
same layer-norm convolutional front end, convolutional positional embedding (a stack of
grouped convs) and post-norm Transformer blocks. A CTC fine-tuned one (fairseq's
``wav2vec_ctc``) is ``Data2VecAudioForCTC``. So the export is renames, one split (our fused
``qkv`` projection is chunked into ``q_proj``, ``k_proj``, ``v_proj``) and a vocabulary:

    python -m ehmam.export_hf checkpoints/demo_ctc/checkpoint_best.pt exported/demo_ctc \\
        --results outputs/demo/decode/test.greedy.json --results outputs/demo/decode/test.kenlm.json

    from transformers import pipeline
    asr = pipeline("automatic-speech-recognition", model="exported/demo_ctc")

Layer ``i`` of our encoder (``EncoderOutput.layers[i]``) is HF's ``hidden_states[i + 1]``;
``hidden_states[0]`` is the input to the first block.

**Padded batches differ; single utterances match.** Our positional embedding zeroes padded
frames before each of its convs (so a padded utterance gets the embedding it has alone); HF's
zeroes them once, before the first. The exported model is exact on unpadded input, which is
what the ASR pipeline feeds it by default (batch size 1); the main README's "Export to
HuggingFace transformers" gives the measured difference on padded batches (on the demo, 69 of
200 transcripts change in batches of 8, the WER by 0.11 points). We export the stock class rather than
shipping modelling code (``trust_remote_code``): the folder then loads with no code but the
library's, on any platform that refuses remote code, and keeps loading as transformers moves.

Not convertible to the stock class, and refused: the group-norm front end (wav2vec 2.0
base's; data2vec-audio has layer norms only), pre-norm blocks (``layer_norm_first``), and
fairseq's ``blank_mode: set`` (a fixed blank logit is no linear layer).

Reading the checkpoint needs neither fairseq nor an unsafe unpickler
(:func:`ehmam.checkpoints.read_checkpoint`); writing needs ``transformers``.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import torch

from ..checkpoints import (FINE_TUNED_MODEL, CheckpointError, fairseq_config, read_checkpoint, student_weights,
                           PathLike)
from ..configs import config_to_dict
from ..data.audio import SAMPLE_RATE
from ..masking.spec_augment import MIN_TIME_SPANS
from ..models.ehmam import EhmamConfig

# The version the tests ran against (scripts/setup.sh pins it beside s3prl's needs).
TESTED_TRANSFORMERS = "5.24.0"
# Where Data2VecAudioForCTC keeps the Data2VecAudioModel.
CTC_BACKBONE = "data2vec_audio."
# fairseq's CTC head inside a wav2vec_ctc checkpoint: Wav2VecEncoder.proj.
FAIRSEQ_CTC_HEAD = "w2v_encoder.proj."
# fairseq's dictionary puts these first; <s> (index 0) is the CTC blank.
FAIRSEQ_SPECIALS = ("<s>", "<pad>", "</s>", "<unk>")
WORD_DELIMITER = "|"


class ExportError(ValueError):
    """A checkpoint the stock transformers classes cannot hold; the message says why and what to do."""


@dataclass
class ExportSource:
    """Everything the export needs from one checkpoint, read without fairseq.

    ``cfg``: the EH-MAM config; ``weights``: the student's front end and encoder (and mask
    embedding); ``ctc_head``: ``{"weight": V x D, "bias": V}`` of a fine-tuned model, else None;
    ``symbols``: fairseq's label dictionary in index order (CTC only); ``normalize``: the model
    expects zero-mean, unit-variance waveforms; ``card``: facts for the model card."""

    cfg: EhmamConfig
    weights: Dict[str, torch.Tensor]
    normalize: bool
    ctc_head: Optional[Dict[str, torch.Tensor]] = None
    symbols: Optional[List[str]] = None
    final_dropout: float = 0.0
    card: Dict[str, object] = field(default_factory=dict)

    @property
    def is_ctc(self) -> bool:
        return self.ctc_head is not None


# -- reading --------------------------------------------------------------------------------


def _training_facts(state: dict) -> Dict[str, object]:
    """What a fairseq checkpoint says of its run: data, subset, updates, best validation value."""
    task = fairseq_config(state, "task") or {}
    ckpt = fairseq_config(state, "checkpoint") or {}
    history = state.get("optimizer_history") or [{}]
    extra = state.get("extra_state") or {}
    facts = {"data": task.get("data"), "train_subset": task.get("train_subset", "train"),
             "labels": task.get("labels"), "updates": history[-1].get("num_updates")}
    if extra.get("best") is not None:
        facts["best_valid"] = (ckpt.get("best_checkpoint_metric", "loss"), float(extra["best"]))
    return facts


def read_source(path: PathLike) -> ExportSource:
    """The :class:`ExportSource` of a pretraining checkpoint (fairseq's or the plain loop's) or
    of a CTC fine-tuned one, refused with :class:`ExportError` when the stock classes cannot
    hold it."""
    state = read_checkpoint(path, "exporting to transformers")
    found = student_weights(state, str(path))  # refuses what is not EH-MAM, naming what it is
    model_cfg = fairseq_config(state) or {}
    fine_tuned = model_cfg.get("_name") == FINE_TUNED_MODEL
    prefix = "w2v_encoder.w2v_model.ehmam." if fine_tuned else ("ehmam." if model_cfg else "")
    weights = dict(found.weights)
    mask_embedding = state["model"].get(prefix + "mask_embedding")  # SpecAugment's, for fine-tuning in HF
    if mask_embedding is not None:
        weights["mask_embedding"] = mask_embedding
    if fine_tuned:
        w2v_args = model_cfg["w2v_args"]
        source = ExportSource(found.cfg, weights, bool((w2v_args.get("task") or {}).get("normalize", True)))
        source.card = {"pretraining": _training_facts({"cfg": w2v_args}),
                       "finetuning": _training_facts(state), "pretrained_from": model_cfg.get("w2v_path")}
        head = {k[len(FAIRSEQ_CTC_HEAD):]: v for k, v in state["model"].items() if k.startswith(FAIRSEQ_CTC_HEAD)}
        if set(head) != {"weight", "bias"}:
            raise ExportError(f"{path}: a {FINE_TUNED_MODEL} checkpoint without its CTC head "
                              f"({FAIRSEQ_CTC_HEAD}weight and bias); found {sorted(head)}")
        source.ctc_head = _with_blank_weight(head, model_cfg, path)
        source.symbols = _dictionary_symbols(state, path, head["weight"].shape[0])
        source.final_dropout = float(model_cfg.get("final_dropout", 0.0))
    else:
        task = fairseq_config(state, "task") or {}
        source = ExportSource(found.cfg, weights, bool(task.get("normalize", True)))
        source.card = {"pretraining": _training_facts(state) if model_cfg else
                       {"updates": state.get("steps"), "data": None}}
    check_convertible(source.cfg, str(path))
    check_finite({**source.weights, **{FAIRSEQ_CTC_HEAD + k: v for k, v in (source.ctc_head or {}).items()}},
                 str(path))
    return source


def check_finite(weights: Dict[str, torch.Tensor], source: str) -> None:
    """:class:`ExportError` naming the tensors holding NaN or inf: a diverged run's weights
    would export silently and transcribe nothing."""
    bad = [name for name, value in weights.items() if value.is_floating_point() and not bool(value.isfinite().all())]
    if bad:
        raise ExportError(f"{source}: {len(bad)} tensors hold NaN or inf values ({', '.join(bad[:5])}"
                          f"{', ...' if len(bad) > 5 else ''}); the run diverged before this checkpoint. Fix: export "
                          "an earlier checkpoint (checkpoint_best.pt or a checkpoint_<epoch>_<update>.pt)")


def _with_blank_weight(head: Dict[str, torch.Tensor], model_cfg: dict, path) -> Dict[str, torch.Tensor]:
    """fairseq adds ``blank_weight`` to the blank's logit at inference (``blank_mode: add``):
    the same as adding it to the head's bias. ``blank_mode: set`` replaces the logit with a
    constant, which no linear layer can do."""
    blank_weight = float(model_cfg.get("blank_weight", 0.0) or 0.0)
    if blank_weight == 0.0:
        return dict(head)
    mode = model_cfg.get("blank_mode", "add")
    if mode != "add":
        raise ExportError(f"{path}: model.blank_mode={mode!r} with blank_weight={blank_weight} sets the blank's "
                          "logit to a constant, which Data2VecAudioForCTC's linear head cannot express. Fix: "
                          "export with blank_weight 0 (or blank_mode add) and apply it in your decoder")
    bias = head["bias"].clone()
    bias[0] += blank_weight
    return {"weight": head["weight"], "bias": bias}


def _dictionary_symbols(state: dict, path, vocab_size: int) -> List[str]:
    dictionary = (state.get("task_state") or {}).get("target_dictionary")
    symbols = getattr(dictionary, "symbols", None) if dictionary is not None else None
    if not symbols:
        raise ExportError(f"{path}: holds no label dictionary (task_state.target_dictionary); the exported "
                          "tokenizer needs it. Fix: export a checkpoint written by fairseq-hydra-train's "
                          "ehmam_audio_finetuning task")
    symbols = list(symbols)
    if tuple(symbols[:4]) != FAIRSEQ_SPECIALS:
        raise ExportError(f"{path}: the label dictionary starts {symbols[:4]}, not fairseq's {list(FAIRSEQ_SPECIALS)}; "
                          "the blank (<s>, index 0) would be lost")
    if len(symbols) != vocab_size:
        raise ExportError(f"{path}: the label dictionary has {len(symbols)} symbols but the CTC head "
                          f"{vocab_size} outputs")
    if WORD_DELIMITER not in symbols:
        raise ExportError(f"{path}: the label dictionary has no word delimiter {WORD_DELIMITER!r}; the tokenizer "
                          "could not split words. Letter labels (.ltr) always have it")
    return symbols


def check_convertible(cfg: EhmamConfig, source: str = "checkpoint") -> None:
    """:class:`ExportError` for what ``Data2VecAudioModel`` cannot hold."""
    if cfg.frontend.norm != "layer_norm":
        raise ExportError(
            f"{source}: its front end uses frontend.norm={cfg.frontend.norm!r} (wav2vec 2.0 base's group norm on the "
            "first conv); transformers' Data2VecAudioModel has a layer norm after every conv, so it cannot hold "
            "these weights. Only models trained with frontend.norm=layer_norm (the EH-MAM default) export")
    if cfg.encoder.layer_norm_first:
        raise ExportError(
            f"{source}: its encoder uses pre-norm blocks (encoder.layer_norm_first=true); transformers' "
            "Data2VecAudioModel has post-norm blocks only (its Wav2Vec2 'stable layer norm' variant cannot hold our "
            "positional conv stack). Only models trained with layer_norm_first=false (the default) export")


# -- converting -----------------------------------------------------------------------------


def hf_config(source: ExportSource):
    """The ``Data2VecAudioConfig`` of the model: sizes, the dropout and SpecAugment settings
    the checkpoint trained with, and for CTC the vocabulary and blank (``pad_token_id=0``)."""
    from transformers import Data2VecAudioConfig

    cfg = source.cfg
    fe, enc, aug = cfg.frontend, cfg.encoder, cfg.spec_augment
    if source.is_ctc:
        extra = dict(vocab_size=len(source.symbols), pad_token_id=0, bos_token_id=1, eos_token_id=2,
                     architectures=["Data2VecAudioForCTC"])
    else:
        extra = dict(architectures=["Data2VecAudioModel"])
    return Data2VecAudioConfig(
        hidden_size=enc.embed_dim, num_hidden_layers=enc.layers, num_attention_heads=enc.heads,
        intermediate_size=enc.ffn_dim, hidden_act="gelu", feat_extract_activation="gelu",
        hidden_dropout=enc.dropout, attention_dropout=enc.attention_dropout,
        activation_dropout=enc.activation_dropout, feat_proj_dropout=fe.dropout, layerdrop=enc.layerdrop,
        final_dropout=source.final_dropout, layer_norm_eps=1e-5,
        conv_dim=list(fe.conv_channels), conv_kernel=list(fe.conv_kernels), conv_stride=list(fe.conv_strides),
        conv_bias=fe.conv_bias,
        # data2vec-audio's names: num_conv_pos_embeddings counts the convs, conv_pos_kernel_size is their kernel
        num_conv_pos_embeddings=enc.pos_conv_depth, conv_pos_kernel_size=enc.pos_conv_kernel,
        num_conv_pos_embedding_groups=enc.pos_conv_groups,
        # HF draws floor(prob * T / length + u) spans, at least 2 in time, as our spec_augment does
        mask_time_prob=aug.mask_prob, mask_time_length=aug.mask_length, mask_time_min_masks=MIN_TIME_SPANS,
        mask_feature_prob=aug.mask_channel_prob, mask_feature_length=aug.mask_channel_length,
        ctc_loss_reduction="sum", ctc_zero_infinity=True, **extra)


# one Transformer block: our names -> data2vec-audio's (the fused qkv is split separately)
BLOCK_NAMES = {"attention.out.": "attention.out_proj.", "attention_norm.": "layer_norm.",
               "fc1.": "feed_forward.intermediate_dense.", "fc2.": "feed_forward.output_dense.",
               "ffn_norm.": "final_layer_norm."}


def hf_state_dict(cfg: EhmamConfig, weights: Dict[str, torch.Tensor], has_mask_embedding: bool = True
                  ) -> Dict[str, torch.Tensor]:
    """Our student's weights (``frontend.*``, ``encoder.*``, ``mask_embedding``) under
    ``Data2VecAudioModel``'s names. Every one of ours must be placed: a name left over is an
    error, not a silent drop."""
    renames = {"frontend.norm.": "feature_projection.layer_norm.",
               "frontend.projection.": "feature_projection.projection.",
               "encoder.norm.": "encoder.layer_norm."}
    for i in range(len(cfg.frontend.conv_channels)):
        renames[f"frontend.extractor.layers.{i}.0."] = f"feature_extractor.conv_layers.{i}.conv."
        renames[f"frontend.extractor.layers.{i}.1."] = f"feature_extractor.conv_layers.{i}.layer_norm."
    for j in range(cfg.encoder.pos_conv_depth):
        renames[f"encoder.pos_conv.convs.{j}."] = f"encoder.pos_conv_embed.layers.{j}.conv."
    for i in range(cfg.encoder.layers):
        block = f"encoder.layers.{i}."
        renames.update({block + ours: block + theirs for ours, theirs in BLOCK_NAMES.items()})
    out: Dict[str, torch.Tensor] = {}
    for name, value in weights.items():
        if name == "mask_embedding":
            if has_mask_embedding:
                out["masked_spec_embed"] = value
            continue
        if name.startswith("encoder.layers.") and ".attention.qkv." in name:
            # our fused projection's rows are q, then k, then v (SelfAttention's view(..., 3, heads, ...))
            for part, chunk in zip(("q_proj", "k_proj", "v_proj"), value.chunk(3, dim=0)):
                out[name.replace("attention.qkv.", f"attention.{part}.")] = chunk.clone()
            continue
        prefix = next((p for p in renames if name.startswith(p)), None)
        if prefix is None:
            raise ExportError(f"weight {name!r} has no place in Data2VecAudioModel; this version of the exporter "
                              "does not know it")
        out[renames[prefix] + name[len(prefix):]] = value
    return out


def build_model(source: ExportSource):
    """The transformers model holding the checkpoint's weights (strictly loaded), in eval mode."""
    from transformers import Data2VecAudioForCTC, Data2VecAudioModel

    config = hf_config(source)
    model = (Data2VecAudioForCTC if source.is_ctc else Data2VecAudioModel)(config)
    has_mask = hasattr(model.data2vec_audio if source.is_ctc else model, "masked_spec_embed")
    weights = hf_state_dict(source.cfg, source.weights, has_mask)
    if source.is_ctc:
        weights = {CTC_BACKBONE + k: v for k, v in weights.items()}
        weights.update({"lm_head." + k: v for k, v in source.ctc_head.items()})
    missing, unexpected = model.load_state_dict(weights, strict=False)
    if missing or unexpected:
        raise ExportError(f"the converted weights do not fill {type(model).__name__}: missing {missing[:5]}, "
                          f"unexpected {unexpected[:5]}")
    return model.eval()


def hf_vocabulary(symbols: Sequence[str]) -> Dict[str, int]:
    """fairseq's dictionary as a CTC tokenizer's ``vocab.json``. fairseq's blank is ``<s>`` at
    index 0; HF's CTC tokenizer takes the pad token as blank. Swapping the two names (as
    transformers' own wav2vec 2.0 converter does) keeps every index, so no weight moves."""
    names = list(symbols)
    names[0], names[1] = names[1], names[0]
    return {name: index for index, name in enumerate(names)}


def feature_extractor(source: ExportSource):
    from transformers import Wav2Vec2FeatureExtractor

    # return_attention_mask: the layer-norm front end must see padding as padding
    return Wav2Vec2FeatureExtractor(feature_size=1, sampling_rate=SAMPLE_RATE, padding_value=0.0,
                                    do_normalize=source.normalize, return_attention_mask=True)


def processor(source: ExportSource, folder: Path):
    """The feature extractor and, for CTC, the tokenizer (``vocab.json`` written into ``folder``)."""
    from transformers import Wav2Vec2CTCTokenizer, Wav2Vec2Processor

    extractor = feature_extractor(source)
    if not source.is_ctc:
        return extractor
    vocab = folder / "vocab.json"
    vocab.write_text(json.dumps(hf_vocabulary(source.symbols), ensure_ascii=False, indent=1) + "\n")
    tokenizer = Wav2Vec2CTCTokenizer(str(vocab), bos_token="<s>", eos_token="</s>", unk_token="<unk>",
                                     pad_token="<pad>", word_delimiter_token=WORD_DELIMITER, do_lower_case=False)
    return Wav2Vec2Processor(feature_extractor=extractor, tokenizer=tokenizer)


# -- writing --------------------------------------------------------------------------------


@dataclass
class Exported:
    folder: Path
    kind: str  # "ctc" or "pretrained"
    parameters: int
    files: List[str]


# What an export may write; --overwrite removes these (and only these) from OUT_DIR first, so a
# CTC folder re-exported as a pretrained model keeps no stale tokenizer.
EXPORT_FILES = ("config.json", "model.safetensors", "preprocessor_config.json", "processor_config.json",
                "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json", "vocab.json",
                "README.md")


def export(checkpoint: PathLike, out_dir: PathLike, results: Sequence[PathLike] = (),
           overwrite: bool = False) -> Exported:
    """Write ``out_dir``: ``config.json``, ``model.safetensors``, the feature extractor's
    ``preprocessor_config.json``, for CTC the tokenizer (``vocab.json``, ``tokenizer_config.json``)
    and a model card (``README.md``) citing the metrics of ``results`` (``ehmam.asr.decode``'s
    ``{split}.{method}.json`` files). A non-empty ``out_dir`` is refused unless ``overwrite``.
    Everything is written into a temporary folder beside ``out_dir`` first and moved in at the
    end, so a failure leaves no half-written model."""
    from ..outputs import prepare_output_dir

    out = Path(out_dir)
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise ExportError(f"{out}: exists and is not empty; exporting would mix two models' files. Fix: pass "
                          "an empty or new folder, or --overwrite to replace its files")
    metrics = [read_results(Path(r)) for r in results]  # before any work: a bad file fails fast
    source = read_source(checkpoint)
    model = build_model(source)
    prepare_output_dir(out, "OUT_DIR")
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=out.parent))
    try:
        model.save_pretrained(staging)
        written = processor(source, staging)
        written.save_pretrained(staging)
        if source.is_ctc:  # transformers 5 folds the feature extractor into processor_config.json; 4.x
            written.feature_extractor.save_pretrained(staging)  # reads preprocessor_config.json
        (staging / "README.md").write_text(model_card(source, Path(checkpoint), metrics, out))
        for name in EXPORT_FILES:
            (out / name).unlink(missing_ok=True)
        for path in staging.iterdir():
            os.replace(path, out / path.name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return Exported(out, "ctc" if source.is_ctc else "pretrained", sum(p.numel() for p in model.parameters()),
                    sorted(p.name for p in out.iterdir()))


def read_results(path: Path) -> dict:
    """One ``ehmam.asr.decode`` result file, checked for what the model card cites."""
    if not path.is_file():
        raise ExportError(f"--results {path}: file does not exist (ehmam.asr.decode writes "
                          "{split}.{method}.json into its --out)")
    try:
        result = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ExportError(f"--results {path}: not JSON ({err})") from err
    missing = [k for k in ("split", "method", "wer", "cer", "utterances") if k not in result]
    if missing:
        raise ExportError(f"--results {path}: lacks {missing}; expected a {{split}}.{{method}}.json of ehmam.asr.decode")
    return result


def _manifest_hours(data: Optional[str], subset: Optional[str]) -> Optional[float]:
    """Hours of audio in ``{data}/{subset}.tsv`` if that manifest is on this machine."""
    if not data or not subset:
        return None
    from ..data.manifest import read_manifest

    path = Path(data) / f"{subset}.tsv"
    if not path.is_file():
        return None
    try:
        manifest = read_manifest(path)
    except (OSError, ValueError):
        return None
    return sum(e.num_samples for e in manifest.entries) / SAMPLE_RATE / 3600


def _data_line(facts: dict) -> str:
    data, subset = facts.get("data"), facts.get("train_subset")
    if not data:
        return "not recorded in the checkpoint"
    hours = _manifest_hours(data, subset)
    size = f", {hours:.2f} h of audio" if hours is not None else " (manifest not on the exporting machine)"
    labels = f", labels `.{facts['labels']}`" if facts.get("labels") else ""
    updates = f"; {facts['updates']} updates" if facts.get("updates") is not None else ""
    return f"`{data}/{subset}.tsv`{size}{labels}{updates}"


def model_card(source: ExportSource, checkpoint: Path, metrics: Sequence[dict], out: Path) -> str:
    """The exported folder's README.md: method, data, metrics measured and how to load it."""
    cfg = source.cfg
    masking = getattr(cfg.masking, "masking", "easy_to_hard")
    method = ("EH-MAM (easy-to-hard masking, arXiv 2410.13179)" if masking == "easy_to_hard"
              else f"the data2vec 2.0 ablation of EH-MAM ({masking} masking)")
    size = (f"{cfg.encoder.layers} blocks of width {cfg.encoder.embed_dim}, {cfg.encoder.heads} heads, "
            f"feed-forward {cfg.encoder.ffn_dim}")
    lines = ["---", "library_name: transformers", "pipeline_tag: " +
             ("automatic-speech-recognition" if source.is_ctc else "feature-extraction"),
             "tags: [ehmam, data2vec-audio, self-supervised-learning, speech]", "---", "",
             f"# {out.name}", "",
             f"Exported by `python -m ehmam.export_hf` from `{checkpoint}`.", "",
             "## Method", "",
             f"- Pretraining: {method}; a student/EMA-teacher model on raw 16 kHz waveform ({size}).",
             f"- Pretraining data: {_data_line(source.card.get('pretraining') or {})}."]
    if source.is_ctc:
        ft = source.card.get("finetuning") or {}
        lines += [f"- CTC fine-tuning (fairseq `wav2vec_ctc`, letters): {_data_line(ft)}.",
                  f"- Fine-tuned from: `{source.card.get('pretrained_from')}`."]
        if ft.get("best_valid"):
            name, value = ft["best_valid"]
            lines.append(f"- Best validation {name} during fine-tuning (fairseq's greedy check): {value:.2f}.")
    lines += ["", "## Metrics measured", ""]
    if metrics:
        lines += ["| split | decoding | utterances | WER % | CER % |", "|---|---|---|---|---|"]
        for m in metrics:
            how = m["method"] + (f" (LM weight {m['lm_weight']}, word score {m['word_score']})"
                                 if m.get("lm") else "")
            lines.append(f"| {m['split']} | {how} | {m['utterances']} | {m['wer']:.2f} | {m['cer']:.2f} |")
        lines += ["", "Measured with `ehmam.asr.decode` on the fairseq checkpoint; the exported model's greedy "
                  "transcripts equal it on unpadded input (see below)."]
    else:
        lines.append("None were given to the exporter (`--results`); measure with `python -m ehmam.asr.decode`.")
    lines += ["", "## How to load", "", "```python"]
    if source.is_ctc:
        lines += ["from transformers import pipeline",
                  f'asr = pipeline("automatic-speech-recognition", model="{out}")',
                  'print(asr("utterance.wav")["text"])  # 16 kHz mono; one utterance at a time']
    else:
        lines += ["from transformers import AutoFeatureExtractor, Data2VecAudioModel",
                  f'model = Data2VecAudioModel.from_pretrained("{out}").eval()',
                  f'extractor = AutoFeatureExtractor.from_pretrained("{out}")',
                  "inputs = extractor(waveform, sampling_rate=16000, return_tensors=\"pt\")",
                  "out = model(**inputs, output_hidden_states=True)",
                  "# out.hidden_states[i + 1] is EH-MAM's encoder layer i; hidden_states[0] the blocks' input"]
    lines += ["```", "", "## Exactness", "",
              "- On a single (unpadded) utterance the hidden states equal the EH-MAM encoder's layer by layer "
              "(to float32 rounding)." + (" The CTC logits equal fairseq's." if source.is_ctc else ""),
              "- Padded batches differ: EH-MAM zeroes padded frames before every positional convolution, "
              "`Data2VecAudioModel` once. Frames near the end of a shorter utterance in a padded batch "
              "change; batch size 1 (the pipeline's default) avoids it.",
              "- The feature extractor normalises with variance epsilon 1e-7; fairseq's data loader and "
              "`ehmam` use 1e-5.",
              "- `scripts/compare_hf_export.py` in the ehmam repository measures both on a test set.", "",
              "## Config", "", "```json", json.dumps(config_to_dict(cfg), indent=1), "```", ""]
    return "\n".join(lines)
