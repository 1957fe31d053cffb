"""Progress without a terminal: plain lines to stderr (a log, CI, a service), checked with a fake clock and
through the real command with stderr a pipe."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import numpy as np
import pytest

from ovsub.audio.vad import Region
from ovsub.cli import PROGRESS_INTERVAL_ENV, ProgressLines, progress_line
from ovsub.pipeline import Progress
from ovsub.transcription import transcribe
from ovsub.transcription.planning import region_languages
from ovsub.whisper.transcriber import LanguageGuess

LINE = re.compile(  # "talk.mp4: transcribing 132.0/600.0 s (22 %), 8.9x real time, ETA 52 s"
    r"^(?P<label>\S+): (?P<stage>[a-z ]+?) (?P<done>[\d.]+)/(?P<total>[\d.]+) s \((?P<pct>\d+) %\)(?P<rest>.*)$"
)


class FakeClock:
    """Wall time that moves only when the test says so."""

    def __init__(self) -> None:
        self.now_s = 100.0

    def __call__(self) -> float:
        return self.now_s


def _lines(interval_s: float = 10.0) -> tuple[ProgressLines, list[str], FakeClock]:
    clock, written = FakeClock(), []
    return ProgressLines("talk.mp4", written.append, interval_s, clock), written, clock


def test_a_line_at_each_stage_change_then_one_per_interval_and_the_last_word_on_close():
    lines, written, clock = _lines(interval_s=10.0)
    lines(Progress("transcribing", 0.0, 600.0, 0.0))
    assert written == ["talk.mp4: transcribing 0.0/600.0 s (0 %)"]
    for t_s, done_s in ((4.0, 50.0), (9.9, 90.0)):  # inside the interval: nothing yet
        clock.now_s = 100.0 + t_s
        lines(Progress("transcribing", done_s, 600.0, done_s / 600))
    assert len(written) == 1
    clock.now_s = 120.0
    lines(Progress("transcribing", 200.0, 600.0, 1 / 3))
    assert written[-1] == "talk.mp4: transcribing 200.0/600.0 s (33 %), 10.0x real time, ETA 40 s"
    clock.now_s = 125.0
    lines(Progress("transcribing", 600.0, 600.0, 1.0))  # the end, inside the interval: kept for close()
    assert len(written) == 2
    lines.close()
    assert written[-1] == "talk.mp4: transcribing 600.0/600.0 s (100 %), 24.0x real time"
    lines.close()  # nothing new to say
    assert len(written) == 3


def test_a_stage_change_ends_the_old_stage_first_and_restarts_the_speed():
    lines, written, clock = _lines()
    lines(Progress("transcribing", 0.0, 300.0, 0.0))
    clock.now_s += 3.0
    lines(Progress("transcribing", 300.0, 300.0, 0.5))
    clock.now_s += 1.0
    lines(Progress("translating", 0.0, 300.0, 0.5))
    clock.now_s += 20.0
    lines(Progress("translating", 100.0, 300.0, 2 / 3))
    assert written == [
        "talk.mp4: transcribing 0.0/300.0 s (0 %)",
        "talk.mp4: transcribing 300.0/300.0 s (100 %), 100.0x real time",
        "talk.mp4: translating 0.0/300.0 s (0 %)",
        "talk.mp4: translating 100.0/300.0 s (33 %), 5.0x real time, ETA 40 s",
    ]


def test_waiting_without_media_done_says_how_long_and_stages_without_length_say_their_name():
    lines, written, clock = _lines(interval_s=10.0)
    lines(Progress("downloading", 0.0, 0.0, 0.0))
    lines(Progress("transcribing", 0.0, 90.0, 0.0))
    clock.now_s += 25.0
    lines(Progress("transcribing", 0.0, 90.0, 0.0))
    lines(Progress("embedding", 0.0, 0.0, 0.95))
    assert written == [
        "talk.mp4: downloading",
        "talk.mp4: transcribing 0.0/90.0 s (0 %)",
        "talk.mp4: transcribing 0.0/90.0 s (0 %), 25 s so far",
        "talk.mp4: embedding",
    ]


def test_short_files_get_no_lines_at_all():
    lines, written, clock = _lines(interval_s=0.0)
    lines(Progress("transcribing", 0.0, 8.0, 0.0))
    clock.now_s += 5.0
    lines(Progress("transcribing", 8.0, 8.0, 0.9))
    lines(Progress("embedding", 0.0, 0.0, 0.95))
    lines.close()
    assert written == []


def test_lines_are_what_they_claim():
    """Property check over many states: the numbers in a line are the progress it was made from."""
    states = ((0.0, 11.0, 0.0), (7.5, 11.0, 0.5), (11.0, 11.0, 2.0), (999.0, 3600.0, 80.0), (599.4, 600.0, 50.0))
    for done_s, total_s, elapsed_s in states:
        line = progress_line("a.wav", Progress("transcribing", done_s, total_s, 0.0), elapsed_s)
        m = LINE.match(line)
        assert m, line
        assert float(m["done"]) == pytest.approx(done_s, abs=0.05) and float(m["total"]) == total_s
        assert int(m["pct"]) == round(100 * done_s / total_s)
        left_s = (total_s - done_s) * elapsed_s / done_s if done_s else None
        assert ("ETA" in m["rest"]) == (left_s is not None and left_s >= 0.5), line  # never "ETA 0 s"


def test_language_detection_reports_how_far_it_got():
    """Planning's hook: 0 before the first detection, then the end of each unit judged, in order."""

    class Detector:
        multilingual = True
        calls = 0

        def detect_language(self, audio):
            Detector.calls += 1
            return LanguageGuess("en", 0.9)

    regions = [Region(0.0, 4.0), Region(5.0, 5.5), Region(6.0, 7.2), Region(9.0, 20.0)]
    heard: list[float] = []
    languages = region_languages(Detector(), np.zeros(21 * 16000, np.float32), regions, progress=heard.append)
    assert [g.language for g in languages if g] == ["en"] * 4
    assert heard == [0.0, 4.0, 7.2, 20.0] and Detector.calls == 3  # the two short regions are judged together
    one: list[float] = []
    region_languages(Detector(), np.zeros(5 * 16000, np.float32), [Region(0.0, 4.0)], progress=one.append)
    assert one == []  # nothing to tell apart: nothing detected ahead, nothing reported


class OneWindowAtATime:
    """The real model, handed one window per batch, so a short file makes several batches."""

    batch_windows = 1

    def window_bytes(self, beams):
        return 0

    def __init__(self, inner):
        self.inner, self.multilingual = inner, inner.multilingual

    def detect_language(self, audio):
        return self.inner.detect_language(audio)

    def decode(self, audio, request):
        return self.inner.decode(audio, request)

    def decode_windows(self, windows, request):
        return self.inner.decode_windows(windows, request)


@pytest.mark.model
def test_decoding_reports_each_batch_before_its_segments(data_dir, base_model):
    """Progress is decoded media time: told before a batch's segments come out, never behind them, never back."""
    path = str(data_dir / "english/long/derived_librispeech_concat_10utt.flac")
    heard: list[float] = []
    segments, info = transcribe(path, transcriber=OneWindowAtATime(base_model), language="en", beam_size=1,
                                progress=heard.append)  # fmt: skip
    assert heard == []  # nothing decoded yet: the language was given
    count = 0
    for segment in segments:
        assert heard and heard[-1] >= segment.end_s - 1e-6, (heard, segment)
        count += 1
    assert count >= 10 and len(heard) >= 3 and heard == sorted(heard) and heard[-1] <= info.duration_s
    # Without VAD the whole file is one window, decoded before transcribe() returns when the language is unknown.
    jfk: list[float] = []
    segments, info = transcribe(str(data_dir / "english/other/jfk.flac"), transcriber=base_model, vad=False,
                                beam_size=1, progress=jfk.append)  # fmt: skip
    assert jfk == [pytest.approx(info.duration_s)]


@pytest.mark.model
def test_the_command_writes_progress_lines_to_a_pipe_and_none_with_q(tmp_path, data_dir):
    """The real command on the 89 s file with stderr a pipe (not a terminal) and a short interval."""
    clip = data_dir / "english/long/derived_librispeech_concat_10utt.flac"
    env = {**os.environ, PROGRESS_INTERVAL_ENV: "0.2"}
    command = [sys.executable, "-m", "ovsub", "transcribe", str(clip), "-o", str(tmp_path), "--beam-size", "1"]
    run = subprocess.run(command, capture_output=True, text=True, timeout=900, env=env)
    assert run.returncode == 0, run.stderr
    found = [LINE.match(line) for line in run.stderr.splitlines() if line.startswith(clip.name + ":")]
    assert len(found) >= 2 and all(found), run.stderr
    stages = [m["stage"] for m in found if m]
    assert set(stages) == {"transcribing"}  # languages are found while decoding, no stage of their own
    for stage in set(stages):
        done = [float(m["done"]) for m in found if m and m["stage"] == stage]
        assert done == sorted(done) and done[0] == 0.0 and len(done) >= 2, stage
        assert done[-1] > 80.0  # the file's last speech ends at 88.4 s
    quiet = subprocess.run([*command, "-q"], capture_output=True, text=True, timeout=900, env=env)
    assert quiet.returncode == 0 and quiet.stderr.strip() == "", quiet.stderr
    assert (tmp_path / "derived_librispeech_concat_10utt.srt").stat().st_size > 0
