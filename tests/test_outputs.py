"""Output folders and files are checked writable before any work, with errors naming the
option, the path and the fix."""
import os
import tempfile

import pytest

from ehmam.evaluation.probe import main as probe_main
from ehmam.outputs import OutputError, prepare_output_dir, prepare_output_file


def test_a_new_folder_is_created_and_left_empty(tmp_path):
    out = tmp_path / "a" / "b"
    assert prepare_output_dir(out) == out
    assert out.is_dir() and list(out.iterdir()) == []  # the write probe is removed
    assert prepare_output_dir(out) == out  # an existing folder is fine


def test_a_folder_under_a_file_is_refused(tmp_path):
    (tmp_path / "notes.txt").write_text("x")
    out = tmp_path / "notes.txt" / "run"
    with pytest.raises(OutputError) as err:
        prepare_output_dir(out, "--out")
    assert str(err.value).startswith(f"--out {out}: {tmp_path / 'notes.txt'} is a file")
    assert "Fix: " in str(err.value)
    assert isinstance(err.value, ValueError)  # the commands' `except ValueError` reports it


def test_a_folder_that_refuses_writes_is_refused(tmp_path, monkeypatch):
    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    with pytest.raises(OutputError, match=r"^--json .*: cannot write into .* \(Permission denied\)\. Fix: "):
        prepare_output_dir(tmp_path, "--json")


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_folder_is_refused(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        with pytest.raises(OutputError, match="cannot write into"):
            prepare_output_dir(folder / "run")
    finally:
        folder.chmod(0o755)


def test_output_files(tmp_path):
    path = tmp_path / "figures" / "curves.png"
    assert prepare_output_file(path, "--out") == path
    assert path.parent.is_dir() and not path.exists()  # the folder is made, the file is not
    with pytest.raises(OutputError, match=r"--out .*figures: is a folder, expected a file name\. Fix: "):
        prepare_output_file(path.parent, "--out")
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(OutputError, match=r"--out .*notes.txt/curves.png: .*notes.txt is a file"):
        prepare_output_file(tmp_path / "notes.txt" / "curves.png", "--out")


def test_probe_checks_json_before_loading_anything(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("x")
    target = tmp_path / "notes.txt" / "probe.json"
    with pytest.raises(SystemExit) as exit:
        probe_main([str(tmp_path / "missing.pt"), str(tmp_path), "--json", str(target)])
    assert exit.value.code == 1
    assert f"error: --json {target}: {tmp_path / 'notes.txt'} is a file" in capsys.readouterr().err
