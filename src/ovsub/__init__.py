"""ovsub: readable subtitles from any video or audio, with Whisper on OpenVINO, on an ordinary CPU.

    segments, info = ovsub.transcribe("talk.mp4")        # lazy segments + what is known up front
    cues = ovsub.build_cues(list(segments))               # readable subtitle cues
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

__all__ = [
    "transcribe",
    "build_cues",
    "TranscribeOptions",
    "CueOptions",
    "ModelOptions",
    "Segment",
    "Word",
    "Cue",
    "TranscriptInfo",
    "OvsubError",
]


def __getattr__(name: str) -> Any:
    # Imported on first use, so `import ovsub` stays cheap and `ovsub --help` does not load OpenVINO.
    if name == "transcribe":
        from ovsub.transcription import transcribe

        return transcribe
    if name == "build_cues":
        from ovsub.cues import build_cues

        return build_cues
    if name in ("TranscribeOptions", "CueOptions", "ModelOptions"):
        from ovsub import options

        return getattr(options, name)
    if name in ("Segment", "Word", "Cue", "TranscriptInfo"):
        from ovsub import types

        return getattr(types, name)
    if name == "OvsubError":
        from ovsub.errors import OvsubError

        return OvsubError
    raise AttributeError(f"module 'ovsub' has no attribute {name!r}")
