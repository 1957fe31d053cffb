"""Speed, memory and accuracy of ovsub against faster-whisper (and openai-whisper if present), fairly.

    python bench/run.py --beams 1,5 --threads 2 --runs 3 --wer --engines ovsub-int8,fw-int8,fw-float32

Every engine decodes the same samples with the same weights, beams, threads, language and
word-timestamp setting, each in its own process (bench/worker.py). For each beam setting the
workers are started together, warmed up once, and then timed round by round: engine A, B, C, then
B, C, A, ... so load from other jobs on a shared machine falls on every engine alike. The result is
a markdown table (printed and written to bench/results/latest.md) and the raw data beside it
(latest.json). See bench/README.md for what each column means.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time
from pathlib import Path
from typing import Any

import report
from report import fmt, median

DEFAULT_AUDIO = report.DATA_DIR / "english" / "long" / "derived_librispeech_concat_10utt.flac"  # 89 s, 10 utterances
DEFAULT_OUT = report.BENCH_DIR / "results" / "latest.md"
COLUMNS = (
    "engine",
    "beams",
    "wall s (median)",
    "min",
    "max",
    "RTF",
    "CPU s",
    "peak RSS MB",
    "load s",
    "WER %",
    "WER set s",
)


def _csv(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="Benchmark ovsub against faster-whisper on the same audio and weights.")
    p.add_argument("--engines", default="ovsub-int8,fw-int8,fw-float32", help="comma-separated (see engines.py)")
    p.add_argument("--beams", default="1,5", help="comma-separated beam sizes")
    p.add_argument("--threads", type=int, default=2, help="inference threads for every engine")
    p.add_argument("--runs", type=int, default=3, help="timed runs per engine and beam (after one warm-up)")
    p.add_argument("--audio", type=Path, default=DEFAULT_AUDIO, help="file to time")
    p.add_argument("--language", default="en", help="language forced on every engine ('auto' to detect)")
    p.add_argument("--word-timestamps", choices=("on", "off"), default="on", help="same setting for every engine")
    p.add_argument("--ovsub-vad", choices=("on", "off"), default="off", help="ovsub's Silero VAD before decoding")
    p.add_argument("--fw-vad", choices=("on", "off"), default="off", help="faster-whisper's vad_filter")
    p.add_argument("--wer", action="store_true", help="also decode the English ground-truth clips for corpus WER")
    p.add_argument("--data-dir", type=Path, default=report.DATA_DIR, help="shared data folder (for --wer)")
    p.add_argument(
        "--pause-s", type=float, default=1.0, help="idle seconds before each timed run (spinning threads settle)"
    )
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help="markdown output; the raw JSON goes beside it")
    args = p.parse_args(argv)
    args.engines = _csv(args.engines)
    args.beams = [int(b) for b in _csv(args.beams)]
    if args.runs < 1 or args.threads < 1 or not args.beams or min(args.beams) < 1 or not args.engines:
        p.error("--runs, --threads and every beam must be at least 1, and at least one engine is needed")
    import engines

    for name in args.engines:
        try:
            engines.parse_name(name)
        except ValueError as e:
            p.error(str(e))
    if not args.audio.is_file():
        p.error(f"--audio {args.audio}: no such file")
    if args.wer and not args.data_dir.is_dir():
        p.error(f"--data-dir {args.data_dir}: no such folder (needed by --wer)")
    return args


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def worker_args(args: argparse.Namespace, engine: str, beam: int) -> list[str]:
    vad = args.ovsub_vad if engine.startswith("ovsub") else args.fw_vad if engine.startswith("fw") else "off"
    out = [engine, "--audio", str(args.audio), "--beams", str(beam), "--threads", str(args.threads)]
    out += ["--language", args.language, "--word-timestamps", args.word_timestamps, "--vad", vad]
    if args.wer:
        out += ["--wer-data", str(args.data_dir)]
    return out


def measure_beam(args: argparse.Namespace, beam: int, results: dict[str, Any]) -> None:
    """Start every engine's worker for this beam setting, warm them up, and time them in rotating rounds."""
    live: dict[str, report.WorkerProcess] = {}
    try:
        for engine in args.engines:
            key = f"{engine}@{beam}"
            try:
                worker = report.WorkerProcess(worker_args(args, engine, beam), args.threads)
            except report.WorkerError as e:
                results[key] = {"ok": False, "error": str(e)}
                _log(f"{key}: failed to start: {e}")
                continue
            if worker.ready.get("event") == "unavailable":
                results[key] = worker.ready
                _log(f"{key}: skipped ({worker.ready['reason']})")
                worker.close()
                continue
            live[engine] = worker
            _log(f"{key}: loaded in {worker.ready['load_s']} s")

        def call(engine: str, command: str) -> dict[str, Any] | None:
            try:
                return live[engine].call(command)
            except report.WorkerError as e:
                results[f"{engine}@{beam}"] = {"ok": False, "error": str(e)}
                _log(f"{engine}@{beam}: {command} failed: {e}")
                live.pop(engine).close()
                return None

        for engine in list(live):
            reply = call(engine, "warmup")
            if reply:
                _log(f"{engine}@{beam}: warm-up {reply['wall_s']} s")
        for r in range(args.runs):
            names = list(live)
            for engine in names[r % len(names) :] + names[: r % len(names)] if names else []:
                time.sleep(args.pause_s)
                reply = call(engine, "run")
                if reply:
                    _log(f"{engine}@{beam}: run {r + 1}/{args.runs} {reply['wall_s']} s (CPU {reply['cpu_s']} s)")
        if args.wer:
            for engine in list(live):
                reply = call(engine, "wer")
                if reply:
                    _log(f"{engine}@{beam}: WER {100 * reply['wer']:.2f} % over {reply['clips']} clips")
        for engine in list(live):
            summary = call(engine, "quit")
            if summary:
                results[f"{engine}@{beam}"] = summary
    finally:
        for worker in live.values():
            worker.close()


def table_rows(args: argparse.Namespace, results: dict[str, Any], audio_s: float) -> tuple[list[str], list[list[str]]]:
    fw_engines = [e for e in args.engines if e.startswith("fw-")]
    header = [*COLUMNS, *(f"ovsub ÷ {e}" for e in fw_engines)]
    rows: list[list[str]] = []
    for beam in args.beams:
        for engine in args.engines:
            r = results.get(f"{engine}@{beam}", {})
            if not r.get("ok"):
                continue
            walls = [run["wall_s"] for run in r["runs"]]
            wall = median(walls)
            wer = r.get("wer")
            row = [
                engine,
                str(beam),
                fmt(wall),
                fmt(min(walls)),
                fmt(max(walls)),
                fmt(wall / audio_s, 3),
                fmt(median([run["cpu_s"] for run in r["runs"]])),
                fmt(r["peak_rss_mb"], 0),
                fmt(r["load_s"]),
                fmt(100 * wer["wer"]) if wer else "—",
                fmt(wer["wall_s"], 1) if wer else "—",
            ]
            for fw in fw_engines:
                other = results.get(f"{fw}@{beam}", {})
                if engine.startswith("ovsub-") and other.get("ok"):
                    row.append(fmt(wall / median([run["wall_s"] for run in other["runs"]])))
                else:
                    row.append("—")
            rows.append(row)
    return header, rows


def consistency_lines(results: dict[str, Any]) -> list[str]:
    """Which ovsub code and IR the workers ran, and a warning if that changed during the run (shared trees do)."""
    ok = [r for r in results.values() if r.get("ok")]
    codes = sorted({r.get("ovsub_code") for r in ok if r.get("ovsub_code")})
    irs = sorted({f"converter {r['ir']['converter']}, built {r['ir']['built']}" for r in ok if r.get("ir")})
    lines = [f"- ovsub source fingerprint {', '.join(codes)}; its IR: {'; '.join(irs) or '—'}"]
    if len(codes) > 1 or len(irs) > 1:
        changed = ", ".join(
            f"{k} {r['ovsub_code']} ({r['ir']['built']})" for k, r in results.items() if r.get("ok") and r.get("ir")
        )
        lines.append(f"- **WARNING: ovsub's code or IR changed during this run; its rows do not compare: {changed}**")
    return lines


def render(args: argparse.Namespace, results: dict[str, Any], audio_s: float, load_start: str, load_end: str) -> str:
    header, rows = table_rows(args, results, audio_s)
    try:
        audio_name = str(args.audio.resolve().relative_to(args.data_dir.resolve()))
    except ValueError:
        audio_name = str(args.audio)
    wt = "on" if args.word_timestamps == "on" else "off"
    lines = [
        f"# ovsub benchmark: {audio_name} ({audio_s:.1f} s)",
        "",
        f"Run {dt.datetime.now().strftime('%Y-%m-%d %H:%M')} with `python bench/run.py "
        + " ".join(sys.argv[1:])
        + "`. Model: Whisper base, the same bundled CTranslate2 weights for every engine "
        "(ovsub converts them to OpenVINO IR at the precision its name gives; faster-whisper reads them joined into "
        "a temporary model folder).",
        "",
        "## Machine",
        "",
        *report.machine_lines(load_start, load_end),
        "",
        "## Settings",
        "",
        f"- Language forced to `{args.language}` for every engine, for the timed file and for the English WER set.",
        f"- Word timestamps {wt} for every engine (ovsub needs them for cues; faster-whisper ran with "
        f"`word_timestamps={wt == 'on'}` too).",
        f"- {args.threads} threads for every engine (ovsub `INFERENCE_NUM_THREADS`, faster-whisper `cpu_threads`; "
        "OMP/MKL/OpenBLAS pools capped the same).",
        f"- VAD: ovsub {args.ovsub_vad}, faster-whisper `vad_filter` {args.fw_vad}.",
        f"- Each engine in its own process; per beam setting one warm-up, then {args.runs} timed run(s) per engine, "
        f"interleaved round by round with the engine order rotated each round, {args.pause_s:g} s idle before each "
        "run. Timed: 16 kHz samples in (decoded once by ovsub's media module, the same array for every engine) to "
        "the whole transcript out.",
    ]
    notes = {r["engine"]: r["notes"] for r in results.values() if r.get("ok") and r.get("notes")}
    lines += [f"- {engine}: {note}." for engine, note in notes.items()]
    lines += consistency_lines(results)
    lines += ["", "## Results", "", report.markdown_table(header, rows), ""]
    wer_info = next((r["wer"] for r in results.values() if r.get("ok") and r.get("wer")), None)
    lines += [
        "- wall s: seconds from samples in to transcript out, median of the timed runs (min, max beside it). "
        "RTF: median wall / audio length. CPU s: process CPU time per run (user + system, all threads), median.",
        "- peak RSS MB: the worker's `ru_maxrss` after its timed runs (model, runtime, audio and decoding). "
        "load s: model load (compile) time, not in wall.",
        "- ovsub ÷ fw-X: ovsub's median wall time over faster-whisper's at the same beams, in this run; "
        "below 1 means ovsub is faster.",
    ]
    if wer_info:
        lines.append(
            f"- WER %: corpus word error rate over the {wer_info['clips']} English ground-truth clips of the shared "
            f"data ({wer_info['audio_s']:.0f} s, {wer_info['ref_words']} reference words), Whisper's English "
            "normaliser; decoded after the timed runs, one engine at a time. WER set s: time to decode them all "
            "(short clips: fixed per-call costs show here)."
        )
    else:
        lines.append("- WER %: not measured (run with `--wer`).")
    skipped = {r["engine"]: r["reason"] for r in results.values() if r.get("event") == "unavailable"}
    lines += [f"- Skipped {engine}: {reason}." for engine, reason in skipped.items()]
    for key, r in results.items():
        if not r.get("ok") and r.get("event") != "unavailable":
            lines.append(f"- FAILED {key}: {str(r.get('error', '')).splitlines()[0]}")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from ovsub.audio import media

    load_start = report.load_average()
    audio_s = len(media.load_audio(args.audio)) / media.SAMPLE_RATE
    results: dict[str, Any] = {}
    for engine in args.engines:
        if engine.startswith("ovsub-"):
            _log(f"{engine}: preparing the model (converted once, cached)")
            try:
                report.run_worker_once([engine, "--prepare"], args.threads)
            except report.WorkerError as e:
                _log(f"{engine}: could not prepare the model: {e}")
    for beam in args.beams:
        measure_beam(args, beam, results)
    load_end = report.load_average()
    markdown = render(args, results, audio_s, load_start, load_end)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(markdown, encoding="utf-8")
    raw = {"argv": sys.argv[1:], "audio_s": audio_s, "load_start": load_start, "load_end": load_end, "results": results}
    args.out.with_suffix(".json").write_text(json.dumps(raw, indent=1, ensure_ascii=False), encoding="utf-8")
    print(markdown)
    failed = [k for k, r in results.items() if not r.get("ok") and r.get("event") != "unavailable"]
    return 1 if failed or not any(r.get("ok") for r in results.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
