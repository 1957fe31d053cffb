"""The page end to end in a real browser: Debian's Chromium driven by Playwright, against uvicorn.

Uploads a real clip through the page's file input, waits for the job, checks the player's text
tracks and the download links, seeks into a cue and saves a screenshot with the subtitle showing
(tests/artifacts/web_player.png). Skipped when Playwright or /usr/bin/chromium is missing;
Playwright's own browser downloads are never used.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Page

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"  # beside the repository, never copied in
VIDEO = DATA / "video" / "pydub_creative_common.mp4"  # H.264 + AAC, 2.3 s: "Creative Commons"
AUDIO = DATA / "english" / "other" / "cv_en_651325.mp3"  # MP3, 2.4 s: "Every purchase is a vote."
CHROMIUM = Path("/usr/bin/chromium")  # Debian's package: apt-get install chromium
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
SCREENSHOT = ARTIFACTS / "web_player.png"
JOB_TIMEOUT_MS = 120_000  # a 2 s clip takes seconds; this only stops a hung test

pytestmark = [
    pytest.mark.browser,
    pytest.mark.model,
    pytest.mark.skipif(not (VIDEO.is_file() and AUDIO.is_file()), reason="shared/data clips not found"),
    pytest.mark.skipif(not CHROMIUM.is_file(), reason=f"{CHROMIUM} missing: apt-get install chromium"),
]
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright missing: pip install playwright")
pytest.importorskip("fastapi", reason="the web app needs: pip install 'ovsub[web]'")


# Load every text track of the player and describe it (waits up to 10 s for the VTT files).
LOAD_TRACKS_JS = """async () => {
    const video = document.getElementById("player-video");
    const tracks = Array.from(video.textTracks);
    tracks.forEach((t, i) => { t.mode = i === 0 ? "showing" : "hidden"; });
    for (let i = 0; i < 100 && !tracks.every(t => t.cues && t.cues.length > 0); i++) {
        await new Promise(r => setTimeout(r, 100));
    }
    return tracks.map(t => ({
        label: t.label,
        cues: t.cues ? t.cues.length : 0,
        first: t.cues && t.cues.length ? [t.cues[0].startTime, t.cues[0].endTime] : null,
    }));
}"""

# Seek the video to `t` seconds, wait until that frame is ready, and say which cues are active.
SEEK_VIDEO_JS = """async (t) => {
    const video = document.getElementById("player-video");
    video.scrollIntoView({block: "center"});
    if (video.readyState < 2) await new Promise(r => video.addEventListener("loadeddata", r, {once: true}));
    await new Promise(r => { video.addEventListener("seeked", r, {once: true}); video.currentTime = t; });
    for (let i = 0; i < 50 && video.readyState < 4; i++) await new Promise(r => setTimeout(r, 100));
    await new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)));
    const active = Array.from(video.textTracks[0].activeCues || []).map(c => c.text);
    return {active, size: [video.videoWidth, video.videoHeight]};
}"""

# Seek the audio into its first cue and return what the page's caption area then shows.
SEEK_AUDIO_JS = """async () => {
    const audio = document.getElementById("player-audio");
    const track = audio.textTracks[0];
    for (let i = 0; i < 100 && !(track.cues && track.cues.length); i++) await new Promise(r => setTimeout(r, 100));
    const cue = track.cues[0];
    if (audio.readyState < 1) await new Promise(r => audio.addEventListener("loadedmetadata", r, {once: true}));
    await new Promise(r => {
        audio.addEventListener("seeked", r, {once: true});
        audio.currentTime = (cue.startTime + cue.endTime) / 2;
    });
    const caption = document.getElementById("caption");
    for (let i = 0; i < 50 && !caption.textContent; i++) await new Promise(r => setTimeout(r, 100));
    return caption.textContent;
}"""


@pytest.fixture(scope="module")
def server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The app under uvicorn on a free loopback port, in a background thread."""
    import uvicorn

    from ovsub.web import WebSettings, create_app

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    settings = WebSettings(port=port, data_dir=str(tmp_path_factory.mktemp("web-browser")))
    server = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, name="uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=20)


@pytest.fixture(scope="module")
def page(server_url: str) -> Iterator[Page]:
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1100, "height": 900})
        tab = context.new_page()
        errors: list[str] = []
        tab.on("pageerror", lambda e: errors.append(str(e)))
        tab.goto(server_url)
        tab.wait_for_selector("#model option", state="attached")
        yield tab
        assert errors == [], errors
        context.close()
        browser.close()


def submit(page: Page, path: Path, task: str, language: str) -> None:
    page.set_input_files("#file", str(path))
    assert path.name in page.inner_text("#file-info")
    page.select_option("#task", task)
    page.select_option("#language", language)
    page.select_option("#beam_size", "1")
    page.click("#start")


def test_upload_play_with_subtitles_and_download(page: Page, server_url: str) -> None:
    submit(page, VIDEO, task="both", language="en")
    page.wait_for_selector("#player-video", timeout=JOB_TIMEOUT_MS)
    assert page.inner_text("#job-state") == "done"

    tracks = page.evaluate(LOAD_TRACKS_JS)
    assert [t["label"] for t in tracks] == ["English (transcription)", "English (translation)"]
    assert all(t["cues"] > 0 for t in tracks), tracks
    page.select_option("#track-select", "1")  # the chooser beside the player switches tracks
    modes = page.evaluate("() => Array.from(document.getElementById('player-video').textTracks, t => t.mode)")
    assert modes == ["disabled", "showing"]
    page.select_option("#track-select", "0")

    for fmt, marker in (("srt", "-->"), ("vtt", "WEBVTT"), ("ttml", "urn:ebu:tt:distribution:2014-01")):
        links = page.locator(f'a[data-format="{fmt}"]')
        assert links.count() == 2
        answer = page.request.get(server_url + links.first.get_attribute("href"))
        assert answer.ok and marker in answer.text()
        assert "attachment" in answer.headers["content-disposition"]
    video_link = page.locator('a[data-format="video"]')
    answer = page.request.get(server_url + video_link.get_attribute("href"))
    assert answer.ok and answer.headers["content-type"] == "video/mp4" and len(answer.body()) > 100_000

    start_s, end_s = tracks[0]["first"]
    shown = page.evaluate(SEEK_VIDEO_JS, (start_s + end_s) / 2)
    assert shown["active"] and "creative" in " ".join(shown["active"]).lower(), shown
    assert shown["size"] == [640, 480]  # the picture decoded, so the cue is drawn over it
    page.wait_for_timeout(1000)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOT), full_page=True)
    print(f"\nscreenshot: {SCREENSHOT}")
    assert SCREENSHOT.stat().st_size > 10_000


def test_audio_shows_the_active_cue_below_the_player(page: Page) -> None:
    submit(page, AUDIO, task="transcribe", language="auto")
    page.wait_for_selector("#player-audio", timeout=JOB_TIMEOUT_MS)
    caption = page.evaluate(SEEK_AUDIO_JS)
    assert "vote" in caption.lower(), caption
    assert page.locator('a[data-format="video"]').count() == 0
    assert page.is_visible("#caption")
