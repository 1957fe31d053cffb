"""Video in, video out through the CLI: a link served from 127.0.0.1, two subtitle tracks embedded, burn-in."""

from __future__ import annotations

import functools
import http.server
import threading

import av
import pysubs2
import pytest

from ovsub.audio.streams import probe
from ovsub.cli import main

pytestmark = pytest.mark.model


@pytest.fixture
def served_video(data_dir):
    """The shared video folder on a local HTTP server (loopback only, stopped after the test)."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(data_dir / "video"))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_link_to_video_with_two_embedded_tracks_and_burn_in(served_video, tmp_path):
    url = f"{served_video}/pydub_creative_common.mp4"
    out = tmp_path / "out"
    rc = main(["transcribe", url, "--task", "transcribe,translate", "--embed", "--burn", "-o", str(out),
               "-f", "srt", "--beam-size", "1", "--language", "en", "-q"])  # fmt: skip
    assert rc == 0
    transcript = pysubs2.load(str(out / "pydub_creative_common.srt"))
    assert len(transcript) >= 1
    assert (out / "pydub_creative_common.en.srt").is_file()
    with av.open(str(out / "pydub_creative_common.subtitled.mp4"), metadata_errors="replace") as container:
        subs = [s for s in container.streams if s.type == "subtitle"]
        assert [s.codec_context.name for s in subs] == ["mov_text", "mov_text"]
        assert {s.metadata.get("language") for s in subs} == {"eng"}
        assert [s.codec_context.name for s in container.streams.video] == ["h264"]
        assert [s.codec_context.name for s in container.streams.audio] == ["aac"]  # copied, not re-encoded
    burned = probe(out / "pydub_creative_common.burned.mp4")
    assert burned.has_video


def test_every_audio_track_gets_its_own_subtitle_track(data_dir, tmp_path):
    """The en/de/fr MKV: one subtitle track per audio track, each in its track's language."""
    video = data_dir / "video/derived_multi_audio_tracks.mkv"
    rc = main(["transcribe", str(video), "--all-audio-tracks", "--embed", "-o", str(tmp_path), "-f", "srt",
               "--beam-size", "1", "-q"])  # fmt: skip
    assert rc == 0
    assert {p.name for p in tmp_path.glob("*.srt")} == {f"derived_multi_audio_tracks.track{i}.srt" for i in range(3)}
    with av.open(str(tmp_path / "derived_multi_audio_tracks.subtitled.mkv")) as container:
        languages = [s.metadata.get("language") for s in container.streams if s.type == "subtitle"]
        assert len(container.streams.audio) == 3
    assert languages == ["eng", "ger", "fre"]
