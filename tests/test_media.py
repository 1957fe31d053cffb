"""media: any real container/codec -> float32 mono 16 kHz, track choice, and the errors users see."""

from __future__ import annotations

import json
import wave
from pathlib import Path

import av
import numpy as np
import pytest

from ovsub.audio import media
from ovsub.audio.media import SAMPLE_RATE, iter_audio, load_audio, probe, select_audio_stream
from ovsub.errors import EmptyAudioError, InputNotFoundError, NoAudioStreamError, NotMediaError

DURATION_TOLERANCE_S = 0.03  # decoded length vs the manifest's duration (codec delay, frame rounding)
SILENCE_RMS = 1e-4  # -80 dBFS; the quietest clip used here (a FLEURS recording) sits near -67 dBFS
MULTI_TRACK = "video/derived_multi_audio_tracks.mkv"  # eng (default) / ger / fre Opus tracks under a video
NO_DURATION = "video/moviepy_no_duration.webm"  # WebM without a duration in its header
VIDEO_ONLY = "video/moviepy_example_video_only.mp4"

DECODE_CASES = [
    "english/librispeech/ls_test-clean_1089-134686-0002.wav",  # 16 kHz mono PCM
    "english/librispeech/ls_dev-clean_1272-128104-0004_8k.wav",  # 8 kHz telephone band
    "english/other/ljspeech_LJ002-0020.wav",  # 22050 Hz
    "english/other/jfk.flac",  # 44.1 kHz stereo FLAC
    "english/fleurs/fleurs-en-004.ogg",  # 48 kHz Opus in Ogg
    "english/other/cv_en_651325.mp3",  # MP3
    "video/pydub_creative_common.mp4",  # H.264 video with stereo AAC
    "video/lhotse_big_buck_bunny_small.mp4",  # 6-channel (5.1) AAC under video
]


@pytest.fixture(scope="module")
def manifest(data_dir: Path) -> dict[str, dict[str, object]]:
    entries = json.loads((data_dir / "manifest.json").read_text(encoding="utf-8"))
    return {e["dst"]: e for e in entries}


def write_wav(path: Path, samples: np.ndarray, rate: int, channels: int = 1) -> Path:
    """Write int16 PCM; ``samples`` is float in [-1, 1], interleaved when stereo."""
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes((np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes())
    return path


def sine(freq_hz: float, rate: int, seconds: float, amplitude: float = 0.5) -> np.ndarray:
    t = np.arange(round(rate * seconds)) / rate
    return amplitude * np.sin(2 * np.pi * freq_hz * t)


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))


# --- decoding real files ------------------------------------------------------------------------


@pytest.mark.parametrize("name", DECODE_CASES)
def test_decodes_to_float32_mono_16k(data_dir: Path, manifest: dict[str, dict[str, object]], name: str) -> None:
    audio = load_audio(data_dir / name)

    assert audio.dtype == np.float32
    assert audio.ndim == 1
    expected_s = manifest[name]["duration_s"]
    assert isinstance(expected_s, float)
    assert abs(len(audio) / SAMPLE_RATE - expected_s) < DURATION_TOLERANCE_S
    assert np.abs(audio).max() <= 1.0
    assert rms(audio) > SILENCE_RMS  # speech or sound, not silence


def test_webm_without_duration(data_dir: Path) -> None:
    info = probe(data_dir / NO_DURATION)
    track = info.audio_streams[0]
    # Probe falls back to packet timestamps; the video runs a little longer than the audio.
    assert info.duration_s is not None and 4.5 < info.duration_s < 5.5
    assert track.duration_s is not None and track.duration_s <= info.duration_s

    audio = load_audio(data_dir / NO_DURATION)

    assert audio.dtype == np.float32 and audio.ndim == 1
    # The audio track starts 15 ms after the video; that gap is padded so times match the picture.
    assert track.start_s == pytest.approx(0.015, abs=0.002)
    assert not audio[: round(track.start_s * SAMPLE_RATE)].any()
    assert abs(len(audio) / SAMPLE_RATE - (track.start_s + track.duration_s)) < DURATION_TOLERANCE_S
    assert np.abs(audio).max() <= 1.0  # this clip's audio track is digital silence, so no RMS check


def test_flac_stereo_44k_matches_wav_mono_16k(data_dir: Path) -> None:
    """The same recording stored two ways decodes to the same signal: resampling and downmix are real."""
    from_flac = load_audio(data_dir / "english/other/jfk.flac")
    from_wav = load_audio(data_dir / "english/other/jfk.wav")
    n = min(len(from_flac), len(from_wav))
    a, b = from_flac[:n].astype(np.float64), from_wav[:n].astype(np.float64)

    correlation = np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b))

    assert correlation > 0.95


def test_resampled_sine_keeps_its_frequency(tmp_path: Path) -> None:
    path = write_wav(tmp_path / "sine_1k.wav", sine(1000, 44100, 2.0), 44100)

    audio = load_audio(path)[1000:-1000]  # away from the edges
    spectrum = np.abs(np.fft.rfft(audio * np.hanning(len(audio)))) ** 2
    freqs = np.fft.rfftfreq(len(audio), 1 / SAMPLE_RATE)

    assert freqs[spectrum.argmax()] == pytest.approx(1000, abs=2)
    outside = spectrum[np.abs(freqs - 1000) > 50].sum()
    assert outside / spectrum.sum() < 1e-5  # no aliases, no distortion products
    assert rms(audio) == pytest.approx(0.5 / np.sqrt(2), rel=0.01)  # level kept


@pytest.mark.parametrize("freq_hz", [9000, 12000, 20000])
def test_content_above_8k_does_not_fold_back(tmp_path: Path, freq_hz: int) -> None:
    """A naive decimator would turn a 12 kHz tone into a 4 kHz one; a real resampler removes it."""
    path = write_wav(tmp_path / f"sine_{freq_hz}.wav", sine(freq_hz, 44100, 1.0), 44100)

    audio = load_audio(path)

    assert rms(audio[500:-500]) < 0.5 / np.sqrt(2) * 1e-3  # at least 60 dB down


def test_stereo_downmix_averages_channels(tmp_path: Path) -> None:
    left, right = sine(440, 16000, 1.0, 0.8), np.zeros(16000)
    path = write_wav(tmp_path / "left_only.wav", np.column_stack([left, right]).reshape(-1), 16000, channels=2)

    audio = load_audio(path)

    assert np.abs(audio).max() == pytest.approx(0.4, abs=0.01)  # (L + R) / 2, never beyond [-1, 1]


# --- channels kept apart (a speaker per channel) -------------------------------------------------


def test_load_channels_keeps_left_and_right_apart(tmp_path: Path) -> None:
    rate = 44100  # resampled, as a real recording would be
    left = sine(440, rate, 1.0, 0.8)
    right = 0.1 * np.random.default_rng(0).standard_normal(rate)
    stereo = write_wav(tmp_path / "stereo.wav", np.column_stack([left, right]).reshape(-1), rate, channels=2)
    only_left = write_wav(tmp_path / "left.wav", left, rate)
    only_right = write_wav(tmp_path / "right.wav", right, rate)

    rows = media.load_channels(stereo)

    assert rows.shape == (2, SAMPLE_RATE) and rows.dtype == np.float32
    # Each row is what decoding that channel alone as a mono file gives: same resampler, nothing of the other side.
    np.testing.assert_allclose(rows[0], load_audio(only_left), atol=1e-4)
    np.testing.assert_allclose(rows[1], load_audio(only_right), atol=1e-4)
    assert rms(rows[0]) == pytest.approx(0.8 / np.sqrt(2), rel=0.02)
    assert abs(float(np.corrcoef(rows[0], rows[1])[0, 1])) < 0.05


def test_load_channels_of_the_two_speaker_file(data_dir: Path) -> None:
    rows = media.load_channels(data_dir / "english/other/fw_stereo_diarization.wav")

    assert rows.shape[0] == 2 and abs(rows.shape[1] / SAMPLE_RATE - 5.0) < DURATION_TOLERANCE_S
    assert abs(float(np.corrcoef(rows[0], rows[1])[0, 1])) < 0.2  # two voices, not one copied to both sides
    assert rms(rows[0]) > SILENCE_RMS and rms(rows[1]) > SILENCE_RMS


def test_load_channels_pads_a_late_start_in_every_row(data_dir: Path) -> None:
    track = probe(data_dir / NO_DURATION).audio_streams[0]  # stereo Opus starting 15 ms after the video

    rows = media.load_channels(data_dir / NO_DURATION)

    assert track.channels == 2 and rows.shape == (2, len(load_audio(data_dir / NO_DURATION)))
    assert not rows[:, : round(track.start_s * SAMPLE_RATE)].any()


def test_load_channels_of_a_mono_track_is_one_row(data_dir: Path) -> None:
    path = data_dir / "english/other/ljspeech_LJ002-0020.wav"

    rows = media.load_channels(path)

    assert rows.shape[0] == 1 and np.array_equal(rows[0], load_audio(path))


def test_load_channels_refuses_surround_naming_file_and_count(data_dir: Path) -> None:
    from ovsub.errors import OptionError

    with pytest.raises(OptionError, match=r"lhotse_big_buck_bunny_small\.mp4: audio track 0 has 6 channels"):
        media.load_channels(data_dir / "video/lhotse_big_buck_bunny_small.mp4")


def test_load_channels_grows_its_buffer_too(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = data_dir / "english/other/fw_stereo_diarization.wav"
    expected = media.load_channels(path)
    monkeypatch.setattr(media, "PREALLOC_SLACK_S", -4.5)  # preallocate half a second: the rows must grow

    assert np.array_equal(media.load_channels(path), expected)


def test_accepts_str_and_pathlike(data_dir: Path) -> None:
    path = data_dir / "english/other/ljspeech_LJ002-0020.wav"
    assert np.array_equal(load_audio(str(path)), load_audio(path))


def test_truncated_file_keeps_what_decodes(data_dir: Path, tmp_path: Path) -> None:
    data = (data_dir / "english/other/jfk.flac").read_bytes()
    half = tmp_path / "jfk_half.flac"
    half.write_bytes(data[: len(data) // 2])

    audio = load_audio(half)

    assert 3.0 < len(audio) / SAMPLE_RATE < 8.0


def test_buffer_grows_when_length_is_unknown(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    expected = load_audio(data_dir / NO_DURATION)
    monkeypatch.setattr(media, "PREALLOC_UNKNOWN_S", 0.1)

    assert np.array_equal(load_audio(data_dir / NO_DURATION), expected)


# --- probing and choosing a track ---------------------------------------------------------------


def test_probe_describes_tracks_and_video(data_dir: Path) -> None:
    info = probe(data_dir / MULTI_TRACK)

    assert info.path.endswith("derived_multi_audio_tracks.mkv")
    assert info.has_video and info.video_codec == "h264"
    assert (info.video_width, info.video_height) == (320, 240)
    assert info.duration_s == pytest.approx(11.007, abs=0.01)
    assert [t.index for t in info.audio_streams] == [0, 1, 2]
    assert [t.stream_index for t in info.audio_streams] == [1, 2, 3]
    assert [t.language for t in info.audio_streams] == ["eng", "ger", "fre"]
    assert [t.default for t in info.audio_streams] == [True, False, False]
    assert all(t.codec == "opus" and t.channels == 1 and t.sample_rate == 48000 for t in info.audio_streams)
    assert info.audio_streams[1].title == "German (leopard test_de)"
    assert info.audio_streams[1].duration_s == pytest.approx(5.264, abs=0.01)
    # every stream, of every kind, for embedding and burn-in
    assert [(s.index, s.kind, s.codec) for s in info.streams] == [(0, "video", "h264")] + [
        (n, "audio", "opus") for n in (1, 2, 3)
    ]
    assert info.picture == info.streams[0] and info.streams[2].title == "German (leopard test_de)"
    assert probe(data_dir / MULTI_TRACK, geometry=True).picture == info.picture, "square pixels, no rotation"


def test_probe_audio_only_and_multichannel(data_dir: Path) -> None:
    flac = probe(data_dir / "english/other/jfk.flac")
    bunny = probe(data_dir / "video/lhotse_big_buck_bunny_small.mp4")

    assert not flac.has_video and flac.video_codec is None
    assert (flac.audio_streams[0].channels, flac.audio_streams[0].sample_rate) == (2, 44100)
    assert flac.audio_streams[0].language is None
    assert bunny.audio_streams[0].channels == 6
    assert bunny.audio_streams[0].language is None  # 'und' in the file means no language


def test_probe_video_only(data_dir: Path) -> None:
    info = probe(data_dir / VIDEO_ONLY)
    assert info.has_video and info.audio_streams == ()


@pytest.mark.parametrize(
    ("wanted", "index"),
    [(None, 0), (0, 0), (1, 1), (2, 2), ("2", 2), ("de", 1), ("deu", 1), ("ger", 1), ("DE", 1), ("de-AT", 1),
     ("fr", 2), ("fra", 2), ("fre", 2), ("en", 0), ("eng", 0)],
)  # fmt: skip
def test_select_audio_stream(data_dir: Path, wanted: int | str | None, index: int) -> None:
    info = probe(data_dir / MULTI_TRACK)
    assert select_audio_stream(info, wanted).index == index


def test_load_chosen_track(data_dir: Path) -> None:
    english = load_audio(data_dir / MULTI_TRACK)
    german = load_audio(data_dir / MULTI_TRACK, stream="de")

    assert np.array_equal(german, load_audio(data_dir / MULTI_TRACK, stream=1))
    assert abs(len(german) / SAMPLE_RATE - 5.264) < DURATION_TOLERANCE_S
    assert abs(len(english) / SAMPLE_RATE - 10.443) < DURATION_TOLERANCE_S
    assert rms(german) > SILENCE_RMS


@pytest.mark.parametrize("wanted", ["ja", "xyz", 3])
def test_missing_track_lists_the_available_ones(data_dir: Path, wanted: int | str) -> None:
    info = probe(data_dir / MULTI_TRACK)

    with pytest.raises(NoAudioStreamError) as caught:
        select_audio_stream(info, wanted)

    message = str(caught.value)
    assert "derived_multi_audio_tracks.mkv" in message
    assert str(wanted) in message
    for listed in ("0: eng", "1: ger", "2: fre"):
        assert listed in message


# --- streaming ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["english/other/jfk.flac", NO_DURATION])
def test_iter_audio_chunks_join_to_load_audio(data_dir: Path, name: str) -> None:
    chunks = list(iter_audio(data_dir / name, chunk_s=3.0))

    assert all(len(c) == 3 * SAMPLE_RATE for c in chunks[:-1])
    assert 0 < len(chunks[-1]) <= 3 * SAMPLE_RATE
    assert all(c.dtype == np.float32 for c in chunks)
    assert np.array_equal(np.concatenate(chunks), load_audio(data_dir / name))


def test_iter_audio_rejects_empty_chunks(data_dir: Path) -> None:
    with pytest.raises(ValueError, match="chunk_s"):
        iter_audio(data_dir / "english/other/jfk.flac", chunk_s=0)


# --- errors users see ---------------------------------------------------------------------------


def test_missing_file(tmp_path: Path) -> None:
    missing = tmp_path / "no_such_clip.mp4"
    for call in (load_audio, probe, iter_audio):
        with pytest.raises(InputNotFoundError, match="no_such_clip.mp4"):
            call(missing)  # iter_audio raises at the call, before iteration


def test_directory_is_not_a_file(tmp_path: Path) -> None:
    folder = tmp_path / "clips.mp4"
    folder.mkdir()
    with pytest.raises(InputNotFoundError, match="clips.mp4.*folder"):
        load_audio(folder)


def test_text_file_is_not_media(tmp_path: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("Meeting notes\nnothing to hear here\n" * 20, encoding="utf-8")
    with pytest.raises(NotMediaError, match="notes.txt"):
        load_audio(text)


def test_random_bytes_are_not_media(tmp_path: Path) -> None:
    fake = tmp_path / "holiday.mp4"
    fake.write_bytes(np.random.default_rng(0).bytes(4096))

    with pytest.raises(NotMediaError, match="holiday.mp4") as caught:
        load_audio(fake)

    assert isinstance(caught.value.__cause__, av.error.FFmpegError)  # FFmpeg's own reason stays in the traceback


def test_video_without_audio(data_dir: Path) -> None:
    with pytest.raises(NoAudioStreamError, match="moviepy_example_video_only.mp4"):
        load_audio(data_dir / VIDEO_ONLY)


def test_wav_with_no_samples(tmp_path: Path) -> None:
    empty = write_wav(tmp_path / "silence_of_nothing.wav", np.zeros(0), 16000)

    with pytest.raises(EmptyAudioError, match="silence_of_nothing.wav"):
        load_audio(empty)
    chunks = iter_audio(empty)  # opens and checks the track at once; emptiness shows while decoding
    with pytest.raises(EmptyAudioError, match="silence_of_nothing.wav"):
        next(chunks)
