"""One exception tree: every failure a user should read is an OvsubError.

Each error names the file (or model, or URL) and says what to do. Wrap a tool's failure with
``raise ... from e`` so its own message stays in the traceback.
"""

from __future__ import annotations


class OvsubError(Exception):
    """Base class for all errors ovsub reports to users."""


class MediaError(OvsubError):
    """The input could not be read as audio."""


class InputNotFoundError(MediaError):
    """The input path does not exist or is not a file."""


class NotMediaError(MediaError):
    """The input exists but FFmpeg cannot read it as media."""


class NoAudioStreamError(MediaError):
    """The media has no audio stream (or not the one asked for)."""


class EmptyAudioError(MediaError):
    """The audio stream decodes to no samples."""


class ModelError(OvsubError):
    """A model could not be found, converted or loaded."""


class DownloadError(OvsubError):
    """A URL could not be fetched as media."""


class OutputError(OvsubError):
    """A result could not be written."""


class OptionError(OvsubError, ValueError):
    """An option value is refused; the message names the value and gives an example of a good one.

    A ValueError too, so code that catches bad arguments that way keeps working.
    """


class MissingDependencyError(OvsubError):
    """An optional dependency is needed for this feature; the message names the install command."""
