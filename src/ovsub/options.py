"""Options, one frozen dataclass per concern: the single description of every setting ovsub has.

Each field carries its help text and its bounds in ``field(metadata=...)`` (see :func:`option`), and is
validated by one function, :func:`check`. The command line (``cli.py``) and the web form (``web/app.py``)
are generated from these fields (:func:`option_fields`), so a setting of the Python API is reachable
from both, with the same default, the same bounds and the same error; nothing restates them.

Nested options hang off the concern they tune: ``TranscribeOptions.vad_options`` (how speech is found)
and ``TranscribeOptions.guards`` (when decoded text counts as made up).
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from ovsub.errors import OptionError

TASKS = ("transcribe", "translate")
PRECISIONS = ("int8", "fp16", "fp32")
DECODERS = ("auto", "ovsub", "genai")
CHANNEL_MODES = ("mix", "split")  # a track's channels mixed down to one, or each transcribed on its own
# The default keeps one window of Whisper base at 5 beams per batch (see TranscribeOptions.max_batch_mb and
# README "Memory"): two cost 125 MB more at peak on the 89 s english/long file and saved little time.
DEFAULT_MAX_BATCH_MB = 160
MAX_BEAM_SIZE = 8  # each beam holds its own self-attention cache (11 MB for base), times up to 4 windows at once

# Whole outputs Whisper is known to produce for silence or music, folded as guards.normalize() folds text
# (case folded, punctuation dropped). A window is flagged only when its entire text is one of them (repeats allowed).
SILENCE_PHRASES = (
    "you",
    "thank you",
    "thanks",
    "thank you very much",
    "thank you for watching",
    "thanks for watching",
    "thank you so much for watching",
    "please subscribe",
    "like and subscribe",
    "subtitles by the amara org community",
    "untertitel der amara org community",
    "untertitelung des zdf 2020",
    "sous titres réalisés par la communauté d amara org",
    "subtítulos realizados por la comunidad de amara org",
    "ご視聴ありがとうございました",
    "시청해주셔서 감사합니다",
)


def option(
    default: Any = dataclasses.MISSING,
    help: str = "",
    *,
    min: float | None = None,
    max: float | None = None,
    choices: tuple[str, ...] | None = None,
    flag: str | None = None,
    short: str | None = None,
    web: bool = True,
    cli: bool = True,
    factory: Any = None,
) -> Any:
    """A dataclass field with what the CLI, the web form and :func:`check` need to know about it.

    ``min``/``max`` bound numbers (inclusive), ``choices`` lists the values a string may take, ``flag``
    overrides the command-line name (``--beam-size`` by default for ``beam_size``) and ``short`` adds a
    one-letter one, ``web`` and ``cli`` say whether the web form and the command line offer the field.
    """
    meta = {"help": help, "min": min, "max": max, "choices": choices, "flag": flag, "short": short, "web": web,
            "cli": cli}  # fmt: skip
    if factory is not None:
        return field(default_factory=factory, metadata=meta)
    return field(default=default, metadata=meta)


def check(options: Any) -> None:
    """Refuse any field outside its bounds or choices, naming the field, the value and what would do."""
    for f in fields(options):
        value = getattr(options, f.name)
        meta = f.metadata
        if value is None or isinstance(value, bool) or dataclasses.is_dataclass(value):
            continue
        choices = meta.get("choices")
        if choices is not None and value not in choices:
            raise OptionError(f"{f.name} must be one of {', '.join(choices)}, not {value!r}")
        low, high = meta.get("min"), meta.get("max")
        if isinstance(value, (int, float)):
            if low is not None and high is not None and not low <= value <= high:
                raise OptionError(f"{f.name} must be between {low:g} and {high:g}, not {value:g}")
            if low is not None and value < low:
                raise OptionError(f"{f.name} must be at least {low:g}, not {value:g}")
            if high is not None and value > high:
                raise OptionError(f"{f.name} must be at most {high:g}, not {value:g}")


@dataclass(frozen=True)
class VadOptions:
    """How speech probabilities become speech regions (defaults suit subtitles: pauses inside a sentence stay)."""

    threshold: float = option(0.5, "speech probability that starts speech (and ends a pause)", min=0.01, max=0.99)
    neg_threshold: float = option(0.35, "inside speech, a probability below this starts a pause", min=0.01, max=0.99)
    min_speech_ms: int = option(250, "speech shorter than this (before padding) is dropped: clicks, breaths", min=0)
    min_silence_ms: int = option(500, "speech ends only after a pause this long", min=0, max=10_000)
    speech_pad_ms: int = option(300, "kept before and after each speech region", min=0, max=2000)
    max_region_s: float = option(30.0, "longer regions are cut at their longest pauses", min=1.0, max=3600.0)

    def __post_init__(self) -> None:
        check(self)
        if self.neg_threshold > self.threshold:
            raise OptionError(
                f"neg_threshold must be at most threshold ({self.threshold}), not {self.neg_threshold}"
            )
        if self.max_region_s * 1000 - 2 * self.speech_pad_ms < 1000:
            raise OptionError(
                f"max_region_s ({self.max_region_s}) must leave at least 1 s of speech besides twice speech_pad_ms "
                f"({self.speech_pad_ms}); use at least {(2 * self.speech_pad_ms + 1000) / 1000} s"
            )


@dataclass(frozen=True)
class GuardOptions:
    """When a decoded text counts as made up (a hallucination); each check can be turned off as noted."""

    max_compression_ratio: float = option(2.4, "zlib ratio above this is too repetitive; 0 turns it off", min=0)
    ngram_n: int = option(3, "length of the n-grams counted for repeats", min=1, max=10)
    max_repeated_ngram_share: float = option(0.5, "share of repeated n-grams above this is a loop", min=0.01, max=1)
    min_ngrams: int = option(8, "texts with fewer n-grams are not judged on repeats", min=0)
    loop_min_repeats: int = option(3, "a piece said this many times in a row...", min=2)
    loop_min_chars: int = option(20, "...over at least this many characters is a loop", min=0)
    max_chars_per_s: float = option(25.0, "more characters per second of speech is implausible", min=1)
    slack_chars: int = option(15, "characters allowed on top of max_chars_per_s", min=0)
    min_avg_logprob: float | None = option(-1.0, "mean token log-probability below this is guessing", max=0)
    no_speech_threshold: float | None = option(
        0.6, "with a low log-probability too, Whisper's no-speech probability above this means silence", min=0, max=1
    )
    silence_phrases: tuple[str, ...] = option(SILENCE_PHRASES, "whole outputs that mean silence", web=False, cli=False)
    silence_phrase_min_speech_s: float = option(3.0, "...when they are all that was heard in this much speech", min=0)

    def __post_init__(self) -> None:
        check(self)


@dataclass(frozen=True)
class ModelOptions:
    """Which model to run and where."""

    name: str = option(
        "base", "base, tiny.en, a model folder or a Hugging Face id", flag="model", short="-m", web=False
    )
    precision: str = option("int8", "weight precision of the converted IR", choices=PRECISIONS, web=False)
    device: str = option("CPU", "OpenVINO device: CPU, GPU, NPU, AUTO", web=False)
    threads: int = option(0, "inference threads (0: automatic)", min=0, max=1024, web=False)
    cache_dir: str | None = option(None, "where converted models are kept", web=False)
    decoder: str = option(
        "auto",
        "decode loop: ovsub's own (fast beam search, batched windows), OpenVINO GenAI's, or auto",
        choices=DECODERS,
        web=False,
    )

    def __post_init__(self) -> None:
        check(self)
        if not self.name:
            raise OptionError("model name must not be empty")


@dataclass(frozen=True)
class TranscribeOptions:
    """How to decode speech into text."""

    task: str = option("transcribe", "transcribe in the spoken language, or translate to English", choices=TASKS,
                       cli=False, web=False)  # fmt: skip
    language: str | None = option(None, "spoken language (ISO 639-1, e.g. de); detected when omitted")
    beam_size: int = option(5, "beams for beam search (1: greedy)", min=1, max=MAX_BEAM_SIZE)
    word_timestamps: bool = option(True, "per-word timing (cues are timed less finely without it)")
    vad: bool = option(True, "skip non-speech with voice activity detection before decoding")
    level_speech: bool = option(True, "raise quiet speech regions to the level of the loudest one they are decoded "
                                "with, so quiet speech beside loud speech is heard")  # fmt: skip
    channels: str = option(
        "mix",
        "mix: one transcript of the channels mixed down; split: a speaker per channel of a stereo track (interviews,"
        " phone calls), each channel transcribed on its own and its segments labelled 0 (left) or 1 (right)",
        choices=CHANNEL_MODES,
    )
    initial_prompt: str | None = option(None, "text to condition the first window on (names, spelling)")
    hotwords: str | None = option(
        None, "names and jargon to spell as written, given to every window (e.g. \"Sintra, Lord Byron\")"
    )
    max_new_tokens: int = option(224, "tokens per 30 s window at most", min=1, max=440)
    max_batch_mb: int = option(
        DEFAULT_MAX_BATCH_MB,
        "memory (MB) the windows decoded together may take: each holds its cross-attention keys and values and its "
        "beams' caches (Whisper base: about 130 MB a window at 5 beams, 85 MB at 1); more windows at once decode a "
        "little faster and take more memory; one window always fits",
        min=1,
        max=65_536,
        web=False,
    )
    vad_options: VadOptions = option(help="voice activity detection", factory=VadOptions, flag="vad")
    guards: GuardOptions = option(help="hallucination guards", factory=GuardOptions, flag="")

    def __post_init__(self) -> None:
        check(self)
        if self.language is not None:
            from ovsub import languages

            object.__setattr__(self, "language", languages.normalize(self.language))


@dataclass(frozen=True)
class CueOptions:
    """How segments become readable subtitles (defaults follow the Netflix timed-text style guide)."""

    max_line_chars: int = option(42, "characters per line at most", min=10, max=100)
    max_lines: int = option(2, "lines per cue at most", min=1, max=4)
    max_cps: float = option(17.0, "reading speed, characters per second at most", min=1, max=50)
    min_duration_ms: int = option(833, "a cue stays at least this long (20 frames at 24 fps)", min=0, max=10_000)
    max_duration_ms: int = option(7000, "a cue stays at most this long", min=500, max=60_000)
    min_gap_ms: int = option(83, "at least this long between cues (2 frames at 24 fps)", min=0, max=2000)
    max_pause_ms: int = option(700, "a cue never spans a pause in speech longer than this", min=0, max=10_000)
    lead_in_ms: int = option(100, "a cue may start at most this long before its first word", min=0, max=2000)
    linger_ms: int = option(500, "a cue may stay this long after its last word", min=0, max=5000)

    def __post_init__(self) -> None:
        check(self)
        if self.max_duration_ms < self.min_duration_ms:
            raise OptionError(
                f"max_duration_ms ({self.max_duration_ms}) must not be below min_duration_ms ({self.min_duration_ms})"
            )


@dataclass(frozen=True)
class OutputOptions:
    """What is written for each input, and where."""

    formats: tuple[str, ...] = ("srt",)  # subtitle formats, by writers.FORMATS name
    output_dir: str | None = None  # None: next to a local input, the current folder for a link
    karaoke: bool = False  # word-by-word highlighting where the format has it (ASS, WebVTT)
    embed: bool = False  # also write the video with the subtitles as soft tracks
    burn: bool = False  # also write the video with the first task's subtitles drawn on the picture

    def __post_init__(self) -> None:
        from ovsub.writers import FORMATS

        unknown = [f for f in self.formats if f not in FORMATS]
        if unknown or not self.formats:
            raise OptionError(f"unknown format {', '.join(unknown) or '(none)'}; use {','.join(FORMATS)}")


@dataclass(frozen=True)
class JobOptions:
    """Everything that decides what ovsub makes of one input: the options of every stage together."""

    tasks: tuple[str, ...] = ("transcribe",)  # transcribe, translate, or both (in that order)
    transcribe: TranscribeOptions = field(default_factory=TranscribeOptions)  # its task is set per task
    model: ModelOptions = field(default_factory=ModelOptions)
    cues: CueOptions = field(default_factory=CueOptions)
    output: OutputOptions = field(default_factory=OutputOptions)
    audio_track: int | str | None = None  # by 0-based index or language tag; None: the default track
    all_audio_tracks: bool = False  # one set of subtitles per audio track

    def __post_init__(self) -> None:
        if not self.tasks or any(t not in TASKS for t in self.tasks) or len(set(self.tasks)) < len(self.tasks):
            raise OptionError(f"tasks must be transcribe, translate or both, not {','.join(self.tasks) or '(none)'}")


@dataclass(frozen=True)
class OptionField:
    """One leaf setting, as the command line and the web form offer it."""

    path: tuple[str, ...]  # attribute names from the top dataclass down, e.g. ("vad_options", "threshold")
    name: str  # the flat name: "beam_size", "vad_threshold"
    type: Any  # str, int, float or bool (None allowed when optional is True)
    optional: bool  # None is a valid value
    default: Any
    help: str
    min: float | None
    max: float | None
    choices: tuple[str, ...] | None
    short: str | None  # a one-letter command-line flag besides the long one ("-m")
    web: bool  # the web form offers it
    section: str  # the help of the nested options it belongs to ("voice activity detection"), else ""


def option_fields(
    cls: type, prefix: str = "", path: tuple[str, ...] = (), section: str = ""
) -> Iterator[OptionField]:
    """Every leaf field of an options dataclass the command line offers, nested dataclasses flattened.

    A nested field's ``flag`` metadata is the prefix of its children's names (``vad`` gives
    ``vad_threshold``; an empty flag adds none).

    >>> [f.name for f in option_fields(VadOptions)][:2]
    ['threshold', 'neg_threshold']
    >>> "vad_min_silence_ms" in [f.name for f in option_fields(TranscribeOptions)]
    True
    """
    hints = typing.get_type_hints(cls)
    for f in fields(cls):
        meta = f.metadata
        if not meta.get("cli", True):
            continue
        kind = hints[f.name]
        if dataclasses.is_dataclass(kind):
            child = meta.get("flag")
            child_prefix = prefix + (f"{child}_" if child else "")
            yield from option_fields(typing.cast(type, kind), child_prefix, (*path, f.name), meta.get("help", ""))
            continue
        args = [a for a in typing.get_args(kind) if a is not type(None)]
        base = args[0] if args else kind
        default = f.default if f.default is not dataclasses.MISSING else None
        yield OptionField(
            path=(*path, f.name),
            name=prefix + (meta.get("flag") or f.name),
            type=base,
            optional=type(None) in typing.get_args(kind),
            default=default,
            help=meta.get("help", ""),
            min=meta.get("min"),
            max=meta.get("max"),
            choices=meta.get("choices"),
            short=meta.get("short"),
            web=meta.get("web", True),
            section=section,
        )


def build(cls: type, values: dict[str, Any]) -> Any:
    """An options object of ``cls`` from flat values keyed by :class:`OptionField` names; the rest at defaults.

    >>> build(TranscribeOptions, {"beam_size": 1, "vad_threshold": 0.6}).vad_options.threshold
    0.6
    """
    nested: dict[tuple[str, ...], dict[str, Any]] = {}
    for f in option_fields(cls):
        if f.name in values:
            nested.setdefault(f.path[:-1], {})[f.path[-1]] = values[f.name]
    return _build(cls, (), nested)


def _build(cls: type, path: tuple[str, ...], nested: dict[tuple[str, ...], dict[str, Any]]) -> Any:
    hints = typing.get_type_hints(cls)
    given = dict(nested.get(path, {}))
    for f in fields(cls):
        kind = hints[f.name]
        if dataclasses.is_dataclass(kind) and any(p[: len(path) + 1] == (*path, f.name) for p in nested):
            given[f.name] = _build(typing.cast(type, kind), (*path, f.name), nested)
    return cls(**given)


def to_dict(options: Any) -> dict[str, Any]:
    """The options as plain data, for JSON output (nested options as nested objects)."""
    return asdict(options)


def from_dict(cls: type, data: dict[str, Any]) -> Any:
    """Options of ``cls`` back from :func:`to_dict`'s data (lists become tuples, nested objects options).

    >>> from_dict(JobOptions, to_dict(JobOptions(tasks=("transcribe", "translate")))).tasks
    ('transcribe', 'translate')
    """
    hints = typing.get_type_hints(cls)
    values: dict[str, Any] = {}
    for f in fields(cls):
        if f.name not in data:
            continue
        value, kind = data[f.name], hints[f.name]
        if dataclasses.is_dataclass(kind) and isinstance(value, dict):
            value = from_dict(typing.cast(type, kind), value)
        elif isinstance(value, list):
            value = tuple(value)
        values[f.name] = value
    return cls(**values)


__all__ = [
    "ModelOptions",
    "TranscribeOptions",
    "CueOptions",
    "VadOptions",
    "GuardOptions",
    "OutputOptions",
    "JobOptions",
    "TASKS",
    "PRECISIONS",
    "DECODERS",
    "CHANNEL_MODES",
    "MAX_BEAM_SIZE",
    "option_fields",
    "build",
    "check",
    "to_dict",
    "from_dict",
    "replace",
]
