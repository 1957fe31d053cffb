"""JSON (.json): everything known about a transcription, for programs.

It holds the info (source, language, duration, model and the options that made it), the segments with their
words, the cues as shown, and any rule the cues break (:func:`ovsub.cues.check_cues`), so a reader can see
how the result was made and where it falls short.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import fields
from typing import Any

from ovsub.cues import check_cues, options_for_language
from ovsub.options import CueOptions
from ovsub.types import Cue, Segment, TranscriptInfo


def render(
    cues: Sequence[Cue], segments: Sequence[Segment], info: TranscriptInfo | None, *, karaoke: bool = False
) -> str:
    """The whole result as indented UTF-8 JSON; karaoke is not used."""
    language = info.language if info else next((s.language for s in segments if s.language), None)
    document = {
        "source": info.source if info else None,
        "language": language,
        "language_probability": info.language_probability if info else None,
        "language_probs": [list(pair) for pair in info.language_probs] if info else [],
        "duration_s": info.duration_s if info else None,
        "speech_s": info.speech_s if info else None,
        "model": info.model if info else None,
        "options": info.options if info else {},
        "dropped": list(info.dropped) if info else [],
        "segments": [segment.to_dict() for segment in segments],
        "cues": [{"start_ms": cue.start_ms, "end_ms": cue.end_ms, "lines": list(cue.lines)} for cue in cues],
        "violations": check_cues(cues, options_for_language(cue_options(info), language)),
    }
    return json.dumps(document, ensure_ascii=False, indent=2, default=str) + "\n"


def cue_options(info: TranscriptInfo | None) -> CueOptions:
    """The CueOptions echoed in ``info.options``: under a "cues" key, or at its top level; else the defaults."""
    if info is None:
        return CueOptions()
    echoed: Any = info.options.get("cues", info.options)
    if not isinstance(echoed, Mapping):
        return CueOptions()
    names = {f.name for f in fields(CueOptions)}
    try:
        return CueOptions(**{k: v for k, v in echoed.items() if k in names})
    except (TypeError, ValueError):
        return CueOptions()
