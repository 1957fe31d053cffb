"""The ``ovsub`` command: ``main(argv) -> exit code``, testable in-process.

The CLI owns the terminal (progress bars, messages); library code only logs. Every input is
processed even if an earlier one failed, and the exit code is 0 only if all succeeded.

Its decoding, model and cue options are not written out here: they are generated from the option
dataclasses (``options.option_fields``), so every setting of the Python API has a flag with the same
default, bounds and error (``--beam-size``, ``--vad-threshold``, ``--max-compression-ratio``, ...).
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ovsub import __version__
from ovsub.batch import command as batch_command
from ovsub.errors import OvsubError
from ovsub.options import (
    PRECISIONS,
    TASKS,
    CueOptions,
    JobOptions,
    ModelOptions,
    OptionField,
    OutputOptions,
    TranscribeOptions,
    build,
    option_fields,
)

if TYPE_CHECKING:
    from ovsub.pipeline import Progress

log = logging.getLogger("ovsub")

PROGRESS_MIN_S = 10.0  # files shorter than this get no progress bar or lines
PROGRESS_INTERVAL_S = 10.0  # wall seconds between progress lines when stderr is not a terminal (a log, CI)
PROGRESS_INTERVAL_ENV = "OVSUB_PROGRESS_INTERVAL_S"  # overrides PROGRESS_INTERVAL_S (the tests use a short one)
OPTION_GROUPS = (  # the option dataclasses the transcribe command offers, with their help heading
    (TranscribeOptions, "decoding"),
    (ModelOptions, "model"),
    (CueOptions, "cue limits"),
)


def _list_of(choices: Sequence[str], what: str) -> Any:
    """An argparse type for a comma-separated list of ``choices`` ("srt,vtt")."""

    def parse(value: str) -> tuple[str, ...]:
        items = tuple(dict.fromkeys(v.strip().lower() for v in value.split(",") if v.strip()))
        bad = [v for v in items if v not in choices]
        if bad or not items:
            raise argparse.ArgumentTypeError(f"unknown {what} {', '.join(bad) or value!r}; use {','.join(choices)}")
        return items

    return parse


def _track(value: str) -> int | str:
    return int(value) if value.isdigit() else value


def _add_option(group: argparse._ArgumentGroup, f: OptionField) -> None:
    """One generated flag: ``--beam-size``, ``--no-vad``, ``--vad-threshold`` ..."""
    flags = ["--" + f.name.replace("_", "-"), *([f.short] if f.short else [])]
    bounds = [f"{f.min:g}" if f.min is not None else "", f"{f.max:g}" if f.max is not None else ""]
    detail = f" ({'..'.join(bounds)})" if any(bounds) else ""
    if f.type is bool:
        group.add_argument(*flags, dest=f.name, action=argparse.BooleanOptionalAction, default=None,
                           help=f"{f.help} (default: {'on' if f.default else 'off'})")  # fmt: skip
        return
    kind = f.type if f.type in (int, float) else str
    help_text = f"{f.help}{detail}" + (f" (default: {f.default})" if f.default is not None else "")
    group.add_argument(*flags, dest=f.name, type=kind, choices=f.choices, default=None, help=help_text)


def _add_generated(parser: argparse.ArgumentParser) -> None:
    groups: dict[str, argparse._ArgumentGroup] = {}
    for cls, title in OPTION_GROUPS:
        for f in option_fields(cls):
            heading = f.section or title
            if heading not in groups:
                groups[heading] = parser.add_argument_group(heading)
            _add_option(groups[heading], f)


def _generated(args: argparse.Namespace, cls: type) -> Any:
    """The options object of ``cls`` from the flags given; the rest at their defaults."""
    given = {f.name: getattr(args, f.name) for f in option_fields(cls) if getattr(args, f.name, None) is not None}
    return build(cls, given)


def _add_job_flags(p: argparse.ArgumentParser) -> None:
    """The flags of what is made of each input, shared by ``transcribe`` and ``batch``."""
    from ovsub.writers import FORMATS

    p.add_argument("-f", "--format", type=_list_of(tuple(FORMATS), "format"), default=("srt",),
                   help=f"comma-separated: {','.join(FORMATS)}")  # fmt: skip
    p.add_argument("--task", type=_list_of(TASKS, "task"), default=("transcribe",),
                   help="transcribe, translate (to English), or transcribe,translate")  # fmt: skip
    p.add_argument("--audio-track", type=_track, help="audio track by index (0-based) or language tag")
    p.add_argument("--all-audio-tracks", action="store_true",
                   help="subtitle every audio track (one subtitle track each)")  # fmt: skip
    p.add_argument("--karaoke", action="store_true", help="word-by-word highlighting in ASS/VTT")
    p.add_argument("--embed", action="store_true", help="also write the video with soft subtitle tracks")
    p.add_argument("--burn", action="store_true", help="also write the video with subtitles drawn on the picture")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress (bar or lines) and no summary")
    p.add_argument("-v", "--verbose", action="store_true", help="log details")
    _add_generated(p)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ovsub", description="Readable subtitles from video or audio, with Whisper on OpenVINO."
    )
    parser.add_argument("--version", action="version", version=f"ovsub {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    t = sub.add_parser("transcribe", help="make subtitles for files, folders or links")
    t.add_argument("inputs", nargs="+", help="media files, folders (searched recursively) or http(s) links")
    t.add_argument("-o", "--output-dir", help="write outputs here (default: next to each input)")
    _add_job_flags(t)
    batch_command.add_parser(sub, _add_job_flags)  # the same flags, so a batch makes what transcribe would

    m = sub.add_parser("models", help="list models and what is converted in the cache")
    m.add_argument("--cache-dir", help="where converted models are kept")
    m.add_argument("--convert", metavar="NAME", help="convert a model now (for offline use later)")
    m.add_argument("--precision", choices=PRECISIONS, default="int8")

    s = sub.add_parser("serve", help="start the local web app")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=8000)
    s.add_argument("--data-dir", help="where jobs and results are kept")
    s.add_argument(
        "--token",
        help="require this access token (set one when binding beyond localhost); other users see it in ps, "
        "so prefer --token-file or $OVSUB_TOKEN",
    )
    s.add_argument("--token-file", metavar="PATH", help="read the access token from this file")
    s.add_argument("--allow-private-urls", action="store_true", help="allow links to private network addresses")
    s.add_argument(
        "--allow-private-network",
        action="append",
        metavar="CIDR",
        help="allow links to this private network only, e.g. 10.0.0.5/32 (repeatable)",
    )
    s.add_argument("--model", default="base")
    s.add_argument("--cache-dir")
    s.add_argument("--no-token", action="store_true",
                   help="listen beyond localhost without a token (trusted networks only)")  # fmt: skip
    s.add_argument("--workers", type=int, help="jobs run at once (default 2)")
    s.add_argument("--max-queue", type=int, help="waiting jobs at most; more get HTTP 429 (default 8)")
    s.add_argument("--max-upload-mb", type=float, help="largest upload in MB (default 1024)")
    s.add_argument("--max-uploads", type=int, help="uploads received at once; more get HTTP 429 (default 4)")
    s.add_argument(
        "--upload-idle-timeout", type=float, metavar="SECONDS", help="drop an upload silent this long (default 30)"
    )
    s.add_argument(
        "--upload-timeout", type=float, metavar="SECONDS", help="drop an upload not in after this long (default 3600)"
    )
    s.add_argument("--max-jobs", type=int, help="finished jobs kept (default 50)")
    s.add_argument("--max-age-hours", type=float, help="delete finished jobs after this many hours (default 168)")
    return parser


def job_from_args(args: argparse.Namespace) -> JobOptions:
    """The JobOptions the transcribe command's flags ask for (OptionError when a value is refused)."""
    return JobOptions(
        tasks=args.task,
        transcribe=_generated(args, TranscribeOptions),
        model=_generated(args, ModelOptions),
        cues=_generated(args, CueOptions),
        output=OutputOptions(
            formats=args.format, output_dir=args.output_dir, karaoke=args.karaoke, embed=args.embed, burn=args.burn
        ),
        audio_track=args.audio_track,
        all_audio_tracks=args.all_audio_tracks,
    )


def expand_inputs(inputs: Sequence[str]) -> list[str]:
    """Files as given, folders expanded to the media files inside them, links kept."""
    from ovsub.audio.formats import MEDIA_EXTENSIONS
    from ovsub.download import is_url

    out: list[str] = []
    for item in inputs:
        path = Path(item)
        if not is_url(item) and path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in MEDIA_EXTENSIONS)
            if not found:
                log.warning("%s: no media files in this folder", item)
            out.extend(str(p) for p in found)
        else:
            out.append(item)
    return out


class _Progress:
    """A tqdm bar in seconds of media per stage, shown only on a terminal and for files long enough to need it."""

    def __init__(self, label: str, enabled: bool) -> None:
        self.label, self.enabled = label, enabled
        self.bar: Any = None
        self.stage = ""

    def __call__(self, progress: Any) -> None:
        if not self.enabled or progress.total_s < PROGRESS_MIN_S:
            return
        if self.bar is None or progress.stage != self.stage:
            self.close()
            from tqdm import tqdm

            self.stage = progress.stage
            desc = f"{self.label} ({progress.stage})"
            self.bar = tqdm(total=round(progress.total_s, 1), desc=desc, unit="s", leave=False, dynamic_ncols=True)
        self.bar.update(max(0.0, round(min(progress.done_s, progress.total_s) - self.bar.n, 1)))

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def _duration(seconds: float) -> str:
    """A wait as people say it.

    >>> _duration(53.4), _duration(250), _duration(7260)
    ('53 s', '4 min 10 s', '2 h 01 min')
    """
    s = round(seconds)
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"


def progress_line(label: str, progress: Progress, elapsed_s: float) -> str:
    """One progress line: the stage, seconds of media done of the total, and the speed and ETA once known.

    ``elapsed_s`` is the wall time since the stage began; the speed is the media seconds done per second of it.

    >>> from ovsub.pipeline import Progress
    >>> progress_line("talk.mp4", Progress("transcribing", 132.0, 600.0, 0.22), 14.8)
    'talk.mp4: transcribing 132.0/600.0 s (22 %), 8.9x real time, ETA 52 s'
    >>> progress_line("talk.mp4", Progress("transcribing", 0.0, 600.0, 0.0), 21.0)
    'talk.mp4: transcribing 0.0/600.0 s (0 %), 21 s so far'
    >>> progress_line("talk.mp4", Progress("embedding", 0.0, 0.0, 0.95), 0.0)
    'talk.mp4: embedding'
    """
    if progress.total_s <= 0:
        return f"{label}: {progress.stage}"
    done_s = min(max(progress.done_s, 0.0), progress.total_s)
    line = f"{label}: {progress.stage} {done_s:.1f}/{progress.total_s:.1f} s ({100 * done_s / progress.total_s:.0f} %)"
    if done_s <= 0 or elapsed_s <= 0:
        return line + (f", {_duration(elapsed_s)} so far" if elapsed_s >= 1 else "")
    speed = done_s / elapsed_s
    left_s = (progress.total_s - done_s) / speed
    return line + f", {speed:.1f}x real time" + (f", ETA {_duration(left_s)}" if left_s >= 0.5 else "")


class ProgressLines:
    """Progress as plain lines, for a log or CI where a bar cannot redraw: a line when a stage begins and ends,
    and one every ``interval_s`` of wall time in between (``clock`` is injectable for tests).

    Files shorter than PROGRESS_MIN_S get none; stages without a length (downloading, embedding) get their name.
    """

    def __init__(
        self,
        label: str,
        write: Callable[[str], None],
        interval_s: float = PROGRESS_INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.label, self.write, self.interval_s, self.clock = label, write, interval_s, clock
        self.stage: str | None = None
        self.stage_started_s = self.last_line_s = -math.inf
        self.unsaid: tuple[Progress, float] | None = None  # the latest progress not written yet, and when it came
        self.short = False  # the file is too short to report on

    def __call__(self, progress: Progress) -> None:
        self.short = self.short or 0 < progress.total_s < PROGRESS_MIN_S
        if self.short:
            return
        now = self.clock()
        if progress.stage != self.stage:
            self.close()  # the last word on the stage that ends
            self.stage, self.stage_started_s = progress.stage, now
            self._say(progress, now)
        elif now - self.last_line_s >= self.interval_s:
            self._say(progress, now)
        else:
            self.unsaid = (progress, now)

    def close(self) -> None:
        """Write the latest progress if it was not written (a stage's end, usually)."""
        if self.unsaid is not None and not self.short:
            self._say(*self.unsaid)

    def _say(self, progress: Progress, now: float) -> None:
        self.write(progress_line(self.label, progress, now - self.stage_started_s))
        self.last_line_s, self.unsaid = now, None


def _interval_s() -> float:
    """Seconds between progress lines: PROGRESS_INTERVAL_S, or the environment's OVSUB_PROGRESS_INTERVAL_S."""
    value = os.environ.get(PROGRESS_INTERVAL_ENV)
    try:
        return float(value) if value and float(value) > 0 else PROGRESS_INTERVAL_S
    except ValueError:
        log.warning("%s=%r is not a number of seconds; using %g", PROGRESS_INTERVAL_ENV, value, PROGRESS_INTERVAL_S)
        return PROGRESS_INTERVAL_S


def _reporter(label: str, quiet: bool) -> _Progress | ProgressLines | None:
    """A bar on a terminal, lines elsewhere (a log, CI, a service), nothing with -q."""
    if quiet:
        return None
    if sys.stderr.isatty():
        return _Progress(label, True)
    return ProgressLines(label, lambda line: print(line, file=sys.stderr, flush=True), _interval_s())


def _run_transcribe(args: argparse.Namespace) -> int:
    try:
        job = job_from_args(args)
    except ValueError as e:
        print(f"ovsub: {e}", file=sys.stderr)
        return 2
    inputs = expand_inputs(args.inputs)
    if not inputs:
        print("ovsub: no input files found", file=sys.stderr)
        return 1
    from ovsub import pipeline

    failures = 0
    for source in inputs:
        started = time.monotonic()
        reporter = _reporter(Path(source).name, args.quiet)
        try:
            result = pipeline.process(source, job, reporter)
        except OvsubError as e:
            failures += 1
            print(f"ovsub: {source}: {e}" if source not in str(e) else f"ovsub: {e}", file=sys.stderr)
            continue
        except Exception as e:  # a defect of ovsub's: say so, and go on with the other inputs
            failures += 1
            log.debug("%s: internal error", source, exc_info=True)
            print(f"ovsub: {source}: internal error ({type(e).__name__}: {e}); please report it "
                  "with this file (run with -v for the details)", file=sys.stderr)  # fmt: skip
            continue
        finally:
            if reporter is not None:
                reporter.close()
        if result.video_error:
            failures += 1
            print(f"ovsub: {result.video_error}", file=sys.stderr)
        if not args.quiet:
            took = time.monotonic() - started
            print(f"{source} -> {', '.join(str(p) for p in result.outputs)} ({took:.1f} s)", file=sys.stderr)
    if failures and len(inputs) > 1 and not args.quiet:
        print(f"ovsub: {failures} of {len(inputs)} inputs failed", file=sys.stderr)
    return 1 if failures else 0


def _run_batch(args: argparse.Namespace) -> int:
    return batch_command.run(args, job_from_args)


def _run_models(args: argparse.Namespace) -> int:
    from ovsub.whisper import models

    if args.convert:
        started = time.monotonic()
        try:
            options = ModelOptions(name=args.convert, precision=args.precision, cache_dir=args.cache_dir)
            path = models.ensure_model(options)
        except OvsubError as e:
            print(f"ovsub: {e}", file=sys.stderr)
            return 1
        print(f"{args.convert} ({args.precision}) ready in {path} ({time.monotonic() - started:.1f} s)")
        return 0
    print(f"cache: {models.cache_root(args.cache_dir)}")
    for row in models.list_models(args.cache_dir):
        cached = ", ".join(p for p, ok in row["cached"].items() if ok) or "not converted yet"
        state = "installed" if row["installed"] else "not installed"
        print(f"{row['name']:<10} {row['description']:<48} {state:<13} cached: {cached}")
    return 0


def _run_serve(args: argparse.Namespace) -> int:
    try:
        from ovsub.web import serve
    except ImportError as e:
        print(f"ovsub: the web app needs `pip install 'ovsub[web]'` ({e})", file=sys.stderr)
        return 1
    return serve(args)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    level = logging.DEBUG if getattr(args, "verbose", False) else logging.WARNING
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    handlers = {"transcribe": _run_transcribe, "models": _run_models, "serve": _run_serve, "batch": _run_batch}
    try:
        return handlers[args.command](args)
    except KeyboardInterrupt:
        print("ovsub: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
