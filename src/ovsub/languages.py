"""Language codes: the one rule for a language a user names (temporary home until the table moves here)."""

from __future__ import annotations

from ovsub.errors import OptionError


def normalize(code: str) -> str:
    """A user's spoken-language code as Whisper names it: ``'EN'`` -> ``'en'``; unknown codes are refused."""
    from ovsub.video import LANGUAGES

    value = code.strip().lower().replace("_", "-").split("-")[0]
    if value not in LANGUAGES:
        raise OptionError(f"language must be an ISO 639-1 code such as 'en' or 'de', not {code!r}")
    return value


def track_title(language: str | None, task: str) -> str:
    """The name players show for a subtitle track: ``'German (transcription)'``, ``'English (translation)'``."""
    from ovsub.video import language_name

    kind = "translation" if task == "translate" else "transcription"
    return f"{language_name(language)} ({kind})" if language and language != "und" else kind.capitalize()


def names() -> dict[str, str]:
    """Every language Whisper knows, ISO 639-1 code -> English name (Whisper's own 'jw' left out for 'jv')."""
    from ovsub.video import LANGUAGES

    return {code: name for code, (_, name) in LANGUAGES.items() if code != "jw"}
