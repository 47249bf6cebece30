from manifests.validate_manifest import main


def test_cli_passes_good_and_fails_bad_with_the_line(demo_corpus, tmp_path, capsys):
    assert main([str(demo_corpus / "test.tsv"), "--labels", "ltr", "wrd"]) == 0
    assert "ok: " in capsys.readouterr().out

    lines = (demo_corpus / "test.tsv").read_text().splitlines()
    lines[2] = lines[2].replace("\t", " ")
    (tmp_path / "test.tsv").write_text("\n".join(lines) + "\n")
    assert main([str(tmp_path / "test.tsv")]) == 1
    assert f"{tmp_path / 'test.tsv'}:3: malformed line" in capsys.readouterr().err
