"""Voice activity detection: Silero on OpenVINO against real recordings, and the pure planning functions."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from ovsub.audio import vad
from ovsub.audio.media import load_audio
from ovsub.audio.vad import (
    FRAME_S,
    SAMPLE_RATE,
    Region,
    regions_from_probabilities,
    speech_probabilities,
    speech_regions,
)
from ovsub.options import VadOptions
from ovsub.transcription.windows import WINDOW_GAP_S, Window, plan_windows

DATA = Path(os.environ.get("OVSUB_TEST_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
LONG = DATA / "english" / "long" / "derived_librispeech_concat_10utt.flac"
NOISE_ONLY = DATA / "english" / "other" / "noise_only_leopard_empty.wav"
FLEURS = DATA / "english" / "fleurs"
LOUD_CLIP, QUIET_CLIP = FLEURS / "fleurs-en-001.ogg", FLEURS / "fleurs-en-002.ogg"  # -22 and -63 dBFS

needs_data = pytest.mark.skipif(not LONG.exists(), reason=f"shared test data not found under {DATA}")


@pytest.fixture(scope="module")
def long_audio() -> np.ndarray:
    return load_audio(LONG)


@pytest.fixture(scope="module")
def utterances() -> list[tuple[float, float]]:
    with open(LONG.with_suffix(".boundaries.json"), encoding="utf-8") as f:
        return [(u["start"], u["end"]) for u in json.load(f)]


@pytest.fixture(scope="module")
def long_regions(long_audio: np.ndarray) -> list[Region]:
    return speech_regions(long_audio)


def overlap_s(a: tuple[float, float], b: tuple[float, float]) -> float:
    return max(0.0, min(a[1], b[1]) - max(a[0], b[0]))


# --- the model on real audio -------------------------------------------------------------------------------------


@needs_data
def test_every_utterance_starts_near_a_region_start(long_regions, utterances):
    starts = [r.start_s for r in long_regions]
    for start, _ in utterances:
        nearest = min(starts, key=lambda s: abs(s - start))
        # One frame past the padding: after a silence the model starts afresh and may need a frame more.
        assert abs(nearest - start) <= 0.3 + FRAME_S, f"utterance at {start} s, nearest region start {nearest} s"


@needs_data
def test_regions_stay_out_of_the_gaps_between_utterances(long_regions, utterances):
    pad_s = VadOptions().speech_pad_ms / 1000
    gaps = [(end, nxt) for (_, end), (nxt, _) in zip(utterances, utterances[1:])]
    for region in long_regions:
        assert any(overlap_s((region.start_s, region.end_s), u) > 0.5 for u in utterances), region
        for gap in gaps:
            # A region may reach into a gap by its padding (plus a frame), never further.
            assert overlap_s((region.start_s, region.end_s), gap) <= pad_s + FRAME_S, (region, gap)


@needs_data
def test_regions_cover_the_speech(long_regions, utterances):
    covered = sum(overlap_s((r.start_s, r.end_s), u) for r in long_regions for u in utterances)
    assert covered >= 0.85 * sum(end - start for start, end in utterances)


@needs_data
def test_probabilities_do_not_depend_on_block_size(long_audio):
    # Carrying the LSTM state across calls must give what one long call gives.
    clip = long_audio[: 20 * SAMPLE_RATE]
    whole = vad._probabilities(clip, 1024)
    blocked = vad._probabilities(clip, 37)
    np.testing.assert_allclose(blocked, whole, atol=1e-5)
    assert whole.max() > 0.9 and whole.min() < 0.1


def speech_onset_s(audio: np.ndarray, after_s: float = 0.0) -> float:
    """Start of the first region ending after ``after_s``, measured from ``after_s``."""
    return next(r.start_s for r in speech_regions(audio) if r.end_s > after_s) - after_s


def _gap(kind: str) -> np.ndarray:
    zeros = lambda s: np.zeros(round(s * SAMPLE_RATE), np.float32)  # noqa: E731
    if kind == "noise burst":  # -30 dBFS white noise between stretches of zeros, only the first >= 0.5 s
        noise = 10 ** (-30 / 20) * np.random.default_rng(5).standard_normal(round(0.4 * SAMPLE_RATE))
        return np.concatenate([zeros(0.6), noise.astype(np.float32), zeros(0.3)])
    return zeros(float(kind.split()[0]))


@pytest.mark.skipif(not (LOUD_CLIP.exists() and QUIET_CLIP.exists()), reason="FLEURS test clips not found")
@pytest.mark.parametrize("gap", ["0.7 s of zeros", "2 s of zeros", "noise burst"])
@pytest.mark.parametrize("quiet_second", [True, False], ids=["loud then quiet", "quiet then loud"])
def test_speech_after_silence_is_found_whatever_came_before(gap, quiet_second):
    # The LSTM state remembers loud speech through silence and used to hide a quiet clip after it for 6-8 s.
    first, second = (load_audio(LOUD_CLIP), load_audio(QUIET_CLIP))[:: 1 if quiet_second else -1]
    alone_s = speech_onset_s(second)
    joined = np.concatenate([first, _gap(gap), second])
    offset_s = (joined.size - second.size) / SAMPLE_RATE
    assert speech_onset_s(joined) < 1.0  # the first clip is still found
    assert abs(speech_onset_s(joined, offset_s) - alone_s) <= 0.5, (gap, alone_s)


def test_state_starts_afresh_at_long_near_silence_and_at_sharp_drops_in_level():
    frames = lambda s: round(s * SAMPLE_RATE)  # noqa: E731
    rng = np.random.default_rng(2)
    sound = (0.1 * rng.standard_normal(frames(1.0))).astype(np.float32)  # -20 dBFS
    hum = (10 ** (-70 / 20) * rng.standard_normal(frames(1.0))).astype(np.float32)  # quiet, but not silence
    short, long = np.zeros(frames(0.4), np.float32), np.zeros(frames(0.6), np.float32)
    audio = np.concatenate([sound, short, sound, long, sound, hum, sound, long])
    n = -(-audio.size // 512)
    starts = vad._fresh_starts(audio, n)
    first_of_long = -(-(2 * sound.size + short.size) // 512)  # the first frame wholly inside the zeros
    hum_start = (3 * sound.size + short.size + long.size) // 512  # 50 dB below the sound before it
    assert starts[:3] == [0, first_of_long, hum_start]
    assert len(starts) == 4  # and the trailing zeros; not the short gap (sound again within 0.5 s)
    assert vad._fresh_starts(np.zeros(5 * SAMPLE_RATE, np.float32), 157) == [0]
    steady = (0.1 * rng.standard_normal(frames(5.0))).astype(np.float32)
    assert vad._fresh_starts(steady, -(-steady.size // 512)) == [0]  # no drop, no reset


def test_quiet_speech_after_louder_noise_is_found(data_dir):
    """FLEURS en-004 (-67 dBFS) after JFK and 2 s of background noise at -26 dBFS: heard from a fresh state."""
    loud = load_audio(data_dir / "english/other/jfk.flac")
    noise = load_audio(data_dir / "english/other/noise_only_leopard_empty.wav")[: 2 * SAMPLE_RATE]
    quiet = load_audio(data_dir / "english/fleurs/fleurs-en-004.ogg")
    joined = np.concatenate([loud, noise, quiet])
    offset_s = (loud.size + noise.size) / SAMPLE_RATE
    heard = sum(min(r.end_s, joined.size / SAMPLE_RATE) - max(r.start_s, offset_s)
                for r in speech_regions(joined) if r.end_s > offset_s)  # fmt: skip
    alone = sum(r.duration_s for r in speech_regions(quiet))
    assert heard >= 0.8 * alone, (heard, alone)


def test_probabilities_shape_and_range():
    rng = np.random.default_rng(1)
    audio = (0.05 * rng.standard_normal(SAMPLE_RATE + 100)).astype(np.float32)
    probs = speech_probabilities(audio)
    assert probs.shape == (math.ceil(audio.size / 512),)
    assert probs.dtype == np.float32
    assert np.all((probs >= 0) & (probs <= 1))
    assert speech_probabilities(np.zeros(0, np.float32)).shape == (0,)
    assert speech_regions(np.zeros(0, np.float32)) == []


def test_stereo_is_refused():
    with pytest.raises(ValueError, match="mono"):
        speech_probabilities(np.zeros((2, 1600), np.float32))


def pink_noise(n: int, rng: np.random.Generator) -> np.ndarray:
    spectrum = np.fft.rfft(rng.standard_normal(n))
    spectrum /= np.sqrt(np.maximum(np.arange(spectrum.size), 1))
    x = np.fft.irfft(spectrum, n)
    return (x / np.abs(x).max()).astype(np.float32)


def noise_cases() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(7)
    silence = np.zeros(SAMPLE_RATE, np.float32)
    return {
        "digital silence": np.zeros(5 * SAMPLE_RATE, np.float32),
        "white noise burst": np.concatenate([silence, (0.3 * rng.standard_normal(SAMPLE_RATE // 2)), silence]),
        "loud white noise": np.clip(0.5 * rng.standard_normal(4 * SAMPLE_RATE), -1, 1),
        "pink noise": 0.5 * pink_noise(4 * SAMPLE_RATE, rng),
    }


@pytest.mark.parametrize("name", list(noise_cases()))
def test_no_speech_in_generated_noise(name):
    assert speech_regions(noise_cases()[name].astype(np.float32)) == []


@pytest.mark.skipif(not NOISE_ONLY.exists(), reason="shared test data not found")
def test_no_speech_in_recorded_noise():
    assert speech_regions(load_audio(NOISE_ONLY)) == []


@needs_data
def test_long_regions_are_cut_at_pauses(long_audio):
    opts = VadOptions(max_region_s=8.0)
    probs = speech_probabilities(long_audio)
    regions = regions_from_probabilities(probs, long_audio.size, opts)
    assert all(r.duration_s <= 8.0 + 1e-9 for r in regions)
    assert len(regions) > len(speech_regions(long_audio))


# --- windows on real regions -------------------------------------------------------------------------------------


@needs_data
def test_windows_on_real_audio(long_audio, long_regions):
    windows = plan_windows(long_regions)
    assert all(w.duration_s <= 30.0 + 1e-9 for w in windows)
    assert sum(len(w.regions) for w in windows) <= len(long_regions)
    # Joined neighbours bring the real audio between them (at most one gap each), never less than the speech.
    added_s = sum(w.speech_s for w in windows) - sum(r.duration_s for r in long_regions)
    assert -1e-6 <= added_s <= WINDOW_GAP_S * len(long_regions)
    for w in windows:
        audio = w.audio(long_audio)
        assert audio.size == round(w.duration_s * SAMPLE_RATE)
        for region, offset_s in zip(w.regions, w.offsets_s):
            at, src = round(offset_s * SAMPLE_RATE), round(region.start_s * SAMPLE_RATE)
            n = round(region.duration_s * SAMPLE_RATE)
            np.testing.assert_array_equal(audio[at : at + n], long_audio[src : src + n])


# --- probabilities to regions, without the model ------------------------------------------------------------------


def frames(*runs: tuple[float, float]) -> list[float]:
    """Probabilities from (probability, seconds) runs."""
    out: list[float] = []
    for p, seconds in runs:
        out += [p] * round(seconds / FRAME_S)
    return out


NO_PAD = VadOptions(speech_pad_ms=0)


def test_hysteresis_keeps_speech_through_middling_frames():
    probs = frames((0.0, 1), (0.9, 1), (0.4, 2), (0.9, 1), (0.0, 2))
    regions = regions_from_probabilities(probs, len(probs) * 512, NO_PAD)
    assert len(regions) == 1
    onset_s = len(frames((0.0, 1))) * FRAME_S
    assert math.isclose(regions[0].start_s, onset_s, abs_tol=1e-9)
    assert math.isclose(regions[0].end_s, onset_s + len(frames((0.9, 1), (0.4, 2), (0.9, 1))) * FRAME_S, abs_tol=1e-9)


def test_short_pause_stays_inside_long_pause_splits():
    short = frames((0.9, 1), (0.1, 0.3), (0.9, 1), (0.0, 1))
    assert len(regions_from_probabilities(short, len(short) * 512, NO_PAD)) == 1
    long = frames((0.9, 1), (0.1, 0.7), (0.9, 1), (0.0, 1))
    assert len(regions_from_probabilities(long, len(long) * 512, NO_PAD)) == 2


def test_short_blips_are_dropped():
    probs = frames((0.0, 1), (0.95, 0.1), (0.0, 1))
    assert regions_from_probabilities(probs, len(probs) * 512) == []


def test_padding_is_clamped_to_the_audio():
    probs = frames((0.9, 1), (0.0, 0.1))
    n_samples = len(probs) * 512 - 100
    (region,) = regions_from_probabilities(probs, n_samples)
    assert region.start_s == 0.0
    assert region.end_s == n_samples / SAMPLE_RATE


def test_long_region_is_cut_at_its_longest_pause():
    probs = frames((0.9, 5), (0.2, 0.2), (0.9, 5), (0.2, 0.4), (0.9, 5), (0.0, 1))
    opts = VadOptions(max_region_s=12.0, speech_pad_ms=0)
    regions = regions_from_probabilities(probs, len(probs) * 512, opts)
    assert len(regions) == 2
    # The cut falls in the 0.4 s pause (5.2 + 5 s in), not in the shorter one.
    assert math.isclose(regions[0].end_s, 10.2, abs_tol=2 * FRAME_S)
    assert math.isclose(regions[1].start_s, 10.6, abs_tol=2 * FRAME_S)


def test_options_are_validated():
    with pytest.raises(ValueError, match="neg_threshold"):
        VadOptions(threshold=0.4, neg_threshold=0.5)
    with pytest.raises(ValueError, match="min_silence_ms"):
        VadOptions(min_silence_ms=-1)
    with pytest.raises(ValueError, match="max_region_s"):
        VadOptions(max_region_s=0.5)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.floats(0.0, 1.0), min_size=0, max_size=1500),
    st.floats(2.0, 40.0),
    st.integers(0, 500),
)
def test_regions_are_ordered_bounded_and_short_enough(probs, max_region_s, pad_ms):
    opts = VadOptions(speech_pad_ms=pad_ms, max_region_s=max(max_region_s, (2 * pad_ms + 1000) / 1000))
    n_samples = len(probs) * 512
    regions = regions_from_probabilities(probs, n_samples, opts)
    for r in regions:
        assert 0.0 <= r.start_s < r.end_s <= n_samples / SAMPLE_RATE
        assert r.duration_s <= opts.max_region_s + 1e-9
        assert r.start_s * SAMPLE_RATE == round(r.start_s * SAMPLE_RATE)  # whole samples
    for a, b in zip(regions, regions[1:]):
        assert a.end_s <= b.start_s


# --- windows and time mapping, as properties ----------------------------------------------------------------------


@st.composite
def region_lists(draw, max_len_s: float = 40.0) -> list[Region]:
    """Ordered, non-overlapping regions; gaps may be zero, tiny or long."""
    t = draw(st.floats(0.0, 5.0))
    out = []
    for _ in range(draw(st.integers(1, 12))):
        length = draw(st.floats(0.01, max_len_s))
        out.append(Region(t, t + length))
        t += length + draw(st.one_of(st.just(0.0), st.floats(0.0, 0.2), st.floats(0.0, 20.0)))
    return out


@settings(max_examples=150, deadline=None)
@given(region_lists(), st.floats(1.0, 30.0), st.floats(0.0, 0.5))
def test_windows_never_exceed_the_limit_and_keep_all_speech(regions, max_window_s, gap_s):
    windows = plan_windows(regions, max_window_s, gap_s)
    assert all(w.duration_s <= max_window_s + 1e-6 for w in windows)
    kept = [r for w in windows for r in w.regions]
    assert all(a.end_s <= b.start_s for a, b in zip(kept, kept[1:]))
    assert kept[0].start_s == regions[0].start_s and kept[-1].end_s == regions[-1].end_s
    # Every source instant of speech is in exactly one window; joins only add real audio of at most gap_s.
    for r in regions:
        mid = (r.start_s + r.end_s) / 2
        assert sum(any(k.start_s <= mid < k.end_s for k in w.regions) for w in windows) == 1
    added = sum(k.duration_s for k in kept) - sum(r.duration_s for r in regions)
    assert -1e-6 <= added <= gap_s * len(regions) + 1e-6


@st.composite
def windows_and_times(draw):
    regions = draw(region_lists(max_len_s=10.0))
    window = Window(tuple(regions), draw(st.one_of(st.just(0.0), st.floats(0.01, 0.5))))
    times = draw(st.lists(st.floats(-1.0, window.duration_s + 1.0), min_size=2, max_size=20))
    return window, times


@settings(max_examples=200, deadline=None)
@given(windows_and_times())
def test_to_source_time_is_monotonic_and_in_range(case):
    window, times = case
    mapped = [window.to_source_time(t) for t in sorted(times)]
    assert all(a <= b for a, b in zip(mapped, mapped[1:]))
    assert all(window.start_s <= m <= window.end_s for m in mapped)


@settings(max_examples=200, deadline=None)
@given(windows_and_times())
def test_to_source_time_is_exact_piecewise(case):
    window, times = case
    for t in times:
        i = max(k for k, off in enumerate(window.offsets_s) if off <= t) if t >= 0 else 0
        region, into = window.regions[i], t - window.offsets_s[i]
        got = window.to_source_time(t)
        if t <= 0:
            assert got == window.start_s
        elif into >= region.duration_s:  # in the gap after region i (or past the end)
            assert got == region.end_s
        else:
            assert math.isclose(got, region.start_s + into, rel_tol=0, abs_tol=1e-9)
            if i + 1 == len(window.regions) or got < window.regions[i + 1].start_s:  # not a shared boundary
                assert math.isclose(window.to_window_time(got), t, rel_tol=0, abs_tol=1e-9)


@settings(max_examples=200, deadline=None)
@given(region_lists(max_len_s=10.0), st.one_of(st.just(0.0), st.floats(0.01, 0.5)), st.data())
def test_source_to_window_round_trip(regions, gap_s, data):
    window = Window(tuple(regions), gap_s)
    region = data.draw(st.sampled_from(regions))
    s = data.draw(st.floats(region.start_s, region.end_s))
    # A region's end is also the next region's start in the window when gap_s is 0: that point is ambiguous.
    assume(gap_s > 0 or s < region.end_s - 1e-9)
    assert math.isclose(window.to_source_time(window.to_window_time(s)), s, rel_tol=0, abs_tol=1e-9)


def test_window_example_and_validation():
    w = Window((Region(10.0, 12.0), Region(20.0, 21.0)), gap_s=0.5)
    assert w.duration_s == 3.5 and w.speech_s == 3.0
    assert [w.to_source_time(t) for t in (-1.0, 0.0, 1.0, 2.0, 2.3, 2.5, 3.0, 9.0)] == [
        10.0, 10.0, 11.0, 12.0, 12.0, 20.0, 20.5, 21.0
    ]
    with pytest.raises(ValueError):
        Window(())
    with pytest.raises(ValueError):
        Window((Region(0.0, 2.0), Region(1.0, 3.0)))
    with pytest.raises(ValueError):
        plan_windows([Region(0.0, 1.0)], max_window_s=0.0)


def test_window_audio_puts_source_samples_where_the_map_says():
    source = np.arange(10 * SAMPLE_RATE, dtype=np.float32)
    w = Window((Region(1.0, 2.5), Region(4.0, 4.25), Region(7.0, 8.0)), gap_s=0.2)
    audio = w.audio(source)
    assert audio.size == round(w.duration_s * SAMPLE_RATE)
    for t in np.linspace(0, w.duration_s, 97, endpoint=False):
        s = w.to_source_time(float(t))
        index = round(t * SAMPLE_RATE)
        in_gap = all(not (off <= t < off + r.duration_s) for r, off in zip(w.regions, w.offsets_s))
        assert audio[index] == (0.0 if in_gap else source[round(s * SAMPLE_RATE)])


def test_a_region_longer_than_a_window_is_split_evenly():
    windows = plan_windows([Region(0.0, 75.0)], max_window_s=30.0)
    assert [w.duration_s for w in windows] == pytest.approx([25.0, 25.0, 25.0])
    assert windows[-1].end_s == 75.0
