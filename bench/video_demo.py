"""Video in, video out, measured (issue 4): a link from 127.0.0.1, two embedded tracks, burn-in, OCR.

    python bench/video_demo.py [--data ../shared/data] [--keep DIR]

Builds a 90 s MP4 (a test pattern under the shared 89 s LibriSpeech file), serves it from a local HTTP
server on 127.0.0.1, runs `ovsub transcribe URL --task transcribe,translate --embed --burn`, prints the
streams of the result (what ffprobe would show; the bundled ffmpeg has no ffprobe, so PyAV reads them),
times `ovsub.video.embed` alone against the transcription, and OCRs a burned frame with tesseract if installed.
"""

from __future__ import annotations

import argparse
import functools
import http.server
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import av

from ovsub.cli import main as ovsub_main
from ovsub.languages import track_title
from ovsub.video import SubtitleTrack, embed, extract_frame, ffmpeg_exe


def build_clip(audio: Path, out: Path) -> None:
    subprocess.run(
        [ffmpeg_exe(), "-nostdin", "-y", "-loglevel", "error", "-f", "lavfi", "-i", "testsrc2=s=640x360:r=25",
         "-i", str(audio), "-shortest", "-c:v", "libx264", "-preset", "veryfast", "-crf", "28", "-c:a", "aac",
         "-b:a", "96k", "-movflags", "+faststart", str(out)],
        check=True,
    )  # fmt: skip


def streams(path: Path) -> list[str]:
    with av.open(str(path), metadata_errors="replace") as c:
        return [
            f"#{s.index} {s.type:<8} {s.codec_context.name:<9} language={s.metadata.get('language', '-'):<4} "
            f"title={s.metadata.get('title') or s.metadata.get('handler_name') or '-'}"
            for s in c.streams
        ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared" / "data"))
    parser.add_argument("--keep", help="keep the outputs in this folder")
    args = parser.parse_args()
    work = Path(args.keep or tempfile.mkdtemp(prefix="ovsub-video-"))
    (work / "site").mkdir(parents=True, exist_ok=True)
    clip = work / "site" / "lecture.mp4"
    build_clip(Path(args.data) / "english/long/derived_librispeech_concat_10utt.flac", clip)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(work / "site"))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/lecture.mp4"
    out = work / "out"
    started = time.monotonic()
    rc = ovsub_main(["transcribe", url, "--task", "transcribe,translate", "--embed", "--burn", "-o", str(out),
                     "-f", "srt", "-q"])  # fmt: skip
    total_s = time.monotonic() - started
    server.shutdown()
    command = f"ovsub transcribe {url} --task transcribe,translate --embed --burn -o {out}"
    print(f"$ {command}  -> exit {rc}, {total_s:.1f} s")
    for name in ("lecture.subtitled.mp4", "lecture.burned.mp4"):
        print(f"\n{name}:")
        for line in streams(out / name):
            print("  " + line)
    tracks = [
        SubtitleTrack(out / "lecture.srt", "en", track_title("en", "transcribe"), True),
        SubtitleTrack(out / "lecture.en.srt", "en", track_title("en", "translate")),
    ]
    times = []
    for _ in range(3):
        t = time.monotonic()
        embed(clip, tracks, work / "embed-timing.mp4")
        times.append(time.monotonic() - t)
    print(f"\novsub.video.embed alone on the 90 s clip: median {sorted(times)[1]:.2f} s of the {total_s:.1f} s run")
    frame = extract_frame(out / "lecture.burned.mp4", 2.0, work / "burned-frame.png")
    print(f"burned frame at 2.0 s: {frame}")
    if shutil.which("tesseract"):
        ocr = subprocess.run(["tesseract", str(frame), "-", "--psm", "6"], capture_output=True, text=True)
        print("OCR of the burned frame:", " ".join(ocr.stdout.split()))
    first_cue = (out / "lecture.srt").read_text(encoding="utf-8").split("\n\n")[0]
    print("first cue of lecture.srt:", first_cue.replace("\n", " | "))


if __name__ == "__main__":
    main()
