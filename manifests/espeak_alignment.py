"""Phone timing straight from the synthesiser: espeak-ng's library reports each phone
as it speaks it, so the demo corpus gets exact phone alignments without an aligner.

The ``espeak-ng`` command line has no option to print phone timing, so this calls
``libespeak-ng`` (installed with it) through ctypes in synchronous mode with phoneme
events on. A fresh engine's audio is, sample for sample, what the command line writes for
the same voice, rate, pitch and text (a test checks this), so the timing holds for the
corpus' WAV files. The engine keeps state from one utterance to the next (its later
utterances drift by a few samples), so :func:`align_utterances` speaks each utterance in
a fresh process.

    align_utterances([("hello world", "en-us+m1", 150, 50)])  # [[PhoneSegment, ...]]

:class:`EspeakAligner` is the process-wide engine: not thread-safe, one thread at a time.
"""
from __future__ import annotations

import ctypes
import multiprocessing
from typing import List, Optional, Sequence, Tuple

import numpy as np

from ehmam.data.alignments import PhoneSegment

LIBRARY = "libespeak-ng.so.1"
# espeak_ng's C API (speak_lib.h), the values this module needs
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INITIALIZE_PHONEME_EVENTS = 0x0001
_POS_CHARACTER = 1
_RATE, _PITCH = 1, 3
_END_PAUSE = 0x1000  # espeakENDPAUSE: close with a pause, as the command line does
_EVENT_LIST_TERMINATED, _EVENT_PHONEME = 0, 7


class EspeakError(RuntimeError):
    pass


class _EventId(ctypes.Union):
    _fields_ = [("number", ctypes.c_int), ("name", ctypes.c_char_p), ("string", ctypes.c_char * 8)]


class _Event(ctypes.Structure):
    _fields_ = [("type", ctypes.c_int), ("unique_identifier", ctypes.c_uint),
                ("text_position", ctypes.c_int), ("length", ctypes.c_int),
                ("audio_position", ctypes.c_int), ("sample", ctypes.c_int),
                ("user_data", ctypes.c_void_p), ("id", _EventId)]


class _VoiceSpec(ctypes.Structure):  # espeak_VOICE
    _fields_ = [("name", ctypes.c_char_p), ("languages", ctypes.c_char_p), ("identifier", ctypes.c_char_p),
                ("gender", ctypes.c_ubyte), ("age", ctypes.c_ubyte), ("variant", ctypes.c_ubyte),
                ("xx1", ctypes.c_ubyte), ("score", ctypes.c_int), ("spare", ctypes.c_void_p)]


_Callback = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event))
_engine: Optional["EspeakAligner"] = None


class EspeakAligner:
    """Synthesise text with espeak-ng and return the phones with their times."""

    def __new__(cls):
        # espeak-ng keeps one global engine per process; share one wrapper around it
        global _engine
        if _engine is None:
            _engine = super().__new__(cls)
            _engine._start()
        return _engine

    def _start(self) -> None:
        try:
            self._lib = ctypes.CDLL(LIBRARY)
        except OSError as e:
            raise EspeakError(f"cannot load {LIBRARY} ({e}). Fix: apt-get install espeak-ng "
                              "(scripts/setup.sh does it)") from None
        self.sample_rate = self._lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, None,
                                                       _INITIALIZE_PHONEME_EVENTS)
        if self.sample_rate <= 0:
            raise EspeakError(f"espeak_Initialize failed ({self.sample_rate})")
        self._samples: List[np.ndarray] = []
        self._phones: List[Tuple[str, int]] = []
        self._callback = _Callback(self._collect)  # kept referenced: C holds the pointer
        self._lib.espeak_SetSynthCallback(self._callback)

    def _collect(self, wav, count, events) -> int:
        if wav and count > 0:
            self._samples.append(np.ctypeslib.as_array(wav, shape=(count,)).copy())
        i = 0
        while events[i].type != _EVENT_LIST_TERMINATED:
            if events[i].type == _EVENT_PHONEME:
                name = bytes(events[i].id.string).split(b"\0")[0].decode("ascii")
                self._phones.append((name, events[i].sample))
            i += 1
        return 0  # 0 = go on synthesising

    def synthesize(self, text: str, voice: str, rate: int, pitch: int) -> Tuple[np.ndarray, List[Tuple[str, int]]]:
        """int16 samples at :attr:`sample_rate` and (phone, first sample) in speaking order."""
        self._set_voice(voice)
        self._lib.espeak_SetParameter(_RATE, rate, 0)
        self._lib.espeak_SetParameter(_PITCH, pitch, 0)
        self._samples, self._phones = [], []
        encoded = text.encode()
        status = self._lib.espeak_Synth(encoded, len(encoded) + 1, 0, _POS_CHARACTER, 0, _END_PAUSE, None, None)
        self._lib.espeak_Synchronize()
        if status != 0:
            raise EspeakError(f"espeak_Synth failed ({status}) for {text!r}")
        audio = np.concatenate(self._samples) if self._samples else np.zeros(0, np.int16)
        return audio, list(self._phones)

    def _set_voice(self, voice: str) -> None:
        # as the command line does for -v: a voice file's name first, else a language
        # ("en-gb+m4": British English, variant m4)
        if self._lib.espeak_SetVoiceByName(voice.encode()) == 0:
            return
        spec = _VoiceSpec(languages=voice.encode())
        if self._lib.espeak_SetVoiceByProperties(ctypes.byref(spec)) != 0:
            raise EspeakError(f"espeak-ng has no voice {voice!r} (see `espeak-ng --voices`)")

    def align(self, text: str, voice: str, rate: int, pitch: int) -> List[PhoneSegment]:
        """Each phone runs from its first sample to the next phone's (the last one to the
        end of the speech)."""
        audio, phones = self.synthesize(text, voice, rate, pitch)
        if not phones:
            raise EspeakError(f"espeak-ng reported no phones for {text!r}")
        ends = [start for _, start in phones[1:]] + [len(audio)]
        return [PhoneSegment(name, start / self.sample_rate, end / self.sample_rate)
                for (name, start), end in zip(phones, ends)]


Request = Tuple[str, str, int, int]  # text, voice, rate (words per minute), pitch (0-99)


def _align_in_this_process(request: Request) -> List[PhoneSegment]:
    return EspeakAligner().align(*request)


def align_utterances(requests: Sequence[Request], jobs: Optional[int] = None) -> List[List[PhoneSegment]]:
    """Align each (text, voice, rate, pitch) in a process of its own, so every one starts
    from a fresh engine exactly as the ``espeak-ng`` command does."""
    # forkserver, not fork: a forked child would inherit this process's engine, state and
    # all, if it ever spoke; the fork server is a fresh interpreter that never does
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([__name__])  # children start with this module loaded
    with context.Pool(jobs, maxtasksperchild=1) as pool:
        return pool.map(_align_in_this_process, requests, chunksize=1)
