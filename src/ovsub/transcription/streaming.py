"""Transcription block by block: a recording of any length in the memory of a few minutes of it.

    media.iter_audio -> blocks.blocks -> per block: planning.plan -> schedule.Scheduler -> segments, shifted
    (chunks as decoded)  (cut at pauses)   (VAD, windows)            (guards, coverage,     onto the recording's
                                                                       evidence, language)   timeline

Each block goes through the whole of transcription as a file of its own would (voice activity, levelling,
guarded decoding, the re-decode of speech without words, word timing by evidence, a language per window where
Whisper is unsure), then its segments are shifted to the recording's time and handed on, and the block is let go
before the next one is read. The recording's language and how sure Whisper is of it come from the first window
of speech, as for a whole file: the first block with speech is planned, and that window decoded, before
:func:`start` returns.

What is only known at the end: the recording's length when its header does not say it (or only estimates it,
as MP3 headers do), and how much speech it holds. :class:`SegmentStream` keeps both as they are read, and
:meth:`SegmentStream.completed` gives the info with them once the segments are all consumed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from ovsub.audio import media
from ovsub.options import TranscribeOptions
from ovsub.transcription.blocks import Block, blocks
from ovsub.transcription.evidence import SpeechEvidence
from ovsub.transcription.guarded import GuardTally, WindowOutcome
from ovsub.transcription.planning import Plan
from ovsub.transcription.planning import plan as make_plan
from ovsub.transcription.schedule import Scheduler
from ovsub.transcription.timeline import ends_by
from ovsub.types import Segment, TranscriptInfo
from ovsub.whisper.features import SAMPLE_RATE
from ovsub.whisper.transcriber import LanguageGuess, Transcriber

Progress = Callable[[float], None]  # told the recording's time (s) up to which it is decoded


@dataclass(frozen=True)
class Start:
    """One channel (or block) ready to decode: its scheduler and plan, and its language once known."""

    scheduler: Scheduler
    plan: Plan
    first: WindowOutcome | None  # the first window, decoded already when that was how to learn the language
    language: LanguageGuess | None

    @classmethod
    def of(cls, scheduler: Scheduler, planned: Plan, learn: bool = True) -> Start:
        """Ready to decode; with ``learn``, the first window decoded now when the language is to be found."""
        language = planned.language
        # Unless the user named the language, decode the first window now: what Whisper hears in the first 30 s
        # of speech is the channel's language and how sure it is (as Whisper itself judges it), and it names
        # the language when nothing was detected ahead.
        first = None
        options = scheduler.options
        if learn and planned.windows and not options.language and scheduler.transcriber.multilingual:
            first = scheduler.decode([planned.windows[0][0]], planned.windows[0][1])[0]
            heard = first.result.detected if first.result is not None else None
            if heard is not None and (language is None or heard.language == language.language):
                language = heard
            if scheduler.progress:
                scheduler.progress(planned.windows[0][0].end_s)
        return cls(scheduler, planned, first, language)

    @property
    def speech_s(self) -> float:
        """How much speech this channel has (its whole length when VAD is off)."""
        return self.plan.speech_s if self.plan.speech_s is not None else len(self.scheduler.samples) / SAMPLE_RATE


@dataclass
class Totals:
    """What reading the recording has found so far (mutable: filled in block by block)."""

    duration_s: float = 0.0  # seconds of audio read
    speech_s: float | None = 0.0  # seconds of speech VAD kept (None when VAD is off)
    done: bool = False  # whether the whole recording has been read and decoded

    def add(self, block: Block, planned: Plan) -> None:
        self.duration_s = block.offset_s + block.duration_s
        if self.speech_s is not None and planned.speech_s is not None:
            self.speech_s += planned.speech_s


class SegmentStream(Iterator[Segment]):
    """The segments of a recording as its blocks are decoded, and what is known of the whole once they end."""

    def __init__(self, segments: Iterator[Segment], totals: Totals) -> None:
        self._segments = segments
        self.totals = totals

    def __iter__(self) -> SegmentStream:
        return self

    def __next__(self) -> Segment:
        return next(self._segments)

    def completed(self, info: TranscriptInfo) -> TranscriptInfo:
        """``info`` with the recording's length and speech as reading all of it found (as is, before the end)."""
        if not self.totals.done:
            return info
        return replace(info, duration_s=self.totals.duration_s, speech_s=self.totals.speech_s)


@dataclass(frozen=True)
class Context:
    """What every block of one recording is decoded with."""

    transcriber: Transcriber
    options: TranscribeOptions
    dropped: list[dict[str, Any]]  # the recording's, in its time
    tally: GuardTally  # the recording's
    progress: Progress | None


def decoded(source: str | Path, stream: int | str | None) -> tuple[Iterator[np.ndarray], float | None]:
    """The audio track's samples as decoded (mono, 16 kHz, in chunks), and its length as the container states it
    (None when it does not; the decoded length may differ a little, or a lot in a damaged file)."""
    info = media.probe(source)
    track = media.select_audio_stream(info, stream)
    expected_s = track.start_s + track.duration_s if track.duration_s is not None else info.duration_s
    return media.iter_audio(source, stream), expected_s


def start(
    chunks: Iterator[np.ndarray], context: Context, block_s: float
) -> tuple[Start | None, Iterator[Block], Totals]:
    """Read blocks up to the first one with speech and get it ready to decode (its first window decoded when the
    language is to be found); the blocks after it come from the iterator returned with it."""
    options = context.options
    parts = blocks(chunks, block_s, options.vad_options if options.vad else None)
    totals = Totals(speech_s=0.0 if options.vad else None)
    for block in parts:
        started = _prepare(block, context, learn=True)
        totals.add(block, started.plan)
        if started.plan.windows:
            return started, parts, totals
        if context.progress:
            context.progress(totals.duration_s)
    totals.done = True
    return None, parts, totals


def segments(started: Start | None, parts: Iterator[Block], context: Context, totals: Totals) -> Iterator[Segment]:
    """The segments of ``started``'s block and of every block after it, on the recording's timeline, in order.

    Each segment ends no later than the next one starts, across blocks too. A block is let go before the next
    one is read.
    """
    next_id, held = 0, None
    current = started
    del started  # the first block's samples must go with it, not stay referenced from this frame
    while current is not None:
        offset_s = current.scheduler.offset_s
        for segment in current.scheduler.segments(current.plan.windows, current.first):
            segment = _shifted(segment, offset_s, next_id, held.start_s if held else 0.0)
            if held is not None:
                yield ends_by(held, segment.start_s)
            held, next_id = segment, next_id + 1
        if context.progress:
            context.progress(offset_s + len(current.scheduler.samples) / SAMPLE_RATE)
        current = None
        block = next(parts, None)
        if block is not None:
            current = _prepare(block, context, learn=False)
            totals.add(block, current.plan)
            del block
    totals.done = True
    if held is not None:
        yield held


def _prepare(block: Block, context: Context, learn: bool) -> Start:
    """A block planned and ready to decode, its times on the recording's timeline where they leave it."""
    options, transcriber, offset_s = context.options, context.transcriber, block.offset_s
    planned = make_plan(block.samples, options, transcriber, block.probabilities)
    evidence = None
    if planned.probabilities is not None:
        evidence = SpeechEvidence(planned.probabilities, block.samples, options.vad_options.threshold)
    progress = context.progress
    told = (lambda t_s: progress(offset_s + t_s)) if progress else None
    scheduler = Scheduler(transcriber, block.samples, options, evidence, dropped=context.dropped, progress=told,
                          tally=context.tally, offset_s=offset_s)  # fmt: skip
    return Start.of(scheduler, planned, learn)


def _shifted(segment: Segment, offset_s: float, number: int, not_before_s: float) -> Segment:
    """``segment`` of a block moved onto the recording's timeline, numbered ``number``, starting no earlier than
    ``not_before_s``."""
    if not offset_s:
        return replace(segment, id=number, start_s=max(segment.start_s, not_before_s))
    words = tuple(replace(w, start_s=w.start_s + offset_s, end_s=w.end_s + offset_s) for w in segment.words)
    start_s = max(segment.start_s + offset_s, not_before_s)
    return replace(segment, id=number, start_s=start_s, end_s=segment.end_s + offset_s, words=words)


__all__ = ["Context", "SegmentStream", "Start", "Totals", "decoded", "segments", "start"]
