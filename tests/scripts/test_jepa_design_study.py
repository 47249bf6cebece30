"""scripts/jepa_design_study.py: the grid's overrides, a study that trains and evaluates
end to end at toy size, resumes without redoing work, and a table with one row per choice."""
import pytest

from manifests.make_audio_tasks import make_keywords
from scripts import jepa_design_study as study


def test_each_choice_is_three_overrides_of_the_tiny_config():
    choices = study.grid(["unstructured", "time"], ["input", "latent"], ["2.1s"])
    assert [c.name for c in choices] == ["unstructured-input-2.1s", "unstructured-latent-2.1s",
                                         "time-input-2.1s", "time-latent-2.1s"]
    assert choices[3].overrides() == ["model.masking.strategy=time", "model.target_domain=latent",
                                      "task.clip.samples=33120"]
    durations = study.grid(["unstructured"], ["input"], ["2.1s", "3.2s", "6.4s"])
    assert [c.overrides()[-1] for c in durations] == [f"task.clip.samples={n}" for n in (33_120, 51_040, 102_240)]


def test_the_table_has_a_row_per_choice_and_the_random_reference():
    choices = study.grid(["unstructured", "multi_block"], ["input"], ["3.2s"])
    rows = [dict(model=m, task=t, score=s, ci95="0.01", runs="5") for m, t, s in (
        ("unstructured-input-3.2s", "spcv2", "0.9"), ("unstructured-input-3.2s", "vc1", "0.5"),
        ("multi_block-input-3.2s", "spcv2", "0.8"), ("multi_block-input-3.2s", "vc1", "0.7"),
        ("unstructured-input-3.2s (random init)", "spcv2", "0.95"),
        ("unstructured-input-3.2s (random init)", "vc1", "0.2"))]
    lines = study.study_table(rows, choices, ["spcv2", "vc1"]).splitlines()
    assert lines[0] == "| masking | target domain | duration | spcv2 | vc1 | average |"
    assert lines[2] == "| unstructured | input | 3.2s | **90.0 ± 1.0** | 50.0 ± 1.0 | 70.0 |"
    assert lines[3] == "| multi_block | input | 3.2s | 80.0 ± 1.0 | **70.0 ± 1.0** | 75.0 |"
    # the random reference is never the bold best
    assert lines[4] == "| random init |  | 3.2s | 95.0 ± 1.0 | 20.0 ± 1.0 | 57.5 |"


def test_a_toy_study_trains_evaluates_and_resumes(demo_corpus, tmp_path, capsys):
    tasks = tmp_path / "tasks"
    make_keywords(tasks / "spcv2", seed=1, classes=3, per_class=12, repetitions=2)
    out = tmp_path / "study"
    argv = ["--data", str(demo_corpus), "--tasks", str(tasks), "--out", str(out), "--strategies", "unstructured",
            "time", "--domains", "input", "--updates", "4", "--task-names", "spcv2", "--runs", "2",
            "task.norm_crops=16", "checkpoint.save_interval_updates=4"]
    table = study.main(argv).splitlines()
    assert [line.split(" | ")[0:2] for line in table[2:]] == [["| unstructured", "input"], ["| time", "input"],
                                                              ["| random init", ""]]
    assert all(line.count("±") == 1 for line in table[2:])
    assert (out / "table.md").read_text().strip() == "\n".join(table)
    for name in ("unstructured-input-3.2s", "time-input-3.2s"):
        assert study.trained_updates(out / name / "ckpt" / "checkpoint_last.pt") == 4
    capsys.readouterr()
    # a second run trains and evaluates nothing again
    assert study.main(argv).splitlines() == table
    printed = capsys.readouterr().out
    assert printed.count("trained already (4 updates)") == 2 and "fairseq-hydra-train" not in printed
    assert printed.count(f"in {out / 'results.csv'} already") == 3 and "[linear]" not in printed


def test_missing_tasks_and_failed_training_are_named(demo_corpus, tmp_path):
    with pytest.raises(SystemExit, match="no such task folder. Fix: .*make_audio_tasks.py all"):
        study.main(["--data", str(demo_corpus), "--tasks", str(tmp_path / "none"), "--out", str(tmp_path / "o")])
    make_keywords(tmp_path / "tasks" / "spcv2", seed=1, classes=3, per_class=12, repetitions=2)
    with pytest.raises(SystemExit, match=r"unstructured-input-3.2s: training failed .*train.log"):
        study.main(["--data", str(tmp_path / "no_corpus"), "--tasks", str(tmp_path / "tasks"), "--out",
                    str(tmp_path / "o"), "--strategies", "unstructured", "--domains", "input",
                    "--task-names", "spcv2", "--updates", "2"])
