import pytest

from ehmam.data.alignments import (SILENCE, AlignmentError, PhoneSegment, frame_labels, read_alignments,
                                   write_alignments)


def test_write_then_read_round_trips(tmp_path):
    utterances = [[PhoneSegment("h", 0.01, 0.08), PhoneSegment("@U", 0.08, 0.3)], [PhoneSegment("_:", 0.0, 0.2)]]
    write_alignments(tmp_path / "a.phn", utterances)
    assert read_alignments(tmp_path / "a.phn", expected=2) == utterances


@pytest.mark.parametrize("line, message", [
    ("0.1 0.2", "triples"),
    ("0.1 x h", "not numbers"),
    ("0.3 0.2 h", "backwards"),
    ("0.1 0.4 h 0.2 0.5 i", "overlaps"),
])
def test_broken_lines_name_file_and_line(tmp_path, line, message):
    (tmp_path / "b.phn").write_text("0.0 0.1 a\n" + line + "\n")
    with pytest.raises(AlignmentError, match=rf"b.phn:2: .*{message}"):
        read_alignments(tmp_path / "b.phn")


def test_line_count_must_match_the_manifest_and_file_must_exist(tmp_path):
    (tmp_path / "c.phn").write_text("0.0 0.1 a\n")
    with pytest.raises(AlignmentError, match="1 lines for 2 utterances"):
        read_alignments(tmp_path / "c.phn", expected=2)
    with pytest.raises(AlignmentError, match="no phone alignment file"):
        read_alignments(tmp_path / "missing.phn")


def test_frame_labels_take_the_phone_at_each_frame_centre():
    # frames of 0.1 s hop, 0.1 s wide at 10 Hz "sample rate" units: centre of frame i = i + 0.5 samples
    segments = [PhoneSegment("a", 0.0, 0.25), PhoneSegment("_", 0.25, 0.35), PhoneSegment("b", 0.35, 0.6)]
    labels = frame_labels(segments, num_frames=8, stride=1, receptive_field=1, sample_rate=10)
    # centres 0.05 0.15 0.25 0.35 0.45 0.55 0.65 0.75
    assert labels == ["a", "a", SILENCE, "b", "b", "b", SILENCE, SILENCE]
    # brute force: for every frame, the segment containing its centre
    wav2vec = dict(stride=320, receptive_field=400, sample_rate=16000)
    segments = [PhoneSegment(p, i * 0.037, (i + 1) * 0.037) for i, p in enumerate("abcdefghij")]
    expected = []
    for i in range(20):
        centre = (i * 320 + 200) / 16000
        inside = [s.phone for s in segments if s.start <= centre < s.end]
        expected.append(inside[0] if inside else SILENCE)
    assert frame_labels(segments, 20, **wav2vec) == expected
