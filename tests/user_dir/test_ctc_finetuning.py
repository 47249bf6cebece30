"""CTC fine-tuning of an EH-MAM checkpoint with fairseq's stock audio_finetuning task and
wav2vec_ctc model: the pretrained student arrives intact, padding does not leak into the
emissions, the encoder stays put while frozen, validation reports UER/WER and keeps the best
WER, and fine-tuned checkpoints resume and reload."""
import json
import re

import pytest
import torch
from fairseq.models.wav2vec.wav2vec2_asr import Wav2Vec2CtcConfig
from fairseq.tasks.audio_finetuning import AudioFinetuningConfig, AudioFinetuningTask
from fairseq.utils import import_user_module
from omegaconf import OmegaConf

from ehmam.data.audio import read_audio
from ehmam.data.manifest import read_manifest
from ehmam.asr.decode import DecodeError, load_ctc_model, main as decode_main
from ehmam.asr.error_rates import ErrorCounts
from ehmam.asr.language_model import main as lm_main
from ehmam.models.ehmam import PRETRAINING_ONLY
from ehmam.models.frontends.waveform import conv_output_length
from scripts.hard_region_effect import main as hard_region_effect_main
from scripts.plot_pretraining import read_fairseq_log
from tests.user_dir.fairseq_runs import FINETUNE_FROZEN, FINETUNE_UPDATES, REPO, finetune

FROZEN, UPDATES = FINETUNE_FROZEN, FINETUNE_UPDATES  # the shared `finetuned` run (tests/conftest.py)


def model_weights(path):
    return torch.load(path, map_location="cpu", weights_only=False)["model"]


def student_weights(pretraining_state):
    """The pretraining checkpoint's student, as the fine-tuned model names it."""
    removed = tuple(f"ehmam.{name}" for name in PRETRAINING_ONLY)
    return {f"w2v_encoder.w2v_model.{k}": v for k, v in pretraining_state.items()
            if not k.startswith(removed)}


def build_stock_ctc(data, w2v_path):
    import_user_module(OmegaConf.create({"user_dir": str(REPO / "user_dir")}))
    task = AudioFinetuningTask.setup_task(OmegaConf.structured(
        AudioFinetuningConfig(data=str(data), labels="ltr", normalize=True, tpu=False, seed=1)))
    cfg = OmegaConf.structured(Wav2Vec2CtcConfig(_name="wav2vec_ctc", w2v_path=str(w2v_path), normalize=True, data=str(data), ddp_backend="pytorch_ddp",
                                                 mask_channel_prob=0.25, mask_channel_length=8, apply_mask=True,
                                                 layerdrop=0.05, attention_dropout=0.07, mask_prob=0.3))
    return task, task.build_model(cfg)


def test_stock_wav2vec_ctc_loads_the_student_and_runs_a_padded_batch(pretrained, demo_corpus):
    task, model = build_stock_ctc(demo_corpus, pretrained)
    state = model.state_dict()
    expected = student_weights(model_weights(pretrained))
    ctc_head = {k for k in state if k.startswith("w2v_encoder.proj.")}
    assert set(state) - ctc_head == set(expected)  # nothing of the teacher, decoder or predictor
    for key, value in expected.items():
        assert torch.equal(state[key], value), key
    assert model.w2v_encoder.proj.out_features == len(task.target_dictionary)
    # the wrapper's masking, dropout, layerdrop and feature_grad_mult settings reach our model
    ehmam = model.w2v_encoder.w2v_model.ehmam
    assert (ehmam.cfg.spec_augment.mask_prob, ehmam.cfg.spec_augment.mask_channel_prob) == (0.3, 0.25)
    assert ehmam.cfg.spec_augment.mask_channel_length == 8
    assert ehmam.encoder.layerdrop == 0.05 and ehmam.cfg.encoder.attention_dropout == 0.07
    assert ehmam.frontend.feature_grad_mult == 0.0  # wav2vec_ctc's default freezes the convolutions

    manifest = read_manifest(demo_corpus / "valid.tsv")
    waves = [torch.from_numpy(read_audio(manifest.audio_path(e))) for e in manifest.entries[:2]]
    waves = [torch.nn.functional.layer_norm(w, w.shape) for w in waves]
    short, long = sorted(waves, key=len)
    source = torch.zeros(2, len(long))
    source[0, : len(short)], source[1] = short, long
    padding = torch.arange(len(long))[None, :] >= torch.tensor([len(short), len(long)])[:, None]

    model.eval()
    with torch.no_grad():
        out = model(source=source, padding_mask=padding)
        alone = model(source=short[None], padding_mask=None)
    kernels, strides = [10, 3, 3, 3, 3, 2, 2], [5, 2, 2, 2, 2, 2, 2]
    frames_short = conv_output_length(len(short), kernels, strides)
    assert out["encoder_out"].shape == (conv_output_length(len(long), kernels, strides), 2, len(task.target_dictionary))
    assert (~out["padding_mask"][0]).sum() == frames_short and not out["padding_mask"][1].any()
    # the padded batch gives the short utterance the emissions it gets alone
    torch.testing.assert_close(out["encoder_out"][:frames_short, 0], alone["encoder_out"][:, 0], atol=1e-4, rtol=1e-4)

    model.train()
    model.w2v_encoder.num_updates = 10_000  # past any freeze
    with torch.no_grad():
        masked = model(source=source, padding_mask=padding)
    assert not torch.allclose(masked["encoder_out"][:frames_short, 0], out["encoder_out"][:frames_short, 0])


def test_encoder_stays_frozen_then_trains(finetuned, pretrained):
    save_dir, log = finetuned
    before = student_weights(model_weights(pretrained))
    frozen = model_weights(next(save_dir.glob(f"checkpoint_*_{FROZEN}.pt")))
    trained = model_weights(next(save_dir.glob(f"checkpoint_*_{UPDATES}.pt")))
    for key, value in before.items():
        assert torch.equal(frozen[key], value), f"{key} changed while the encoder was frozen"
    head = "w2v_encoder.proj.weight"
    first = model_weights(next(save_dir.glob("checkpoint_*_3.pt")))
    assert not torch.equal(first[head], frozen[head])  # the CTC head trains from the start
    changed = {k for k in before if not torch.equal(trained[k], before[k])}
    assert any(".ehmam.encoder.layers." in k for k in changed)
    # the tiny config trains the convolutions too once the freeze ends (feature_grad_mult 1)
    assert any(".ehmam.frontend.extractor." in k for k in changed)


def test_validation_reports_uer_wer_and_keeps_the_best_wer(finetuned):
    save_dir, log = finetuned
    valid = read_fairseq_log(save_dir / "hydra/hydra_train.log")["valid"]
    assert [r["num_updates"] for r in valid] == [3, 6, 9, 12], log[-3000:]
    for record in valid:
        assert 0.0 <= record["uer"] <= 100.0 and record["wer"] >= 0.0
    best = torch.load(save_dir / "checkpoint_best.pt", map_location="cpu", weights_only=False)
    assert best["extra_state"]["best"] == pytest.approx(min(r["wer"] for r in valid))


def test_fine_tuned_checkpoint_resumes_and_reloads(finetuned, pretrained, demo_corpus, tmp_path):
    save_dir, _ = finetuned
    resumed = tmp_path / "ckpt"
    resumed.mkdir()
    last = save_dir / "checkpoint_last.pt"
    (resumed / "checkpoint_last.pt").write_bytes(last.read_bytes())
    log = finetune(demo_corpus, resumed, pretrained, f"optimization.max_update={UPDATES + 3}")
    assert re.search(rf"Loaded checkpoint .*\(epoch \d+ @ {UPDATES} updates\)", log), log[-3000:]
    assert re.search(rf'"train_num_updates": "{UPDATES + 3}"', log), log[-3000:]

    ctc = load_ctc_model(last, demo_corpus)
    saved = model_weights(last)
    loaded = ctc.model.state_dict()
    assert set(loaded) == set(saved)
    assert all(torch.equal(loaded[k], saved[k]) for k in saved)
    letters = [line.split()[0] for line in (demo_corpus / "dict.ltr.txt").read_text().splitlines()]
    assert ctc.dictionary.symbols[ctc.dictionary.nspecial:] == letters
    assert ctc.dictionary[ctc.blank] == "<s>"  # fairseq's CTC blank
    assert ctc.normalize


def test_decode_command_writes_scored_hypotheses(finetuned, demo_corpus, tmp_path, capsys):
    save_dir, _ = finetuned
    assert decode_main([str(save_dir / "checkpoint_best.pt"), "--data", str(demo_corpus), "--split", "test",
                        "--out", str(tmp_path)]) == 0
    assert re.search(r"test greedy: CER [\d.]+%  WER [\d.]+%", capsys.readouterr().out)
    hypotheses = (tmp_path / "test.greedy.wrd").read_text().splitlines()
    references = (demo_corpus / "test.wrd").read_text().splitlines()
    assert len(hypotheses) == len(references)
    total = sum((ErrorCounts.of(r, h) for r, h in zip(references, hypotheses)), ErrorCounts())
    summary = json.loads((tmp_path / "test.greedy.json").read_text())
    assert summary["wer"] == pytest.approx(total.wer, abs=0.01) and summary["cer"] == pytest.approx(total.cer, abs=0.01)
    assert len((tmp_path / "test.greedy.report.tsv").read_text().splitlines()) == len(references) + 1


def test_decode_refuses_a_pretraining_checkpoint(pretrained, demo_corpus):
    with pytest.raises(DecodeError, match="not a CTC fine-tuned one"):
        load_ctc_model(pretrained, demo_corpus)


def test_mismatched_pretraining_checkpoint_is_refused(pretrained, demo_corpus, tmp_path):
    """A checkpoint whose weights do not fit its config stops the load (strict)."""
    state = torch.load(pretrained, map_location="cpu", weights_only=False)
    key = next(k for k in state["model"] if k.startswith("ehmam.encoder.layers.0."))
    del state["model"][key]
    broken = tmp_path / "broken.pt"
    torch.save(state, broken)
    with pytest.raises(RuntimeError, match=re.escape(key.split("ehmam.", 1)[1])):
        build_stock_ctc(demo_corpus, broken)


def test_decode_command_searches_lm_weights_then_decodes_with_the_lm(finetuned, demo_corpus, tmp_path, capsys):
    save_dir, _ = finetuned
    lm_dir = tmp_path / "lm"
    assert lm_main(["build", "--text", str(demo_corpus / "lm_text.txt"), "--words", str(demo_corpus / "train.wrd"),
                    "--dict", str(demo_corpus / "dict.ltr.txt"), "--out", str(lm_dir)]) == 0
    out = tmp_path / "decode"
    assert decode_main([str(save_dir / "checkpoint_best.pt"), "--data", str(demo_corpus), "--split", "test",
                        "--out", str(out), "--lexicon", str(lm_dir / "lexicon.txt"), "--lm", str(lm_dir / "4-gram.bin"),
                        "--beam", "8", "--tune-split", "valid", "--lm-weights", "0,2", "--word-scores=-1,0"]) == 0
    printed = capsys.readouterr().out
    grid = [line.split("\t") for line in (out / "valid.kenlm_search.tsv").read_text().splitlines()[1:]]
    assert [(float(r[0]), float(r[1])) for r in grid] == [(0, -1), (0, 0), (2, -1), (2, 0)]
    best = min(grid, key=lambda r: (float(r[2]), float(r[3])))
    assert f"chosen on valid: lm_weight {float(best[0])} word_score {float(best[1])}" in printed
    assert re.search(r"test greedy: CER [\d.]+%  WER [\d.]+%", printed)
    assert re.search(r"test kenlm: CER [\d.]+%  WER [\d.]+%", printed)
    summary = json.loads((out / "test.kenlm.json").read_text())
    assert (summary["lm_weight"], summary["word_score"], summary["beam"]) == (float(best[0]), float(best[1]), 8)
    hypotheses = (out / "test.kenlm.wrd").read_text().splitlines()
    references = (demo_corpus / "test.wrd").read_text().splitlines()
    total = sum((ErrorCounts.of(r, h) for r, h in zip(references, hypotheses)), ErrorCounts())
    assert len(hypotheses) == len(references) and summary["wer"] == pytest.approx(total.wer, abs=0.01)
    lexicon = {line.split("\t")[0] for line in (lm_dir / "lexicon.txt").read_text().splitlines()}
    assert all(set(h.split()) <= lexicon for h in hypotheses)  # the search only spells lexicon words


def test_decode_command_names_a_bad_lexicon(finetuned, demo_corpus, tmp_path, capsys):
    save_dir, _ = finetuned
    lexicon = tmp_path / "lexicon.txt"
    lexicon.write_text("THE\tT H E |\nÉTÉ\tÉ T É |\n")
    assert decode_main([str(save_dir / "checkpoint_best.pt"), "--data", str(demo_corpus), "--split", "test",
                        "--lexicon", str(lexicon)]) == 1
    assert re.search(r"error: .*lexicon.txt:2: 'ÉTÉ' is spelled with \['É'\]", capsys.readouterr().err)


def test_hidden_frames_take_the_mask_embedding(finetuned, demo_corpus):
    save_dir, _ = finetuned
    ctc = load_ctc_model(save_dir / "checkpoint_best.pt", demo_corpus)
    manifest = read_manifest(demo_corpus / "test.tsv")
    waveforms = [torch.from_numpy(read_audio(manifest.audio_path(e))) for e in manifest.entries[:2]]
    plain = ctc.emissions(waveforms)
    unmasked = ctc.emissions(waveforms, [torch.zeros(len(e), dtype=torch.bool) for e in plain])
    for a, b in zip(plain, unmasked):  # our masked path is fairseq's forward when nothing is hidden
        torch.testing.assert_close(a, b, atol=1e-5, rtol=0)
    hide = torch.zeros(len(plain[0]), dtype=torch.bool)
    hide[10:20] = True
    masked = ctc.emissions(waveforms, [hide, torch.zeros(len(plain[1]), dtype=torch.bool)])
    assert (masked[0][10:20] - plain[0][10:20]).abs().max() > 1e-2
    torch.testing.assert_close(masked[1], plain[1], atol=1e-5, rtol=0)  # the other utterance is untouched
    with pytest.raises(ValueError, match="frame mask 0 has"):
        ctc.emissions(waveforms[:1], [torch.zeros(len(plain[0]) + 500, dtype=torch.bool)])


def test_hard_region_effect_script_tabulates_and_plots(finetuned, pretrained, demo_corpus, tmp_path, capsys):
    save_dir, _ = finetuned
    out = tmp_path / "effect"
    assert hard_region_effect_main([str(save_dir / "checkpoint_best.pt"), "--data", str(demo_corpus),
                                    "--split", "valid", "--out", str(out), "--shares", "20,60"]) == 0
    summary = json.loads((out / "effect.json").read_text())
    assert summary["pretrained"] == str(pretrained)  # found through the fine-tuned model's w2v_path
    rows = summary["rows"]
    assert [(r["share"], r["rule"]) for r in rows] == [(0.0, "none"), (0.2, "predicted"), (0.2, "random"),
                                                      (0.6, "predicted"), (0.6, "random")]
    base = rows[0]
    for r in rows[1:]:
        assert r["relative_wer_increase"] == pytest.approx(100 * (r["wer"] - base["wer"]) / base["wer"])
    # the baseline is plain greedy decoding of the same split
    assert decode_main([str(save_dir / "checkpoint_best.pt"), "--data", str(demo_corpus), "--split", "valid",
                        "--out", str(tmp_path / "plain")]) == 0
    assert base["wer"] == pytest.approx(json.loads((tmp_path / "plain" / "valid.greedy.json").read_text())["wer"],
                                        abs=0.01)
    assert (out / "effect.png").stat().st_size > 10_000
    assert len((out / "effect.tsv").read_text().splitlines()) == 6
    assert "0.60  predicted" in capsys.readouterr().out
