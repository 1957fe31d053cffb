"""Media in, timed segments out: decode, find speech, run Whisper window by window, guard the output.

``transcribe`` returns a lazy iterator of segments and an info object (as faster-whisper does), so
a long file shows progress and a caller can stop early. Each step is its own function:

    load_audio -> speech regions (VAD) -> region_languages -> language_windows -> decode_window
                                          (when auto)          (<= 30 s, one      (language forced, guards,
                                                                language each)     temperature fallback)
               -> segments_from_result (back onto the source timeline)

Why a language per region: GenAI detects one language per decode, from its first 30 s, so a window
holding English then German comes out in one of them (the other half made up or translated). With the language left to
detection, each speech region's language is detected on its own audio (one encoder pass and five
decoder steps each), windows are planned so none mixes languages, and each is decoded with its
language forced. Regions too short to judge take their neighbour's language. When the user names a
language, the model is English-only or VAD is off, none of this runs and the windows are those of
vad.plan_windows.
"""

from __future__ import annotations

import bisect
import collections
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from ovsub.whisper import engine
from ovsub.transcription import guards
from ovsub.audio import media, vad
from ovsub.options import ModelOptions, TranscribeOptions, to_dict
from ovsub.types import Segment, TranscriptInfo, Word

log = logging.getLogger("ovsub")

SAMPLE_RATE = media.SAMPLE_RATE
FALLBACK_TEMPERATURES = (0.2, 0.4, 0.6, 0.8, 1.0)  # tried in turn when a window's output looks hallucinated
# Regions shorter than this are not judged alone: Whisper base (int8) named the right language for 19/40
# FLEURS pieces (en, de, es, fr) of 0.5 s, 32/40 of 1 s, 37/39 of 1.5 s and 39/39 of 2 s. Consecutive
# short regions are judged together once they add up to this; a lone one takes its neighbour's language.
MIN_DETECT_S = 1.5
DETECT_MAX_S = vad.MAX_WINDOW_S  # Whisper judges the language from the first 30 s; a longer unit is cut there
MIN_REST_S = 2.0  # speech left after an early stop of the decoder that is worth a second decode
REST_MARGIN_S = 0.5  # what counts as heard after the last timestamp (timestamps can end before the last word)


@dataclass(frozen=True)
class WindowOutcome:
    """A decoded window after the guards had their say."""

    result: engine.DecodeResult | None  # None when every attempt failed the guards
    temperature: float  # temperature of the kept attempt (or the last one tried)
    retried: bool  # whether the first attempt was rejected
    reasons: tuple[str, ...]  # why attempts were rejected


def plan_windows(audio: np.ndarray, use_vad: bool, vad_options: vad.VadOptions | None = None) -> list[vad.Window]:
    """Decode windows: speech regions packed into <= 30 s windows, or the whole file when VAD is off."""
    duration_s = len(audio) / SAMPLE_RATE
    if not use_vad:
        return [vad.Window((vad.Region(0.0, duration_s),), gap_s=0.0)] if duration_s > 0 else []
    return vad.plan_windows(vad.speech_regions(audio, vad_options))


def detection_units(regions: Sequence[vad.Region], min_s: float = MIN_DETECT_S) -> list[tuple[int, ...]]:
    """Which regions to detect the language of, as tuples of region indices judged together.

    A region lasting at least ``min_s`` is judged alone. Consecutive shorter regions are batched in
    order until a batch holds ``min_s`` of audio, and the rest of their run joins the run's last batch;
    a run that never adds up to ``min_s`` is left out (fill_languages gives it a neighbour's language).

    >>> R = vad.Region
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


def _batches(run: list[int], regions: Sequence[vad.Region], min_s: float) -> list[tuple[int, ...]]:
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


def fill_languages(regions: Sequence[vad.Region], detected: Sequence[str | None]) -> list[str | None]:
    """Give each region without a language (None) that of the nearest region with one; the earlier on a tie.

    Nearest means the shortest silence between them. With no language anywhere, all stay None.

    >>> R = vad.Region
    >>> fill_languages([R(0.0, 5.0), R(5.5, 6.0), R(9.0, 15.0), R(15.2, 16.0)], ["en", None, "de", None])
    ['en', 'en', 'de', 'de']
    """
    known = [i for i, language in enumerate(detected) if language is not None]
    if not known:
        return list(detected)
    return [
        detected[_nearest(regions, known, i)] if language is None else language for i, language in enumerate(detected)
    ]


def _nearest(regions: Sequence[vad.Region], known: list[int], i: int) -> int:
    """Of the sorted region indices ``known``, the one closest in time to region ``i``; the earlier on a tie."""
    k = bisect.bisect(known, i)
    if k == 0 or k == len(known):
        return known[min(k, len(known) - 1)]
    before, after = known[k - 1], known[k]
    if regions[i].start_s - regions[before].end_s <= regions[after].start_s - regions[i].end_s:
        return before
    return after


def region_languages(
    transcriber: engine.Transcriber, audio: np.ndarray, regions: Sequence[vad.Region], min_s: float = MIN_DETECT_S
) -> list[str | None]:
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
    detected: list[str | None] = [None] * len(regions)
    if len(units) < 2:
        return detected
    for unit in units:
        heard = vad.Window(tuple(regions[i] for i in unit)).audio(audio)[: int(DETECT_MAX_S * SAMPLE_RATE)]
        language = engine.detect_language(transcriber, heard)
        for i in unit:
            detected[i] = language
    filled = fill_languages(regions, detected)
    log.debug("languages of %d speech regions (%d detections): %s", len(regions), len(units), filled)
    return filled


def language_windows(labelled: Sequence[tuple[vad.Region, str | None]]) -> list[tuple[vad.Window, str | None]]:
    """Decode windows that never mix languages, each with its language, in time order.

    Consecutive regions of one language form a group, and vad.plan_windows packs each group on its own,
    so every window holds exactly the regions it would hold if the file had only that group.

    >>> R = vad.Region
    >>> planned = language_windows([(R(0.0, 4.0), "en"), (R(5.0, 9.0), "de"), (R(10.0, 12.0), "de")])
    >>> [([(r.start_s, r.end_s) for r in w.regions], language) for w, language in planned]
    [([(0.0, 4.0)], 'en'), ([(5.0, 9.0), (10.0, 12.0)], 'de')]
    """
    planned: list[tuple[vad.Window, str | None]] = []
    start = 0
    for end in range(1, len(labelled) + 1):
        if end == len(labelled) or labelled[end][1] != labelled[start][1]:
            group = [region for region, _ in labelled[start:end]]
            planned.extend((window, labelled[start][1]) for window in vad.plan_windows(group))
            start = end
    return planned


def main_language(planned: Sequence[tuple[vad.Window, str | None]]) -> str | None:
    """The language with the most speech (the earliest on a tie), or None if no window has one.

    >>> R, W = vad.Region, vad.Window
    >>> main_language([(W((R(0.0, 4.0),)), "en"), (W((R(5.0, 8.0),)), "de"), (W((R(9.0, 11.0),)), "de")])
    'de'
    """
    speech_s: dict[str, float] = {}
    for window, language in planned:
        if language is not None:
            speech_s[language] = speech_s.get(language, 0.0) + window.speech_s
    return max(speech_s, key=lambda language: speech_s[language]) if speech_s else None


def plan_decodes(
    audio: np.ndarray,
    options: TranscribeOptions,
    transcriber: engine.Transcriber,
    vad_options: vad.VadOptions | None = None,
) -> list[tuple[vad.Window, str | None]]:
    """The windows to decode, each with the language to force (None: the decode detects it)."""
    if not options.vad:
        return [(window, options.language) for window in plan_windows(audio, False)]
    regions = vad.speech_regions(audio, vad_options)
    if options.language is None and getattr(transcriber, "multilingual", True):
        languages = region_languages(transcriber, audio, regions)
    else:
        languages = [options.language] * len(regions)
    return language_windows(list(zip(regions, languages)))


def decode_window(
    transcriber: engine.Transcriber,
    audio: np.ndarray,
    request: engine.DecodeRequest,
    first: engine.DecodeResult | None = None,
) -> WindowOutcome:
    """Decode one window; re-decode with rising temperature while the guards reject the text.

    ``first`` is the window's first attempt when it was already decoded (in a batch).
    """
    speech_s = len(audio) / SAMPLE_RATE
    reasons: list[str] = []
    attempts = (request.temperature, *(t for t in FALLBACK_TEMPERATURES if t > request.temperature))
    for i, temperature in enumerate(attempts):
        if i == 0 and first is not None:
            result = first
        else:
            result = transcriber.decode(audio, replace(request, temperature=temperature))
        text = " ".join(c.text for c in result.chunks) or result.text
        verdict = guards.assess(text, speech_s)
        if verdict.ok:
            return WindowOutcome(result, temperature, i > 0, tuple(reasons))
        reasons.extend(f"t={temperature}: {r}" for r in verdict.reasons)
        log.debug("window rejected at temperature %s: %s", temperature, verdict.reasons)
    return WindowOutcome(None, attempts[-1], True, tuple(reasons))


def decode_windows(
    transcriber: engine.Transcriber, audios: Sequence[np.ndarray], request: engine.DecodeRequest
) -> list[WindowOutcome]:
    """Several windows of one language: first attempts as one batch, then each window's guards and fallback."""
    firsts: Sequence[engine.DecodeResult | None] = [None] * len(audios)
    if len(audios) > 1 and all(len(a) <= engine.WINDOW_SAMPLES for a in audios):
        firsts = transcriber.decode_windows(list(audios), request)
    return [decode_window(transcriber, a, request, first) for a, first in zip(audios, firsts)]


def _clamp_words(words: tuple[Word, ...], start_s: float, end_s: float) -> tuple[Word, ...]:
    out: list[Word] = []
    last = start_s
    for w in words:
        s = min(max(w.start_s, last), end_s)
        e = min(max(w.end_s, s), end_s)
        out.append(Word(s, e, w.text, w.probability))
        last = s
    return tuple(out)


def word_on_source(word: Word, window: vad.Window) -> Word:
    """A word's timing on the source timeline, kept inside one speech region.

    The decoder hears regions joined by short gaps; a word whose timing straddles a join would stretch
    across all the silence VAD removed there, so it keeps the side of the join it mostly lies on.
    """
    start, end = window.to_source_time(word.start_s), window.to_source_time(word.end_s)
    for before, after in zip(window.regions, window.regions[1:]):
        if start < before.end_s and end > after.start_s:  # across a removed stretch of silence
            if before.end_s - start >= end - after.start_s:
                end = before.end_s
            else:
                start = after.start_s
    return Word(start, max(start, end), word.text, word.probability)


def segments_from_result(
    outcome: WindowOutcome, window: vad.Window, first_id: int, not_before_s: float
) -> list[Segment]:
    """The window's chunks as segments on the source timeline, starts never before ``not_before_s``."""
    assert outcome.result is not None
    segments: list[Segment] = []
    for chunk in outcome.result.chunks:
        if not chunk.text:
            continue
        words = tuple(word_on_source(w, window) for w in chunk.words if w.text.strip())
        start = max(window.to_source_time(chunk.start_s), not_before_s)
        end = max(window.to_source_time(chunk.end_s), start)
        if words:  # word timing is finer than the chunk's timestamp tokens
            start = max(min(start, words[0].start_s), not_before_s)
            end = max(end, words[-1].end_s)
            words = _clamp_words(words, start, end)
        segments.append(
            Segment(
                id=first_id + len(segments),
                start_s=start,
                end_s=end,
                text=chunk.text,
                words=words,
                language=outcome.result.language,
                avg_logprob=outcome.result.score,
                compression_ratio=round(guards.compression_ratio(chunk.text), 3),
                temperature=outcome.temperature,
                retried=outcome.retried,
            )
        )
        not_before_s = start
    return segments


def unheard_rest(outcome: WindowOutcome, window: vad.Window, min_rest_s: float = MIN_REST_S) -> vad.Window | None:
    """The speech of a window after the point where the decoder stopped early, if enough is left.

    Whisper sometimes ends a window's text long before the window's speech ends (seen in packed windows
    of quiet speech); what follows its last timestamp would otherwise be lost without a trace.
    """
    if outcome.result is None or not outcome.result.chunks:
        return None
    covered = window.to_source_time(max(c.end_s for c in outcome.result.chunks)) + REST_MARGIN_S
    # Regions the decoder never reached, and the tail of the one it stopped in when that tail is long
    # (a short tail is most likely the last words, already written: decoding it again would repeat them).
    rest = tuple(
        vad.Region(max(r.start_s, covered), r.end_s)
        for r in window.regions
        if r.start_s >= covered or r.end_s - covered >= min_rest_s
    )
    if not rest or sum(r.duration_s for r in rest) < min_rest_s:
        return None
    return vad.Window(rest, gap_s=window.gap_s)


def transcribe(
    source: str,
    options: TranscribeOptions | None = None,
    model: ModelOptions | str | None = None,
    *,
    stream: int | str | None = None,
    transcriber: engine.Transcriber | None = None,
    vad_options: vad.VadOptions | None = None,
    audio: np.ndarray | None = None,
    **overrides: Any,
) -> tuple[Iterator[Segment], TranscriptInfo]:
    """Transcribe (or translate) a media file: a lazy iterator of segments, and what is known up front.

    ``options`` fields can also be given as keywords (``transcribe("talk.mp4", language="de")``).
    ``model`` is a ModelOptions or just a model name. The iterator decodes as it is consumed; the
    info's ``dropped`` list fills in as windows are rejected by the hallucination guards.
    """
    opts = replace(options or TranscribeOptions(), **overrides)
    model_opts = ModelOptions(name=model) if isinstance(model, str) else (model or ModelOptions())
    samples = media.load_audio(source, stream) if audio is None else audio
    duration_s = len(samples) / SAMPLE_RATE
    t = transcriber or engine.load(model_opts, opts.word_timestamps)
    planned = plan_decodes(samples, opts, t, vad_options)
    request = engine.DecodeRequest(
        task=opts.task,
        language=opts.language,
        beam_size=opts.beam_size,
        initial_prompt=opts.initial_prompt,
        max_new_tokens=opts.max_new_tokens,
        word_timestamps=opts.word_timestamps,
    )
    dropped: list[dict[str, Any]] = []

    def outcomes_of(windows: Sequence[vad.Window], language: str | None) -> list[WindowOutcome]:
        outcomes = decode_windows(t, [w.audio(samples) for w in windows], replace(request, language=language))
        for window, outcome in zip(windows, outcomes):
            if outcome.result is None:
                dropped.append(
                    {
                        "start_s": round(window.start_s, 3),
                        "end_s": round(window.end_s, 3),
                        "reasons": list(outcome.reasons),
                    }
                )
        return outcomes

    language = main_language(planned)
    # With the language still unknown (nothing detected per region), decode the first window now:
    # its language is the file's.
    first = outcomes_of([planned[0][0]], planned[0][1])[0] if planned and language is None else None
    if first is not None and first.result is not None:
        language = first.result.language
    if language is None and not getattr(t, "multilingual", True):
        language = "en"
    info = TranscriptInfo(
        source=str(source),
        duration_s=duration_s,
        language=language,
        language_probability=None,
        model=model_opts.name,
        options={"transcribe": to_dict(opts), "model": to_dict(model_opts)},
        speech_s=sum(w.speech_s for w, _ in planned) if opts.vad else None,
        dropped=dropped,
    )

    def segments() -> Iterator[Segment]:
        next_id, not_before = 0, 0.0
        queue = collections.deque(planned)  # windows not decoded yet
        ready: collections.deque[tuple[vad.Window, WindowOutcome]] = collections.deque()  # decoded, not yielded
        if first is not None:
            ready.append((queue.popleft()[0], first))
        while queue or ready:
            if not ready:  # the next windows of one language, decoded as a batch
                window_language = queue[0][1]
                batch: list[vad.Window] = []
                while queue and queue[0][1] == window_language and len(batch) < t.batch_windows:
                    batch.append(queue.popleft()[0])
                ready.extend(zip(batch, outcomes_of(batch, window_language)))
            window, outcome = ready.popleft()
            if outcome.result is None:
                continue
            rest = unheard_rest(outcome, window) if opts.vad else None
            if rest is not None:  # decode what the decoder skipped before the next window
                rest_language = outcome.result.language
                ready.appendleft((rest, outcomes_of([rest], rest_language)[0]))
            for segment in segments_from_result(outcome, window, next_id, not_before):
                next_id, not_before = segment.id + 1, segment.start_s
                yield segment

    return segments(), info
