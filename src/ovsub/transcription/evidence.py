"""Where speech really starts: VAD probabilities and the energy envelope, to time words by.

Whisper times a window's first words from the start of what it hears, and a speech region starts
``speech_pad_ms`` (300 ms) before the voice does, so first words (and the cues they open) came out
about 0.25-0.3 s early on bench/longform.py. As stable-ts does with its silence suppression, a word
whose start lies in non-speech is moved to where speech begins within it: the first VAD frame at or
above the threshold, then back to where the energy rises to speech level (Silero needs a frame or
two of a voice before it is sure, and a soft onset starts below its threshold). Ends are left alone:
a cue must not end before its last word's speech does.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from ovsub.audio.vad import FRAME_S, Region
from ovsub.types import Word
from ovsub.whisper.features import SAMPLE_RATE

ENERGY_HOP = 160  # samples: the energy envelope's step, 10 ms
ENERGY_BELOW_DB = 20.0  # speech energy: within this of the loud frames (90th percentile) around the onset...
ABOVE_BACKGROUND_DB = 10.0  # ...and this far above the background (the 10th percentile)
DIGITAL_SILENCE_DB = -90.0  # 10 ms at or below this level is (near-)digital silence, not background
LOOKBACK_S = 0.5  # how far before the VAD's onset the energy may place it
RISE_SLACK_S = 0.1  # how far before a word's own start the energy's rise may lie
CONTEXT_S = 3.0  # audio around a word whose loud frames set its speech level
MIN_WORD_S = 0.05  # a moved start leaves a word at least this long
WORD_REACH_S = 0.25  # speech this close to a word counts as covered by it (word timing is approximate)
JOIN_S = 1.0  # uncovered speech this close together is one stretch, the audio between included


@dataclass(frozen=True)
class SpeechEvidence:
    """Speech probabilities of 32 ms frames and the audio they came from, on the source timeline."""

    probabilities: np.ndarray  # one per FRAME_S frame from 0 s (audio.vad.speech_probabilities)
    samples: np.ndarray  # the 16 kHz audio
    threshold: float = 0.5  # a frame at or above this is speech

    def onset_in(self, start_s: float, end_s: float) -> float | None:
        """Where speech begins in [start_s, end_s), or None when no frame there is speech.

        >>> voice = np.concatenate([np.zeros(10 * 512), np.full(10 * 512, 0.1)]).astype(np.float32)
        >>> e = SpeechEvidence(np.array([0.1] * 10 + [0.9] * 10, np.float32), voice)
        >>> round(e.onset_in(0.0, 0.64), 3), e.onset_in(0.0, 0.3)
        (0.32, None)
        """
        first, last = int(start_s / FRAME_S), int(np.ceil(end_s / FRAME_S))
        speech = np.flatnonzero(self.probabilities[first:last] >= self.threshold)
        if not speech.size:
            return None
        onset_s = max(start_s, (first + int(speech[0])) * FRAME_S)
        return self._energy_onset(max(start_s, onset_s - LOOKBACK_S), onset_s)

    def is_speech(self, t_s: float) -> bool:
        """Whether the frame holding ``t_s`` is speech."""
        i = int(t_s / FRAME_S)
        return 0 <= i < self.probabilities.size and bool(self.probabilities[i] >= self.threshold)

    def _energy_onset(self, earliest_s: float, onset_s: float) -> float:
        """Where the energy rises to speech level and stays there up to ``onset_s``, if that is after
    ``earliest_s``; else ``onset_s`` (no rise to time by)."""
        lo = max(0, int((onset_s - CONTEXT_S) * SAMPLE_RATE))
        hi = min(self.samples.size, int((onset_s + CONTEXT_S) * SAMPLE_RATE))
        around = self.samples[lo:hi]
        frames = around[: around.size // ENERGY_HOP * ENERGY_HOP].reshape(-1, ENERGY_HOP)
        if frames.shape[0] < 2:
            return onset_s
        level = 10 * np.log10(np.mean(np.square(frames, dtype=np.float32), axis=1) + 1e-12)
        # Speech level: above the background (the quietest frames around) by a margin, and within reach of the
        # loud frames; recordings with steady background noise would otherwise pass the whole lookback.
        sound = level[level > DIGITAL_SILENCE_DB]  # zeros around a clip are no background to measure against
        if sound.size < 2:
            return onset_s
        background, loud = float(np.percentile(sound, 10)), float(np.percentile(sound, 90))
        floor = max(background + ABOVE_BACKGROUND_DB, loud - ENERGY_BELOW_DB)
        k = int((onset_s * SAMPLE_RATE - lo) // ENERGY_HOP)
        # The rise is looked for a little before ``earliest_s`` too (a voice starting just before the word's
        # aligned start is still a rise), and what is returned is never before ``earliest_s``.
        stop = max(0, int(((earliest_s - RISE_SLACK_S) * SAMPLE_RATE - lo) // ENERGY_HOP))
        while k - 1 >= stop and k - 1 < level.size and level[k - 1] >= floor:
            k -= 1
        if k == stop and (k == 0 or level[k - 1] >= floor):  # loud from before: background as loud as the voice
            return onset_s
        return max(earliest_s, (lo + k * ENERGY_HOP) / SAMPLE_RATE)


def refine_starts(words: tuple[Word, ...], evidence: SpeechEvidence | None) -> tuple[Word, ...]:
    """Words whose start lies in non-speech, started where speech begins within them (see the module docstring).

    >>> voice = np.concatenate([np.zeros(10 * 512), np.full(20 * 512, 0.1)]).astype(np.float32)
    >>> e = SpeechEvidence(np.array([0.1] * 10 + [0.9] * 20, np.float32), voice)
    >>> [(round(w.start_s, 2), w.end_s) for w in refine_starts((Word(0.0, 0.8, " Hi"), Word(0.8, 0.9, " you")), e)]
    [(0.32, 0.8), (0.8, 0.9)]
    """
    if evidence is None:
        return words
    out = []
    for word in words:
        if not evidence.is_speech(word.start_s) and word.end_s - word.start_s > MIN_WORD_S:
            onset = evidence.onset_in(word.start_s, word.end_s)
            if onset is not None and onset > word.start_s:
                word = replace(word, start_s=min(onset, word.end_s - MIN_WORD_S))
        out.append(word)
    return tuple(out)


def uncovered_speech(
    regions: tuple[Region, ...], words: list[Word], evidence: SpeechEvidence, min_s: float
) -> list[tuple[float, float]]:
    """Stretches of speech inside ``regions`` at least ``min_s`` long that no word is on or near.

    Speech is a run of frames at or above the threshold; a word covers what lies within WORD_REACH_S of it;
    uncovered runs less than JOIN_S apart are one stretch (a pause inside an utterance).

    >>> e = SpeechEvidence(np.array([0.9] * 100, np.float32), np.zeros(100 * 512, np.float32))
    >>> [(round(a, 2), round(b, 2)) for a, b in uncovered_speech((Region(0.0, 3.2),), [Word(0.0, 1.0, " hi")], e, 1.0)]
    [(1.28, 3.2)]
    """
    runs: list[tuple[float, float]] = []
    for region in regions:
        first = int(region.start_s / FRAME_S)
        last = min(int(np.ceil(region.end_s / FRAME_S)), evidence.probabilities.size)
        if last <= first:
            continue
        speech = evidence.probabilities[first:last] >= evidence.threshold
        times = (first + np.arange(last - first)) * FRAME_S
        for word in words:
            near = (times + FRAME_S > word.start_s - WORD_REACH_S) & (times < word.end_s + WORD_REACH_S)
            speech &= ~near
        edges = np.diff(np.concatenate(([0], speech.astype(np.int8), [0])))
        spans: list[tuple[float, float]] = []
        for a, b in zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)):
            start, end = max(region.start_s, float(times[a])), min(region.end_s, float(times[b - 1]) + FRAME_S)
            if spans and start - spans[-1][1] < JOIN_S:  # one utterance with a pause: keep what lies between
                spans[-1] = (spans[-1][0], end)
            else:
                spans.append((start, end))
        runs.extend(span for span in spans if span[1] - span[0] >= min_s)
    return runs
