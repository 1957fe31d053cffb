"""Options, one frozen dataclass per concern, each validated in one place.

Functions take these objects instead of long keyword lists, so the CLI, the Python API and the web
app cannot drift apart.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from ovsub.languages import normalize

TASKS = ("transcribe", "translate")
PRECISIONS = ("int8", "fp16", "fp32")
DECODERS = ("auto", "ovsub", "genai")


@dataclass(frozen=True)
class ModelOptions:
    """Which model to run and where."""

    name: str = "base"  # a bundled model name, a local directory or a Hugging Face model id
    precision: str = "int8"  # weight precision of the converted IR: int8, fp16 or fp32
    device: str = "CPU"  # OpenVINO device: CPU, GPU, NPU, AUTO
    threads: int = 0  # inference threads; 0 lets OpenVINO choose
    cache_dir: str | None = None  # where converted models live; None means the XDG cache
    decoder: str = "auto"  # decode loop: ovsub's own, OpenVINO GenAI's WhisperPipeline, or auto (ovsub when it can)

    def __post_init__(self) -> None:
        if self.decoder not in DECODERS:
            raise ValueError(f"decoder must be one of {', '.join(DECODERS)}, not {self.decoder!r}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, not {self.precision!r}")
        if self.threads < 0:
            raise ValueError(f"threads must be 0 (automatic) or a positive number, not {self.threads}")
        if not self.name:
            raise ValueError("model name must not be empty")


@dataclass(frozen=True)
class TranscribeOptions:
    """How to decode speech into text."""

    task: str = "transcribe"  # transcribe in the spoken language, or translate to English
    language: str | None = None  # ISO 639-1 code to force ('DE', 'deu', 'de-AT' become 'de'); None detects it
    beam_size: int = 5  # beams for beam search; 1 is greedy
    word_timestamps: bool = True  # per-word timing (needed for good cue splitting)
    vad: bool = True  # skip non-speech with voice activity detection before decoding
    initial_prompt: str | None = None  # text to condition the first window on (names, spelling)
    max_new_tokens: int = 224  # tokens per 30 s window at most (Whisper's own limit is 448 with prompt)

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise ValueError(f"task must be 'transcribe' or 'translate', not {self.task!r}")
        if self.beam_size < 1:
            raise ValueError(f"beam_size must be 1 or more, not {self.beam_size}")
        if self.language is not None:
            object.__setattr__(self, "language", normalize(self.language))  # 'EN', 'deu', 'de-AT' -> 'de'
        if not 1 <= self.max_new_tokens <= 440:
            raise ValueError(f"max_new_tokens must be between 1 and 440, not {self.max_new_tokens}")


@dataclass(frozen=True)
class CueOptions:
    """How segments become readable subtitles (defaults follow the Netflix timed-text style guide)."""

    max_line_chars: int = 42  # characters per line at most
    max_lines: int = 2  # lines per cue at most
    max_cps: float = 17.0  # reading speed, characters per second at most
    min_duration_ms: int = 833  # a cue stays at least 5/6 s (20 frames at 24 fps)
    max_duration_ms: int = 7000  # a cue stays at most 7 s
    min_gap_ms: int = 83  # at least 2 frames (at 24 fps) between cues
    max_pause_ms: int = 700  # a cue never spans a pause in speech longer than this
    lead_in_ms: int = 100  # a cue may start at most this long before its first word
    linger_ms: int = 500  # a cue may stay this long after its last word if the next cue allows

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if value < 0:
                raise ValueError(f"{f.name} must not be negative, not {value}")
        if self.max_line_chars < 10:
            raise ValueError(f"max_line_chars must be at least 10, not {self.max_line_chars}")
        if self.max_lines < 1:
            raise ValueError(f"max_lines must be at least 1, not {self.max_lines}")
        if self.max_cps <= 0:
            raise ValueError(f"max_cps must be positive, not {self.max_cps}")
        if self.max_duration_ms < self.min_duration_ms:
            raise ValueError(
                f"max_duration_ms ({self.max_duration_ms}) must not be below min_duration_ms ({self.min_duration_ms})"
            )


def to_dict(options: Any) -> dict[str, Any]:
    """The options as plain data, for JSON output."""
    return asdict(options)


__all__ = ["ModelOptions", "TranscribeOptions", "CueOptions", "TASKS", "PRECISIONS", "to_dict", "replace"]
