"""The web app's REST API, in-process with FastAPI's TestClient, running real jobs on real clips.

Jobs use Whisper base with greedy decoding on clips of about 2 s, so each takes a few seconds.
Links are served by an http.server on 127.0.0.1 (the app is made with allow_private_urls for
those tests); one path holds its answer until a test lets it go, so a job can be kept "running"
for as long as a test needs, without sleeping.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import pytest

pytest.importorskip("fastapi", reason="the web app needs: pip install 'ovsub[web]'")
pytest.importorskip("python_multipart", reason="the web app needs: pip install 'ovsub[web]'")

from fastapi.testclient import TestClient  # noqa: E402

from ovsub.audio.streams import probe  # noqa: E402
from ovsub.web import WebSettings, create_app, serve  # noqa: E402
from ovsub.web.security import UrlRefused, check_url, display_name  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"  # beside the repository, never copied in
VIDEO = DATA / "video" / "pydub_creative_common.mp4"  # H.264 + AAC, 2.3 s: "Creative Commons"
AUDIO = DATA / "english" / "other" / "cv_en_651325.mp3"  # MP3, 2.4 s: "Every purchase is a vote."
SILENT_VIDEO = DATA / "video" / "moviepy_example_video_only.mp4"  # a picture and no audio track
BASE = "http://127.0.0.1:8000"  # what the TestClient claims to be talking to (a loopback Host header)
JOB_TIMEOUT_S = 120.0  # a job on a 2 s clip takes seconds; this only stops a hung test
FAST = {"beam_size": "1", "model": "base"}  # greedy decoding: quick, and good enough on these clips

pytestmark = [
    pytest.mark.model,
    pytest.mark.skipif(not (VIDEO.is_file() and AUDIO.is_file()), reason="shared/data clips not found"),
]


# --- a link server -----------------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    server: _LinkServer

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        path = self.path.split("?")[0]
        if path.startswith("/gate/"):  # held until the test opens the gate
            self.server.gate.wait(timeout=30)
            path = path.removeprefix("/gate")
        if path == "/redirect":  # an open redirect: Location is the ?to= parameter
            self.send_response(302)
            self.send_header("Location", parse_qs(urlsplit(self.path).query)["to"][0])
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif path == "/clip.mp4":
            self.server.hits += 1
            self._send(200, "video/mp4", VIDEO.read_bytes())
        elif path == "/notes.txt":
            self._send(200, "text/plain", b"no media here, only words\n" * 50)
        else:
            self._send(404, "text/plain", b"not found")

    def _send(self, status: int, content_type: str, body: bytes) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def log_message(self, format: str, *args: object) -> None:
        pass


class _LinkServer(ThreadingHTTPServer):
    daemon_threads = True
    gate: threading.Event
    hits = 0  # requests for /clip.mp4

    def url(self, path: str) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}{path}"


def _serve_links(address: str) -> Iterator[_LinkServer]:
    httpd = _LinkServer((address, 0), _Handler)
    httpd.gate = threading.Event()
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    yield httpd
    httpd.gate.set()
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="module")
def links() -> Iterator[_LinkServer]:
    yield from _serve_links("127.0.0.1")


@pytest.fixture(scope="module")
def other_links() -> Iterator[_LinkServer]:
    """A second link server on another loopback address (Linux routes all of 127/8 to this machine)."""
    yield from _serve_links("127.0.0.2")


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")


# --- apps and helpers --------------------------------------------------------------------------

AppFactory = Callable[..., TestClient]


@pytest.fixture(scope="module")
def make_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AppFactory]:
    """Start an app with these settings (data in a fresh folder unless given); all stop at module end."""
    stack: list[TestClient] = []

    def make(**settings: Any) -> TestClient:
        settings.setdefault("data_dir", str(tmp_path_factory.mktemp("web")))
        client = TestClient(create_app(WebSettings(**settings)), base_url=BASE)
        client.__enter__()
        stack.append(client)
        return client

    yield make
    for client in reversed(stack):
        client.__exit__(None, None, None)


@pytest.fixture(scope="module")
def client(make_client: AppFactory) -> TestClient:
    """The default app: default settings but its own data folder."""
    return make_client()


@pytest.fixture(scope="module")
def private_client(make_client: AppFactory) -> TestClient:
    """An app that may fetch links on this machine (for the local link server)."""
    return make_client(allow_private_urls=True)


def wait(client: TestClient, job_id: str) -> dict:
    """The job once it has ended, whichever way."""
    deadline = time.monotonic() + JOB_TIMEOUT_S
    while time.monotonic() < deadline:
        job = client.get(f"/api/jobs/{job_id}").json()
        if job["state"] in ("done", "failed", "cancelled"):
            return job
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} still {job['state']} after {JOB_TIMEOUT_S} s")


def eventually(condition: Callable[[], bool], timeout_s: float = 10.0) -> None:
    """Wait for something the server does just after answering (removing a folder, say)."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


def upload(client: TestClient, path: Path, name: str | None = None, **fields: str) -> Any:
    with path.open("rb") as f:
        return client.post("/api/jobs", files={"file": (name or path.name, f)}, data={**FAST, **fields})


def job_folders(client: TestClient) -> list[Path]:
    return sorted((client.app.state.data_dir / "jobs").iterdir())  # type: ignore[attr-defined]


def detail(response: Any) -> str:
    body = response.json()
    assert isinstance(body["detail"], str) and body["detail"], body
    return body["detail"]


@pytest.fixture(scope="module")
def video_job(client: TestClient) -> dict:
    """The video clip, transcribed and translated, uploaded under a hostile file name."""
    response = upload(client, VIDEO, name="../../etc/passwd", task="both", language="en")
    assert response.status_code == 202, response.text
    assert response.headers["location"] == f"/api/jobs/{response.json()['id']}"
    return wait(client, response.json()["id"])


# --- the page and the schema -------------------------------------------------------------------


def test_page_and_its_files_are_served(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert 'id="file"' in page.text and "/static/app.js" in page.text
    for name in ("app.js", "style.css"):
        assert client.get(f"/static/{name}").status_code == 200
    assert page.headers["x-content-type-options"] == "nosniff"


def test_openapi_schema_lists_every_endpoint(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    paths = schema["paths"]
    assert set(paths["/api/jobs"]) == {"get", "post"}
    assert set(paths["/api/jobs/{job_id}"]) == {"get", "delete"}
    for path in ("/media", "/subtitles/{task}.{fmt}", "/video", "/cancel"):
        assert f"/api/jobs/{{job_id}}{path}" in paths
    body = paths["/api/jobs"]["post"]["requestBody"]["content"]
    assert body["multipart/form-data"]["schema"]["properties"]["file"]["format"] == "binary"
    assert "url" in body["application/json"]["schema"]["properties"]


def test_config_tells_the_page_what_it_may_offer(client: TestClient) -> None:
    config = client.get("/api/config").json()
    assert config["models"] == ["base", "tiny.en"] and config["english_only_models"] == ["tiny.en"]
    assert {"code": "de", "name": "German"} in config["languages"]
    assert config["max_upload_bytes"] == WebSettings().max_upload_bytes
    assert config["token_required"] is False


# --- a video job from start to finish ----------------------------------------------------------


def test_video_job_makes_both_tracks(video_job: dict) -> None:
    assert video_job["state"] == "done", video_job["error"]
    assert video_job["progress"] == 1.0 and video_job["eta_s"] is None and video_job["error"] is None
    assert video_job["media"]["kind"] == "video" and video_job["media"]["content_type"] == "video/mp4"
    assert [r["task"] for r in video_job["results"]] == ["transcribe", "translate"]
    assert [r["label"] for r in video_job["results"]] == ["English (transcription)", "English (translation)"]
    assert all(r["cues"] > 0 for r in video_job["results"])
    assert video_job["started_at"] <= video_job["finished_at"]
    assert video_job["options"]["tasks"] == ["transcribe", "translate"] and video_job["options"]["language"] == "en"


def test_subtitles_come_in_every_format(client: TestClient, video_job: dict) -> None:
    files = video_job["results"][0]["files"]
    srt = client.get(files["srt"])
    assert srt.status_code == 200 and srt.headers["content-type"].startswith("application/x-subrip")
    assert "00:00:0" in srt.text and "," in srt.text.splitlines()[1] and "creative" in srt.text.lower()
    vtt = client.get(files["vtt"])
    assert vtt.headers["content-type"].startswith("text/vtt") and vtt.text.startswith("WEBVTT")
    ttml = client.get(files["ttml"])  # EBU-TT-D; test_ttml.py checks it against the schema
    assert ttml.headers["content-type"].startswith("application/ttml+xml") and ' xml:lang="en">' in ttml.text
    assert "creative" in ttml.text.lower()
    data = client.get(files["json"]).json()
    assert data["segments"] and data["segments"][0]["words"]
    download = client.get(files["srt"], params={"download": 1})
    assert download.headers["content-disposition"].startswith("attachment") and "passwd.en.srt" in download.headers[
        "content-disposition"
    ]
    translated = client.get(video_job["results"][1]["files"]["vtt"], params={"download": 1})
    assert translated.text.startswith("WEBVTT") and "passwd.en.translation.vtt" in translated.headers[
        "content-disposition"
    ]


def test_media_is_served_with_ranges_for_seeking(client: TestClient, video_job: dict) -> None:
    url = video_job["media"]["url"]
    whole = client.get(url)
    assert whole.status_code == 200 and whole.content == VIDEO.read_bytes()
    assert whole.headers["accept-ranges"] == "bytes"
    part = client.get(url, headers={"Range": "bytes=100-199"})
    assert part.status_code == 206 and part.content == VIDEO.read_bytes()[100:200]
    assert part.headers["content-range"] == f"bytes 100-199/{VIDEO.stat().st_size}"


def test_video_with_embedded_tracks(client: TestClient, video_job: dict, tmp_path: Path) -> None:
    response = client.get(video_job["video_url"])
    assert response.status_code == 200 and response.headers["content-type"] == "video/mp4"
    assert 'filename="passwd.subtitled.mp4"' in response.headers["content-disposition"]
    saved = tmp_path / "subtitled.mp4"
    saved.write_bytes(response.content)
    subtitle_streams = [s for s in probe(saved).streams if s.kind == "subtitle"]
    assert [s.codec for s in subtitle_streams] == ["mov_text", "mov_text"]
    assert [s.title for s in subtitle_streams] == ["English (transcription)", "English (translation)"]


def test_a_hostile_file_name_is_only_text(client: TestClient, video_job: dict) -> None:
    assert video_job["name"] == "passwd"
    folder = client.app.state.data_dir / "jobs" / video_job["id"]  # type: ignore[attr-defined]
    names = sorted(p.name for p in folder.iterdir())
    assert "media.mp4" in names and "media.subtitled.mp4" in names
    assert all(n.startswith("media.") for n in names), names
    data_dir = client.app.state.data_dir  # type: ignore[attr-defined]
    assert not any("passwd" in p.name or p.name == "etc" for p in data_dir.parent.rglob("*"))


def test_jobs_are_listed_newest_first(client: TestClient, video_job: dict) -> None:
    jobs = client.get("/api/jobs").json()["jobs"]
    assert video_job["id"] in [j["id"] for j in jobs]
    created = [j["created_at"] for j in jobs]
    assert created == sorted(created, reverse=True)


# --- audio and links ---------------------------------------------------------------------------


def test_audio_only_job_has_no_video(client: TestClient) -> None:
    response = upload(client, AUDIO, task="transcribe", language="auto")
    assert response.status_code == 202, response.text
    job = wait(client, response.json()["id"])
    assert job["state"] == "done", job["error"]
    assert job["media"]["kind"] == "audio" and job["media"]["content_type"] == "audio/mpeg"
    assert job["results"][0]["language"] == "en" and job["video_url"] is None
    assert "vote" in client.get(job["results"][0]["files"]["srt"]).text.lower()
    no_video = client.get(f"/api/jobs/{job['id']}/video")
    assert no_video.status_code == 404 and "audio only" in detail(no_video)
    no_translation = client.get(f"/api/jobs/{job['id']}/subtitles/translate.vtt")
    assert no_translation.status_code == 404 and "did not translate" in detail(no_translation)


def test_link_job_and_the_server_survives_a_failed_one(private_client: TestClient, links: _LinkServer) -> None:
    bad = private_client.post("/api/jobs", json={"url": links.url("/notes.txt"), **FAST})
    assert bad.status_code == 202, bad.text
    failed = wait(private_client, bad.json()["id"])
    assert failed["state"] == "failed" and "no audio or video" in failed["error"]
    assert str(private_client.app.state.data_dir) not in failed["error"]  # type: ignore[attr-defined]

    good = private_client.post("/api/jobs", data={"url": links.url("/clip.mp4"), "language": "en", **FAST})
    assert good.status_code == 202, good.text
    job = wait(private_client, good.json()["id"])
    assert job["state"] == "done", job["error"]
    assert job["name"] == "clip.mp4" and job["url"] == links.url("/clip.mp4")
    assert job["media"]["kind"] == "video" and job["video_url"]
    folder = private_client.app.state.data_dir / "jobs" / job["id"]  # type: ignore[attr-defined]
    assert not (folder / "download").exists() and (folder / "media.mp4").is_file()


def test_links_to_this_machine_are_refused_by_default(client: TestClient, links: _LinkServer) -> None:
    response = client.post("/api/jobs", json={"url": links.url("/clip.mp4")})
    assert response.status_code == 400 and "loopback" in detail(response)
    for url, words in [
        ("http://localhost:9/a.mp4", "loopback"),
        ("http://[::1]/a.mp4", "loopback"),
        ("http://10.1.2.3/a.mp4", "private"),
        ("http://192.168.0.10/a.mp4", "private"),
        ("http://169.254.169.254/latest/meta-data/", "link-local"),
        ("http://0.0.0.0/", "address"),
        ("http://[::ffff:127.0.0.1]/a.mp4", "loopback"),
        ("ftp://example.org/a.mp4", "http"),
        ("file:///etc/passwd", "http"),
        ("http://user:pw@example.org/a.mp4", "password"),
    ]:
        refused = client.post("/api/jobs", data={"url": url})
        assert refused.status_code == 400, (url, refused.text)
        assert words in detail(refused), (url, detail(refused))
    listed = {j["id"] for j in client.get("/api/jobs").json()["jobs"]}
    assert {f.name for f in job_folders(client)} <= listed  # a refused link leaves no folder behind


def test_check_url_accepts_public_addresses_without_a_network() -> None:
    assert check_url("https://93.184.216.34/talk.mp4") == "https://93.184.216.34/talk.mp4"
    with pytest.raises(UrlRefused, match="private"):
        check_url("http://172.16.0.1/x")
    assert check_url("http://127.0.0.1/x", allow_private=True) == "http://127.0.0.1/x"
    assert display_name("..\\..\\boot.ini") == "boot.ini" and display_name("\x00/.") == "upload"


# --- bad requests ------------------------------------------------------------------------------


def test_non_media_upload_is_415_and_leaves_nothing(client: TestClient, tmp_path: Path) -> None:
    before = job_folders(client)
    text = tmp_path / "notes.mp4"
    text.write_text("this is not a video\n" * 100)
    response = upload(client, text, name="../../etc/passwd")
    assert response.status_code == 415 and "not audio or video" in detail(response)
    assert detail(response).startswith("passwd:") and str(tmp_path) not in detail(response)
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    assert upload(client, empty).status_code == 422
    assert job_folders(client) == before


def test_media_without_audio_is_422(client: TestClient) -> None:
    response = upload(client, SILENT_VIDEO)
    assert response.status_code == 422 and "no audio" in detail(response)


def test_upload_limit_is_413_while_streaming(make_client: AppFactory) -> None:
    small = make_client(max_upload_bytes=100_000)  # the clip is 266 KB
    response = upload(small, VIDEO)
    assert response.status_code == 413 and "limit" in detail(response)

    boundary = "ovsubtestboundary"

    def body() -> Iterator[bytes]:  # a generator: sent chunked, with no Content-Length to trust
        yield (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.mp4"\r\n'
            "Content-Type: video/mp4\r\n\r\n"
        ).encode()
        data = VIDEO.read_bytes()
        for start in range(0, len(data), 16_384):
            yield data[start : start + 16_384]
        yield f"\r\n--{boundary}--\r\n".encode()

    multipart = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
    chunked = small.post("/api/jobs", content=body(), headers=multipart)
    assert chunked.status_code == 413 and "the file is larger than the upload limit" in detail(chunked)
    assert job_folders(small) == []


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"task": "dance"}, "task"),
        ({"beam_size": "0"}, "beam_size"),
        ({"max_lines": "9"}, "max_lines"),
        ({"max_line_chars": "many"}, "max_line_chars"),
        ({"max_cps": "-3"}, "max_cps"),
        ({"language": "xx"}, "language"),
        ({"model": "large-v3"}, "model must be one of"),
        ({"model": "/etc"}, "model must be one of"),
        ({"model": "tiny.en", "task": "translate"}, "English-only"),
        ({"model": "tiny.en", "language": "de"}, "English-only"),
        ({"colour": "red"}, "unknown option"),
    ],
)
def test_bad_options_are_422(client: TestClient, fields: dict[str, str], words: str) -> None:
    before = job_folders(client)
    response = upload(client, VIDEO, **fields)
    assert response.status_code == 422 and words in detail(response), response.text
    assert job_folders(client) == before


def test_file_and_link_together_or_neither_are_422(client: TestClient) -> None:
    both = upload(client, VIDEO, url="https://example.org/a.mp4")
    assert both.status_code == 422 and "not both" in detail(both)
    neither = client.post("/api/jobs", json={"task": "transcribe"})
    assert neither.status_code == 422 and "file" in detail(neither)


def test_malformed_bodies(client: TestClient) -> None:
    plain = client.post("/api/jobs", content=b"hello", headers={"Content-Type": "text/plain"})
    assert plain.status_code == 415 and "multipart" in detail(plain)
    broken = client.post("/api/jobs", content=b"{not json", headers={"Content-Type": "application/json"})
    assert broken.status_code == 400 and "JSON" in detail(broken)
    listed = client.post("/api/jobs", json=["https://example.org/a.mp4"])
    assert listed.status_code == 400
    no_boundary = client.post("/api/jobs", content=b"x", headers={"Content-Type": "multipart/form-data"})
    assert no_boundary.status_code == 400 and "boundary" in detail(no_boundary)


def test_unknown_jobs_are_404(client: TestClient) -> None:
    for method, path in [
        ("GET", "/api/jobs/0123456789abcdef"),
        ("GET", "/api/jobs/nope/media"),
        ("GET", "/api/jobs/nope/subtitles/transcribe.srt"),
        ("GET", "/api/jobs/nope/video"),
        ("POST", "/api/jobs/nope/cancel"),
        ("DELETE", "/api/jobs/nope"),
        ("GET", "/api/jobs/..%2F..%2Fetc%2Fpasswd"),
    ]:
        response = client.request(method, path)
        assert response.status_code == 404, (method, path, response.text)
        assert response.json()["detail"]


def test_bad_subtitle_names_are_404(client: TestClient, video_job: dict) -> None:
    base = f"/api/jobs/{video_job['id']}/subtitles"
    for name, words in [("transcribe.exe", "format"), ("dance.vtt", "task"), ("transcribe.ass", "format")]:
        response = client.get(f"{base}/{name}")
        assert response.status_code == 404 and words in detail(response), name


# --- token, host and origin --------------------------------------------------------------------


def test_token_is_required_when_set(make_client: AppFactory) -> None:
    locked = make_client(token="correct-horse-battery")
    assert locked.get("/api/jobs").status_code == 401
    refused = locked.get("/api/jobs", headers={"Authorization": "Bearer wrong-token"})
    assert refused.status_code == 401 and refused.headers["www-authenticate"] == "Bearer" and detail(refused)
    assert locked.get("/api/jobs", headers={"Authorization": "Bearer correct-horse-battery"}).status_code == 200
    assert locked.get("/api/jobs", params={"token": "correct-horse-battery"}).status_code == 200
    assert upload(locked, VIDEO).status_code == 401
    assert locked.get("/").status_code == 200  # the page itself holds no data; it asks for the token
    assert locked.get("/api/config").json()["token_required"] is True


def test_other_hosts_and_origins_are_refused(client: TestClient) -> None:
    rebound = client.get("/api/jobs", headers={"Host": "evil.example"})
    assert rebound.status_code == 400 and "host name" in detail(rebound)
    link = {"url": "https://example.org/a.mp4"}
    cross = client.post("/api/jobs", json=link, headers={"Origin": "https://evil.example"})
    assert cross.status_code == 403 and detail(cross)
    same = client.post("/api/jobs", json={"task": "dance"}, headers={"Origin": BASE})
    assert same.status_code == 422  # got past the guard, to the options check


# --- queue, cancel, delete, retention ----------------------------------------------------------


def test_queue_limit_cancel_and_delete(make_client: AppFactory, links: _LinkServer) -> None:
    app = make_client(allow_private_urls=True, workers=1, max_queue=1)
    links.gate.clear()
    try:
        held = app.post("/api/jobs", json={"url": links.url("/gate/clip.mp4"), **FAST}).json()
        eventually(lambda: app.get(f"/api/jobs/{held['id']}").json()["stage"] == "downloading")

        busy = app.get(f"/api/jobs/{held['id']}/subtitles/transcribe.srt")
        assert busy.status_code == 409 and "running" in detail(busy)
        assert app.get(f"/api/jobs/{held['id']}/media").status_code == 409  # not downloaded yet

        waiting = upload(app, VIDEO)
        assert waiting.status_code == 202 and waiting.json()["queue_position"] == 1
        full = upload(app, VIDEO)
        assert full.status_code == 429 and "waiting" in detail(full)
        assert len(job_folders(app)) == 2

        dropped = app.post(f"/api/jobs/{waiting.json()['id']}/cancel")
        assert dropped.status_code == 202 and dropped.json()["state"] == "cancelled"
        stopping = app.post(f"/api/jobs/{held['id']}/cancel")
        assert stopping.status_code == 202 and stopping.json()["state"] == "running"
    finally:
        links.gate.set()
    stopped = wait(app, held["id"])
    assert stopped["state"] == "cancelled" and stopped["results"] == []
    again = app.post(f"/api/jobs/{held['id']}/cancel")
    assert again.status_code == 409 and "already ended" in detail(again)
    no_video = app.get(f"/api/jobs/{held['id']}/video")
    assert no_video.status_code == 404 and "cancelled" in detail(no_video)

    folder = app.app.state.data_dir / "jobs" / held["id"]  # type: ignore[attr-defined]
    assert folder.is_dir()
    assert app.delete(f"/api/jobs/{held['id']}").status_code == 204
    assert app.get(f"/api/jobs/{held['id']}").status_code == 404 and not folder.exists()


def test_retention_and_restart(make_client: AppFactory, links: _LinkServer, tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    app = make_client(data_dir=str(data_dir), allow_private_urls=True, max_jobs=2, workers=1)
    ids = []
    for _ in range(3):  # links that fail fast: retention counts every finished job
        ids.append(app.post("/api/jobs", json={"url": links.url("/notes.txt")}).json()["id"])
        assert wait(app, ids[-1])["state"] == "failed"
    listed = [j["id"] for j in app.get("/api/jobs").json()["jobs"]]
    assert listed == [ids[2], ids[1]]
    eventually(lambda: sorted(p.name for p in (data_dir / "jobs").iterdir()) == sorted(ids[1:]))

    # A later server finds the jobs again: one that ended long ago goes, one left running whose media is gone
    # fails, saying so, and a folder that belongs to no job goes.
    app.__exit__(None, None, None)
    edit_record(data_dir, ids[1], finished_at=time.time() - 30 * 24 * 3600)
    gone = {"file": "media.mp4", "content_type": "video/mp4", "has_video": True, "duration_s": 2.3}
    edit_record(data_dir, ids[2], state="running", stage="transcribing", finished_at=None, media=gone)
    (data_dir / "jobs" / "stray").mkdir()

    again = make_client(data_dir=str(data_dir))
    jobs = again.get("/api/jobs").json()["jobs"]
    assert [j["id"] for j in jobs] == [ids[2]]
    assert jobs[0]["state"] == "failed" and "media is gone" in jobs[0]["error"]
    assert sorted(p.name for p in (data_dir / "jobs").iterdir()) == [ids[2]]


def stored_jobs(data_dir: Path) -> dict[str, dict[str, Any]]:
    """The job records in a data folder's database, by id (read while no server holds it)."""
    with contextlib.closing(sqlite3.connect(data_dir / "jobs.sqlite3")) as db:
        return {job_id: json.loads(record) for job_id, record in db.execute("SELECT id, record FROM jobs")}


def edit_record(data_dir: Path, job_id: str, **changes: Any) -> None:
    """Change a stored job as if an earlier server had left it so (no server may hold the database)."""
    record = {**stored_jobs(data_dir)[job_id], **changes}
    with contextlib.closing(sqlite3.connect(data_dir / "jobs.sqlite3")) as db, db:
        db.execute("UPDATE jobs SET state = ?, finished_at = ?, record = ? WHERE id = ?",
                   (record["state"], record["finished_at"], json.dumps(record), job_id))  # fmt: skip


# --- ovsub serve -------------------------------------------------------------------------------


def _serve_args(**overrides: Any) -> argparse.Namespace:
    values = {"host": "127.0.0.1", "port": 8000, "data_dir": None, "token": None, "allow_private_urls": False,
              "model": "base", "cache_dir": None}  # fmt: skip
    values.update(overrides)
    return argparse.Namespace(**values)


def test_serve_refuses_to_listen_beyond_localhost_without_a_token(capsys: pytest.CaptureFixture[str]) -> None:
    assert serve(_serve_args(host="0.0.0.0")) == 2
    assert "without an access token" in capsys.readouterr().err
    assert serve(_serve_args(token="short")) == 2
    assert "at least 8" in capsys.readouterr().err


def test_serve_says_when_the_port_is_taken(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        assert serve(_serve_args(port=taken.getsockname()[1], data_dir=str(tmp_path))) == 1
    assert "cannot listen on 127.0.0.1" in capsys.readouterr().err


def test_serve_prints_its_address_and_answers(tmp_path: Path) -> None:
    import socket

    import httpx

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    command = [sys.executable, "-c", "import sys; from ovsub.cli import main; sys.exit(main(sys.argv[1:]))",
               "serve", "--port", str(port), "--data-dir", str(tmp_path), "--model", "tiny.en"]  # fmt: skip
    env = {**os.environ, "OVSUB_WEB_NO_WARM_UP": "1"}
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert process.stderr is not None
        first = process.stderr.readline()
        assert f"serving on http://127.0.0.1:{port}/" in first
        deadline = time.monotonic() + 30
        while True:
            try:
                config = httpx.get(f"http://127.0.0.1:{port}/api/config", timeout=2).json()
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline and process.poll() is None, "ovsub serve did not answer"
                time.sleep(0.2)
        assert config["default_model"] == "tiny.en" and config["models"] == ["base", "tiny.en"]
    finally:
        process.terminate()
        _, rest = process.communicate(timeout=20)
    # uvicorn shuts down, then raises the signal again, so the exit status says SIGTERM
    assert process.returncode in (0, -15) and "Traceback" not in rest, rest


# --- nothing served names the server's folders (issue 13, item 9) ------------------------------


def test_nothing_served_names_the_servers_folders(make_client: AppFactory) -> None:
    from ovsub.whisper import models

    cache_dir = str(models.cache_root(None))  # the usual model cache, named explicitly: a server path too
    app = make_client(cache_dir=cache_dir)
    data_dir = str(app.app.state.data_dir)  # type: ignore[attr-defined]
    response = upload(app, VIDEO, name="talk.mp4", language="en")
    assert response.status_code == 202, response.text
    job = wait(app, response.json()["id"])
    assert job["state"] == "done", job["error"]
    served: dict[str, bytes] = {}
    for path in ("/api/jobs", f"/api/jobs/{job['id']}", "/api/config", "/openapi.json", job["video_url"]):
        served[path] = app.get(path).content
    for result in job["results"]:
        for url in result["files"].values():
            served[url] = app.get(url).content
    for path, body in served.items():
        for folder in (data_dir, cache_dir):
            assert folder.encode() not in body, f"{path} names {folder}"
    document = json.loads(served[job["results"][0]["files"]["json"]])
    assert document["source"] == "talk.mp4"  # what the client called it
    assert document["options"]["model"]["cache_dir"] is None


# --- the token outside the command line, the policy on every answer (issue 13, item 13) --------


def test_token_from_the_environment_or_a_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from ovsub.web import settings_from_args

    monkeypatch.setenv("OVSUB_TOKEN", "from-the-environment")
    assert settings_from_args(_serve_args()).token == "from-the-environment"
    assert settings_from_args(_serve_args(token="from-the-command")).token == "from-the-command"
    token_file = tmp_path / "token"
    token_file.write_text("from-a-file-1234\n")
    assert settings_from_args(_serve_args(token_file=str(token_file))).token == "from-a-file-1234"
    with pytest.raises(ValueError, match="either"):
        settings_from_args(_serve_args(token="from-the-command", token_file=str(token_file)))
    with pytest.raises(ValueError, match="cannot read"):
        settings_from_args(_serve_args(token_file=str(tmp_path / "missing")))
    token_file.write_text("\n")
    with pytest.raises(ValueError, match="empty"):
        settings_from_args(_serve_args(token_file=str(token_file)))
    monkeypatch.setenv("OVSUB_TOKEN", "")
    assert settings_from_args(_serve_args()).token is None


def test_serve_takes_its_token_from_the_environment_and_never_shows_it(tmp_path: Path) -> None:
    import httpx

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    token = "kept-out-of-ps-1234"
    command = [sys.executable, "-c", "import sys; from ovsub.cli import main; sys.exit(main(sys.argv[1:]))",
               "serve", "--port", str(port), "--data-dir", str(tmp_path), "--model", "tiny.en"]  # fmt: skip
    env = {**os.environ, "OVSUB_WEB_NO_WARM_UP": "1", "OVSUB_TOKEN": token}
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert process.stderr is not None
        printed = []
        while not printed or "Ctrl+C" not in printed[-1]:  # the last line it prints at start
            printed.append(process.stderr.readline())
            assert printed[-1], f"ovsub serve stopped: {printed}"
        assert f"serving on http://127.0.0.1:{port}/" in printed[0]
        assert not any(token in line for line in printed), printed
        assert token not in Path(f"/proc/{process.pid}/cmdline").read_bytes().decode(errors="replace")
        deadline = time.monotonic() + 30
        while True:
            try:
                refused = httpx.get(f"http://127.0.0.1:{port}/api/jobs", timeout=2)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline and process.poll() is None, "ovsub serve did not answer"
                time.sleep(0.2)
        assert refused.status_code == 401
        allowed = httpx.get(f"http://127.0.0.1:{port}/api/jobs", headers={"Authorization": f"Bearer {token}"})
        assert allowed.status_code == 200
    finally:
        process.terminate()
        process.communicate(timeout=20)


def test_every_answer_carries_the_content_security_policy(make_client: AppFactory) -> None:
    locked = make_client(token="correct-horse-battery")
    answers = {
        "page": locked.get("/"),
        "script": locked.get("/static/app.js"),
        "config": locked.get("/api/config"),
        "schema": locked.get("/openapi.json"),
        "no token": locked.get("/api/jobs"),
        "unknown job": locked.get("/api/jobs/nope", params={"token": "correct-horse-battery"}),
        "unknown path": locked.get("/nowhere"),
        "other host": locked.get("/api/config", headers={"Host": "evil.example"}),
    }
    for what, answer in answers.items():
        policy = answer.headers.get("content-security-policy", "")
        assert "default-src 'self'" in policy and "frame-ancestors 'none'" in policy, (what, answer.headers)
        assert answer.headers["x-content-type-options"] == "nosniff", what


# --- IPv4 inside IPv6, and every hop of a link (issue 13, item 12) ------------------------------


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("http://[2002:7f00:1::]/a.mp4", "6to4 address for 127.0.0.1, which is a loopback"),
        ("http://[2002:a00:1::1]/a.mp4", "6to4 address for 10.0.0.1, which is a private"),
        ("http://[64:ff9b::7f00:1]/a.mp4", "NAT64 address for 127.0.0.1, which is a loopback"),
        ("http://[64:ff9b::a9fe:a9fe]/latest/meta-data/", "NAT64 address for 169.254.169.254, which is a link-local"),
        ("http://[64:ff9b:1::808:808]/a.mp4", "local-use NAT64"),
        ("http://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/a.mp4", "Teredo"),
        ("http://[2001::1]/a.mp4", "Teredo"),
        ("http://[::ffff:7f00:1]/a.mp4", "IPv4-mapped address for 127.0.0.1, which is a loopback"),
        ("http://[::ffff:0:a00:1]/a.mp4", "IPv4-translated address for 10.0.0.1, which is a private"),
        ("http://[::127.0.0.1]/a.mp4", "IPv4-compatible"),
        ("http://[::8.8.8.8]/a.mp4", "IPv4-compatible"),
        ("http://[2606:4700::5efe:7f00:1]/a.mp4", "ISATAP address for 127.0.0.1, which is a loopback"),
        ("http://[2606:4700::200:5efe:c0a8:1]/a.mp4", "ISATAP address for 192.168.0.1, which is a private"),
    ],
)
def test_check_url_refuses_ipv4_hidden_in_ipv6(url: str, words: str) -> None:
    with pytest.raises(UrlRefused) as info:
        check_url(url)
    assert words in str(info.value), str(info.value)


def test_check_url_accepts_ipv6_forms_of_public_ipv4() -> None:
    for url in (
        "http://[2002:808:808::1]/a.mp4",  # 6to4 for 8.8.8.8
        "http://[64:ff9b::808:808]/a.mp4",  # NAT64 for 8.8.8.8 (what DNS64 gives an IPv6-only server)
        "http://[::ffff:8.8.8.8]/a.mp4",
        "http://[2606:4700:4700::1111]/a.mp4",  # plain public IPv6
    ):
        assert check_url(url) == url


def test_a_redirect_to_another_private_address_is_refused(
    make_client: AppFactory, links: _LinkServer, other_links: _LinkServer
) -> None:
    app = make_client(allowed_private_networks=("127.0.0.1/32",))  # the first hop's address only
    hits = other_links.hits
    direct = app.post("/api/jobs", json={"url": other_links.url("/clip.mp4")})
    assert direct.status_code == 400 and "loopback" in detail(direct)
    hop = links.url("/redirect?to=" + quote(other_links.url("/clip.mp4"), safe=""))
    response = app.post("/api/jobs", json={"url": hop, **FAST})
    assert response.status_code == 202, response.text
    job = wait(app, response.json()["id"])
    assert job["state"] == "failed" and "127.0.0.2" in job["error"] and "loopback" in job["error"], job["error"]
    assert other_links.hits == hits, "the redirect target must never be contacted"


def test_a_link_larger_than_the_limit_stops_at_the_limit(make_client: AppFactory, links: _LinkServer) -> None:
    app = make_client(allow_private_urls=True, max_upload_bytes=100_000)  # the clip is 266 KB
    response = app.post("/api/jobs", json={"url": links.url("/clip.mp4"), **FAST})
    assert response.status_code == 202, response.text
    job = wait(app, response.json()["id"])
    assert job["state"] == "failed" and "limit" in job["error"], job["error"]
    folder = app.app.state.data_dir / "jobs" / job["id"]  # type: ignore[attr-defined]
    assert sorted(p.name for p in folder.iterdir()) == [], "no part of the download may stay"


# --- an upload that stalls gives its slot back (issue 13, item 10) ------------------------------

STALL_IDLE_S = 1.0  # the idle timeout these tests set
STALL_TOTAL_S = 4.0  # the whole-body deadline they set


@contextlib.contextmanager
def live_server(**settings: Any) -> Iterator[tuple[int, Path]]:
    """The app under a real uvicorn on a free loopback port, in a thread: (port, data folder)."""
    import uvicorn

    app = create_app(WebSettings(**settings))
    listener = socket.create_server(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    try:
        eventually(lambda: server.started)
        yield listener.getsockname()[1], app.state.data_dir
    finally:
        server.should_exit = True
        thread.join(timeout=20)
        listener.close()


def start_upload(port: int, file_bytes: int = 1000) -> socket.socket:
    """A client that sends the headers of a large upload and the first ``file_bytes`` of it, then nothing."""
    boundary = "stallboundary"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.mp4"\r\n'
        "Content-Type: video/mp4\r\n\r\n"
    ).encode()
    request = (
        f"POST /api/jobs HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: {50 * 1024 * 1024}\r\n"
        f"Content-Type: multipart/form-data; boundary={boundary}\r\n\r\n"
    ).encode()
    client = socket.create_connection(("127.0.0.1", port))
    client.sendall(request + head + VIDEO.read_bytes()[:file_bytes])
    return client


def answer_of(client: socket.socket, timeout_s: float) -> bytes:
    """Everything the server sends until it closes the connection (or the timeout passes)."""
    client.settimeout(timeout_s)
    received = b""
    try:
        while chunk := client.recv(65536):
            received += chunk
    except TimeoutError:
        received += b"<still open>"
    return received


def test_a_stalled_upload_is_dropped_and_frees_its_slot(tmp_path: Path) -> None:
    import httpx

    with live_server(
        data_dir=str(tmp_path), upload_idle_timeout_s=STALL_IDLE_S, upload_timeout_s=60.0, max_uploads=1
    ) as (port, data_dir):
        started = time.monotonic()
        client = start_upload(port)
        eventually(lambda: any((data_dir / "jobs").glob("*/upload.part")))
        busy = httpx.post(f"http://127.0.0.1:{port}/api/jobs", files={"file": ("a.mp4", b"x" * 100)})
        assert busy.status_code == 429 and "upload" in busy.json()["detail"]  # its slot is taken meanwhile
        answer = answer_of(client, timeout_s=STALL_IDLE_S + 10)
        took = time.monotonic() - started
        client.close()
        assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
        assert answer.endswith(b"}") and b"nothing" in answer.lower(), answer  # answered, then closed
        assert took < STALL_IDLE_S + 5, took
        eventually(lambda: not any((data_dir / "jobs").iterdir()))  # the partial upload is gone
        after = httpx.post(f"http://127.0.0.1:{port}/api/jobs", files={"file": ("notes.mp4", b"just text\n" * 50)})
        assert after.status_code == 415, after.text  # the slot is free again: the request got to the media check


def test_an_upload_that_trickles_meets_its_deadline(tmp_path: Path) -> None:
    with live_server(
        data_dir=str(tmp_path), upload_idle_timeout_s=STALL_IDLE_S, upload_timeout_s=STALL_TOTAL_S
    ) as (port, data_dir):
        started = time.monotonic()
        client = start_upload(port)
        client.settimeout(0.05)
        answer = b""
        while time.monotonic() - started < STALL_TOTAL_S + 10 and not answer:
            try:
                client.sendall(b"x" * 100)  # a little, never idle for long
                answer = client.recv(65536)
            except TimeoutError:
                time.sleep(0.25)
            except (BrokenPipeError, ConnectionResetError):
                break
        took = time.monotonic() - started
        client.close()
        assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
        assert STALL_TOTAL_S - 0.5 < took < STALL_TOTAL_S + 5, took
        eventually(lambda: not any((data_dir / "jobs").iterdir()))


def test_a_stalled_upload_does_not_hold_up_stopping(tmp_path: Path) -> None:
    import httpx

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    command = [sys.executable, "-m", "ovsub", "serve", "--port", str(port), "--data-dir", str(tmp_path),
               "--model", "tiny.en", "--upload-idle-timeout", "600"]  # fmt: skip
    env = {**os.environ, "OVSUB_WEB_NO_WARM_UP": "1"}
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, env=env)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{port}/api/config", timeout=2)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline and process.poll() is None, "ovsub serve did not answer"
                time.sleep(0.2)
        client = start_upload(port)
        eventually(lambda: any((tmp_path / "jobs").glob("*/upload.part")))
        started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=30)
        took = time.monotonic() - started
        client.close()
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert took < 15, took  # the grace period for requests, then stopping the workers
    # uvicorn logs the request it cuts off (a CancelledError, with its traceback); nothing else may fail
    assert err.count("Traceback") == err.count("CancelledError: Task cancelled, timeout graceful shutdown"), err
    assert not any((tmp_path / "jobs").iterdir()), "the cut-off upload must not stay"


# --- jobs survive a restart, and expire on time (issue 13, item 11) -----------------------------

STOP_S = 3.0  # how long stopping may take with a job in the middle of a long call


@contextlib.contextmanager
def serve_process(data_dir: Path, *options: str) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """``ovsub serve`` as a real process on a free port, once it answers: (process, its base URL)."""
    import httpx

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    command = [sys.executable, "-m", "ovsub", "serve", "--port", str(port), "--data-dir", str(data_dir), *options]
    env = {**os.environ, "OVSUB_WEB_NO_WARM_UP": "1"}
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{base}/api/config", timeout=2)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline and process.poll() is None, "ovsub serve did not answer"
                time.sleep(0.2)
        yield process, base
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()


def test_a_restart_resumes_queued_and_running_jobs(
    make_client: AppFactory, links: _LinkServer, tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    first = make_client(data_dir=str(data_dir), allow_private_urls=True, workers=1)
    links.gate.clear()
    try:  # one job held in its download (a long call that never looks at the cancel flag), one waiting
        held = first.post("/api/jobs", json={"url": links.url("/gate/clip.mp4"), "language": "en", **FAST}).json()
        eventually(lambda: first.get(f"/api/jobs/{held['id']}").json()["stage"] == "downloading")
        waiting = upload(first, AUDIO, language="en").json()
        assert waiting["state"] == "queued", waiting
        started = time.monotonic()
        first.__exit__(None, None, None)  # the app's shutdown, as on Ctrl+C or SIGTERM
        took = time.monotonic() - started
    finally:
        links.gate.set()
    assert took < STOP_S, f"shutting down took {took:.1f} s"
    assert first.app.state.queue.join(timeout_s=30)  # type: ignore[attr-defined]  # the old worker, let go
    assert {i: r["state"] for i, r in stored_jobs(data_dir).items()} == {held["id"]: "queued", waiting["id"]: "queued"}

    again = make_client(data_dir=str(data_dir), allow_private_urls=True)
    for job_id in (held["id"], waiting["id"]):
        job = wait(again, job_id)
        assert job["state"] == "done" and job["results"][0]["cues"] > 0, job["error"]


def test_a_restart_removes_a_cut_off_upload(make_client: AppFactory, tmp_path: Path) -> None:
    with serve_process(tmp_path, "--model", "tiny.en", "--upload-idle-timeout", "600") as (process, base):
        client = start_upload(int(base.rsplit(":", 1)[1]))
        eventually(lambda: any((tmp_path / "jobs").glob("*/upload.part")))
        process.kill()  # a crash: nothing is cleaned up
        process.communicate()
        client.close()
    assert list((tmp_path / "jobs").glob("*/upload.part"))
    again = make_client(data_dir=str(tmp_path))
    assert list((tmp_path / "jobs").iterdir()) == [] and again.get("/api/jobs").json()["jobs"] == []


def test_sigterm_stops_at_once_and_the_job_runs_after_restart(
    make_client: AppFactory, links: _LinkServer, tmp_path: Path
) -> None:
    import httpx

    links.gate.clear()
    try:
        with serve_process(tmp_path, "--allow-private-urls", "--workers", "1") as (process, base):
            job = httpx.post(f"{base}/api/jobs", json={"url": links.url("/gate/clip.mp4"), "language": "en", **FAST})
            job_id = job.json()["id"]
            eventually(lambda: httpx.get(f"{base}/api/jobs/{job_id}").json()["stage"] == "downloading")
            started = time.monotonic()
            process.send_signal(signal.SIGTERM)
            _, err = process.communicate(timeout=30)
            took = time.monotonic() - started
    finally:
        links.gate.set()
    assert took < STOP_S, f"ovsub serve took {took:.1f} s to stop"
    assert process.returncode in (0, -signal.SIGTERM) and "Traceback" not in err, err
    assert stored_jobs(tmp_path)[job_id]["state"] == "queued"  # not "running": the next start runs it

    again = make_client(data_dir=str(tmp_path), allow_private_urls=True)
    done = wait(again, job_id)
    assert done["state"] == "done" and done["results"][0]["cues"] > 0, done["error"]


def test_sigterm_in_the_middle_of_a_decode_stops_at_once(tmp_path: Path) -> None:
    """What took 10-12 s before: a worker inside a batch of windows on the model, which cannot be interrupted."""
    import httpx

    long_audio = DATA / "english" / "long" / "derived_librispeech_concat_10utt.flac"  # 89 s
    with serve_process(tmp_path, "--workers", "1") as (process, base):
        with long_audio.open("rb") as f:
            answer = httpx.post(f"{base}/api/jobs", files={"file": ("talk.flac", f)}, data={"language": "en"})
        job_id = answer.json()["id"]
        eventually(lambda: httpx.get(f"{base}/api/jobs/{job_id}").json()["stage"] == "transcribing", timeout_s=60)
        time.sleep(1.0)  # into the first batch
        started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=30)
        took = time.monotonic() - started
    assert took < STOP_S, f"ovsub serve took {took:.1f} s to stop"
    assert "Traceback" not in err, err
    assert stored_jobs(tmp_path)[job_id]["state"] == "queued"
    assert (tmp_path / "jobs" / job_id / "media.flac").is_file()  # kept for the next start

def test_an_expired_job_is_gone_on_time(make_client: AppFactory, links: _LinkServer) -> None:
    max_age_s = 2.0
    app = make_client(allow_private_urls=True, max_age_s=max_age_s)
    job_id = app.post("/api/jobs", json={"url": links.url("/notes.txt")}).json()["id"]
    job = wait(app, job_id)  # fails at once: the link is not media
    assert job["state"] == "failed"
    data_dir = app.app.state.data_dir  # type: ignore[attr-defined]
    assert (data_dir / "jobs" / job_id).is_dir()
    time.sleep(max(0.0, job["finished_at"] + max_age_s - time.time()) + 1.0)  # no request meanwhile
    assert not (data_dir / "jobs" / job_id).exists(), "the folder of an expired job must go on time"
    assert app.get(f"/api/jobs/{job_id}").status_code == 404
    assert job_id not in [j["id"] for j in app.get("/api/jobs").json()["jobs"]]


def test_job_json_of_older_versions_moves_into_the_database(
    make_client: AppFactory, links: _LinkServer, tmp_path: Path
) -> None:
    from ovsub.web.store import StoreError

    data_dir = tmp_path / "data"
    app = make_client(data_dir=str(data_dir), allow_private_urls=True)
    with pytest.raises(StoreError, match="another ovsub server"):  # one server per data folder
        create_app(WebSettings(data_dir=str(data_dir)))
    job_id = app.post("/api/jobs", json={"url": links.url("/notes.txt")}).json()["id"]
    assert wait(app, job_id)["state"] == "failed"
    app.__exit__(None, None, None)
    (data_dir / "jobs" / job_id / "job.json").write_text(json.dumps(stored_jobs(data_dir)[job_id]))
    (data_dir / "jobs.sqlite3").unlink()  # as an older version left it
    (data_dir / "jobs" / "0123456789abcdef").mkdir()
    (data_dir / "jobs" / "0123456789abcdef" / "job.json").write_text('{"version": 1}')  # unreadable: dropped

    again = make_client(data_dir=str(data_dir))
    assert again.get(f"/api/jobs/{job_id}").json()["state"] == "failed"
    assert sorted(p.name for p in (data_dir / "jobs").rglob("*")) == [job_id]
