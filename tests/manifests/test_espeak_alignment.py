"""espeak-ng's phone timing: the phones it reports are those of the text, and its audio is
the audio the command line writes (so the timing applies to the corpus files)."""
import multiprocessing
import subprocess

import numpy as np
import pytest
import soundfile as sf

from manifests.espeak_alignment import EspeakAligner, EspeakError, align_utterances


def test_phones_of_a_known_sentence_in_order_with_contiguous_times():
    segments, = align_utterances([("she sees the sea", "en-us+m1", 150, 50)])
    speech = [s.phone for s in segments if not s.phone.startswith("_")]
    assert speech == ["S", "i:", "s", "i:", "z", "D", "@2", "s", "i:"]
    assert all(a.end == b.start for a, b in zip(segments, segments[1:]))
    # "sea" holds the sentence-final vowel: the longest segment
    assert max(segments[:9], key=lambda s: s.end - s.start) == segments[8]
    assert all(s.phone.startswith("_") for s in segments[9:])  # the closing pause


def _speak_in_fresh_process(request):
    return EspeakAligner().synthesize(*request)


@pytest.mark.parametrize("voice", ["en-gb-x-rp+f3", "en-gb+m4", "en-029+m2"])
def test_a_fresh_engine_speaks_exactly_what_the_command_line_writes(tmp_path, voice):
    text, rate, pitch = "the devil finds work for idle circuits", 173, 35
    with multiprocessing.get_context("fork").Pool(1) as pool:
        audio, phones = pool.apply(_speak_in_fresh_process, ((text, voice, rate, pitch),))
    subprocess.run(["espeak-ng", "-v", voice, "-s", str(rate), "-p", str(pitch), "-w",
                    str(tmp_path / "cli.wav"), text], check=True, capture_output=True)
    cli, cli_rate = sf.read(str(tmp_path / "cli.wav"), dtype="int16")
    assert cli_rate == 22050
    np.testing.assert_array_equal(audio, cli)  # bit for bit, so the phone times hold for it
    assert 0 < phones[0][1] < phones[-1][1] <= len(audio)


def test_each_utterance_is_aligned_from_a_fresh_engine(tmp_path):
    # the engine keeps state between utterances: a reused one, or one a worker inherited from
    # this process, would time the utterances differently from the command line
    EspeakAligner().synthesize("the engine of this process has spoken", "en-us+f2", 120, 70)
    request = ("idle circuits", "en-gb+m4", 160, 40)
    first, _, last = align_utterances([request, ("something else entirely", "en-us+f2", 120, 70), request])
    assert first == last
    subprocess.run(["espeak-ng", "-v", request[1], "-s", str(request[2]), "-p", str(request[3]), "-w",
                    str(tmp_path / "cli.wav"), request[0]], check=True, capture_output=True)
    assert round(last[-1].end * 22050) == sf.info(str(tmp_path / "cli.wav")).frames  # to the sample


def test_unknown_voice_is_refused():
    with pytest.raises(EspeakError, match="no voice"):
        EspeakAligner().align("hello", "xx-nonexistent", 150, 50)
