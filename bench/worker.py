"""One engine in one process: load it, then decode on command and report JSON lines.

    python bench/worker.py fw-int8 --beams 5 --threads 2 --audio talk.flac --runs 3
        warm-up, 3 timed runs, then ONE JSON line: wall and CPU time of each run, peak RSS, the text
    python bench/worker.py fw-int8 --beams 5 --threads 2 --audio talk.flac --serve
        reads commands from stdin (warmup, run, wer, quit) and answers each with a JSON line, the last
        one (after quit) being that same summary; bench/run.py drives several workers this way to
        interleave their runs, so a burst of load on a shared machine hits every engine alike
    python bench/worker.py ovsub-fp16 --prepare
        converts and caches the model, nothing else

Why a process per engine: peak RSS (``ru_maxrss``) is a high-water mark of the whole process, and
two runtimes in one process would share thread pools and allocators. Timing starts when the engine
is handed samples (already decoded to 16 kHz by ovsub's media module, the same array for every
engine) and stops when the last segment is out; model loading is reported apart. With
``--time-decode`` the engine is handed the file instead and decodes it itself, as a user would.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import resource
import sys
import time
from pathlib import Path
from typing import Any, TextIO

import engines

KIB_PER_MIB = 1024  # ru_maxrss and VmRSS are in KiB on Linux


def peak_rss_mb() -> float:
    """The process's peak resident set so far, MiB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / KIB_PER_MIB


def current_rss_mb() -> float | None:
    """The process's resident set now, MiB (Linux only; None elsewhere)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / KIB_PER_MIB
    except OSError:
        pass
    return None


def cpu_s() -> float:
    """User + system CPU time this process has used, seconds (all its threads)."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _private_stdout() -> TextIO:
    """A stream to the real stdout; fd 1 itself is pointed at stderr so no library can garble the JSON lines."""
    out = os.fdopen(os.dup(1), "w", buffering=1)
    sys.stdout.flush()
    os.dup2(2, 1)
    return out


class Worker:
    """State of one engine's process: its adapter, the audio it times, and what it measured."""

    def __init__(self, args: argparse.Namespace) -> None:
        from ovsub.audio import media

        self.args = args
        self.settings = engines.Settings(
            beam_size=args.beams,
            threads=args.threads,
            language=None if args.language == "auto" else args.language,
            word_timestamps=args.word_timestamps == "on",
            vad=args.vad == "on",
        )
        started = time.perf_counter()
        self.audio = None if args.time_decode else media.load_audio(args.audio)
        self.decode_s = time.perf_counter() - started
        started = time.perf_counter()
        self.engine = engines.make(args.engine, self.settings)
        self.load_s = time.perf_counter() - started
        self.rss_after_load_mb = current_rss_mb()
        self.code = engines.code_fingerprint(args.engine)  # what was imported, give or take an edit in the last second
        self.ir = engines.ir_info(args.engine)
        self.runs: list[dict[str, float]] = []
        self.text = ""
        self.timed_peak_rss_mb: float | None = None
        self.rss_after_warmup_mb: float | None = None  # memory pools are allocated on first inference
        self.peak_rss_after_warmup_mb: float | None = None
        self.wer: dict[str, Any] | None = None

    def ready(self) -> dict[str, Any]:
        return {
            "event": "ready",
            "engine": self.args.engine,
            "load_s": round(self.load_s, 3),
            "audio_decode_s": None if self.audio is None else round(self.decode_s, 3),
            "rss_after_load_mb": self.rss_after_load_mb,
            "notes": self.engine.notes,
        }

    def warmup(self) -> dict[str, Any]:
        from ovsub.audio import media

        path = self.args.warmup_audio or self.args.audio
        audio = media.load_audio(path) if self.args.warmup_audio or self.audio is None else self.audio
        started = time.perf_counter()
        self.engine.transcribe(audio, path)
        wall = time.perf_counter() - started
        self.rss_after_warmup_mb, self.peak_rss_after_warmup_mb = current_rss_mb(), peak_rss_mb()
        return {"event": "warmup", "wall_s": round(wall, 3)}

    def run(self) -> dict[str, Any]:
        cpu0, started = cpu_s(), time.perf_counter()
        self.text = self.engine.transcribe(self.audio, self.args.audio)
        wall, cpu = time.perf_counter() - started, cpu_s() - cpu0
        self.runs.append({"wall_s": round(wall, 3), "cpu_s": round(cpu, 3)})
        self.timed_peak_rss_mb = peak_rss_mb()  # before any WER decoding, which could only add to it
        return {"event": "run", **self.runs[-1]}

    def decode_wer_set(self) -> dict[str, Any]:
        from ovsub.audio import media
        from ovsub.evaluation import corpus_wer, english_ground_truth

        clips = english_ground_truth(Path(self.args.wer_data))
        texts: dict[str, str] = {}
        started = time.perf_counter()
        for clip in clips:
            audio = media.load_audio(clip.path)
            texts[str(clip.path.relative_to(self.args.wer_data))] = self.engine.transcribe(audio, str(clip.path))
        wall = time.perf_counter() - started
        refs = {str(c.path.relative_to(self.args.wer_data)): c.reference for c in clips}
        self.wer = {
            "clips": len(clips),
            "audio_s": round(sum(c.duration_s for c in clips), 3),
            "ref_words": sum(len(r.split()) for r in refs.values()),
            "wer": corpus_wer((refs[k], texts[k]) for k in texts),
            "wall_s": round(wall, 3),
            "texts": texts,
        }
        return {"event": "wer", **{k: v for k, v in self.wer.items() if k != "texts"}}

    def summary(self) -> dict[str, Any]:
        return {
            "final": True,
            "ok": True,
            "engine": self.args.engine,
            "settings": dataclasses.asdict(self.settings),
            "notes": self.engine.notes,
            "ovsub_code": self.code,
            "ir": self.ir,
            "audio": self.args.audio,
            "load_s": round(self.load_s, 3),
            "rss_after_load_mb": self.rss_after_load_mb,
            "rss_after_warmup_mb": self.rss_after_warmup_mb,
            "peak_rss_after_warmup_mb": self.peak_rss_after_warmup_mb,
            "runs": self.runs,
            "peak_rss_mb": self.timed_peak_rss_mb,
            "peak_rss_total_mb": peak_rss_mb(),
            "text": self.text,
            "wer": self.wer,
        }


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    p.add_argument("engine", help="ovsub-int8, fw-float32, ... (see engines.py)")
    p.add_argument("--prepare", action="store_true", help="only convert/cache the model, then exit")
    p.add_argument("--audio", help="file to time")
    p.add_argument("--beams", type=int, default=5)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--language", default="en", help="ISO code to force, or 'auto'")
    p.add_argument("--word-timestamps", choices=("on", "off"), default="on")
    p.add_argument("--vad", choices=("on", "off"), default="off")
    p.add_argument("--time-decode", action="store_true", help="hand the engine the file, so decoding is timed too")
    p.add_argument("--warmup-audio", help="warm up on this file instead of the timed one (long inputs)")
    p.add_argument("--wer-data", help="with --runs: also decode the English ground-truth clips of this data folder")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--runs", type=int, help="warm up, time this many runs, print one JSON line, exit")
    mode.add_argument("--serve", action="store_true", help="take commands from stdin: warmup, run, wer, quit")
    args = p.parse_args(argv)
    if not args.prepare and not args.audio:
        p.error("--audio is required")
    if not args.prepare and args.runs is None and not args.serve:
        p.error("give --runs N or --serve")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    out = _private_stdout()

    def emit(obj: dict[str, Any]) -> None:
        out.write(json.dumps(obj) + "\n")
        out.flush()

    if args.prepare:
        engines.prepare(args.engine)
        return 0
    try:
        worker = Worker(args)
    except engines.EngineUnavailable as e:
        emit({"event": "unavailable", "final": True, "ok": False, "engine": args.engine, "reason": str(e)})
        return 0
    except Exception as e:  # a model that will not load: say so as data, as for a failed run
        emit({"event": "error", "final": True, "ok": False, "engine": args.engine, "error": f"{type(e).__name__}: {e}"})
        return 1
    if args.serve:
        emit(worker.ready())
        commands: Any = (line.strip() for line in sys.stdin)
    else:
        commands = ["warmup", *["run"] * args.runs, *(["wer"] if args.wer_data else []), "quit"]
    actions = {"warmup": worker.warmup, "run": worker.run, "wer": worker.decode_wer_set}
    try:
        for command in commands:
            if command == "quit":
                break
            if command not in actions:
                emit({"event": "error", "ok": False, "error": f"unknown command {command!r}"})
                continue
            reply = actions[command]()
            if args.serve:
                emit(reply)
        emit(worker.summary())
    except Exception as e:  # report any engine failure as data, so the driver can show it and go on
        emit({"event": "error", "final": True, "ok": False, "engine": args.engine, "error": f"{type(e).__name__}: {e}"})
        return 1
    finally:
        worker.engine.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
