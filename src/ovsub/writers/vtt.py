"""WebVTT (.vtt): what an HTML5 ``<track>`` element plays; starts with ``WEBVTT``.

Cue text is HTML-like, so ``&``, ``<`` and ``>`` are escaped. With ``karaoke=True`` each word gets an inline
``<00:00:01.500>`` timestamp, which browsers use for the ``:past``/``:future`` styling of spoken words.
"""

from __future__ import annotations

from collections.abc import Sequence

from ovsub.types import Cue, Segment, TranscriptInfo
from ovsub.writers._karaoke import runs_by_line, word_starts_ms
from ovsub.writers._pysubs import ssafile


def render(
    cues: Sequence[Cue], segments: Sequence[Segment], info: TranscriptInfo | None, *, karaoke: bool = False
) -> str:
    """The cues as WebVTT; with ``karaoke``, word timestamps inside cues that carry words."""
    subs = ssafile(cues, lambda cue: _karaoke_text(cue) if karaoke else _text(cue))
    return subs.to_string("vtt", keep_ssa_tags=True)


def escape(text: str) -> str:
    """Text safe inside a WebVTT cue.

    >>> escape("Fish & <chips> -->")
    'Fish &amp; &lt;chips&gt; --&gt;'
    """
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def timestamp(ms: int) -> str:
    """``HH:MM:SS.mmm``, as WebVTT writes times.

    >>> timestamp(3_723_004)
    '01:02:03.004'
    """
    return f"{ms // 3_600_000:02d}:{ms // 60_000 % 60:02d}:{ms // 1000 % 60:02d}.{ms % 1000:03d}"


def _text(cue: Cue) -> str:
    return r"\N".join(escape(line) for line in cue.lines)


def _karaoke_text(cue: Cue) -> str:
    lines = runs_by_line(cue)
    if lines is None:
        return _text(cue)
    starts, _ = word_starts_ms(cue)
    last = cue.start_ms
    out = []
    for runs in lines:
        parts = []
        for run in runs:
            # A timestamp must fall strictly inside the cue and after the one before it.
            if run.word is not None and last < starts[run.word] < cue.end_ms:
                last = starts[run.word]
                parts.append(f"<{timestamp(last)}>")
            parts.append(escape(run.text))
        out.append("".join(parts))
    return r"\N".join(out)
