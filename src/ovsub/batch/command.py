"""The ``ovsub batch`` subcommand; ``cli.py`` registers it with :func:`add_parser` and calls :func:`run`.

    ovsub batch INPUTS... -o OUT [--workers N] [--retry-failed] [--ray [ADDRESS]] [transcribe's options]
    ovsub batch --status OUT

It takes every option ``ovsub transcribe`` takes (the same generated flags, the same JobOptions), so a
batch makes exactly the files ``transcribe`` would, under OUT. Exit code 0 when every input is done, 1 when
any failed (in this run, or earlier and not retried), 2 for refused options; 130 when interrupted.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ovsub.errors import OvsubError


def add_parser(sub: Any, add_job_flags: Callable[[argparse.ArgumentParser], None]) -> argparse.ArgumentParser:
    """Register ``batch`` on the subparsers ``sub``; ``add_job_flags`` adds transcribe's output and model flags."""
    b: argparse.ArgumentParser = sub.add_parser(
        "batch", help="subtitle a whole archive, resumably, with a ledger in OUT",
        description="Subtitle files, folders (recursively) and text files listing paths or links, into OUT. "
        "Run the same command again to resume: done inputs are skipped, interrupted ones redone.",
    )  # fmt: skip
    b.add_argument("inputs", nargs="*", help="media files, folders, .txt files listing paths or links, links")
    b.add_argument("-o", "--output-dir", help="OUT: outputs (mirroring the input folders) and the ledger")
    b.add_argument("--status", metavar="OUT", help="show where the batch in OUT stands, then exit")
    b.add_argument("--workers", type=int, default=1, help="worker processes, each with one model (default 1)")
    b.add_argument("--retry-failed", action="store_true", help="run inputs that failed in an earlier run again")
    b.add_argument("--ray", nargs="?", const="", default=None, metavar="ADDRESS",
                   help="run the workers on Ray: a new local cluster, or the one at ADDRESS ('auto': the one "
                   "`ray start` runs here); needs pip install 'ovsub[cluster]'")  # fmt: skip
    add_job_flags(b)
    return b


def run(args: argparse.Namespace, job_from_args: Callable[[argparse.Namespace], Any]) -> int:
    """``ovsub batch``: see the module docstring."""
    if args.status:
        return _status(Path(args.status))
    if not args.inputs or not args.output_dir:
        print("ovsub batch: give INPUTS and -o OUT (or --status OUT)", file=sys.stderr)
        return 2
    if args.workers < 1:
        print(f"ovsub batch: --workers must be at least 1, not {args.workers}", file=sys.stderr)
        return 2
    try:
        job = job_from_args(args)
    except ValueError as e:
        print(f"ovsub batch: {e}", file=sys.stderr)
        return 2
    try:
        return _run(args, job)
    except OvsubError as e:
        print(f"ovsub batch: {e}", file=sys.stderr)
        return 1


def _run(args: argparse.Namespace, job: Any) -> int:
    from ovsub.batch import inputs, local, report
    from ovsub.batch.driver import run_batch

    out = Path(args.output_dir)
    entries = inputs.collect(args.inputs, out)
    if not entries:
        print("ovsub batch: no input files found", file=sys.stderr)
        return 1
    setup = local.worker_setup(job.model, job.transcribe.word_timestamps, args.workers)
    executor = local.make_executor(setup, args.ray or None, use_ray=args.ray is not None)

    def say(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    started = time.monotonic()
    progress = None if args.quiet else report.ArchiveProgress(say)
    tally = run_batch(entries, job, out, executor, retry_failed=args.retry_failed, event=progress)
    if not args.quiet:
        for line in report.summary(tally, time.monotonic() - started):
            say(line)
    return 1 if tally.failed else 0


def _status(out: Path) -> int:
    from ovsub.batch import report
    from ovsub.batch.ledger import LEDGER_NAME, open_ledger

    try:
        with open_ledger(out, create=False) as ledger:
            rows = ledger.rows()
    except OvsubError as e:
        print(f"ovsub batch: {e}", file=sys.stderr)
        return 1
    for line in report.status(rows, out / LEDGER_NAME):
        print(line)
    return 1 if any(r.state == "failed" for r in rows) else 0


__all__ = ["add_parser", "run"]
