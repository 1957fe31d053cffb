"""Planning: which windows to decode, each in which language (the one language-detection policy).

    speech regions -> plan_windows -> [(Window, language)]   (windows of at most 30 s, language forced or None)
    after a window is decoded: mixed_window -> detection_units -> region_languages -> language_windows
                               (only when Whisper was unsure of the window's language)

The policy, in one place:

- a language the user names is forced everywhere; an English-only model decodes English;
- otherwise each window's decode finds its language (Whisper's own detection, from the window it encodes
  anyway, at no extra cost); the file's language, and how sure it is, is what Whisper hears in the first 30 s
  of speech (``transcribe`` decodes the first window up front for it);
- a window Whisper is not sure about (below CONFIDENT_P) may hold two languages: then each of its speech
  regions' language is detected on its own audio (regions too short to judge are judged together, or take
  their neighbour's), and if they differ the window is planned again so that no window mixes languages.

Why a language per region: Whisper hears one language per window, so a window holding English then German
comes out in one of them (the other half made up or translated). Why only for unsure windows: detecting every
region's language ahead took 47 % of a 10-minute run (78 encoder passes), and windows of one language are
heard as one at 0.999 and above.
"""

from __future__ import annotations

import bisect
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

import numpy as np

from ovsub.audio import vad
from ovsub.audio.vad import Region
from ovsub.options import TranscribeOptions
from ovsub.transcription.windows import Window, plan_windows
from ovsub.whisper.features import SAMPLE_RATE
from ovsub.whisper.transcriber import LanguageGuess, Transcriber

log = logging.getLogger("ovsub")

T = TypeVar("T")
Progress = Callable[[float], None]  # told the source time (s) up to which the work is done

# Regions shorter than this are not judged alone: Whisper base (int8) named the right language for 19/40
# FLEURS pieces (en, de, es, fr) of 0.5 s, 32/40 of 1 s, 37/39 of 1.5 s and 39/39 of 2 s. Consecutive
# short regions are judged together once they add up to this; a lone one takes its neighbour's language.
MIN_DETECT_S = 1.5
CONFIDENT_P = 0.99  # a window's language heard this surely is the language of all of it (see mixed_window)


@dataclass(frozen=True)
class Plan:
    """What to decode: windows in time order, each with the language to force (None: the decode detects it)."""

    windows: tuple[tuple[Window, str | None], ...]
    language: LanguageGuess | None  # the file's language when known before decoding
    speech_s: float | None  # seconds of speech VAD kept (None when VAD is off)
    probabilities: np.ndarray | None = None  # VAD's speech probability of each 32 ms frame (None when VAD is off)


def plan(
    audio: np.ndarray, options: TranscribeOptions, transcriber: Transcriber, probabilities: np.ndarray | None = None
) -> Plan:
    """The windows to decode and their languages (None: each window's decode finds its own; see
    :func:`mixed_window`), by the policy in the module docstring. ``probabilities``: the voice activity of
    ``audio`` when already scored (one per 32 ms frame), so it is not scored again."""
    duration_s = len(audio) / SAMPLE_RATE
    forced = options.language or (None if transcriber.multilingual else "en")
    known = LanguageGuess(forced, None) if forced else None
    if not options.vad:
        whole = Window((Region(0.0, duration_s),), gap_s=0.0) if duration_s > 0 else None
        return Plan(((whole, forced),) if whole else (), known, None)
    if probabilities is None:
        regions, probabilities = vad.detect(audio, options.vad_options)
    else:
        regions = vad.regions_from_probabilities(probabilities, len(audio), options.vad_options)
    speech_s = sum(r.duration_s for r in regions)
    return Plan(tuple(language_windows([(r, forced) for r in regions])), known, speech_s, probabilities)


def mixed_window(
    window: Window, heard: LanguageGuess | None, transcriber: Transcriber, audio: np.ndarray, level: bool
) -> list[tuple[Window, str | None]] | None:
    """The windows ``window`` falls into by language, if it mixes languages; None when it does not.

    Whisper hears one language per window (``heard``, from its decode). When it is sure (CONFIDENT_P or
    more) the window is one language: measured on the shared data, windows of one language came out at
    0.999 and above, 27 s of English then German at 0.86, 22 s of English then 5 s of German at 0.96. Only
    then is each speech region's language detected (one encoder pass per detection unit), and the window
    planned again so that no window mixes languages.
    """
    if heard is None or heard.probability is None or heard.probability >= CONFIDENT_P or len(window.regions) < 2:
        return None
    guesses = region_languages(transcriber, audio, window.regions, level=level)  # all None: nothing to tell apart
    labelled = [(r, g.language if g else heard.language) for r, g in zip(window.regions, guesses)]
    if all(language == heard.language for _, language in labelled):
        return None
    log.debug("window %.1f-%.1f s mixes languages: %s", window.start_s, window.end_s, labelled)
    return language_windows(labelled)


def detection_units(regions: Sequence[Region], min_s: float = MIN_DETECT_S) -> list[tuple[int, ...]]:
    """Which regions to detect the language of, as tuples of region indices judged together.

    A region lasting at least ``min_s`` is judged alone. Consecutive shorter regions are batched in
    order until a batch holds ``min_s`` of audio, and the rest of their run joins the run's last batch;
    a run that never adds up to ``min_s`` is left out (fill_languages gives it a neighbour's language).

    >>> R = Region
    >>> detection_units([R(0.0, 5.0), R(6.0, 6.8), R(7.0, 7.9), R(8.0, 8.5), R(12.0, 20.0), R(21.0, 22.0)])
    [(0,), (1, 2, 3), (4,)]
    """
    units: list[tuple[int, ...]] = []
    run: list[int] = []  # the current run of short regions
    for i, region in enumerate(regions):
        if region.duration_s < min_s:
            run.append(i)
            continue
        units.extend(_batches(run, regions, min_s))
        units.append((i,))
        run = []
    units.extend(_batches(run, regions, min_s))
    return units


def _batches(run: list[int], regions: Sequence[Region], min_s: float) -> list[tuple[int, ...]]:
    batches: list[tuple[int, ...]] = []
    current: list[int] = []
    current_s = 0.0
    for i in run:
        current.append(i)
        current_s += regions[i].duration_s
        if current_s >= min_s:
            batches.append(tuple(current))
            current, current_s = [], 0.0
    if current and batches:
        batches[-1] += tuple(current)
    return batches


def fill_languages(regions: Sequence[Region], detected: Sequence[T | None]) -> list[T | None]:
    """Give each region without a language (None) that of the nearest region with one; the earlier on a tie.

    Nearest means the shortest silence between them. With no language anywhere, all stay None.

    >>> R = Region
    >>> fill_languages([R(0.0, 5.0), R(5.5, 6.0), R(9.0, 15.0), R(15.2, 16.0)], ["en", None, "de", None])
    ['en', 'en', 'de', 'de']
    """
    known = [i for i, language in enumerate(detected) if language is not None]
    if not known:
        return list(detected)
    return [
        detected[_nearest(regions, known, i)] if language is None else language for i, language in enumerate(detected)
    ]


def _nearest(regions: Sequence[Region], known: list[int], i: int) -> int:
    """Of the sorted region indices ``known``, the one closest in time to region ``i``; the earlier on a tie."""
    k = bisect.bisect(known, i)
    if k == 0 or k == len(known):
        return known[min(k, len(known) - 1)]
    before, after = known[k - 1], known[k]
    if regions[i].start_s - regions[before].end_s <= regions[after].start_s - regions[i].end_s:
        return before
    return after


def region_languages(
    transcriber: Transcriber,
    audio: np.ndarray,
    regions: Sequence[Region],
    min_s: float = MIN_DETECT_S,
    level: bool = False,
    progress: Progress | None = None,
) -> list[LanguageGuess | None]:
    """The language of each speech region: detected per unit (see detection_units), then filled in.

    Each unit costs one detection (an encoder pass: the same for 2 s as for 30 s). With fewer than two
    units there is nothing to tell apart, so nothing is detected and every region gets None: the window
    decodes then detect the language themselves, at no extra cost.

    Why every unit, rather than stopping once the first few agree: a switch can come at any point (a
    quote in another language in the middle of a talk), and a region not judged is decoded in its
    window's language. The price: on two busy cores, the 12 detections of the 89 s LibriSpeech file
    (english/long) added 28 s to its 87 s (+32 %; stopping after three that agree would have saved 23 s
    of it, and missed any switch after the first 20 s), the 3 of the 60 s code-switch file 4.6 s to its
    64 s (+7 %). Naming the language skips them all.
    """
    units = detection_units(regions, min_s)
    detected: list[LanguageGuess | None] = [None] * len(regions)
    if len(units) < 2:
        return detected
    if progress:
        progress(0.0)
    for unit in units:
        guess = transcriber.detect_language(Window(tuple(regions[i] for i in unit)).audio(audio, level))
        for i in unit:
            detected[i] = guess
        if progress:  # languages are known up to the end of this unit
            progress(regions[unit[-1]].end_s)
    filled = fill_languages(regions, detected)
    log.debug("languages of %d speech regions (%d detections): %s", len(regions), len(units), filled)
    return filled


def language_windows(labelled: Sequence[tuple[Region, str | None]]) -> list[tuple[Window, str | None]]:
    """Decode windows that never mix languages, each with its language, in time order.

    Consecutive regions of one language form a group, and plan_windows packs each group on its own,
    so every window holds exactly the regions it would hold if the file had only that group.

    >>> R = Region
    >>> planned = language_windows([(R(0.0, 4.0), "en"), (R(5.0, 9.0), "de"), (R(10.0, 12.0), "de")])
    >>> [([(r.start_s, r.end_s) for r in w.regions], language) for w, language in planned]
    [([(0.0, 4.0)], 'en'), ([(5.0, 9.0), (10.0, 12.0)], 'de')]
    """
    planned: list[tuple[Window, str | None]] = []
    start = 0
    for end in range(1, len(labelled) + 1):
        if end == len(labelled) or labelled[end][1] != labelled[start][1]:
            group = [region for region, _ in labelled[start:end]]
            planned.extend((window, labelled[start][1]) for window in plan_windows(group))
            start = end
    return planned
