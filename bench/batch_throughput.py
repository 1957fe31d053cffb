"""How much faster is ``ovsub batch`` with more workers, locally and on Ray? Files per minute on 20 short clips.

    python bench/batch_throughput.py --runs 3            # the three set-ups below, median of 3 runs each
    python bench/batch_throughput.py --runs 1 --files 4  # a quick check that it all works

Set-ups (each worker one model, one inference thread):

    1x1      ovsub batch --workers 1 --threads 1
    2x1      ovsub batch --workers 2 --threads 1              (two worker processes on this machine)
    ray 2x1  ovsub batch --workers 2 --threads 1 --ray        (two Ray actors on a new local cluster of 2 CPUs)

Each run is a whole ``ovsub batch`` into a fresh OUT, driven in this process exactly as the command does it
(``cli`` parses the flags, ``driver.run_batch`` keeps the ledger, the executor runs the workers), so the ledger,
the hashing and probing of inputs, process or cluster start and model loading all count in the total. The
start-up (everything before the first worker begins its first file: sync, workers or cluster started, models
loaded) is reported on its own, and the steady throughput is the audio done over the wall time after it, so the
ratios show what more workers give once loaded as well as in all. Runs of the set-ups alternate (run 1 of each,
then run 2 of each...), so a change in the machine's load touches them alike. Goal (issue 12): 2x1 >= 1.8x 1x1.

Writes bench/results/batch-throughput.md and .json (``--out``); the clips are read from the shared data by path.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import report
from report import fmt

DEFAULT_OUT = report.BENCH_DIR / "results" / "batch-throughput.md"
SETUPS = {  # name -> (workers, use Ray)
    "1x1": (1, False),
    "2x1": (2, False),
    "ray 2x1": (2, True),
}
BASELINE = "1x1"
GOAL = 1.8  # 2 workers against 1, issue 12
FLAGS = ["--threads", "1", "-q"]  # the rest as ovsub batch's defaults (model base int8, beam 5, language detected)


def clips(data_dir: Path, n: int) -> list[Path]:
    """``n`` short English clips, FLEURS and LibriSpeech in turn (each 3-20 s of real read speech)."""
    fleurs = sorted((data_dir / "english" / "fleurs").glob("*.ogg"))
    libri = sorted(p for p in (data_dir / "english" / "librispeech").iterdir() if p.suffix in (".flac", ".wav"))
    mixed = [p for pair in zip(fleurs, libri) for p in pair] + fleurs[len(libri) :] + libri[len(fleurs) :]
    if len(mixed) < n:
        raise SystemExit(f"only {len(mixed)} clips in {data_dir}/english/(fleurs|librispeech), {n} asked for")
    return mixed[:n]


@dataclass
class Run:
    """One ``ovsub batch`` run of one set-up."""

    setup: str
    total_s: float
    startup_s: float  # until the first worker began its first file
    files: int
    failed: int
    audio_s: float
    model_load_s: list[float] = field(default_factory=list)  # per Ray actor (the local executor does not say)

    @property
    def steady_s(self) -> float:
        return max(self.total_s - self.startup_s, 1e-9)

    def numbers(self) -> dict[str, float]:
        return {
            "total s": self.total_s,
            "start-up s": self.startup_s,
            "files/min": self.files / self.total_s * 60,
            "audio s/s": self.audio_s / self.total_s,
            "steady files/min": self.files / self.steady_s * 60,
            "steady audio s/s": self.audio_s / self.steady_s,
        }


def run_once(name: str, sources: list[Path], out: Path) -> Run:
    """``ovsub batch SOURCES -o OUT --workers N --threads 1 [--ray]``, timed (see the module docstring)."""
    from ovsub import cli
    from ovsub.batch import inputs, local
    from ovsub.batch.driver import run_batch

    workers, use_ray = SETUPS[name]
    argv = ["batch", *map(str, sources), "-o", str(out), "--workers", str(workers), *FLAGS]
    args = cli.build_parser().parse_args(argv + (["--ray"] if use_ray else []))
    first_work: list[float] = []  # when the first file done began: its done time less its worker time

    def event(kind: str, row: Any, tally: Any) -> None:
        if kind == "done" and not first_work:
            first_work.append(time.monotonic() - (row.wall_s or 0.0))

    started = time.monotonic()
    job = cli.job_from_args(args)
    setup = local.worker_setup(job.model, job.transcribe.word_timestamps, workers)
    executor = local.make_executor(setup, None, use_ray=use_ray)
    tally = run_batch(inputs.collect(args.inputs, out), job, out, executor, event=event)
    total = time.monotonic() - started
    startup = (first_work[0] - started) if first_work else total
    return Run(name, total, startup, tally.done, len(tally.failed), tally.audio_done_s,
               list(getattr(executor, "load_s", [])))  # fmt: skip


def summarize(runs: list[Run], names: list[str]) -> dict[str, dict[str, Any]]:
    """Per set-up, the median of each number over its runs, and the ratios to the baseline's medians."""
    table: dict[str, dict[str, Any]] = {}
    for name in names:
        mine = [r for r in runs if r.setup == name]
        keys = mine[0].numbers().keys()
        table[name] = {k: report.median([r.numbers()[k] for r in mine]) for k in keys}
        loads = [s for r in mine for s in r.model_load_s]
        table[name]["model load s"] = report.median(loads) if loads else None
        table[name]["failed"] = float(sum(r.failed for r in mine))
    base = table.get(BASELINE)
    for row in table.values():
        row["x total"] = row["files/min"] / base["files/min"] if base else None
        row["x steady"] = row["steady files/min"] / base["steady files/min"] if base else None
    return table


COLUMNS = ["set-up", "files/min", "audio s/s", "x 1x1", "steady files/min", "steady audio s/s", "x 1x1 steady",
           "start-up s", "model load s", "total s", "failed"]  # fmt: skip


def markdown(table: dict[str, dict[str, Any]], meta: dict[str, Any]) -> str:
    rows = []
    for name, r in table.items():
        rows.append([name, fmt(r["files/min"], 1), fmt(r["audio s/s"], 2), fmt(r["x total"], 2),
                     fmt(r["steady files/min"], 1), fmt(r["steady audio s/s"], 2), fmt(r["x steady"], 2),
                     fmt(r["start-up s"], 1), fmt(r["model load s"], 1), fmt(r["total s"], 1),
                     str(int(r["failed"]))])  # fmt: skip
    lines = [
        "# ovsub batch: throughput with 1 and 2 workers, locally and on Ray",
        "",
        f"Run {meta['date']} with `python bench/batch_throughput.py {' '.join(meta['argv'])}`.",
        "",
        "## Machine",
        "",
        *report.machine_lines(meta["load_start"], meta["load_end"]),
        "",
        "## Settings",
        "",
        f"- {meta['files']} clips, {meta['audio_s']:.1f} s of audio: English FLEURS and LibriSpeech in turn, read "
        "from the shared data by path.",
        f"- `ovsub batch CLIPS -o OUT --workers N {' '.join(FLAGS)} [--ray]`: Whisper base int8, beam 5, the "
        "language detected, SRT out; a fresh OUT per run. Ray: a new local cluster of `workers` CPUs per run.",
        f"- Median of {meta['runs']} run(s) per set-up; set-ups alternate within each round.",
        "",
        "## Results",
        "",
        report.markdown_table(COLUMNS, rows),
        "",
        "- files/min, audio s/s: over the whole run (ledger, workers or cluster started, models loaded, all files).",
        "- steady: after the start-up (until the first worker began its first file), i.e. with the models loaded.",
        "- model load s: each Ray actor's model loading, median (inside the start-up; local workers do not report it).",
        *goal_lines(table),
    ]
    return "\n".join(lines) + "\n"


def goal_lines(table: dict[str, dict[str, Any]]) -> list[str]:
    out = []
    for name in ("2x1", "ray 2x1"):
        if name in table and BASELINE in table:
            r = table[name]
            ok = "meets" if r["x steady"] >= GOAL else "misses"
            out.append(f"- {name} against 1x1: x{r['x total']:.2f} in all, x{r['x steady']:.2f} steady ({ok} the "
                       f"goal of x{GOAL} steady).")  # fmt: skip
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="runs per set-up (the median is reported)")
    parser.add_argument("--files", type=int, default=20, help="clips per run")
    parser.add_argument("--setups", default=",".join(SETUPS), help=f"comma-separated, of: {', '.join(SETUPS)}")
    parser.add_argument("--data", type=Path, default=report.DATA_DIR, help="the shared data folder")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="the Markdown report (JSON beside it)")
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.setups.split(",") if n.strip()]
    unknown = [n for n in names if n not in SETUPS]
    if unknown or not names:
        parser.error(f"unknown set-up {', '.join(unknown) or '(none)'}; use {', '.join(SETUPS)}")
    logging.basicConfig(level=logging.WARNING)
    sources = clips(args.data, args.files)
    load_start, runs = report.load_average(), []
    for round_ in range(args.runs):
        for name in names:
            with tempfile.TemporaryDirectory(prefix="ovsub-batch-bench-") as out:
                run = run_once(name, sources, Path(out))
            runs.append(run)
            print(f"round {round_ + 1}, {name}: {run.files} files in {run.total_s:.1f} s (start-up "
                  f"{run.startup_s:.1f} s)", file=sys.stderr, flush=True)  # fmt: skip
    table = summarize(runs, names)
    audio_s = max((r.audio_s for r in runs), default=0.0)
    meta = {"date": dt.datetime.now().strftime("%Y-%m-%d %H:%M"), "argv": argv if argv is not None else sys.argv[1:],
            "load_start": load_start, "load_end": report.load_average(), "runs": args.runs, "files": len(sources),
            "audio_s": audio_s}  # fmt: skip
    text = markdown(table, meta)
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    raw = {"meta": {**meta, "clips": [str(p) for p in sources], "versions": report.versions()},
           "summary": table, "runs": [vars(r) for r in runs]}  # fmt: skip
    args.out.with_suffix(".json").write_text(json.dumps(raw, indent=2, default=str), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
