"""Issue 12 item 1, "streaming input, flat memory": peak RSS of ``ovsub transcribe`` on 1 to 180 minutes of speech.

    python bench/memory.py --minutes 1,10,60,180 --out bench/results/memory-latest.md

Each length is built by bench/longform.py's recipe (bench/scale.py's builder: the English ground-truth clips in
turn, loudness as recorded, silence or background noise between them; seeded, so every run builds the same files;
cut at the length asked for rather than after whole passes) into a 16 kHz WAV in ``--cache-dir`` (never in the
repository; built once, reused while the recipe holds).
Each file is then transcribed by the command line at its defaults (``ovsub transcribe FILE -f srt,json``, language
detected, beam 5, VAD on, word timestamps) in a fresh process, and the process's peak resident set is read from
``wait4`` (``ru_maxrss`` of that child alone). Reported per length: audio length, wall time (model load included),
RTF, peak RSS, and the WER of the output against the clips' references (a check that the run transcribed all of
it). Peak RSS should not depend on the length: issue 12 asks for the 180-minute figure within 50 MB of the 1-minute
one (the table's last column).

``--fw`` also runs faster-whisper int8 (bench/engines.py's peer, its defaults, beam 5, 2 threads) on the shortest
file through bench/worker.py, as a reference for the footprint.

Results: Markdown to ``--out``, the raw figures as JSON beside it.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import longform
import report
import scale
from report import fmt

from ovsub.audio.media import load_audio  # noqa: E402  any media file -> float32 mono 16 kHz
from ovsub.evaluation import corpus_wer

KIB_PER_MIB = 1024  # ru_maxrss is in KiB on Linux
FLAT_WITHIN_MB = 50.0  # issue 12: the longest file's peak RSS within this of the shortest one's
DEFAULT_OUT = report.BENCH_DIR / "results" / "memory-latest.md"
DEFAULT_CACHE = longform.DEFAULT_CACHE  # the same built files as bench/longform.py
FORMATS = "srt,json"
# bench/longform.py's recipe, cut at the length asked for rather than after whole passes over the clips (one pass is
# already 5 minutes).
JOIN = dataclasses.replace(longform.LONG_JOIN, whole_passes=False)


def build(minutes: float, cache_dir: Path, data_dir: Path) -> tuple[Path, float, str]:
    """The ``minutes`` long file (built or from the cache), its length in seconds and its reference text."""
    clips = scale.english_clips(data_dir)
    arrays = [load_audio(c.path) for c in clips]
    noise = load_audio(data_dir / longform.NOISE_FILE)
    lengths = [a.size for a in arrays]
    names = [c.path.name.rsplit(".", 1)[0] for c in clips]
    pieces = scale.plan(lengths, minutes, JOIN, noise.size)
    key = ["memory", minutes, dataclasses.asdict(JOIN), names, str(longform.NOISE_FILE)]
    path = longform.write_cached(cache_dir, f"long-{minutes:g}min", pieces, arrays, noise, key)
    reference = " ".join(clips[p.clip].reference for p in pieces if p.kind == "clip")
    return path, (pieces[-1].end if pieces else 0) / scale.SAMPLE_RATE, reference


def run_ovsub(wav: Path, threads: int) -> dict[str, Any]:
    """``ovsub transcribe`` at its defaults in a fresh process: wall time, peak RSS (MiB) and the text it wrote."""
    with tempfile.TemporaryDirectory(prefix="ovsub-memory-") as out:
        command = [sys.executable, "-m", "ovsub", "transcribe", str(wav), "-o", out, "-f", FORMATS, "-q"]
        if threads:
            command += ["--threads", str(threads)]
        start = time.perf_counter()
        child = subprocess.Popen(command, stderr=subprocess.PIPE, env=report.worker_env(threads or 2))
        assert child.stderr is not None
        stderr = child.stderr.read()  # drained while it runs, so a chatty child never blocks on a full pipe
        _, status, usage = os.wait4(child.pid, 0)
        wall_s = time.perf_counter() - start
        child.returncode = os.waitstatus_to_exitcode(status)
        if child.returncode:
            raise RuntimeError(f"ovsub exited {child.returncode}: {stderr.decode(errors='replace')[-2000:]}")
        result = json.loads((Path(out) / f"{wav.stem}.json").read_text(encoding="utf-8"))
    text = " ".join(s["text"] for s in result["segments"])
    return {"wall_s": wall_s, "peak_rss_mb": usage.ru_maxrss / KIB_PER_MIB, "text": text,
            "segments": len(result["segments"]), "duration_s": result.get("duration_s")}  # fmt: skip


def run_fw(wav: Path, threads: int, data_dir: Path) -> dict[str, Any]:
    """faster-whisper int8 at its defaults (beam 5) on ``wav``, through bench/worker.py: peak RSS and wall time."""
    reply = report.run_worker_once(
        ["fw-int8", "--audio", str(wav), "--beams", "5", "--threads", str(threads or 2), "--language", "auto",
         "--runs", "1", "--time-decode", "--warmup-audio", str(data_dir / scale.WARMUP_CLIP)],
        threads or 2,
    )  # fmt: skip
    return reply


def render(rows: list[dict[str, Any]], fw: dict[str, Any] | None, args: argparse.Namespace) -> str:
    base = rows[0]["peak_rss_mb"] if rows else 0.0
    header = ["minutes", "audio s", "wall s", "RTF", "peak RSS MB", "vs shortest MB", "segments", "WER %"]
    table = [
        [f"{r['minutes']:g}", fmt(r["audio_s"], 1), fmt(r["wall_s"], 1), fmt(r["wall_s"] / r["audio_s"], 3),
         fmt(r["peak_rss_mb"], 0), f"{r['peak_rss_mb'] - base:+.0f}", str(r["segments"]), fmt(100 * r["wer"], 2)]
        for r in rows
    ]  # fmt: skip
    spread = max(r["peak_rss_mb"] for r in rows) - min(r["peak_rss_mb"] for r in rows) if rows else 0.0
    lines = [
        "# Peak memory against length (bench/memory.py)",
        "",
        f"`python bench/memory.py --minutes {','.join(f'{m:g}' for m in args.minutes)}` on "
        f"{dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC; `ovsub transcribe FILE -f {FORMATS}` at its "
        "defaults (model load included), a fresh process per file, peak RSS from wait4.",
        "",
        report.markdown_table(header, table),
        "",
        f"Spread of peak RSS over the lengths: {spread:.0f} MB (issue 12 asks for at most {FLAT_WITHIN_MB:.0f} MB): "
        + ("flat." if spread <= FLAT_WITHIN_MB else "NOT flat."),
    ]
    if fw and "error" in fw:
        lines += ["", f"faster-whisper int8 could not run: {fw['error']}"]
    elif fw:
        lines += ["", f"faster-whisper int8 (beam 5, its defaults, 2 threads) on the {rows[0]['minutes']:g}-minute "
                  f"file: peak RSS {fmt(fw.get('peak_rss_total_mb'), 0)} MB."]  # fmt: skip
    lines += ["", *report.machine_lines(args.load_start, report.load_average()), ""]
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="Peak RSS of ovsub transcribe against the length of the file.")
    p.add_argument("--minutes", default="1,10,60,180", help="lengths to build and transcribe, comma-separated")
    p.add_argument("--threads", type=int, default=2, help="inference threads (0: ovsub's automatic choice)")
    p.add_argument("--fw", action="store_true", help="also run faster-whisper int8 on the shortest file")
    p.add_argument("--data-dir", type=Path, default=report.DATA_DIR)
    p.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE, help="where built files are kept")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help="markdown output; raw JSON goes beside it")
    args = p.parse_args(argv)
    args.minutes = sorted(float(m) for m in args.minutes.split(",") if m.strip())
    if not args.minutes or args.minutes[0] <= 0:
        p.error("--minutes must be positive numbers")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    args.load_start = report.load_average()
    rows: list[dict[str, Any]] = []
    for minutes in args.minutes:
        wav, audio_s, reference = build(minutes, args.cache_dir, args.data_dir)
        print(f"{minutes:g} min: {wav} ({audio_s:.0f} s)", file=sys.stderr)
        run = run_ovsub(wav, args.threads)
        wer = corpus_wer([(reference, run.pop("text"))])
        rows.append({"minutes": minutes, "audio_s": audio_s, "file": str(wav), "wer": wer, **run})
        print(f"  wall {run['wall_s']:.1f} s, peak RSS {run['peak_rss_mb']:.0f} MB, WER {100 * wer:.2f} %",
              file=sys.stderr)  # fmt: skip
    fw = None
    if args.fw and rows:
        try:
            fw = run_fw(Path(rows[0]["file"]), args.threads, args.data_dir)
        except report.WorkerError as e:  # the reference is optional: keep ovsub's figures
            fw = {"error": str(e)[-500:]}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(render(rows, fw, args), encoding="utf-8")
    raw = {"rows": rows, "fw": fw, "threads": args.threads, "cpu": report.cpu_facts(), "versions": report.versions()}
    args.out.with_suffix(".json").write_text(json.dumps(raw, indent=2, default=str), encoding="utf-8")
    print(args.out.read_text(encoding="utf-8"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
