"""Scheduling: the planned windows decoded in order, batched where they share a language, as segments.

Consecutive windows of one language go to the engine together (up to ``Transcriber.batch_windows``);
each is judged by the guards on its own; what a window's decoder never reached is decoded next, before
the following window; segments come out in time order as soon as their window is done, so a caller
reading the iterator sees progress and can stop early.
"""

from __future__ import annotations

import collections
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from ovsub.options import TranscribeOptions
from ovsub.transcription.guarded import WindowOutcome, decode_windows
from ovsub.transcription.evidence import SpeechEvidence
from ovsub.transcription.timeline import ends_by, segments_from_result, unheard_rest
from ovsub.transcription.windows import Window
from ovsub.types import Segment
from ovsub.whisper.transcriber import DecodeRequest, Transcriber


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
    ) -> None:
        self.transcriber = transcriber
        self.samples = samples
        self.options = options
        self.evidence = evidence  # where the voice is, to time words by
        # Windows every attempt of which the guards rejected, and why (a list shared by the channels of a file).
        self.dropped: list[dict[str, Any]] = [] if dropped is None else dropped
        self.channel = channel  # the channel these samples are, when channels are transcribed one by one

    def decode(self, windows: Sequence[Window], language: str | None) -> list[WindowOutcome]:
        """Decode windows of one language (as one batch where the engine can), guards applied."""
        request = DecodeRequest.of(self.options, language)
        audios = [w.audio(self.samples, self.options.level_speech) for w in windows]
        outcomes = decode_windows(self.transcriber, audios, request, self.options.guards)
        for window, outcome in zip(windows, outcomes):
            if outcome.result is None:
                record: dict[str, Any] = {"start_s": round(window.start_s, 3), "end_s": round(window.end_s, 3)}
                if self.channel is not None:
                    record["channel"] = self.channel
                self.dropped.append({**record, "reasons": list(outcome.reasons)})
        return outcomes

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
        queue = collections.deque(planned)  # windows not decoded yet
        ready: collections.deque[tuple[Window, WindowOutcome]] = collections.deque()  # decoded, not yielded
        if first is not None:
            ready.append((queue.popleft()[0], first))
        while queue or ready:
            if not ready:  # the next windows of one language, decoded as a batch
                language = queue[0][1]
                batch: list[Window] = []
                while queue and queue[0][1] == language and len(batch) < self.transcriber.batch_windows:
                    batch.append(queue.popleft()[0])
                ready.extend(zip(batch, self.decode(batch, language)))
            window, outcome = ready.popleft()
            if outcome.result is None:
                continue
            rest = unheard_rest(outcome, window) if self.options.vad else None
            if rest is not None:  # decode what the decoder skipped before the next window
                ready.appendleft((rest, self.decode([rest], outcome.result.language)[0]))
            for segment in segments_from_result(outcome, window, next_id, not_before, self.evidence):
                next_id, not_before = segment.id + 1, segment.start_s
                yield segment
