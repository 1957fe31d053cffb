"""Plain, frozen results that flow from one stage to the next.

media -> engine -> Segment (with Word) -> cues -> Cue -> writers.

Times in seconds are floats on the original media timeline (`*_s`); cues round once to integer
milliseconds (`*_ms`), as pysubs2's SSAEvent does, so writers only format.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Word:
    """One word as spoken, with its own timing."""

    start_s: float  # when the word starts, seconds from the start of the media
    end_s: float  # when the word ends
    text: str  # the word with its leading space, as Whisper writes it (" Hello")
    probability: float = 1.0  # the model's confidence in the word's tokens, 0..1


@dataclass(frozen=True)
class Segment:
    """A stretch of transcript as the model produced it (not yet a readable cue)."""

    id: int  # 0-based position in the transcript
    start_s: float  # start of the segment on the media timeline
    end_s: float  # end of the segment; never before start_s
    text: str  # the segment's text, leading space removed
    words: tuple[Word, ...] = ()  # word timings when word timestamps were requested
    language: str | None = None  # ISO 639-1 code of the language this segment was decoded in
    avg_logprob: float | None = None  # mean token log-probability, when the engine reports it
    compression_ratio: float | None = None  # gzip ratio of the text (high means repetitive)
    temperature: float = 0.0  # sampling temperature of the decode that was kept
    retried: bool = False  # whether a hallucination guard asked for a re-decode
    # With channels split (a speaker per channel), the channel it was heard on: 0 left, 1 right; None for a mix.
    # Segments of two channels may overlap in time: that is two people talking at once.
    channel: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "start_s": round(self.start_s, 3),
            "end_s": round(self.end_s, 3),
            "text": self.text,
            "language": self.language,
            "channel": self.channel,
            "avg_logprob": self.avg_logprob,
            "compression_ratio": self.compression_ratio,
            "temperature": self.temperature,
            "retried": self.retried,
            "words": [
                {
                    "start_s": round(w.start_s, 3),
                    "end_s": round(w.end_s, 3),
                    "text": w.text,
                    "probability": round(w.probability, 4),
                }
                for w in self.words
            ],
        }


@dataclass(frozen=True)
class Cue:
    """One subtitle as shown on screen: at most a few short lines for a span of time."""

    start_ms: int  # when the subtitle appears
    end_ms: int  # when it disappears; end_ms > start_ms
    lines: tuple[str, ...]  # the text, already broken into display lines
    words: tuple[Word, ...] = ()  # the words shown, for karaoke-style output

    @property
    def text(self) -> str:
        return "\n".join(self.lines)

    @property
    def duration_ms(self) -> int:
        return self.end_ms - self.start_ms


@dataclass(frozen=True)
class TranscriptInfo:
    """What is known about a transcription besides its segments (echoed into JSON output)."""

    source: str  # the input as the user named it (path or URL)
    duration_s: float  # length of the decoded audio
    language: str | None  # detected or forced language (ISO 639-1), None if unknown
    language_probability: float | None  # confidence of the detection (0..1), None when forced or not reported
    model: str  # model name or path
    options: dict[str, Any] = field(default_factory=dict)  # the options that produced the result
    speech_s: float | None = None  # seconds of speech the VAD kept (None when VAD was off)
    # Windows whose output the hallucination guards rejected, and why. Filled in while the segment
    # iterator runs (the one mutable part of a result), so read it after consuming the segments.
    dropped: list[dict[str, Any]] = field(default_factory=list)
    # The likeliest languages with their probabilities, best first (empty when the language was forced).
    language_probs: tuple[tuple[str, float], ...] = ()
