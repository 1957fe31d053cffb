"""features: Whisper's log-mel input features in numpy, checked against faster-whisper on real speech."""

from __future__ import annotations

import doctest
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from ovsub.audio.media import load_audio
from ovsub.whisper import features
from ovsub.whisper.features import N_FRAMES, N_SAMPLES, log_mel, log_mel_batch, mel_filters

CLIPS = [
    "english/other/ljspeech_LJ002-0020.wav",  # 1.5 s at 22050 Hz: mostly padding
    "english/other/jfk.flac",  # 11 s, 44.1 kHz stereo
    "english/librispeech/ls_dev-clean_1272-128104-0004_8k.wav",  # 29.4 s at 8 kHz: speech up to the last frames
]
MAX_ABS_DIFF = 1e-3  # vs faster-whisper's FeatureExtractor; measured 1.2e-7 (float32 rounding, one ulp)
FILTER_TOLERANCE = 1e-6  # vs faster-whisper's mel filterbank; measured 0.0
SILENCE_VALUE = -1.5  # (log10(1e-10) + 4) / 4: every frame of an all-zero window (-1.5000002 in float32, as in fw)


@pytest.fixture(scope="module")
def speech(data_dir: Path) -> Callable[[str], np.ndarray]:
    """Decode a clip of shared/data once per module; the arrays are read-only, as tests share them."""
    decoded: dict[str, np.ndarray] = {}

    def load(relative: str) -> np.ndarray:
        if relative not in decoded:
            decoded[relative] = load_audio(data_dir / relative)
            decoded[relative].flags.writeable = False
        return decoded[relative]

    return load


@pytest.mark.parametrize("n_mels", [80, 128])
@pytest.mark.parametrize("clip", CLIPS)
def test_matches_faster_whisper_for_one_padded_window(speech: Callable[[str], np.ndarray], clip: str, n_mels: int):
    fw_audio = pytest.importorskip("faster_whisper.audio")
    fw_features = pytest.importorskip("faster_whisper.feature_extractor")
    audio = speech(clip)
    extractor = fw_features.FeatureExtractor(feature_size=n_mels)
    # Whisper's decode path (and HF's extractor): audio padded to 30 s, then the spectrogram of that.
    padded_first = extractor(fw_audio.pad_or_trim(audio, N_SAMPLES), padding=0)
    # Whisper's transcribe path: 30 s of zeros appended, the first window's 3000 frames taken.
    zeros_appended = extractor(audio, padding=N_SAMPLES)[:, :N_FRAMES]

    ours = log_mel(audio, n_mels)

    assert ours.shape == (n_mels, N_FRAMES) and ours.dtype == np.float32
    assert np.abs(ours - padded_first).max() < MAX_ABS_DIFF
    assert np.abs(ours - zeros_appended).max() < MAX_ABS_DIFF


def test_faster_whisper_transcribe_agrees_while_the_speech_lasts(speech: Callable[[str], np.ndarray]):
    # faster-whisper 1.2.1's WhisperModel.transcribe pads the audio by 160 samples only, then pads the
    # features of a short window with 0.0; the frames that see only real audio are the same as ours.
    fw_audio = pytest.importorskip("faster_whisper.audio")
    fw_features = pytest.importorskip("faster_whisper.feature_extractor")
    audio = speech("english/other/jfk.flac")
    full = fw_features.FeatureExtractor()(audio)
    window = fw_audio.pad_or_trim(full[:, : full.shape[-1] - 1])
    inside = (len(audio) - 40) // features.HOP_LENGTH + 1  # frames ending no later than 160 samples past the audio

    ours = log_mel(audio)

    assert np.abs(ours[:, :inside] - window[:, :inside]).max() < MAX_ABS_DIFF


def test_mel_filterbank_has_whispers_shape_and_triangles():
    filters = mel_filters(80)

    assert filters.shape == (80, features.N_BINS) == (80, 201) and filters.dtype == np.float32
    assert (filters >= 0).all() and (filters.max(axis=1) > 0).all()
    peaks = filters.argmax(axis=1)
    assert (np.diff(peaks) >= 0).all() and peaks[-1] > peaks[0]  # low bands can share a 40 Hz bin
    for row, peak in zip(filters, peaks, strict=True):
        support = np.flatnonzero(row)
        assert (np.diff(support) == 1).all()  # one contiguous band
        assert (np.diff(row[: peak + 1]) >= 0).all() and (np.diff(row[peak:]) <= 0).all()  # up, then down
    assert not filters.flags.writeable
    assert mel_filters(80) is filters  # cached


@pytest.mark.parametrize("n_mels", [80, 128])
def test_mel_filterbank_equals_faster_whispers(n_mels: int):
    fw_features = pytest.importorskip("faster_whisper.feature_extractor")
    theirs = fw_features.FeatureExtractor.get_mel_filters(features.SAMPLE_RATE, features.N_FFT, n_mels=n_mels)

    assert np.abs(mel_filters(n_mels) - theirs).max() < FILTER_TOLERANCE


@pytest.mark.parametrize("n_mels", [64, 0])
def test_other_mel_counts_are_refused(n_mels: int):
    with pytest.raises(ValueError, match=r"n_mels must be one of \(80, 128\)"):
        mel_filters(n_mels)


@pytest.mark.parametrize("samples", [0, 1, features.SAMPLE_RATE, N_SAMPLES])
def test_silence_is_constant_and_finite(samples: int):
    result = log_mel(np.zeros(samples, dtype=np.float32))

    assert np.isfinite(result).all()
    assert (result == result[0, 0]).all()
    assert result[0, 0] == pytest.approx(SILENCE_VALUE, abs=1e-6)


def test_over_30_s_is_an_error_naming_the_length():
    with pytest.raises(ValueError, match=r"audio is 480001 samples \(30\.000 s\)"):
        log_mel(np.zeros(N_SAMPLES + 1, dtype=np.float32))


def test_a_multichannel_array_is_an_error():
    with pytest.raises(ValueError, match=r"1-D array of mono samples, not an array of shape \(2, 100\)"):
        log_mel(np.zeros((2, 100), dtype=np.float32))


def test_shorter_audio_equals_it_padded_by_hand(speech: Callable[[str], np.ndarray]):
    audio = speech("english/other/jfk.flac")
    by_hand = np.zeros(N_SAMPLES, dtype=np.float32)
    by_hand[: len(audio)] = audio

    assert np.array_equal(log_mel(audio), log_mel(by_hand))


def test_batch_is_each_window_stacked(speech: Callable[[str], np.ndarray]):
    windows = [speech(clip) for clip in CLIPS[:2]]

    batch = log_mel_batch(windows, n_mels=128)

    assert batch.shape == (2, 128, N_FRAMES) and batch.dtype == np.float32
    for window, result in zip(windows, batch, strict=True):
        assert np.array_equal(result, log_mel(window, 128))
    assert log_mel_batch([]).shape == (0, 80, N_FRAMES)


def test_docstring_examples():
    result = doctest.testmod(features)
    assert result.attempted and not result.failed
