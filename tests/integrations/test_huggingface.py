"""Exporting to HuggingFace transformers: the exported models against ours and fairseq's, layer
by layer, logit by logit and transcript by transcript; refusals; an offline reload; no fairseq."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from ehmam.asr.decode import load_ctc_model, main as decode_main, read_utterances, read_waveform
from ehmam.checkpoints import load_student_encoder, plain_checkpoint
from ehmam.export_hf import main as export_main
from ehmam.integrations.huggingface import ExportError, export, hf_state_dict, hf_vocabulary
from ehmam.models import EhmamConfig, EhmamModel, tiny_config
from ehmam.models.encoders.context import EncoderConfig
from ehmam.models.frontends.waveform import FrontendConfig, normalize_waveform

pytestmark = pytest.mark.timeout(600)
REPO = Path(__file__).resolve().parents[2]


def utterances(corpus, split="valid", count=3):
    """The first ``count`` waveforms of a split, normalised as fairseq's loader does."""
    return [normalize_waveform(read_waveform(u)[None]) for u in read_utterances(corpus, split)[:count]]


def assert_layers_equal(ours_path, exported, waves, atol):
    from transformers import Data2VecAudioModel

    ours = load_student_encoder(ours_path)
    theirs = Data2VecAudioModel.from_pretrained(exported).eval()
    assert len(theirs.encoder.layers) == ours.cfg.encoder.layers
    with torch.no_grad():
        for wave in waves:
            mine = ours(wave).layers
            hidden = theirs(wave, output_hidden_states=True).hidden_states
            assert len(hidden) == len(mine) + 1  # hidden_states[0]: the first block's input
            for i, layer in enumerate(mine):
                assert hidden[i + 1].shape == layer.shape
                torch.testing.assert_close(hidden[i + 1], layer, atol=atol, rtol=0, msg=f"layer {i}")


def test_tiny_checkpoint_hidden_states_equal_ours_layer_by_layer(pretrained, demo_corpus, tmp_path):
    out = tmp_path / "hf"
    done = export(pretrained, out)
    assert done.kind == "pretrained"
    assert {"config.json", "model.safetensors", "preprocessor_config.json", "README.md"} <= set(done.files)
    config = json.loads((out / "config.json").read_text())
    assert config["architectures"] == ["Data2VecAudioModel"]
    assert (config["num_conv_pos_embeddings"], config["conv_pos_kernel_size"]) == (2, 9)  # tiny: 2 convs of 9
    assert_layers_equal(pretrained, out, utterances(demo_corpus), atol=1e-4)


def test_random_base_model_hidden_states_equal_ours(demo_corpus, tmp_path):
    torch.manual_seed(7)
    model = EhmamModel(EhmamConfig())  # the paper's base: 12 blocks of 768, 5 positional convs of 19
    path = tmp_path / "base.pt"
    torch.save(plain_checkpoint(model, steps=0), path)
    del model
    export(path, tmp_path / "hf")
    config = json.loads((tmp_path / "hf" / "config.json").read_text())
    assert (config["hidden_size"], config["num_hidden_layers"], config["num_conv_pos_embeddings"],
            config["conv_pos_kernel_size"], config["num_conv_pos_embedding_groups"]) == (768, 12, 5, 19, 16)
    assert_layers_equal(path, tmp_path / "hf", utterances(demo_corpus, count=1), atol=1e-4)


def test_qkv_split_and_vocabulary_swap():
    cfg = tiny_config()
    weights = {k: v for k, v in EhmamModel(cfg).state_dict().items() if k.startswith(("frontend.", "encoder."))}
    qkv = weights["encoder.layers.1.attention.qkv.weight"]
    renamed = hf_state_dict(cfg, weights)
    dim = cfg.encoder.embed_dim
    for j, part in enumerate(("q_proj", "k_proj", "v_proj")):  # rows [j D, (j+1) D) of the fused weight
        assert torch.equal(renamed[f"encoder.layers.1.attention.{part}.weight"], qkv[j * dim:(j + 1) * dim])
    with pytest.raises(ExportError, match="'encoder.surprise' has no place"):
        hf_state_dict(cfg, {**weights, "encoder.surprise": torch.zeros(1)})
    symbols = ["<s>", "<pad>", "</s>", "<unk>", "|", "E", "T"]
    assert hf_vocabulary(symbols) == {"<pad>": 0, "<s>": 1, "</s>": 2, "<unk>": 3, "|": 4, "E": 5, "T": 6}


@pytest.fixture(scope="module")
def lively_ctc(finetuned, demo_corpus, tmp_path_factory):
    """The shared tiny fine-tuning's checkpoint with its CTC head redrawn so that greedy decoding
    emits many letters and word breaks (the 12-update model emits one or two letters): random
    directions over the encoder's output standardised on the test split. As a trained head does,
    it never emits fairseq's <pad>, </s> or <unk>."""
    source = finetuned[0] / "checkpoint_best.pt"
    encoder = load_ctc_model(source, demo_corpus).model.w2v_encoder.w2v_model
    with torch.no_grad():
        frames = torch.cat([encoder.extract_features(w)["x"][0] for w in utterances(demo_corpus, "test", 10)])
    state = torch.load(source, map_location="cpu", weights_only=False)
    head = state["model"]["w2v_encoder.proj.weight"]
    torch.manual_seed(0)
    weight = torch.randn_like(head) * 3.0 / frames.std(dim=0).clamp(min=1e-3)
    bias = -weight @ frames.mean(dim=0)
    bias[1:4] = -1e4
    state["model"]["w2v_encoder.proj.weight"], state["model"]["w2v_encoder.proj.bias"] = weight, bias
    path = tmp_path_factory.mktemp("lively") / "checkpoint_best.pt"
    torch.save(state, path)
    return path


@pytest.fixture
def ctc_checkpoint(finetuned):
    """The shared tiny CTC fine-tuning run's best checkpoint (tests/conftest.py)."""
    return finetuned[0] / "checkpoint_best.pt"


def test_ctc_logits_equal_fairseqs(ctc_checkpoint, demo_corpus, tmp_path):
    from transformers import AutoModelForCTC

    export(ctc_checkpoint, tmp_path / "hf")
    ctc = load_ctc_model(ctc_checkpoint, demo_corpus)
    theirs = AutoModelForCTC.from_pretrained(tmp_path / "hf").eval()
    assert type(theirs).__name__ == "Data2VecAudioForCTC"
    ft = torch.load(ctc_checkpoint, map_location="cpu", weights_only=False)["cfg"]["model"]  # wav2vec_ctc's
    config = theirs.config  # the fine-tuning's SpecAugment and dropout, for users who train on in HF
    assert (config.mask_time_prob, config.mask_time_length, config.mask_feature_prob, config.mask_feature_length,
            config.activation_dropout, config.final_dropout) == (
        ft["mask_prob"], ft["mask_length"], ft["mask_channel_prob"], ft["mask_channel_length"],
        ft["activation_dropout"], ft["final_dropout"])
    with torch.no_grad():
        for wave in utterances(demo_corpus, "test"):
            ours = ctc.model.get_logits(ctc.model(source=wave, padding_mask=None))[:, 0]  # T x V
            torch.testing.assert_close(theirs(wave).logits[0], ours, atol=1e-4, rtol=0)


def test_blank_weight_goes_into_the_bias_and_a_set_blank_is_refused(ctc_checkpoint, demo_corpus, tmp_path):
    from transformers import AutoModelForCTC

    state = torch.load(ctc_checkpoint, map_location="cpu", weights_only=False)
    state["cfg"]["model"]["blank_weight"] = 3.5
    torch.save(state, tmp_path / "added.pt")
    export(tmp_path / "added.pt", tmp_path / "hf")
    ctc = load_ctc_model(tmp_path / "added.pt", demo_corpus)
    assert ctc.model.blank_weight == 3.5
    wave = utterances(demo_corpus, "test", 1)[0]
    with torch.no_grad():
        ours = ctc.model.get_logits(ctc.model(source=wave, padding_mask=None))[:, 0]
        theirs = AutoModelForCTC.from_pretrained(tmp_path / "hf").eval()(wave).logits[0]
    torch.testing.assert_close(theirs, ours, atol=1e-4, rtol=0)
    state["cfg"]["model"]["blank_mode"] = "set"
    torch.save(state, tmp_path / "set.pt")
    with pytest.raises(ExportError, match="blank_mode='set'"):
        export(tmp_path / "set.pt", tmp_path / "hf_set")


def test_pipeline_transcripts_equal_greedy_decoding(lively_ctc, demo_corpus, tmp_path):
    """Every utterance of the fixture corpus's test split (the demo's 200 are measured by
    scripts/compare_hf_export.py; the README has the numbers)."""
    from transformers import pipeline

    out = tmp_path / "hf"
    assert decode_main([str(lively_ctc), "--data", str(demo_corpus), "--split", "test",
                        "--out", str(tmp_path / "decode")]) == 0
    result = tmp_path / "decode" / "test.greedy.json"
    export(lively_ctc, out, results=[result])
    measured = json.loads(result.read_text())
    card = (out / "README.md").read_text()  # the model card cites the decoding's numbers
    assert f"| test | greedy | {measured['utterances']} | {measured['wer']:.2f} | {measured['cer']:.2f} |" in card
    greedy = (tmp_path / "decode" / "test.greedy.wrd").read_text().splitlines()
    utts = read_utterances(demo_corpus, "test")
    assert len(greedy) == len(utts) >= 4
    asr = pipeline("automatic-speech-recognition", model=str(out), device="cpu")
    texts = [asr(read_waveform(u).numpy())["text"] for u in utts]
    assert texts == greedy
    # not a vacuous match: every hypothesis holds several words
    assert all(len(t.split()) >= 2 for t in texts)


def test_compare_script_sees_exact_single_utterances_and_the_padded_batch_difference(lively_ctc, demo_corpus,
                                                                                    tmp_path):
    sys.path.insert(0, str(REPO / "scripts"))
    from compare_hf_export import compare

    export(lively_ctc, tmp_path / "hf")
    found = compare(lively_ctc, tmp_path / "hf", demo_corpus, "test", batch_size=4)
    assert found["utterances"] >= 4 and found["empty_greedy_hypotheses"] == 0
    assert found["transcripts_differing_batch_1"] == 0
    assert found["max_hidden_diff_single"] < 1e-4  # (the lively head magnifies rounding in the logits)
    # HF zeroes padding once, we before each positional conv: padded rows move (the README's point)
    assert found["max_logit_diff_padded"] > 1e-3


def write_plain(tmp_path, name, cfg):
    path = tmp_path / name
    torch.save(plain_checkpoint(EhmamModel(cfg), steps=1), path)
    return path


def test_unconvertible_models_are_refused_with_the_reason(tmp_path, capsys):
    group_norm = tiny_config(frontend=FrontendConfig(conv_channels=[32] * 7, conv_kernels=[10, 3, 3, 3, 3, 2, 2],
                                                     conv_strides=[5, 2, 2, 2, 2, 2, 2], norm="group_norm"))
    pre_norm = tiny_config(encoder=EncoderConfig(embed_dim=64, layers=2, heads=4, ffn_dim=128, pos_conv_depth=2,
                                                 pos_conv_kernel=9, pos_conv_groups=4, layer_norm_first=True))
    assert export_main([str(write_plain(tmp_path, "gn.pt", group_norm)), str(tmp_path / "a")]) == 2
    assert "frontend.norm='group_norm'" in capsys.readouterr().err
    assert export_main([str(write_plain(tmp_path, "ln.pt", pre_norm)), str(tmp_path / "b")]) == 2
    assert "layer_norm_first=true" in capsys.readouterr().err
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()  # nothing half-written
    foreign = tmp_path / "m2d.pt"
    torch.save({"cfg": {"model": {"_name": "m2d"}}, "model": {}}, foreign)
    assert export_main([str(foreign), str(tmp_path / "c")]) == 2
    assert "'m2d'" in capsys.readouterr().err
    assert export_main([str(tmp_path / "missing.pt"), str(tmp_path / "d")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_non_finite_weights_are_refused_and_a_failed_export_leaves_nothing(pretrained, tmp_path, monkeypatch):
    from ehmam.integrations import huggingface

    state = torch.load(pretrained, map_location="cpu", weights_only=False)
    state["model"]["ehmam.encoder.layers.1.fc1.weight"][3, 5] = float("nan")
    torch.save(state, tmp_path / "diverged.pt")
    with pytest.raises(ExportError, match=r"1 tensors hold NaN or inf values \(encoder.layers.1.fc1.weight\)"):
        export(tmp_path / "diverged.pt", tmp_path / "out")
    assert not (tmp_path / "out").exists()

    def broken_card(*args):
        raise OSError("disk full")

    monkeypatch.setattr(huggingface, "model_card", broken_card)
    with pytest.raises(OSError, match="disk full"):
        export(pretrained, tmp_path / "out")
    assert list((tmp_path / "out").iterdir()) == []  # no half-written model ...
    assert sorted(p.name for p in tmp_path.iterdir()) == ["diverged.pt", "out"]  # ... and no staging folder


def test_a_non_empty_folder_and_bad_results_are_refused(pretrained, tmp_path, capsys):
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine")
    assert export_main([str(pretrained), str(tmp_path / "busy")]) == 2
    assert "not empty" in capsys.readouterr().err
    assert (tmp_path / "busy" / "notes.txt").read_text() == "mine"
    (tmp_path / "r.json").write_text(json.dumps({"split": "test"}))
    assert export_main([str(pretrained), str(tmp_path / "new"), "--results", str(tmp_path / "r.json")]) == 2
    assert "lacks ['method', 'wer', 'cer', 'utterances']" in capsys.readouterr().err
    (tmp_path / "busy" / "vocab.json").write_text("{}")  # a stale file of an earlier CTC export
    assert export_main([str(pretrained), str(tmp_path / "busy"), "--overwrite"]) == 0
    assert (tmp_path / "busy" / "notes.txt").read_text() == "mine"  # only the export's own files are replaced
    assert not (tmp_path / "busy" / "vocab.json").exists() and (tmp_path / "busy" / "config.json").is_file()


EXPORT_WITHOUT_FAIRSEQ = """
import sys
sys.modules["fairseq"] = None  # any import of fairseq now fails
from ehmam.export_hf import main
code = main(sys.argv[1:])
assert not any(name.startswith("fairseq") and sys.modules[name] is not None for name in sys.modules)
sys.exit(code)
"""

OFFLINE_RELOAD = """
import socket, sys
def refuse(*args, **kwargs):
    raise OSError("network access attempted")
socket.socket.connect = refuse
socket.create_connection = refuse
import numpy as np
from transformers import AutoModelForCTC, AutoProcessor, pipeline
folder = sys.argv[1]
model = AutoModelForCTC.from_pretrained(folder)
processor = AutoProcessor.from_pretrained(folder)
asr = pipeline("automatic-speech-recognition", model=folder, device="cpu")
print("TEXT", repr(asr(np.zeros(16000, dtype=np.float32))["text"]), type(processor).__name__)
"""


def test_export_needs_no_fairseq_and_the_folder_reloads_offline(lively_ctc, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
           "HF_HOME": str(tmp_path / "empty_hf_home")}  # no cache to fall back on
    out = tmp_path / "hf"
    run = subprocess.run([sys.executable, "-c", EXPORT_WITHOUT_FAIRSEQ, str(lively_ctc), str(out)],
                         capture_output=True, text=True, env=env, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "Data2VecAudioForCTC" in run.stdout
    card = (out / "README.md").read_text()
    assert "automatic-speech-recognition" in card and "Padded batches differ" in card
    reload = subprocess.run([sys.executable, "-c", OFFLINE_RELOAD, str(out)], capture_output=True, text=True,
                            env=env, timeout=300)
    assert reload.returncode == 0, reload.stderr[-3000:]
    assert "TEXT" in reload.stdout and "Wav2Vec2Processor" in reload.stdout


DEMO_CTC = REPO / "checkpoints" / "demo_ctc" / "checkpoint_best.pt"


@pytest.mark.slow
def test_the_demos_200_test_transcripts(tmp_path):
    """After ``bash scripts/demo.sh``: every test utterance of the demo, through the pipeline."""
    if not (DEMO_CTC.is_file() and (REPO / "data" / "demo" / "test.tsv").is_file()):
        pytest.skip("needs the demo's fine-tuned checkpoint and corpus: run bash scripts/demo.sh first")
    sys.path.insert(0, str(REPO / "scripts"))
    from compare_hf_export import compare

    export(DEMO_CTC, tmp_path / "hf")
    found = compare(DEMO_CTC, tmp_path / "hf", REPO / "data" / "demo", "test", batch_size=8)
    assert found["utterances"] == 200 and found["transcripts_differing_batch_1"] == 0
    assert found["max_logit_diff_single"] < 1e-4 and found["max_hidden_diff_single"] < 1e-4
    assert found["wer_pipeline_batch_1"] == found["wer_greedy"]
