"""Scheduling: the planned windows decoded in order, batched where they share a language, as segments.

Consecutive windows of one language go to the engine together (up to ``Transcriber.batch_windows``);
each is judged by the guards on its own; what a window's decoder never reached is decoded next, before
the following window; segments come out in time order as soon as their window is done, so a caller
reading the iterator sees progress and can stop early.
"""

from __future__ import annotations

import collections
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

from ovsub.options import TranscribeOptions
from ovsub.transcription.guarded import WindowOutcome, decode_windows
from ovsub.transcription.timeline import segments_from_result, unheard_rest
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
        progress: Callable[[float], None] | None = None,
    ) -> None:
        self.transcriber = transcriber
        self.samples = samples
        self.options = options
        self.progress = progress  # told the source time (s) up to which windows are decoded, after each batch
        self.dropped: list[dict[str, Any]] = []  # windows every attempt of which the guards rejected, and why

    def decode(self, windows: Sequence[Window], language: str | None) -> list[WindowOutcome]:
        """Decode windows of one language (as one batch where the engine can), guards applied."""
        request = DecodeRequest.of(self.options, language)
        audios = [w.audio(self.samples) for w in windows]
        outcomes = decode_windows(self.transcriber, audios, request, self.options.guards)
        for window, outcome in zip(windows, outcomes):
            if outcome.result is None:
                self.dropped.append(
                    {"start_s": round(window.start_s, 3), "end_s": round(window.end_s, 3), "reasons": list(outcome.reasons)}
                )
        return outcomes

    def segments(
        self, planned: Sequence[tuple[Window, str | None]], first: WindowOutcome | None = None
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
                if self.progress:  # before the batch's segments: they all come at once
                    self.progress(batch[-1].end_s)
            window, outcome = ready.popleft()
            if outcome.result is None:
                continue
            rest = unheard_rest(outcome, window) if self.options.vad else None
            if rest is not None:  # decode what the decoder skipped before the next window
                ready.appendleft((rest, self.decode([rest], outcome.result.language)[0]))
            for segment in segments_from_result(outcome, window, next_id, not_before):
                next_id, not_before = segment.id + 1, segment.start_s
                yield segment
