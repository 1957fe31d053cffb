"""Media file names: the one table of extensions ovsub treats as video or audio, and what they are served as.

A name is only a hint (FFmpeg reads the content to know what a file is), but it decides which files
in a folder are inputs, whether a download needs an extension, and what Content-Type the web app
gives a file. No PyAV here, so the command line can read this without loading FFmpeg.
"""

from __future__ import annotations

# extension -> the Content-Type a browser plays it as, None for those browsers do not play
MEDIA_TYPES: dict[str, str | None] = {
    # video (or audio in a video container)
    ".mp4": "video/mp4", ".m4v": None, ".mov": None, ".3gp": None, ".mkv": "video/x-matroska",
    ".webm": "video/webm", ".avi": "video/x-msvideo", ".flv": "video/x-flv", ".wmv": "video/x-ms-wmv",
    ".asf": None, ".mpg": "video/mpeg", ".mpeg": None, ".ts": "video/mp2t", ".m2ts": None, ".mts": None,
    ".ogv": None,
    # audio
    ".m4a": "audio/mp4", ".m4b": None, ".mka": "audio/x-matroska", ".weba": "audio/webm", ".flac": "audio/flac",
    ".mp3": "audio/mpeg", ".mp2": None, ".wav": "audio/wav", ".aiff": "audio/aiff", ".aif": None,
    ".ogg": "audio/ogg", ".oga": None, ".opus": None, ".spx": None, ".aac": "audio/aac", ".ac3": None,
    ".eac3": None, ".dts": None, ".amr": None, ".ape": None, ".caf": None, ".wma": None, ".wv": None,
}  # fmt: skip
MEDIA_EXTENSIONS = frozenset(MEDIA_TYPES)  # a file with one of these is taken for media (lower case)
CONTENT_TYPES = {ext: kind for ext, kind in MEDIA_TYPES.items() if kind}  # what the web app serves media as

# FFmpeg demuxer (as PyAV names it) -> the extension a file it reads is given when its name has none
CONTAINER_EXTENSIONS = {
    "mov,mp4,m4a,3gp,3g2,mj2": ".mp4", "matroska,webm": ".mkv", "flac": ".flac", "mp3": ".mp3",
    "wav": ".wav", "ogg": ".ogg", "aac": ".aac", "avi": ".avi", "flv": ".flv", "mpegts": ".ts",
    "asf": ".wmv", "mpeg": ".mpg", "aiff": ".aiff", "amr": ".amr", "wv": ".wv", "ac3": ".ac3",
}  # fmt: skip

WEBM_VIDEO_CODECS = frozenset({"vp8", "vp9", "av1"})  # the only video WebM holds (a Matroska file with these is WebM)
WEBM_AUDIO_CODECS = frozenset({"opus", "vorbis"})  # the only audio WebM holds
