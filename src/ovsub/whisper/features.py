"""One 30-second window of 16 kHz audio -> Whisper's log-mel input features, in numpy alone.

Why this module: OpenVINO GenAI's WhisperPipeline computed these features inside its C++ code. Our
own decoding loop feeds the encoder directly, so it has to make them itself, and they must match
what the models were trained on (OpenAI Whisper's ``log_mel_spectrogram`` of a window padded to
30 s, the same numbers faster-whisper and HF's WhisperFeatureExtractor produce).

Why numpy only: torch (what openai-whisper uses) is hundreds of megabytes of wheels, and librosa (the usual
source of the mel filterbank) pulls in numba, scipy and scikit-learn, all for one 80 x 201 matrix
that is a few lines of arithmetic. numpy 2's pocketfft transforms float32 frames in float32, and one
window (3000 frames of 400 samples) takes about 12 ms on the 2-core test machine.

The recipe, step by step (each step as in ``whisper/audio.py``):

1. zero-pad the samples to exactly 30 s (480000 samples) *before* the transform, so frames near
   the end of the speech see zeros and the frames after it are computed, not filled in;
2. centred STFT: reflect-pad 200 samples at each end, 400-sample periodic Hann frames every 160
   samples (3001 frames), keep the first 3000 (Whisper drops the last);
3. power spectrum |X|^2 of the 201 one-sided bins, times a Slaney-style mel filterbank (librosa's
   ``filters.mel(sr=16000, n_fft=400, n_mels=n_mels)``, htk=False, norm='slaney');
4. log10 of max(mel, 1e-10), raise everything to at least (max - 8), then map by (x + 4) / 4.

faster-whisper 1.2.1 differs in one place: its ``WhisperModel.transcribe`` pads the audio by only
160 samples before the transform and pads the *features* of a short last window with 0.0, so the
frames after the speech differ from Whisper's: 0.0 instead of the window's floor, (max - 4) / 4
(-0.54 for the JFK clip). Its ``FeatureExtractor`` gives Whisper's numbers for audio already
padded to 30 s.
"""

from __future__ import annotations

from functools import cache, lru_cache

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

SAMPLE_RATE = 16000  # Hz, the only rate Whisper takes
N_FFT = 400  # samples in one STFT frame (25 ms), also the Hann window length
HOP_LENGTH = 160  # samples between frame starts (10 ms), so 100 frames per second
CHUNK_S = 30  # seconds in one Whisper window
N_SAMPLES = CHUNK_S * SAMPLE_RATE  # 480000 samples in a 30-second window
N_FRAMES = N_SAMPLES // HOP_LENGTH  # 3000 mel frames in a window, what the encoder takes
N_BINS = N_FFT // 2 + 1  # 201 one-sided frequency bins, 40 Hz apart from 0 Hz to 8000 Hz
N_MELS_CHOICES = (80, 128)  # mel bands of every Whisper model: 128 for large-v3 and its turbo, 80 for the rest
LOG_FLOOR = 1e-10  # smallest mel power taken to log10, so silence gives -10 rather than -inf
DYNAMIC_RANGE_LOG10 = 8.0  # decades kept below the loudest value (80 dB); quieter values are raised to that
SLANEY_LINEAR_HZ_PER_MEL = 200.0 / 3  # Slaney mel scale: linear at 3 mels per 200 Hz ...
SLANEY_BREAK_HZ = 1000.0  # ... up to 1 kHz (15 mels), and logarithmic above it ...
SLANEY_LOG_STEP = np.log(6.4) / 27  # ... with 27 mels per factor of 6.4 in frequency (natural log per mel)


def log_mel(audio: np.ndarray, n_mels: int = 80) -> np.ndarray:
    """Whisper's log-mel features of one window of at most 30 s: float32 ``[n_mels, 3000]``.

    ``audio`` is float32 mono at 16 kHz (other float dtypes are converted). Shorter audio is
    zero-padded to 30 s first, exactly as Whisper's ``pad_or_trim`` does, so the result equals
    the features of the same audio padded by hand. Longer audio is a ValueError: split it into
    windows first. ``n_mels`` is 80, or 128 for large-v3.

    >>> log_mel(np.zeros(SAMPLE_RATE, dtype=np.float32)).shape
    (80, 3000)
    """
    filters = mel_filters(n_mels)
    samples = _checked_samples(audio)
    padded = np.zeros(N_SAMPLES + N_FFT, dtype=np.float32)  # the 30 s window plus N_FFT/2 each side
    edge = N_FFT // 2
    padded[edge : edge + len(samples)] = samples
    # Centred STFT: mirror the window's ends around its first and last samples (numpy's "reflect").
    padded[:edge] = padded[2 * edge : edge : -1]
    padded[-edge:] = padded[-edge - 2 : -2 * edge - 2 : -1]
    frames = sliding_window_view(padded, N_FFT)[::HOP_LENGTH][:N_FRAMES]  # a view: [3000, 400]
    spectrum = np.fft.rfft(frames * _hann_window(), axis=-1)  # [3000, 201], complex64 (complex128 before numpy 2)
    power = np.square(spectrum.real)
    power += np.square(spectrum.imag)
    mel = filters @ power.T.astype(np.float32, copy=False)  # float32 [n_mels, 3000]
    np.maximum(mel, LOG_FLOOR, out=mel)
    np.log10(mel, out=mel)
    np.maximum(mel, mel.max() - DYNAMIC_RANGE_LOG10, out=mel)
    mel += 4.0
    mel /= 4.0
    return mel


def log_mel_batch(windows: list[np.ndarray], n_mels: int = 80) -> np.ndarray:
    """:func:`log_mel` of each window, stacked: float32 ``[len(windows), n_mels, 3000]``.

    Each window is normalised on its own (its own loudest value sets its floor), as Whisper does.
    Only tests call it (the engine encodes one window at a time); kept as the public batch form of log_mel.

    >>> log_mel_batch([np.zeros(100, dtype=np.float32)] * 2, n_mels=128).shape
    (2, 128, 3000)
    """
    batch = np.empty((len(windows), mel_filters(n_mels).shape[0], N_FRAMES), dtype=np.float32)
    for i, window in enumerate(windows):
        batch[i] = log_mel(window, n_mels)
    return batch


@cache
def mel_filters(n_mels: int = 80) -> np.ndarray:
    """The Slaney-style mel filterbank Whisper uses: read-only float32 ``[n_mels, 201]``.

    Row i is a triangle over the STFT bins (0 Hz to 8 kHz in 40 Hz steps) rising from mel edge i to
    edge i+1 and falling to edge i+2, for n_mels + 2 edges evenly spaced on the Slaney mel scale;
    each triangle is scaled by 2 / its width in Hz, so every band gathers about the same energy.
    Equals ``librosa.filters.mel(sr=16000, n_fft=400, n_mels=n_mels)``.
    """
    if n_mels not in N_MELS_CHOICES:
        raise ValueError(f"n_mels must be one of {N_MELS_CHOICES} (128 for large-v3 models, else 80), not {n_mels!r}")
    bin_hz = np.arange(N_BINS) * (SAMPLE_RATE / N_FFT)
    edges_hz = _mel_to_hz(np.linspace(0.0, _hz_to_mel(SAMPLE_RATE / 2), n_mels + 2))
    low, peak, high = edges_hz[:-2, None], edges_hz[1:-1, None], edges_hz[2:, None]
    rising = (bin_hz - low) / (peak - low)
    falling = (high - bin_hz) / (high - peak)
    triangles = np.maximum(0.0, np.minimum(rising, falling))
    filters: np.ndarray = (triangles * (2.0 / (high - low))).astype(np.float32)
    filters.flags.writeable = False  # shared by every caller through the cache
    return filters


@lru_cache(maxsize=1)
def _hann_window() -> np.ndarray:
    """Periodic Hann window of N_FFT samples (torch.hann_window's default), float32, read-only."""
    window = (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(N_FFT) / N_FFT)).astype(np.float32)
    window.flags.writeable = False
    return window


def _checked_samples(audio: np.ndarray) -> np.ndarray:
    """The samples as a 1-D float32 array of at most N_SAMPLES, or a ValueError saying what is wrong."""
    samples = np.asarray(audio, dtype=np.float32)
    if samples.ndim != 1:
        raise ValueError(f"audio must be a 1-D array of mono samples, not an array of shape {samples.shape}")
    if len(samples) > N_SAMPLES:
        raise ValueError(
            f"audio is {len(samples)} samples ({len(samples) / SAMPLE_RATE:.3f} s) long; one window holds at most "
            f"{N_SAMPLES} samples ({CHUNK_S} s at {SAMPLE_RATE} Hz): split longer audio into windows first"
        )
    return samples


def _hz_to_mel(hz: float) -> float:
    """Slaney mel of a frequency: linear below SLANEY_BREAK_HZ, logarithmic above."""
    if hz < SLANEY_BREAK_HZ:
        return hz / SLANEY_LINEAR_HZ_PER_MEL
    mel: float = SLANEY_BREAK_HZ / SLANEY_LINEAR_HZ_PER_MEL + float(np.log(hz / SLANEY_BREAK_HZ)) / SLANEY_LOG_STEP
    return mel


def _mel_to_hz(mels: np.ndarray) -> np.ndarray:
    """Frequencies in Hz of Slaney mels (the inverse of _hz_to_mel), elementwise."""
    break_mel = SLANEY_BREAK_HZ / SLANEY_LINEAR_HZ_PER_MEL
    linear = mels * SLANEY_LINEAR_HZ_PER_MEL
    logarithmic = SLANEY_BREAK_HZ * np.exp(SLANEY_LOG_STEP * (mels - break_mel))
    return np.where(mels < break_mel, linear, logarithmic)
