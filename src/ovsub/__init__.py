"""ovsub: readable subtitles from any video or audio, with Whisper on OpenVINO, on an ordinary CPU."""

__version__ = "0.1.0"
