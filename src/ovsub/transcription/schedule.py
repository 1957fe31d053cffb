"""Scheduling: the planned windows decoded in order, batched where they share a language, as segments.

Consecutive windows of one language go to the engine together (up to ``Transcriber.batch_windows``, and as
many as ``TranscribeOptions.max_batch_mb`` holds: each window's keys and values take memory);
each is judged by the guards on its own; what a window's decoder never reached is decoded next, before
the following window; segments come out in time order as soon as their window is done, so a caller
reading the iterator sees progress and can stop early.
"""

from __future__ import annotations

import collections
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from ovsub.audio.vad import Region
from ovsub.options import TranscribeOptions
from ovsub.transcription import guards
from ovsub.transcription.evidence import SpeechEvidence, uncovered_speech
from ovsub.transcription.guarded import GuardTally, WindowOutcome, decode_windows
from ovsub.transcription.planning import mixed_window
from ovsub.transcription.timeline import ends_by, segments_from_result
from ovsub.transcription.windows import Window, plan_windows
from ovsub.types import Segment
from ovsub.whisper.features import SAMPLE_RATE
from ovsub.whisper.transcriber import DecodeRequest, Transcriber

COVERAGE_MIN_S = 1.0  # speech at least this long with no word on it is decoded again on its own
REDECODE_PAD_S = 0.3  # audio kept around such a stretch when it is decoded again


class Scheduler:
    """Decodes windows of one file, keeping the record of what the guards dropped."""

    def __init__(
        self,
        transcriber: Transcriber,
        samples: np.ndarray,
        options: TranscribeOptions,
        evidence: SpeechEvidence | None = None,
        *,
        dropped: list[dict[str, Any]] | None = None,
        channel: int | None = None,
        progress: Callable[[float], None] | None = None,
        tally: GuardTally | None = None,
        offset_s: float = 0.0,
    ) -> None:
        self.transcriber = transcriber
        self.samples = samples
        self.options = options
        self.evidence = evidence  # where the voice is, to time words by
        # Windows every attempt of which the guards rejected, and why (a list shared by the channels of a file).
        self.dropped: list[dict[str, Any]] = [] if dropped is None else dropped
        self.channel = channel  # the channel these samples are, when channels are transcribed one by one
        self.progress = progress  # told the source time (s) up to which windows are decoded, after each batch
        self.tally = GuardTally() if tally is None else tally  # what the guards made of the windows (shared too)
        self.offset_s = offset_s  # where the samples start in the recording (a block of it): dropped is in its time

    @property
    def batch_limit(self) -> int:
        """Windows decoded as one batch at most: what the engine takes, within ``options.max_batch_mb``."""
        most = max(1, self.transcriber.batch_windows)
        per_window = self.transcriber.window_bytes(self.options.beam_size)
        if most == 1 or per_window <= 0:
            return most
        return max(1, min(most, self.options.max_batch_mb * 2**20 // per_window))

    def decode(self, windows: Sequence[Window], language: str | None) -> list[WindowOutcome]:
        """Decode windows of one language (as one batch where the engine can), guards applied."""
        request = DecodeRequest.of(self.options, language)
        audios = [w.audio(self.samples, self.options.level_speech) for w in windows]
        outcomes = decode_windows(self.transcriber, audios, request, self.options.guards)
        for window, audio, outcome in zip(windows, audios, outcomes):
            self.tally.add(outcome, len(audio) / SAMPLE_RATE)
            if outcome.result is None:
                self._drop(window.start_s, window.end_s, list(outcome.reasons))
        return outcomes

    def _drop(self, start_s: float, end_s: float, reasons: list[str]) -> None:
        """Record a stretch left without text, and why (and its channel, when channels go one by one)."""
        at = self.offset_s
        record: dict[str, Any] = {"start_s": round(at + start_s, 3), "end_s": round(at + end_s, 3)}
        if self.channel is not None:
            record["channel"] = self.channel
        self.dropped.append({**record, "reasons": reasons})

    def segments(
        self, planned: Sequence[tuple[Window, str | None]], first: WindowOutcome | None = None
    ) -> Iterator[Segment]:
        """Every planned window's segments in time order, each ending no later than the next one starts."""
        held: Segment | None = None  # the last segment, yielded once the next one says where it must end
        for segment in self._decoded(planned, first):
            if held is not None:
                yield ends_by(held, segment.start_s)
            held = segment
        if held is not None:
            yield held

    def _decoded(
        self, planned: Sequence[tuple[Window, str | None]], first: WindowOutcome | None
    ) -> Iterator[Segment]:
        """Every planned window's segments in time order; ``first`` is the first window's outcome if decoded."""
        next_id, not_before = 0, 0.0
        queue = collections.deque(planned)  # windows not decoded yet, each with the language to force
        ready: collections.deque[tuple[Window, str | None, WindowOutcome]] = collections.deque()  # not yielded
        if first is not None:
            ready.append((*queue.popleft(), first))
        while queue or ready:
            if not ready:  # the next windows of one language, decoded as a batch
                language = queue[0][1]
                batch: list[Window] = []
                while queue and queue[0][1] == language and len(batch) < self.batch_limit:
                    batch.append(queue.popleft()[0])
                ready.extend((w, language, o) for w, o in zip(batch, self.decode(batch, language)))
                if self.progress:  # before the batch's segments: they all come at once
                    self.progress(batch[-1].end_s)
            window, language, outcome = ready.popleft()
            if outcome.result is None:
                continue
            if language is None and self.options.vad:  # Whisper found the language: does the window mix two?
                level = self.options.level_speech
                parts = mixed_window(window, outcome.result.detected, self.transcriber, self.samples, level)
                if parts:  # decode it again as windows of one language each
                    queue.extendleft(reversed(parts))
                    continue
            segments = segments_from_result(outcome, window, next_id, not_before, self.evidence)
            for segment in self._covered(window, outcome.result.language, segments):
                segment = replace(segment, id=next_id, start_s=max(segment.start_s, not_before))
                next_id, not_before = segment.id + 1, segment.start_s
                yield segment

    def _covered(self, window: Window, language: str | None, segments: list[Segment]) -> list[Segment]:
        """``segments`` and those of the speech the decoder jumped over in ``window``, decoded on its own.

        Whisper sometimes skips an utterance inside a window, or stops early, and says nothing about it.
        Each stretch of at least COVERAGE_MIN_S of speech (VAD frames, no padding) with no word on it is
        decoded again alone, with REDECODE_PAD_S around it and the window's language, guards applied; text
        the window already holds is not repeated. What stays without words goes into ``dropped``.
        """
        if self.evidence is None:
            return segments
        words = [w for s in segments for w in s.words]
        gaps = uncovered_speech(window.regions, words, self.evidence, COVERAGE_MIN_S)
        if not gaps:
            return segments
        heard = guards.normalize(" ".join(s.text for s in segments))
        found: list[Segment] = []
        for part in plan_windows(_padded(gaps, window)):
            outcome = self.decode([part], language)[0]
            if outcome.result is None:
                continue
            new = segments_from_result(outcome, part, 0, part.start_s, self.evidence)
            found.extend(s for s in new if guards.normalize(s.text) not in heard)
        words += [w for s in found for w in s.words]
        for a, b in uncovered_speech(window.regions, words, self.evidence, COVERAGE_MIN_S):
            self._drop(a, b, [f"no words decoded for {b - a:.1f} s of speech"])
        return sorted(segments + found, key=lambda s: s.start_s)


def _padded(gaps: list[tuple[float, float]], window: Window) -> list[Region]:
    """Stretches of speech widened by REDECODE_PAD_S inside the window's region that holds each, merged where
    they meet."""
    out: list[Region] = []
    for start_s, end_s in gaps:
        region = next(r for r in window.regions if r.start_s <= start_s < r.end_s)
        lo, hi = max(region.start_s, start_s - REDECODE_PAD_S), min(region.end_s, end_s + REDECODE_PAD_S)
        if out and lo <= out[-1].end_s:
            out[-1] = Region(out[-1].start_s, max(out[-1].end_s, hi))
        else:
            out.append(Region(lo, hi))
    return out
