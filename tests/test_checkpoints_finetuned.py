"""A CTC fine-tuned checkpoint where a pretraining one is expected: every reader names the
pretraining checkpoint it was fine-tuned from (its model.w2v_path) instead of failing on the
pickled fairseq Dictionary or on the model name."""
import pytest
import torch

from ehmam.checkpoints import CheckpointError, load_ehmam_model, load_student_encoder

fairseq_dictionary = pytest.importorskip("fairseq.data.dictionary")
Dictionary = fairseq_dictionary.Dictionary
PRETRAINED = "/runs/pretrain/checkpoint_last.pt"


def expected(path, what):
    return (f"{path} is a CTC fine-tuned checkpoint (wav2vec_ctc); {what} needs the pretraining checkpoint "
            f"it was fine-tuned from: {PRETRAINED}. Fix: pass that file")


@pytest.fixture
def runs(pretrained, finetuned):
    """(pretraining checkpoint, CTC fine-tuned checkpoint) of the shared real fairseq-hydra-train
    runs (tests/conftest.py)."""
    return pretrained, finetuned[0] / "checkpoint_best.pt"


@pytest.fixture
def dictionary_not_allowed():
    """As in a process that never imported user_dir (which allows fairseq's Dictionary)."""
    saved = torch.serialization.get_safe_globals()
    torch.serialization.clear_safe_globals()
    torch.serialization.add_safe_globals([g for g in saved if g is not Dictionary])
    yield
    torch.serialization.clear_safe_globals()
    torch.serialization.add_safe_globals(saved)


@pytest.fixture
def fine_tuned_file(tmp_path):
    """What fairseq-hydra-train saves for wav2vec_ctc: configs as dicts, the label Dictionary."""
    dictionary = Dictionary()
    for letter in "|ETAO":
        dictionary.add_symbol(letter)
    path = tmp_path / "checkpoint_best.pt"
    torch.save({"model": {"w2v_encoder.proj.weight": torch.zeros(9, 4)},
                "cfg": {"model": {"_name": "wav2vec_ctc", "w2v_path": PRETRAINED}},
                "task_state": {"target_dictionary": dictionary}}, path)
    return path


def test_the_pickled_dictionary_is_read_to_name_the_pretraining_checkpoint(fine_tuned_file, dictionary_not_allowed):
    with pytest.raises(CheckpointError) as err:
        load_student_encoder(fine_tuned_file, what="the linear probe")
    assert str(err.value) == expected(fine_tuned_file, "the linear probe")
    with pytest.raises(CheckpointError, match="needs the pretraining checkpoint"):
        load_ehmam_model(fine_tuned_file)


def test_the_dictionary_is_read_without_importing_fairseq(fine_tuned_file):
    import subprocess
    import sys

    code = ("import sys; from ehmam.checkpoints import read_checkpoint; "
            f"state = read_checkpoint({str(fine_tuned_file)!r}); "
            "assert 'fairseq' not in sys.modules, 'fairseq imported'; "
            "print(state['task_state']['target_dictionary'].symbols)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["['<s>',", "'<pad>',", "'</s>',", "'<unk>',", "'|',", "'E',", "'T',", "'A',", "'O']"]


def test_a_real_fine_tuned_checkpoint(runs, demo_corpus, tmp_path, dictionary_not_allowed, capsys):
    from ehmam.evaluation.probe import main as probe_main
    from scripts.plot_hard_regions import main as hard_regions_main

    pretrained, finetuned = runs
    message = (f"{finetuned} is a CTC fine-tuned checkpoint (wav2vec_ctc); {{}} needs the pretraining "
               f"checkpoint it was fine-tuned from: {pretrained}. Fix: pass that file")
    with pytest.raises(CheckpointError) as err:
        load_student_encoder(finetuned, what="X")
    assert str(err.value) == message.format("X")
    with pytest.raises(SystemExit) as exit:
        probe_main([str(finetuned), str(demo_corpus), "--steps", "1"])
    assert exit.value.code == 1
    assert f"error: {message.format('the linear probe')}" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit:
        hard_regions_main(["--checkpoint", str(finetuned), "--manifest", str(demo_corpus / "valid.tsv"),
                           "--out", str(tmp_path / "hard.png")])
    assert exit.value.code == 1
    assert message.format("scripts/plot_hard_regions.py --checkpoint") in capsys.readouterr().err
    assert not (tmp_path / "hard.png").exists()


def test_hard_region_effect_names_the_file_to_pass_as_pretrained(runs, demo_corpus, tmp_path, capsys):
    from scripts.hard_region_effect import main as effect_main

    pretrained, finetuned = runs
    assert effect_main([str(finetuned), "--data", str(demo_corpus), "--split", "valid", "--out", str(tmp_path / "e"),
                        "--pretrained", str(finetuned)]) == 1
    assert (f"error: {finetuned} is a CTC fine-tuned checkpoint (wav2vec_ctc); --pretrained (the hard-region "
            f"teacher) needs the pretraining checkpoint it was fine-tuned from: {pretrained}. Fix: pass that file"
            ) in capsys.readouterr().err
