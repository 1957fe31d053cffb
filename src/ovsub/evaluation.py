"""Accuracy measures shared by the tests and the benchmarks: text normalisation and word error rate.

English text is normalised with Whisper's own EnglishTextNormalizer (``whisper-normalizer``, a
dev/bench dependency): spelling variants, numbers and annotations in brackets would otherwise
count as errors, and published Whisper WERs use it too. Without it, a plain lower-case,
no-punctuation normaliser is used. The edit distance is a dozen lines, so it is our own.
"""

from __future__ import annotations

import functools
import json
import re
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_PUNCT = re.compile(r"[^\w\s']|_")


@functools.lru_cache(maxsize=1)
def _english_normalizer() -> Callable[[str], str] | None:
    try:
        from whisper_normalizer.english import EnglishTextNormalizer
    except ImportError:
        return None
    normalizer: Callable[[str], str] = EnglishTextNormalizer()
    return normalizer


def normalize(text: str, language: str = "en") -> list[str]:
    """Words for comparing a transcript with a reference (Whisper's English normaliser for English).

    >>> normalize("Hello, World!", language="xx")
    ['hello', 'world']
    """
    english = _english_normalizer() if language == "en" else None
    if english is not None:
        return english(text).split()
    return basic_normalize(text)


def basic_normalize(text: str) -> list[str]:
    """Lower-case words without punctuation.

    >>> basic_normalize("Hello, World! It's 5 o'clock.")
    ['hello', 'world', "it's", '5', "o'clock"]
    """
    text = unicodedata.normalize("NFKC", text).lower().replace("’", "'")
    text = _PUNCT.sub(" ", text)
    return [w.strip("'") for w in text.split() if w.strip("'")]


def edit_distance(ref: Sequence[str], hyp: Sequence[str]) -> int:
    """Levenshtein distance between two word lists (substitutions, insertions, deletions).

    >>> edit_distance("a b c".split(), "a x c d".split())
    2
    """
    previous = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        current = [i] + [0] * len(hyp)
        for j, h in enumerate(hyp, 1):
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (r != h))
        previous = current
    return previous[-1]


def corpus_wer(pairs: Iterable[tuple[str, str]]) -> float:
    """Word error rate over all (reference, hypothesis) pairs together: total edits / total reference words."""
    edits = words = 0
    for ref, hyp in pairs:
        r, h = normalize(ref), normalize(hyp)
        edits += edit_distance(r, h)
        words += len(r)
    return edits / words if words else 0.0


@dataclass(frozen=True)
class Clip:
    """One media file of the shared test data with its reference."""

    path: Path
    language: str  # ISO 639-1 ("en", "de", ...) or "none"
    duration_s: float
    reference: str
    quality: str  # how trustworthy the reference is (from the manifest)
    translation_en: str | None = None


def load_clips(data_dir: Path) -> list[Clip]:
    """Every clip listed in ``data_dir/manifest.json``."""
    entries: list[dict[str, Any]] = json.loads((data_dir / "manifest.json").read_text(encoding="utf-8"))
    return [
        Clip(
            path=data_dir / e["dst"],
            language=e.get("lang") or "none",
            duration_s=float(e.get("duration_s") or 0.0),
            reference=e.get("transcript") or "",
            quality=e.get("ref_quality") or "",
            translation_en=e.get("translation_en"),
        )
        for e in entries
    ]


def english_ground_truth(data_dir: Path) -> list[Clip]:
    """English clips whose reference is ground truth (not a model's output), for WER."""
    return [c for c in load_clips(data_dir) if c.language == "en" and c.quality.startswith("ground truth")]


def non_english(data_dir: Path) -> list[Clip]:
    """Clips in one known language other than English, for language identification and translation."""
    return [c for c in load_clips(data_dir) if c.language not in ("en", "none") and not set("+/") & set(c.language)]
