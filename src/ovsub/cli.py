"""The ``ovsub`` command: ``main(argv) -> exit code``, testable in-process.

The CLI owns the terminal (progress bars, messages); library code only logs. Every input is
processed even if an earlier one failed, and the exit code is 0 only if all succeeded.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Sequence
from dataclasses import fields
from pathlib import Path
from typing import Any

from ovsub import __version__
from ovsub.errors import OvsubError
from ovsub.options import DECODERS, PRECISIONS, TASKS, CueOptions, ModelOptions, TranscribeOptions

log = logging.getLogger("ovsub")

OUTPUT_FORMATS = ("srt", "vtt", "ass", "json", "txt")
MEDIA_SUFFIXES = {  # what a folder given as input is searched for
    ".mp4", ".mkv", ".webm", ".mov", ".avi", ".m4v", ".mpg", ".mpeg", ".ts", ".flv", ".wmv",
    ".wav", ".flac", ".mp3", ".m4a", ".aac", ".ogg", ".opus", ".wma", ".aiff", ".aif",
}  # fmt: skip
PROGRESS_MIN_S = 10.0  # files shorter than this get no progress bar


def _formats(value: str) -> list[str]:
    formats = [f.strip().lower() for f in value.split(",") if f.strip()]
    bad = [f for f in formats if f not in OUTPUT_FORMATS]
    if bad or not formats:
        raise argparse.ArgumentTypeError(f"unknown format {', '.join(bad) or value!r}; use {','.join(OUTPUT_FORMATS)}")
    return formats


def _tasks(value: str) -> list[str]:
    tasks = [t.strip() for t in value.split(",") if t.strip()]
    if not tasks or any(t not in TASKS for t in tasks):
        raise argparse.ArgumentTypeError(f"task must be transcribe, translate or transcribe,translate, not {value!r}")
    return tasks


def _track(value: str) -> int | str:
    return int(value) if value.isdigit() else value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ovsub", description="Readable subtitles from video or audio, with Whisper on OpenVINO."
    )
    parser.add_argument("--version", action="version", version=f"ovsub {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    t = sub.add_parser("transcribe", help="make subtitles for files, folders or links")
    t.add_argument("inputs", nargs="+", help="media files, folders (searched recursively) or http(s) links")
    t.add_argument("-o", "--output-dir", help="write outputs here (default: next to each input)")
    t.add_argument("-f", "--format", type=_formats, default=["srt"], help="comma-separated: srt,vtt,ass,json,txt")
    t.add_argument("--task", type=_tasks, default=["transcribe"], help="transcribe, translate, or both")
    t.add_argument("--language", help="spoken language (ISO 639-1, e.g. de); detected when omitted")
    t.add_argument("-m", "--model", default="base", help="base, tiny.en, a model folder or a Hugging Face id")
    t.add_argument("--precision", choices=PRECISIONS, default="int8", help="weight precision of the IR")
    t.add_argument("--device", default="CPU", help="OpenVINO device: CPU, GPU, NPU, AUTO")
    t.add_argument("--threads", type=int, default=0, help="inference threads (0: automatic)")
    t.add_argument(
        "--decoder",
        choices=DECODERS,
        default="auto",
        help="decode loop: ovsub's own (fast beam search, batched windows), OpenVINO GenAI's, or auto (ovsub's "
        "wherever the model folder allows)",
    )
    t.add_argument("--beam-size", type=int, default=5, help="beams for beam search (1: greedy)")
    t.add_argument("--no-vad", action="store_true", help="decode everything, silence included")
    t.add_argument("--no-word-timestamps", action="store_true", help="faster, but cues are timed less finely")
    t.add_argument("--initial-prompt", help="text to condition on (names, spelling)")
    t.add_argument("--audio-track", type=_track, help="audio track by index (0-based) or language tag")
    t.add_argument("--all-audio-tracks", action="store_true", help="subtitle every audio track (one subtitle track each)")
    t.add_argument("--cache-dir", help="where converted models are kept")
    t.add_argument("--karaoke", action="store_true", help="word-by-word highlighting in ASS/VTT")
    t.add_argument("--embed", action="store_true", help="also write the video with soft subtitle tracks")
    t.add_argument("--burn", action="store_true", help="also write the video with subtitles drawn on the picture")
    t.add_argument("-q", "--quiet", action="store_true", help="no progress bars or summary")
    t.add_argument("-v", "--verbose", action="store_true", help="log details")
    defaults = CueOptions()
    g = t.add_argument_group("cue limits")
    g.add_argument("--max-line-chars", type=int, default=defaults.max_line_chars)
    g.add_argument("--max-lines", type=int, default=defaults.max_lines)
    g.add_argument("--max-cps", type=float, default=defaults.max_cps, help="reading speed, characters per second")
    g.add_argument("--min-duration-ms", type=int, default=defaults.min_duration_ms)
    g.add_argument("--max-duration-ms", type=int, default=defaults.max_duration_ms)
    g.add_argument("--min-gap-ms", type=int, default=defaults.min_gap_ms)
    g.add_argument("--max-pause-ms", type=int, default=defaults.max_pause_ms)

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
    s.add_argument("--no-token", action="store_true", help="listen beyond localhost without a token (trusted networks only)")
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


def expand_inputs(inputs: Sequence[str]) -> list[str]:
    """Files as given, folders expanded to the media files inside them, links kept."""
    out: list[str] = []
    for item in inputs:
        path = Path(item)
        if "://" not in item and path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in MEDIA_SUFFIXES)
            if not found:
                log.warning("%s: no media files in this folder", item)
            out.extend(str(p) for p in found)
        else:
            out.append(item)
    return out


class _Progress:
    """A tqdm bar in seconds of media, shown only on a terminal and for files long enough to need it."""

    def __init__(self, label: str, enabled: bool) -> None:
        self.label, self.enabled = label, enabled
        self.bar: Any = None

    def __call__(self, done_s: float, total_s: float) -> None:
        if not self.enabled or total_s < PROGRESS_MIN_S:
            return
        if self.bar is None:
            from tqdm import tqdm

            self.bar = tqdm(total=round(total_s, 1), desc=self.label, unit="s", leave=False, dynamic_ncols=True)
        self.bar.update(max(0.0, round(min(done_s, total_s) - self.bar.n, 1)))

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _run_transcribe(args: argparse.Namespace) -> int:
    try:
        topts = TranscribeOptions(
            task=args.task[0],
            language=args.language,
            beam_size=args.beam_size,
            word_timestamps=not args.no_word_timestamps,
            vad=not args.no_vad,
            initial_prompt=args.initial_prompt,
        )
        mopts = ModelOptions(
            name=args.model,
            precision=args.precision,
            device=args.device,
            threads=args.threads,
            cache_dir=args.cache_dir,
            decoder=args.decoder,
        )
        # Every CueOptions field the parser offers (--max-line-chars -> max_line_chars), the rest at defaults.
        copts = CueOptions(**{f.name: getattr(args, f.name) for f in fields(CueOptions) if hasattr(args, f.name)})
    except ValueError as e:
        print(f"ovsub: {e}", file=sys.stderr)
        return 2
    show = not args.quiet and sys.stderr.isatty()
    inputs = expand_inputs(args.inputs)
    if not inputs:
        print("ovsub: no input files found", file=sys.stderr)
        return 1
    failures = 0
    for source in inputs:
        started = time.monotonic()
        try:
            written = _process_one(source, args, topts, mopts, copts, show)
        except OvsubError as e:
            failures += 1
            print(f"ovsub: {source}: {e}" if source not in str(e) else f"ovsub: {e}", file=sys.stderr)
            continue
        except ValueError as e:  # bad option for this model (e.g. translate with an English-only model)
            failures += 1
            print(f"ovsub: {source}: {e}", file=sys.stderr)
            continue
        if not args.quiet:
            took = time.monotonic() - started
            print(f"{source} -> {', '.join(str(p) for p in written)} ({took:.1f} s)", file=sys.stderr)
    if failures and len(inputs) > 1 and not args.quiet:
        print(f"ovsub: {failures} of {len(inputs)} inputs failed", file=sys.stderr)
    return 1 if failures else 0


def _process_one(
    source: str,
    args: argparse.Namespace,
    topts: TranscribeOptions,
    mopts: ModelOptions,
    copts: CueOptions,
    show: bool,
) -> list[Path]:
    from dataclasses import replace

    from ovsub import pipeline

    local = source
    if "://" in source:
        from ovsub import download

        local = str(download.fetch(source, audio_only=not (args.embed or args.burn)))
    results = []
    written: list[Path] = []
    # Outputs go next to a local input, or into the current folder for a link (never into the download cache).
    out_dir = args.output_dir or (None if local == source else ".")
    tracks: list[int | str | None] = [args.audio_track]
    if args.all_audio_tracks:
        from ovsub import media

        tracks = list(range(len(media.probe(local).audio_streams))) or [None]
    for track in tracks:
        for task in args.task:
            label = f"{Path(local).name} ({task}{'' if track is None else f', track {track}'})"
            bar = _Progress(label, show)
            try:
                subs = pipeline.make_subtitles(
                    local, replace(topts, task=task), mopts, copts, stream=track, progress=bar
                )
            finally:
                bar.close()
            parts = [f"track{track}"] if args.all_audio_tracks else []
            if task == "translate" and len(args.task) > 1:
                parts.append("en")
            tag = ".".join(parts) or None
            written.extend(pipeline.write_outputs(subs, source, args.format, out_dir, tag, args.karaoke).values())
            results.append(subs)
    if args.embed or args.burn:
        written.extend(_video_outputs(local, source, results, args, out_dir))
    return written


def _video_outputs(
    video: str, source: str, results: list[Any], args: argparse.Namespace, out_dir: str | None
) -> list[Path]:
    """The video again with soft subtitle tracks (--embed) and/or subtitles drawn on it (--burn)."""
    from ovsub import mux, pipeline

    tracks = []
    for i, subs in enumerate(results):
        srt = subs.outputs.get("srt") or pipeline.write_outputs(subs, source, ["srt"], out_dir, f"{subs.task}{i}")["srt"]
        kind = "translation" if subs.task == "translate" else "transcription"
        language = subs.language or "und"
        title = f"{mux.language_name(language)} ({kind})" if language != "und" else kind
        tracks.append(mux.SubtitleTrack(path=Path(srt), language=language, title=title, default=i == 0))

    def target(suffix: str) -> Path:
        name = pipeline.output_path(source, out_dir, "x").with_suffix("").name  # the input's stem
        folder = Path(out_dir) if out_dir else Path(video).parent
        return folder / f"{name}.{suffix}{Path(video).suffix}"

    written = []
    if args.embed:
        written.append(mux.embed(Path(video), tracks, target("subtitled")))
    if args.burn:
        written.append(mux.burn(Path(video), tracks[0].path, target("burned"), language=tracks[0].language))
    return written


def _run_models(args: argparse.Namespace) -> int:
    from ovsub import models

    if args.convert:
        started = time.monotonic()
        try:
            path = models.ensure_model(ModelOptions(name=args.convert, precision=args.precision, cache_dir=args.cache_dir))
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
    handlers = {"transcribe": _run_transcribe, "models": _run_models, "serve": _run_serve}
    try:
        return handlers[args.command](args)
    except KeyboardInterrupt:
        print("ovsub: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
