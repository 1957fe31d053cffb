"""A speaker per channel: decoding each channel, merging the channels' segments by time, and the whole path
(``--channels split``) on a real two-speaker stereo recording with the real model."""

from __future__ import annotations

import logging
import wave
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from ovsub.errors import OptionError
from ovsub.options import TranscribeOptions
from ovsub.transcription import channels
from ovsub.types import Segment

STEREO = "english/other/fw_stereo_diarization.wav"  # a different speaker on each channel, talking at once
MONO = "english/other/ljspeech_LJ002-0020.wav"
SURROUND = "video/lhotse_big_buck_bunny_small.mp4"  # 5.1 AAC


def write_stereo(path: Path, left: np.ndarray, right: np.ndarray, rate: int = 16000) -> Path:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes((np.clip(np.column_stack([left, right]), -1, 1) * 32767).astype("<i2").tobytes())
    return path


# -- decoding ---------------------------------------------------------------------------------------------------


def test_split_gives_a_row_per_channel_and_mix_one(tmp_path: Path) -> None:
    t = np.arange(16000) / 16000
    tone = 0.5 * np.sin(2 * np.pi * 300 * t)
    path = write_stereo(tmp_path / "left_tone.wav", tone, np.zeros_like(tone))

    split = channels.load(path, None, "split")
    mix = channels.load(path, None, "mix")

    assert split.shape == (2, 16000) and mix.shape == (16000,)
    assert np.sqrt(np.mean(split[0] ** 2)) == pytest.approx(0.5 / np.sqrt(2), rel=0.02)
    assert not split[1].any()  # the silent side stays silent: nothing of the left leaks into it
    np.testing.assert_allclose(mix, (split[0] + split[1]) / 2, atol=1e-4)  # the mix is their mean
    assert channels.duration_s(split, 16000) == channels.duration_s(mix, 16000) == 1.0
    assert [len(r) for r in channels.rows(split)] == [16000, 16000] and len(channels.rows(mix)) == 1


def test_split_of_a_mono_track_is_the_track_itself(data_dir: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="ovsub")

    audio = channels.load(data_dir / MONO, None, "split")

    assert np.array_equal(audio, channels.load(data_dir / MONO, None, "mix"))
    assert "one channel, so there is nothing to split" in caplog.text


def test_split_of_one_sound_on_both_channels_is_the_mix(data_dir: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="ovsub")
    path = data_dir / "english/other/jfk.flac"  # stereo FLAC holding the same speech on both sides

    audio = channels.load(path, None, "split")

    np.testing.assert_allclose(audio, channels.load(path, None, "mix"), atol=1e-6)
    assert "both channels hold the same sound" in caplog.text


def test_split_refuses_surround_sound(data_dir: Path) -> None:
    with pytest.raises(OptionError, match="has 6 channels.*Use channels mix"):
        channels.load(data_dir / SURROUND, None, "split")


def test_channels_option_is_checked() -> None:
    assert TranscribeOptions().channels == "mix"
    with pytest.raises(OptionError, match="channels must be one of mix, split, not 'stereo'"):
        TranscribeOptions(channels="stereo")


# -- merging ----------------------------------------------------------------------------------------------------


def test_merge_interleaves_by_start_and_labels_each_segment() -> None:
    left = [Segment(0, 0.0, 4.5, "He began a complaint."), Segment(1, 5.0, 6.0, "Yes.")]
    right = [Segment(0, 0.3, 2.4, "The horizon seems distant."), Segment(1, 5.0, 5.5, "No.")]

    merged = list(channels.merge([iter(left), iter(right)]))

    assert [(s.id, s.channel, s.text) for s in merged] == [
        (0, 0, "He began a complaint."),
        (1, 1, "The horizon seems distant."),  # starts while the left one still talks: a real overlap
        (2, 0, "Yes."),  # an equal start: the left channel first
        (3, 1, "No."),
    ]


hypothesis = pytest.importorskip("hypothesis", reason="property tests need hypothesis: pip install hypothesis")
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@st.composite
def channel_streams(draw: st.DrawFn) -> list[list[Segment]]:
    """Two or three channels of segments, each in order of start, overlapping each other freely."""
    streams = []
    for _ in range(draw(st.integers(1, 3))):
        t, stream = 0.0, []
        for i in range(draw(st.integers(0, 8))):
            t += draw(st.sampled_from([0.0, 0.5, 1.0]) | st.floats(0, 5))
            stream.append(Segment(i, t, t + draw(st.floats(0, 6)), f"s{i}"))
        streams.append(stream)
    return streams


@settings(max_examples=200, deadline=None, database=None)
@given(channel_streams())
def test_merge_keeps_every_segment_once_with_starts_never_going_back(streams: list[list[Segment]]) -> None:
    merged = list(channels.merge([iter(s) for s in streams]))

    assert [s.id for s in merged] == list(range(sum(len(s) for s in streams)))
    assert all(a.start_s <= b.start_s for a, b in zip(merged, merged[1:]))
    for k, stream in enumerate(streams):  # each channel's segments, in their own order, untouched but for id
        mine = [replace(s, id=0, channel=None) for s in merged if s.channel == k]
        assert mine == [replace(s, id=0) for s in stream]


# -- the whole path, with the real model --------------------------------------------------------------------------

LEFT = "He began a confused complaint against the wizard, who had vanished behind the curtain on the left."
RIGHT = "The horizon seems extremely distant."


def recall(reference: str, heard: str) -> float:
    """Share of the reference's words found in what was heard (each heard word counted once)."""
    from collections import Counter

    from ovsub.evaluation import normalize

    wanted, got = Counter(normalize(reference)), Counter(normalize(heard))
    return sum(min(n, got[w]) for w, n in wanted.items()) / sum(wanted.values())


def test_split_channels_gives_both_speakers_words(tmp_path: Path, data_dir: Path, base_model: object) -> None:
    import json

    from ovsub.cli import main
    from ovsub.transcription import transcribe

    out = tmp_path / "out"
    rc = main(["transcribe", str(data_dir / STEREO), "--channels", "split", "-o", str(out), "-q",
               "-f", "srt,json,vtt,ass,ttml,txt", "--karaoke"])  # fmt: skip

    assert rc == 0
    document = json.loads((out / "fw_stereo_diarization.json").read_text(encoding="utf-8"))
    assert document["options"]["transcribe"]["channels"] == "split"
    segments = document["segments"]
    assert {s["channel"] for s in segments} == {0, 1}
    assert [s["id"] for s in segments] == list(range(len(segments)))
    assert all(a["start_s"] <= b["start_s"] for a, b in zip(segments, segments[1:]))
    left = " ".join(s["text"] for s in segments if s["channel"] == 0)
    right = " ".join(s["text"] for s in segments if s["channel"] == 1)
    assert recall(LEFT, left) >= 0.7 and recall(RIGHT, right) >= 0.7, (left, right)
    assert recall(RIGHT, left) < 0.5 and recall(LEFT, right) < 0.3, (left, right)  # each speaker on their side
    # Where a cue holds both speakers, each has a line of their own, starting with the dash.
    srt = (out / "fw_stereo_diarization.srt").read_text(encoding="utf-8")
    srt_cues = [block.splitlines()[2:] for block in srt.split("\n\n") if block]
    both = [lines for lines in srt_cues if len(lines) == 2 and all(line.startswith("-") for line in lines)]
    assert both, srt_cues
    assert recall(" ".join(both[0][0].lstrip("-").split()), LEFT) >= 0.8  # the left speaker's line comes first
    assert recall(" ".join(both[0][1].lstrip("-").split()), RIGHT) >= 0.8
    assert document["violations"] == [] or all("per second" in v for v in document["violations"])

    # The mix of the same file loses the right-hand speaker where the two overlap (what split is for).
    mixed, _ = transcribe(str(data_dir / STEREO), transcriber=base_model)
    assert recall(RIGHT, " ".join(s.text for s in mixed)) < recall(RIGHT, right)


@pytest.mark.parametrize("other", ["digital_silence", "noise_only"])
def test_a_side_without_speech_gives_no_words(other: str, data_dir: Path, base_model: object) -> None:
    from ovsub.audio import media
    from ovsub.evaluation import corpus_wer
    from ovsub.transcription import transcribe

    speech = media.load_audio(data_dir / "english/other/jfk.wav")
    quiet = np.zeros_like(speech)
    if other == "noise_only":
        noise = media.load_audio(data_dir / "english/other/noise_only_leopard_empty.wav")
        quiet[: len(noise)] = noise[: len(quiet)]

    segments, info = transcribe("two sides", audio=np.stack([quiet, speech]), transcriber=base_model, beam_size=1)
    segments = list(segments)

    assert {s.channel for s in segments} == {1}  # nothing made up on the silent or noisy left
    reference = (data_dir / "english/other/jfk.ref.txt").read_text(encoding="utf-8")
    assert corpus_wer([(reference, " ".join(s.text for s in segments))]) < 0.1
    assert info.language == "en" and info.duration_s == pytest.approx(11.0)
