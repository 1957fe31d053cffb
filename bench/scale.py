"""Does ovsub scale? Wall time, RTF and peak memory on 1, 10 and 60 minutes of real speech.

    python bench/scale.py --sizes 1,10,60

Each size is built by concatenating the shared English ground-truth clips (cycling through them,
each brought to the same loudness) with 0.5-1 s of silence between clips, into a temporary 16 kHz
WAV (never in the repository), so its reference transcript is known. Each size is then
transcribed by ovsub's own default path (VAD on, beam 5, word timestamps; file in, so decoding the
media is timed too) in a process of its own, after a warm-up on a short clip. Time should grow
linearly with length (RTF flat) and peak memory only by the decoded samples (3.7 MiB per minute of
float32 at 16 kHz).

The builder (plan -> lay_out -> write_wav, shaped by JoinOptions) also serves bench/longform.py, whose files keep
each clip's loudness as recorded and put noise in some of the gaps; the plan it returns says where every piece is.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import sys
import tempfile
import wave
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import report
from report import fmt

if TYPE_CHECKING:
    from ovsub.evaluation import Clip

SAMPLE_RATE = 16000  # Hz, what ovsub decodes to
SILENCE_S = (0.5, 1.0)  # range of the pause put between two clips, seconds
SEED = 6  # for the pause lengths: every run builds the same files
NOISE_S = (1.2, 3.0)  # range of a noise gap's length, when JoinOptions asks for noise between clips
# Every clip is brought to this RMS level (about -26 dBFS, peaks kept below full scale). The shared clips
# differ by up to 45 dB (several FLEURS recordings sit near -65 dBFS); joined as they are, a quiet clip after
# a loud one is skipped in long-form decoding by every engine tried (ovsub and faster-whisper alike, though
# each decodes it alone), which would make WER measure level jumps instead of length.
TARGET_RMS = 0.05
PEAK_LIMIT = 0.99
BYTES_PER_SAMPLE_F32 = 4  # ovsub holds decoded audio as float32
MIB = 1024 * 1024
WARMUP_CLIP = Path("english") / "other" / "jfk.flac"  # 11 s, relative to the data folder
DEFAULT_OUT = report.BENCH_DIR / "results" / "scale-latest.md"


def source_clips(data_dir: Path) -> list[tuple[np.ndarray, str]]:
    """The English ground-truth clips as (samples, reference); the derived long file is left out (it repeats them)."""
    from ovsub.audio import media

    return [(media.load_audio(c.path), c.reference) for c in english_clips(data_dir)]


def english_clips(data_dir: Path) -> list[Clip]:
    """The English ground-truth clips, without the derived long file (it only repeats them)."""
    from ovsub.evaluation import english_ground_truth

    return [c for c in english_ground_truth(data_dir) if "long" not in c.path.parts]


def level(samples: np.ndarray) -> np.ndarray:
    """The clip scaled to TARGET_RMS, or less if that would push a peak past PEAK_LIMIT."""
    rms = float(np.sqrt(np.mean(np.square(samples, dtype=np.float64)))) if samples.size else 0.0
    peak = float(np.max(np.abs(samples))) if samples.size else 0.0
    if rms == 0.0:
        return samples
    return samples * min(TARGET_RMS / rms, PEAK_LIMIT / peak)


# -- Joining clips into one long file ------------------------------------------------------------------------------
#
# A file is planned first, as a list of Pieces (clip, silence or noise, in samples), then written. The plan is the
# ground truth a benchmark scores against: where every clip occurrence starts and ends, what lies between them.


@dataclass(frozen=True)
class JoinOptions:
    """How clips are joined into one long file; the defaults make this script's own files."""

    levelled: bool = True  # bring every clip to TARGET_RMS (False keeps each clip's loudness as recorded)
    silence_s: tuple[float, float] = SILENCE_S  # range of a silent gap's length, drawn uniformly
    noise_share: float = 0.0  # chance that a gap holds noise instead of silence
    noise_s: tuple[float, float] = NOISE_S  # range of a noise gap's length, drawn uniformly
    whole_passes: bool = False  # stop only at the end of a pass over all clips, so each is heard equally often
    shuffle_after: int | None = None  # passes after this many take the clips in a seeded random order (None: never)
    seed: int = SEED

    def __post_init__(self) -> None:
        for name in ("silence_s", "noise_s"):
            low, high = getattr(self, name)
            if not 0.0 <= low <= high:
                raise ValueError(f"{name} must be a range 0 <= low <= high, not {low}..{high}")
        if not 0.0 <= self.noise_share <= 1.0:
            raise ValueError(f"noise_share must be between 0 and 1, not {self.noise_share}")


@dataclass(frozen=True)
class Piece:
    """One stretch of a built file, in samples at SAMPLE_RATE."""

    kind: str  # "clip", "silence" or "noise"
    start: int  # first sample in the built file
    end: int  # one past the last sample
    clip: int = -1  # for a clip: its index in the clip list
    source_start: int = 0  # for noise: where in the (looped) noise recording this piece starts

    @property
    def start_s(self) -> float:
        return self.start / SAMPLE_RATE

    @property
    def end_s(self) -> float:
        return self.end / SAMPLE_RATE


Gap = tuple[str, int, int]  # kind ("silence" or "noise"), length in samples, where it starts in the noise recording


def draw_gap(rng: random.Random, options: JoinOptions, noise_samples: int) -> Gap:
    """One gap between clips: silence, or (with chance noise_share) a stretch of the looped noise recording."""
    if options.noise_share and noise_samples and rng.random() < options.noise_share:
        length = int(rng.uniform(*options.noise_s) * SAMPLE_RATE)
        return "noise", length, rng.randrange(noise_samples)
    return "silence", int(rng.uniform(*options.silence_s) * SAMPLE_RATE), 0


def clip_order(lengths: Sequence[int], minutes: float, options: JoinOptions, rng: random.Random) -> list[int]:
    """Which clip comes when. Cycles through the clips until ``minutes`` are reached, or with whole_passes,
    for the number of whole passes whose expected length (gaps included) comes nearest to it (at least one).

    >>> clip_order([SAMPLE_RATE * 29] * 3, 3.0, JoinOptions(whole_passes=True), random.Random(0))
    [0, 1, 2, 0, 1, 2]
    """
    if not lengths:
        return []
    target = int(minutes * 60 * SAMPLE_RATE)
    if options.whole_passes:
        noise_s, silence_s = sum(options.noise_s) / 2, sum(options.silence_s) / 2
        mean_gap = options.noise_share * noise_s + (1 - options.noise_share) * silence_s
        passes = max(1, round(target / (sum(lengths) + len(lengths) * mean_gap * SAMPLE_RATE)))
    else:  # enough passes, cut below
        passes = target // max(min(lengths), 1) // len(lengths) + 1
    order: list[int] = []
    for k in range(passes):
        one_pass = list(range(len(lengths)))
        if options.shuffle_after is not None and k >= options.shuffle_after:
            rng.shuffle(one_pass)
        order += one_pass
    return order


def lay_out(order: Sequence[int], lengths: Sequence[int], gaps: Sequence[Gap]) -> list[Piece]:
    """The pieces of a file: gap i, then clip order[i]; gaps beyond the clips go at the end.

    >>> [(p.kind, p.start, p.end) for p in lay_out([1], [5, 7], [("silence", 3, 0), ("noise", 2, 4)])]
    [('silence', 0, 3), ('clip', 3, 10), ('noise', 10, 12)]
    """
    pieces: list[Piece] = []
    at = 0
    for i, gap in enumerate(gaps):
        kind, length, source_start = gap
        if length:
            pieces.append(Piece(kind, at, at + length, source_start=source_start))
            at += length
        if i < len(order):
            pieces.append(Piece("clip", at, at + lengths[order[i]], clip=order[i]))
            at += lengths[order[i]]
    return pieces


def plan(lengths: Sequence[int], minutes: float, options: JoinOptions, noise_samples: int = 0) -> list[Piece]:
    """Clips of these lengths (samples) joined into about ``minutes``, a gap before each clip (seeded, repeatable)."""
    rng = random.Random(options.seed)
    order = clip_order(lengths, minutes, options, rng)
    target = int(minutes * 60 * SAMPLE_RATE)
    gaps: list[Gap] = []
    written = 0
    for clip in order:
        if written >= target and not options.whole_passes:
            break
        gaps.append(draw_gap(rng, options, noise_samples))
        written += gaps[-1][1] + lengths[clip]
    return lay_out(order[: len(gaps)], lengths, gaps)


def write_wav(path: Path, pieces: Sequence[Piece], clips: Sequence[np.ndarray], noise: np.ndarray | None,
              levelled: bool) -> None:
    """Write the planned pieces as a 16 kHz 16-bit mono WAV, one piece at a time (a long file never sits in memory)."""
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(SAMPLE_RATE)
        for piece in pieces:
            if piece.kind == "clip":
                samples = level(clips[piece.clip]) if levelled else clips[piece.clip]
            elif piece.kind == "noise" and noise is not None and noise.size:
                samples = np.take(noise, np.arange(piece.start, piece.end) - piece.start + piece.source_start,
                                  mode="wrap")
            else:
                samples = np.zeros(piece.end - piece.start, dtype=np.float32)
            out.writeframes((np.clip(samples, -1.0, 1.0) * 32767).astype("<i2").tobytes())


def build_audio(path: Path, minutes: float, clips: list[tuple[np.ndarray, str]],
                options: JoinOptions = JoinOptions(), noise: np.ndarray | None = None) -> tuple[float, str]:
    """Write ``minutes`` of speech to a 16-bit WAV at ``path``; return its length in seconds and its reference."""
    pieces = plan([samples.size for samples, _ in clips], minutes, options, 0 if noise is None else noise.size)
    write_wav(path, pieces, [samples for samples, _ in clips], noise, options.levelled)
    references = [clips[p.clip][1] for p in pieces if p.kind == "clip"]
    return (pieces[-1].end if pieces else 0) / SAMPLE_RATE, " ".join(references)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="Check that ovsub's time grows linearly and its memory stays flat.")
    p.add_argument("--sizes", default="1,10,60", help="minutes of speech, comma-separated")
    p.add_argument("--engine", default="ovsub-int8", help="engine to run (see engines.py)")
    p.add_argument("--beams", type=int, default=5, help="beams (ovsub's default is 5)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--vad", choices=("on", "off"), default="on", help="VAD (on in ovsub's default path)")
    p.add_argument("--word-timestamps", choices=("on", "off"), default="on")
    p.add_argument("--data-dir", type=Path, default=report.DATA_DIR)
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help="markdown output; raw JSON goes beside it")
    args = p.parse_args(argv)
    args.sizes = [float(s) for s in args.sizes.split(",") if s.strip()]
    if not args.sizes or min(args.sizes) <= 0:
        p.error("--sizes must be positive numbers of minutes")
    return args


def measure(args: argparse.Namespace, wav: Path) -> dict[str, Any]:
    worker_args = [args.engine, "--audio", str(wav), "--beams", str(args.beams), "--threads", str(args.threads)]
    worker_args += ["--language", "en", "--word-timestamps", args.word_timestamps, "--vad", args.vad]
    worker_args += ["--runs", "1", "--time-decode", "--warmup-audio", str(args.data_dir / WARMUP_CLIP)]
    return report.run_worker_once(worker_args, args.threads)


def render(args: argparse.Namespace, rows_data: list[dict[str, Any]], load_start: str, load_end: str) -> str:
    header = [
        "minutes",
        "audio s",
        "wall s",
        "RTF",
        "CPU s",
        "RSS after load MB",
        "peak RSS after warm-up MB",
        "peak RSS MB",
        "growth MB",
        "samples MB",
        "WER %",
    ]
    rows = []
    for d in rows_data:
        r = d["result"]
        if not r.get("ok"):
            rows.append([f"{d['minutes']:g}", fmt(d["audio_s"], 1), "FAILED", *["—"] * 8])
            continue
        wall = r["runs"][0]["wall_s"]
        warm_peak = r.get("peak_rss_after_warmup_mb")
        rows.append(
            [
                f"{d['minutes']:g}",
                fmt(d["audio_s"], 1),
                fmt(wall, 1),
                fmt(wall / d["audio_s"], 3),
                fmt(r["runs"][0]["cpu_s"], 1),
                fmt(r.get("rss_after_load_mb"), 0),
                fmt(warm_peak, 0),
                fmt(r["peak_rss_mb"], 0),
                fmt(r["peak_rss_mb"] - warm_peak, 0) if warm_peak else "—",
                fmt(d["audio_s"] * SAMPLE_RATE * BYTES_PER_SAMPLE_F32 / MIB, 0),
                fmt(100 * d["wer"]),
            ]
        )
    ok = [d for d in rows_data if d["result"].get("ok")]
    checks = []
    if len(ok) > 1:
        a = ok[0]
        for b in ok[1:]:
            wall_a, wall_b = a["result"]["runs"][0]["wall_s"], b["result"]["runs"][0]["wall_s"]
            rss_a, rss_b = a["result"]["peak_rss_mb"], b["result"]["peak_rss_mb"]
            samples_mb = (b["audio_s"] - a["audio_s"]) * SAMPLE_RATE * BYTES_PER_SAMPLE_F32 / MIB
            checks.append(
                f"- {a['minutes']:g} → {b['minutes']:g} min: audio ×{b['audio_s'] / a['audio_s']:.1f}, "
                f"wall ×{wall_b / wall_a:.1f} (linear would be ×{b['audio_s'] / a['audio_s']:.1f}); peak RSS "
                f"+{rss_b - rss_a:.0f} MB, of which the decoded samples account for {samples_mb:.0f} MB."
            )
    engine_note = next((d["result"].get("notes") for d in ok), None)
    codes = sorted({str(d["result"].get("ovsub_code")) for d in ok})
    irs = sorted({f"converter {d['result']['ir']['converter']}, built {d['result']['ir']['built']}" for d in ok})
    lines = [
        "# ovsub scaling: time and memory against length",
        "",
        f"Run {dt.datetime.now().strftime('%Y-%m-%d %H:%M')} with `python bench/scale.py {' '.join(sys.argv[1:])}`.",
        "",
        "## Machine",
        "",
        *report.machine_lines(load_start, load_end),
        "",
        "## Settings",
        "",
        f"- Audio: the shared English ground-truth clips (without the derived long file), each levelled to RMS "
        f"{TARGET_RMS} (peaks under {PEAK_LIMIT}), cycled and joined with {SILENCE_S[0]}-{SILENCE_S[1]} s silences "
        "into a 16 kHz 16-bit WAV per size, in a temporary folder.",
        f"- {args.engine}, Whisper base, beams {args.beams}, {args.threads} threads, language forced to `en`, word "
        f"timestamps {args.word_timestamps}, VAD {args.vad}. {engine_note or ''}",
        "- One process per size; warm-up on an 11 s clip, then one timed run from the file path to the last segment "
        "(media decoding included).",
        f"- ovsub source fingerprint {', '.join(codes)}; IR {'; '.join(irs)}"
        + (" (**WARNING: changed during the run**)" if len(codes) > 1 or len(irs) > 1 else ""),
        "",
        "## Results",
        "",
        report.markdown_table(header, rows),
        "",
        "- RSS after load: resident memory with the model loaded, before any audio. peak RSS after warm-up: "
        "`ru_maxrss` once the 11 s warm-up has allocated the runtime's buffers. peak RSS: `ru_maxrss` at the end; "
        "growth: the difference, what this length added. samples MB: what the decoded float32 audio itself takes.",
        "- WER %: against the joined references, Whisper's English normaliser.",
        *checks,
        *(
            f"- FAILED {d['minutes']:g} min: {str(d['result'].get('error', '')).strip().splitlines()[0]}"
            for d in rows_data
            if not d["result"].get("ok")
        ),
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    from ovsub.evaluation import corpus_wer

    args = parse_args(argv)
    load_start = report.load_average()
    if args.engine.startswith("ovsub-"):
        report.run_worker_once([args.engine, "--prepare"], args.threads)
    clips = source_clips(args.data_dir)
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="ovsub-scale-") as tmp:
        for minutes in args.sizes:
            wav = Path(tmp) / f"speech-{minutes:g}min.wav"
            audio_s, reference = build_audio(wav, minutes, clips)
            print(f"{minutes:g} min: built {audio_s:.1f} s; transcribing", file=sys.stderr, flush=True)
            try:
                result = measure(args, wav)
            except report.WorkerError as e:
                result = {"ok": False, "error": str(e)}
            wav.unlink()
            wer = corpus_wer([(reference, result.get("text", ""))]) if result.get("ok") else None
            if result.get("ok"):
                wall = result["runs"][0]["wall_s"]
                print(f"{minutes:g} min: {wall:.1f} s (RTF {wall / audio_s:.3f}), peak RSS "
                      f"{result['peak_rss_mb']:.0f} MB, WER {100 * (wer or 0):.2f} %", file=sys.stderr, flush=True)
            else:
                print(f"{minutes:g} min: FAILED {result.get('error')}", file=sys.stderr, flush=True)
            rows.append({"minutes": minutes, "audio_s": audio_s, "wer": wer, "result": result})
    load_end = report.load_average()
    markdown = render(args, rows, load_start, load_end)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(markdown, encoding="utf-8")
    raw = {"argv": sys.argv[1:], "load_start": load_start, "load_end": load_end, "rows": rows}
    args.out.with_suffix(".json").write_text(json.dumps(raw, indent=1, ensure_ascii=False), encoding="utf-8")
    print(markdown)
    return 0 if all(d["result"].get("ok") for d in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
