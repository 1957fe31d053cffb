"""Issue 11, "no speech lost on long recordings": long files built from the shared clips, scored against what is known.

    python bench/longform.py --minutes 10,60 --engines ovsub,fw,fw-vad,fw-batched --beams 5 \\
        --out bench/results/longform-latest.md

What it builds (bench/scale.py's builder, seeded, so every run builds the same files):

- long files: the English ground-truth clips (``ovsub.evaluation.english_ground_truth``, without the derived
  long file), each once, then again in the same order; the passes after the second in a seeded random order, as
  many whole passes as come nearest the minutes asked (2 for 10 minutes, 12 for 60), so every clip is heard
  equally often and the long file's WER can be set beside the same clips decoded one by one. Loudness is left as
  recorded (the clips differ by up to 50 dB). Before each clip a gap: silence of 0.5-2 s, or, one gap in four,
  1.2-3 s of background noise cut from english/other/noise_only_leopard_empty.wav (steady noise at -26 dBFS, the
  only no-speech recording of the shared data; looped from a seeded offset);
- short composites: a loud clip, a 1.2-3 s noise gap, then a quiet clip (the loudest and the quietest clips
  paired in turn), for "a quiet utterance after noise loses its first seconds";
- no-speech inputs: the noise recording itself, 60 s of digital silence, and 2 minutes of gaps only (silence and
  noise as in the long files, no clip): every word there is made up.

Built files are cached outside the repository (``--cache-dir``, by default in the system's temporary folder),
named by a hash of everything that shapes them (clip list, recipe, the builder's source).

Every engine runs in a process of its own (this script with ``--worker``): it loads, warms up on an 11 s clip,
then decodes every input from the same 16 kHz samples, timing each, and the distinct clips one by one. The engines
(all int8 on the bundled Whisper base weights, 2 threads, language forced to English, word timestamps on):

    ovsub        ovsub.transcribe at its defaults (VAD on, beam 5 unless --beams says otherwise)
    fw           faster-whisper 1.2.1 WhisperModel.transcribe, sequential, no VAD (its default)
    fw-vad       the same with vad_filter=True
    fw-batched   BatchedInferencePipeline (its VAD on, batch_size 8, its defaults)

``NAME@B`` runs an engine at B beams (``ovsub@1``); plain names take ``--beams``.

What it measures (definitions beside the constants below, and in bench/README.md): the long file's corpus WER
next to the clip-by-clip corpus WER of the same engine; clip occurrences lost; seconds of VAD speech inside clips
that no word covers; words on silence and on noise gaps; how far the cue holding each clip's first words starts
from the clip's speech onset (and the first word itself); wall time and RTF; words on the no-speech inputs; and
per composite, whether the quiet clip's words are found. ``--from-json A.json B.json`` re-scores saved runs
(their raw segments are kept) into one report, e.g. a 10-minute and a 60-minute run with different engines.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import hashlib
import json
import random
import statistics
import subprocess
import sys
import tempfile
import time
from bisect import bisect_right
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import engines
import numpy as np
import report
import scale
from report import fmt

import ovsub  # the public API: build_cues, CueOptions, Segment, Word

# -- ovsub internals: the only place this script reaches past ovsub's public API ----------------------------------
from ovsub.audio.media import load_audio  # noqa: E402  any media file -> float32 mono 16 kHz
from ovsub.audio.vad import speech_regions  # noqa: E402  samples -> [Region(start_s, end_s)]: Silero VAD on OpenVINO
from ovsub.evaluation import corpus_wer, normalize
from ovsub.options import VadOptions  # noqa: E402  its thresholds and padding

# ---------------------------------------------------------------------------------------------------------------

SAMPLE_RATE = scale.SAMPLE_RATE  # Hz, what ovsub decodes everything to
PRECISION = "int8"  # ovsub's default IR precision and faster-whisper's matching compute type
FW_BATCH_SIZE = 8  # faster-whisper's own default for BatchedInferencePipeline
NOISE_FILE = Path("english") / "other" / "noise_only_leopard_empty.wav"  # steady background noise, no speech
WARMUP_CLIP = scale.WARMUP_CLIP  # 11 s of JFK, decoded once before anything is timed
# The long files: loudness as recorded, 0.5-2 s silences, a quarter of the gaps 1.2-3 s of noise, whole passes.
LONG_JOIN = scale.JoinOptions(
    levelled=False, silence_s=(0.5, 2.0), noise_share=0.25, noise_s=(1.2, 3.0), whole_passes=True, shuffle_after=2,
    seed=11,
)
COMPOSITES = 4  # short files of a loud clip, a noise gap and a quiet clip
COMPOSITE_LEAD_S = 0.5  # silence before the loud clip and after the quiet one
SILENCE_FILE_S = 60.0  # the all-zero no-speech input
GAPS_ONLY_S = 120.0  # the no-speech input made of gaps only (silence and noise as in the long files)

# -- What the measures count (see bench/README.md) --------------------------------------------------------------
EDGE_TOLERANCE_S = 0.5  # a word whose midpoint falls this close outside a clip still belongs to it (times spill)
LOST_SHARE = 0.25  # a clip occurrence with fewer words than this share of its reference's words is lost
COVER_TOLERANCE_S = 0.25  # a word covers VAD speech from this long before its start to this long after its end
PERCENTILE = 90  # the tail reported beside the median
# Speech onset of a clip, found on the clip alone. First ovsub's VAD without padding: the start of its first speech
# region (a 32 ms frame at probability >= 0.5 that begins at least 250 ms of speech). The VAD is sure only once a
# word is under way (it hears the "st" of "stuff" at 0.39, speech from 0.58 s), so the onset moves back to where
# the clip's energy rises, when that rise is at most ONSET_LOOKBACK_S before the VAD's onset: the first 10 ms frame
# of a run of ENERGY_HOLD frames above ENERGY_DB of the clip's 95th-percentile frame level, the frame before below
# it. Energy alone is no rule: on noisy FLEURS clips it rises with the background 0.4-0.9 s before any word
# (fleurs-en-005: 0.20 s against the VAD's 0.93 s); the VAD alone would make cues look early by up to 0.3 s.
ONSET_VAD = VadOptions(speech_pad_ms=0)
ONSET_LOOKBACK_S = 0.3
ENERGY_FRAME = 160  # samples: 10 ms
ENERGY_DB = -20.0  # below the clip's 95th-percentile frame level
ENERGY_HOLD = 5  # frames in a row (50 ms)
VAD_FRAME_S = 0.032  # the VAD scores 32 ms frames

MAX_LOST_LISTED = 12  # lost clip occurrences listed one by one under the table; more are counted per clip
STDERR_TAIL_LINES = 40  # of a worker's stderr, kept for the report if it fails
DEFAULT_OUT = report.BENCH_DIR / "results" / "longform-latest.md"
DEFAULT_CACHE = Path(tempfile.gettempdir()) / "ovsub-bench-longform"


# -- Engines ----------------------------------------------------------------------------------------------------

ENGINE_FAMILIES = {  # name -> engines.py engine, VAD, faster-whisper batch size
    "ovsub": (f"ovsub-{PRECISION}", True, 0),
    "fw": (f"fw-{PRECISION}", False, 0),
    "fw-vad": (f"fw-{PRECISION}", True, 0),
    "fw-batched": (f"fw-{PRECISION}", True, FW_BATCH_SIZE),
}


@dataclass(frozen=True)
class EngineSpec:
    """One engine setting, run in a worker process of its own."""

    name: str  # ovsub, fw, fw-vad, fw-batched
    beams: int

    @property
    def label(self) -> str:
        return f"{self.name}@{self.beams}"

    def settings(self, threads: int) -> engines.Settings:
        _, vad, batch = ENGINE_FAMILIES[self.name]
        return engines.Settings(beam_size=self.beams, threads=threads, language="en", vad=vad, batch_size=batch)


def parse_engines(text: str, beams: Sequence[int]) -> list[EngineSpec]:
    """``ovsub,fw@1`` -> specs; a name without ``@B`` runs at each of ``beams``.

    >>> [s.label for s in parse_engines("ovsub,fw@1", [5, 1])]
    ['ovsub@5', 'ovsub@1', 'fw@1']
    """
    specs: list[EngineSpec] = []
    for item in (t.strip() for t in text.split(",") if t.strip()):
        name, _, beam = item.partition("@")
        if name not in ENGINE_FAMILIES:
            raise ValueError(f"unknown engine {name!r}: use {', '.join(ENGINE_FAMILIES)} (optionally @BEAMS)")
        specs += [EngineSpec(name, int(beam))] if beam else [EngineSpec(name, b) for b in beams]
    return specs


# -- Inputs -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SourceClip:
    """A shared clip used to build files: what is said, how loud, where its speech starts."""

    name: str  # file name without extension
    path: Path
    reference: str
    samples: int  # length at 16 kHz
    level_dbfs: float  # RMS level
    onset_s: float  # speech onset inside the clip (speech_onset_s)
    vad_onset_s: float  # where the VAD alone puts it, for comparison


@dataclass(frozen=True)
class Occurrence:
    """One clip's place in a built file, in seconds of that file."""

    clip: int  # index into the source clips
    start_s: float
    end_s: float
    onset_s: float  # where its speech starts: start_s plus the clip's own onset


@dataclass(frozen=True)
class Built:
    """A built input and its ground truth."""

    name: str  # "10min", "composite-1", "noise-only", ...
    kind: str  # "long", "composite" or "no-speech"
    path: Path
    duration_s: float
    occurrences: tuple[Occurrence, ...] = ()
    gaps: tuple[tuple[str, float, float], ...] = ()  # (kind, start_s, end_s) of every silence and noise gap

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "path": str(self.path),
            "duration_s": round(self.duration_s, 3),
            "occurrences": [dataclasses.astuple(o) for o in self.occurrences],
            "gaps": [list(g) for g in self.gaps],
        }

    @staticmethod
    def from_dict(d: dict[str, Any]) -> Built:
        return Built(
            d["name"], d["kind"], Path(d["path"]), d["duration_s"],
            tuple(Occurrence(*o) for o in d["occurrences"]), tuple((g[0], g[1], g[2]) for g in d["gaps"]),
        )


def energy_rises_s(samples: np.ndarray) -> list[float]:
    """Where the level rises: first frames of ENERGY_HOLD 10 ms frames in a row above ENERGY_DB of the clip's
    95th-percentile frame level, the frame before them below it.

    >>> energy_rises_s(np.r_[np.zeros(800), np.ones(1600), np.zeros(800), np.ones(400)].astype(np.float32))
    [0.05]
    """
    n = samples.size // ENERGY_FRAME
    if n < ENERGY_HOLD:
        return []
    frames = samples[: n * ENERGY_FRAME].astype(np.float64).reshape(n, ENERGY_FRAME)
    rms = np.sqrt(np.mean(frames**2, axis=1))
    above = rms >= np.percentile(rms, 95) * 10 ** (ENERGY_DB / 20)
    held = np.convolve(above, np.ones(ENERGY_HOLD), "valid") >= ENERGY_HOLD
    return [int(i) * ENERGY_FRAME / SAMPLE_RATE for i in np.flatnonzero(held) if i == 0 or not above[i - 1]]


def speech_onset_s(vad_onset_s: float, rises_s: Sequence[float]) -> float:
    """The VAD's onset, or the earliest energy rise at most ONSET_LOOKBACK_S before it (or within a VAD frame after).

    >>> speech_onset_s(0.58, [0.1, 0.36, 0.6]), speech_onset_s(0.93, [0.2])
    (0.36, 0.93)
    """
    near = [t for t in rises_s if vad_onset_s - ONSET_LOOKBACK_S <= t <= vad_onset_s + VAD_FRAME_S]
    return min(near, default=vad_onset_s)


def source_clips(data_dir: Path, only: Sequence[str] = ()) -> tuple[list[SourceClip], list[np.ndarray]]:
    """The clips long files are built from (``only``: names to keep), with their samples."""
    clips, arrays = [], []
    for clip in scale.english_clips(data_dir):
        name = clip.path.name.rsplit(".", 1)[0]
        if only and name not in only:
            continue
        samples = load_audio(clip.path)
        regions = speech_regions(samples, ONSET_VAD)
        vad_onset = regions[0].start_s if regions else 0.0
        rms = float(np.sqrt(np.mean(np.square(samples, dtype=np.float64))))
        clips.append(
            SourceClip(
                name, clip.path, clip.reference, samples.size, round(20 * np.log10(max(rms, 1e-10)), 1),
                round(speech_onset_s(vad_onset, energy_rises_s(samples)), 3), round(vad_onset, 3),
            )
        )
        arrays.append(samples)
    if only and len(clips) != len(set(only)):
        raise ValueError(f"--clips names not found: {sorted(set(only) - {c.name for c in clips})}")
    return clips, arrays


def cache_key(*parts: Any) -> str:
    """A short hash of what shapes a built file, the builder's own source included."""
    digest = hashlib.sha256(json.dumps(parts, default=str, sort_keys=True).encode())
    digest.update(Path(scale.__file__).read_bytes())
    return digest.hexdigest()[:12]


def describe(name: str, kind: str, path: Path, pieces: Sequence[scale.Piece], clips: Sequence[SourceClip]) -> Built:
    """A planned file as the measures see it: clip occurrences with their onsets, and the gaps between them."""
    occurrences = tuple(
        Occurrence(p.clip, p.start_s, p.end_s, p.start_s + clips[p.clip].onset_s) for p in pieces if p.kind == "clip"
    )
    gaps = tuple((p.kind, p.start_s, p.end_s) for p in pieces if p.kind != "clip")
    return Built(name, kind, path, (pieces[-1].end if pieces else 0) / SAMPLE_RATE, occurrences, gaps)


def write_cached(
    cache_dir: Path, stem: str, pieces: Sequence[scale.Piece], arrays: Sequence[np.ndarray], noise: np.ndarray,
    key_parts: Any,
) -> Path:
    """The planned file in the cache, written unless a file of the same recipe is already there."""
    path = cache_dir / f"{stem}-{cache_key(key_parts)}.wav"
    if not path.is_file():
        cache_dir.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".partial")
        scale.write_wav(partial, pieces, arrays, noise, levelled=False)
        partial.replace(path)
    return path


def build_inputs(
    args: argparse.Namespace, clips: Sequence[SourceClip], arrays: Sequence[np.ndarray], noise: np.ndarray
) -> list[Built]:
    """Every input of the run: long files, composites, no-speech files (built or taken from the cache)."""
    lengths = [c.samples for c in clips]
    names = [c.name for c in clips]
    built: list[Built] = []
    for minutes in args.minutes:
        pieces = scale.plan(lengths, minutes, LONG_JOIN, noise.size)
        path = write_cached(args.cache_dir, f"long-{minutes:g}min", pieces, arrays, noise,
                            ["long", minutes, dataclasses.asdict(LONG_JOIN), names, str(NOISE_FILE)])
        built.append(describe(f"{minutes:g} min", "long", path, pieces, clips))
    for i, (loud, quiet, noise_gap) in enumerate(composite_pairs(clips, args.composites, noise.size), 1):
        lead = int(COMPOSITE_LEAD_S * SAMPLE_RATE)
        gaps = [("silence", lead, 0), noise_gap, ("silence", lead, 0)]
        pieces = scale.lay_out([loud, quiet], lengths, gaps)
        path = write_cached(args.cache_dir, f"composite-{i}", pieces, arrays, noise,
                            ["composite", names[loud], names[quiet], gaps, str(NOISE_FILE)])
        built.append(describe(f"composite {i}", "composite", path, pieces, clips))
    if args.no_speech:
        built += no_speech_inputs(args, noise)
    return built


def composite_pairs(clips: Sequence[SourceClip], count: int, noise_samples: int) -> list[tuple[int, int, scale.Gap]]:
    """(loud clip, quiet clip, noise gap): the loudest clip with the quietest, the next loudest with the next
    quietest, and so on; the gaps drawn as in the long files (seeded), all noise."""
    by_level = sorted(range(len(clips)), key=lambda i: clips[i].level_dbfs)
    rng = random.Random(LONG_JOIN.seed)
    all_noise = dataclasses.replace(LONG_JOIN, noise_share=1.0)
    return [
        (by_level[-1 - k], by_level[k], scale.draw_gap(rng, all_noise, noise_samples))
        for k in range(min(count, len(clips) // 2))
    ]


def no_speech_inputs(args: argparse.Namespace, noise: np.ndarray) -> list[Built]:
    """The noise recording itself, digital silence, and a file of gaps only (half of them noise)."""
    silence = [scale.Piece("silence", 0, int(SILENCE_FILE_S * SAMPLE_RATE))]
    silence_path = write_cached(args.cache_dir, "silence", silence, [], noise, ["silence", SILENCE_FILE_S])
    gaps_only = dataclasses.replace(LONG_JOIN, noise_share=0.5)
    rng = random.Random(gaps_only.seed)
    gaps: list[scale.Gap] = []
    while sum(g[1] for g in gaps) < GAPS_ONLY_S * SAMPLE_RATE:
        gaps.append(scale.draw_gap(rng, gaps_only, noise.size))
    pieces = scale.lay_out([], [], gaps)
    gaps_path = write_cached(args.cache_dir, "gaps-only", pieces, [], noise,
                             ["gaps-only", GAPS_ONLY_S, dataclasses.asdict(gaps_only), str(NOISE_FILE)])
    return [
        Built(NOISE_FILE.name, "no-speech", args.data_dir / NOISE_FILE, noise.size / SAMPLE_RATE),
        Built(f"digital silence {SILENCE_FILE_S:g} s", "no-speech", silence_path, SILENCE_FILE_S),
        describe(f"gaps only {GAPS_ONLY_S:g} s (silence + noise)", "no-speech", gaps_path, pieces, []),
    ]


# -- The worker: one engine in one process ----------------------------------------------------------------------


def compact(segments: Iterable[Any]) -> list[list[Any]]:
    """Segments as [start_s, end_s, text, [[start_s, end_s, word], ...]]: small enough to keep in the results."""
    return [
        [
            round(s.start_s, 3),
            round(s.end_s, 3),
            s.text,
            [[round(w.start_s, 3), round(w.end_s, 3), w.text] for w in s.words],
        ]
        for s in segments
    ]


def expand(rows: Sequence[Sequence[Any]]) -> list[Any]:
    """The inverse of compact: ovsub Segments with Words."""
    return [
        ovsub.Segment(i, start, end, text, words=tuple(ovsub.Word(ws, we, wt) for ws, we, wt in words), language="en")
        for i, (start, end, text, words) in enumerate(rows)
    ]


def run_worker(job_path: Path) -> int:
    """Decode every input of the job file with one engine; write the segments and timings beside it."""
    from worker import cpu_s, peak_rss_mb

    job = json.loads(job_path.read_text(encoding="utf-8"))
    spec = EngineSpec(job["engine"], job["beams"])
    engine_name = ENGINE_FAMILIES[spec.name][0]
    started = time.perf_counter()
    engine = engines.make(engine_name, spec.settings(job["threads"]))
    load_s = round(time.perf_counter() - started, 3)
    out: dict[str, Any] = {"engine": spec.label, "notes": engine.notes, "load_s": load_s}
    out["ovsub_code"] = engines.code_fingerprint(engine_name)
    try:
        warmup = job["warmup"]
        engine.transcribe(load_audio(warmup), warmup)
        out["inputs"] = {}
        for item in job["inputs"]:
            audio = load_audio(item["path"])
            cpu0, started = cpu_s(), time.perf_counter()
            segments, extra = engine.segments(audio, item["path"])
            wall, cpu = time.perf_counter() - started, cpu_s() - cpu0
            out["inputs"][item["name"]] = {
                "wall_s": round(wall, 3), "cpu_s": round(cpu, 3), "segments": compact(segments), **extra,
            }
            print(f"  {spec.label} {item['name']}: {wall:.1f} s", file=sys.stderr, flush=True)
        texts, started = {}, time.perf_counter()
        for path in job["clips"]:
            texts[path] = " ".join(s.text for s in engine.segments(load_audio(path), path)[0])
        out["clip_texts"], out["clips_wall_s"] = texts, round(time.perf_counter() - started, 3)
        out["peak_rss_mb"] = peak_rss_mb()
    finally:
        engine.close()
    job_path.with_suffix(".out.json").write_text(json.dumps(out), encoding="utf-8")
    return 0


def run_engine(spec: EngineSpec, inputs: Sequence[Built], clips: Sequence[SourceClip], args: argparse.Namespace,
               into: Path) -> dict[str, Any]:
    """Start the worker for one engine and wait for its results (or the reason it failed)."""
    job = into / f"job-{spec.label.replace('@', '-')}.json"
    job.write_text(json.dumps({
        "engine": spec.name, "beams": spec.beams, "threads": args.threads,
        "warmup": str(args.data_dir / WARMUP_CLIP),
        "inputs": [{"name": b.name, "path": str(b.path)} for b in inputs],
        "clips": [str(c.path) for c in clips] if args.clip_wer else [],
    }), encoding="utf-8")
    proc = subprocess.Popen([sys.executable, __file__, "--worker", str(job)], env=report.worker_env(args.threads),
                            stdout=sys.stderr, stderr=subprocess.PIPE, text=True)
    tail: deque[str] = deque(maxlen=STDERR_TAIL_LINES)
    assert proc.stderr is not None
    for line in proc.stderr:  # shown as it comes (progress), the last lines kept in case the worker fails
        sys.stderr.write(line)
        tail.append(line)
    result = job.with_suffix(".out.json")
    if proc.wait() != 0 or not result.is_file():
        return {"engine": spec.label, "ok": False, "error": "".join(tail)[-report.STDERR_TAIL_CHARS:]}
    return {"ok": True, **json.loads(result.read_text(encoding="utf-8"))}


# -- Measures (pure functions over times and words) -------------------------------------------------------------

Span = tuple[float, float]  # (start_s, end_s)


def assign_words(words: Sequence[Any], occurrences: Sequence[Occurrence],
                 tolerance_s: float = EDGE_TOLERANCE_S) -> list[int | None]:
    """For each word, the occurrence (index) its midpoint falls in, else the nearest one within ``tolerance_s``;
    None for a word in a gap away from every clip. Occurrences are in time order and do not overlap.

    >>> occ = [Occurrence(0, 1.0, 3.0, 1.2), Occurrence(1, 5.0, 6.0, 5.1)]
    >>> assign_words([ovsub.Word(1.1, 1.5, " a"), ovsub.Word(3.2, 3.5, " b"), ovsub.Word(4.0, 4.1, " c")], occ)
    [0, 0, None]
    """
    starts = [o.start_s for o in occurrences]
    out: list[int | None] = []
    for word in words:
        mid = (word.start_s + word.end_s) / 2
        i = bisect_right(starts, mid) - 1
        candidates = []
        if i >= 0:
            candidates.append((max(mid - occurrences[i].end_s, 0.0), i))
        if i + 1 < len(occurrences):
            candidates.append((occurrences[i + 1].start_s - mid, i + 1))
        distance, best = min(candidates) if candidates else (float("inf"), None)
        out.append(best if distance <= tolerance_s else None)
    return out


def merge_spans(spans: Iterable[Span]) -> list[Span]:
    """Sorted, overlapping or touching spans joined.

    >>> merge_spans([(3.0, 4.0), (0.0, 1.0), (0.5, 2.0)])
    [(0.0, 2.0), (3.0, 4.0)]
    """
    merged: list[Span] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def intersect(a: Sequence[Span], b: Sequence[Span]) -> list[Span]:
    """Where two sets of ordered, non-overlapping spans overlap.

    >>> intersect([(0.0, 2.0), (3.0, 5.0)], [(1.0, 4.0)])
    [(1.0, 2.0), (3.0, 4.0)]
    """
    out, i, j = [], 0, 0
    while i < len(a) and j < len(b):
        start, end = max(a[i][0], b[j][0]), min(a[i][1], b[j][1])
        if start < end:
            out.append((start, end))
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return out


def uncovered_s(speech: Sequence[Span], words: Sequence[Any], tolerance_s: float = COVER_TOLERANCE_S) -> float:
    """Seconds of ``speech`` (ordered spans) that no word covers, each word widened by ``tolerance_s`` both sides.

    >>> uncovered_s([(0.0, 4.0)], [ovsub.Word(1.0, 1.5, " a")], tolerance_s=0.25)
    3.0
    """
    covered = merge_spans((w.start_s - tolerance_s, w.end_s + tolerance_s) for w in words)
    total = sum(end - start for start, end in speech)
    return total - sum(end - start for start, end in intersect(merge_spans(speech), covered))


def first_cue_starts(cues: Sequence[Any], occurrences: Sequence[Occurrence]) -> dict[int, float]:
    """For each occurrence with words, the start (s) of the first cue that shows one of its words."""
    starts: dict[int, float] = {}
    for cue in cues:
        for index in assign_words(cue.words, occurrences):
            if index is not None and index not in starts:
                starts[index] = cue.start_ms / 1000
    return starts


def percentile(values: Sequence[float], q: float) -> float | None:
    return float(np.percentile(values, q)) if values else None


def error_stats(errors_s: Sequence[float]) -> dict[str, float | None]:
    """Signed median and absolute median and tail of start errors, in ms."""
    absolute = [abs(e) for e in errors_s]
    return {
        "n": len(errors_s),
        "signed_median_ms": None if not errors_s else 1000 * statistics.median(errors_s),
        "abs_median_ms": None if not absolute else 1000 * statistics.median(absolute),
        f"abs_p{PERCENTILE}_ms": None if not absolute else 1000 * percentile(absolute, PERCENTILE),  # type: ignore[operator]
    }


def all_words(segments: Sequence[Any]) -> list[Any]:
    """Every word of the segments; a segment without word timings counts its text's words at its own span."""
    words: list[Any] = []
    for s in segments:
        words += s.words or [ovsub.Word(s.start_s, s.end_s, " " + t) for t in s.text.split()]
    return words


def gap_kind(t_s: float, gaps: Sequence[tuple[str, float, float]]) -> str:
    """Which kind of gap holds time ``t_s`` ("silence" past the end or where none does)."""
    for kind, start, end in gaps:
        if start <= t_s < end:
            return kind
    return "silence"


def gap_before(occurrence: Occurrence, gaps: Sequence[tuple[str, float, float]]) -> str | None:
    """The kind of gap that ends where the occurrence starts (None when another clip or the file's start does)."""
    return next((kind for kind, _, end in gaps if abs(end - occurrence.start_s) < 1e-6), None)


def score(
    built: Built, run: dict[str, Any], clips: Sequence[SourceClip], vad_speech: Sequence[Span] | None
) -> dict[str, Any]:
    """Every measure of one engine on one built input (those from the VAD are None without ``vad_speech``)."""
    segments = expand(run["segments"])
    words = all_words(segments)
    out: dict[str, Any] = {"wall_s": run["wall_s"], "rtf": run["wall_s"] / built.duration_s, "words": len(words)}
    if "dropped" in run:
        out["dropped"] = run["dropped"]
    occurrences = built.occurrences
    assignment = assign_words(words, occurrences)
    gap_words: dict[str, int] = {"silence": 0, "noise": 0}
    per_occurrence: list[list[Any]] = [[] for _ in occurrences]
    for word, index in zip(words, assignment):
        if index is None:
            gap_words[gap_kind((word.start_s + word.end_s) / 2, built.gaps)] += 1
        else:
            per_occurrence[index].append(word)
    out["gap_words"] = gap_words
    if not occurrences:
        return out
    references = [clips[o.clip].reference for o in occurrences]
    out["wer"] = corpus_wer([(" ".join(references), " ".join(s.text for s in segments))])
    details, lost = [], []
    for k, (occ, ws) in enumerate(zip(occurrences, per_occurrence)):
        found, expected = len(normalize("".join(w.text for w in ws))), len(normalize(references[k]))
        is_lost = found < LOST_SHARE * expected
        details.append({
            "clip": clips[occ.clip].name, "start_s": round(occ.start_s, 3), "end_s": round(occ.end_s, 3),
            "words": found, "ref_words": expected, "lost": is_lost,
            "wer": corpus_wer([(references[k], "".join(w.text for w in ws))]),
            "first_word_s": round(ws[0].start_s, 3) if ws else None,
            "after": gap_before(occ, built.gaps),
            "vad_s": None if vad_speech is None else round(
                sum(e - s for s, e in intersect(merge_spans(vad_speech), [(occ.start_s, occ.end_s)])), 2),
        })
        if is_lost:
            lost.append(k)
    out["occurrences"], out["lost"] = details, lost
    speech = intersect(merge_spans(vad_speech or []), [(o.start_s, o.end_s) for o in occurrences])
    out["vad_speech_s"] = None if vad_speech is None else sum(e - s for s, e in speech)
    out["uncovered_speech_s"] = None if vad_speech is None else uncovered_s(speech, words)
    cues = ovsub.build_cues(segments, ovsub.CueOptions(), "en")
    cue_starts = first_cue_starts(cues, occurrences)
    out["cue_start"] = error_stats([cue_starts[k] - occurrences[k].onset_s for k in sorted(cue_starts)])
    out["first_word_start"] = error_stats(
        [ws[0].start_s - occ.onset_s for occ, ws in zip(occurrences, per_occurrence) if ws]
    )
    return out


def clip_wer(run: dict[str, Any], clips: Sequence[SourceClip]) -> float | None:
    """Corpus WER of the distinct clips decoded one by one (every clip occurs equally often in a long file)."""
    texts = run.get("clip_texts") or {}
    pairs = [(c.reference, texts[str(c.path)]) for c in clips if str(c.path) in texts]
    return corpus_wer(pairs) if pairs else None


# -- Report -----------------------------------------------------------------------------------------------------


def ms(value: float | None) -> str:
    return fmt(value, 0)


def pct(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.1f}"


def long_rows(runs: Sequence[dict[str, Any]]) -> tuple[list[list[str]], list[list[str]], list[str]]:
    """The accuracy table, the timing table and notes on lost clips, for the long files."""
    accuracy, timing, notes = [], [], []
    for run in runs:
        for built in run["built"]:
            if built.kind != "long":
                continue
            for label, result in run["engines"].items():
                s = result.get("scores", {}).get(built.name)
                if s is None:
                    accuracy.append([built.name, label, "FAILED", *["—"] * 9])
                    continue
                alone = result.get("clip_wer")
                delta = None if alone is None else 100 * (s["wer"] - alone)
                accuracy.append([
                    built.name, label, pct(s["wer"]), pct(alone), fmt(delta, 1),
                    f"{len(s['lost'])} / {len(s['occurrences'])}", fmt(s["uncovered_speech_s"], 1),
                    fmt(s["vad_speech_s"], 0), str(s["gap_words"]["silence"]), str(s["gap_words"]["noise"]),
                    fmt(s["wall_s"], 0), fmt(s["rtf"], 3),
                ])
                c, f = s["cue_start"], s["first_word_start"]
                timing.append([
                    built.name, label, f"{c['n']}", ms(c["signed_median_ms"]), ms(c["abs_median_ms"]),
                    ms(c[f"abs_p{PERCENTILE}_ms"]), ms(f["signed_median_ms"]), ms(f["abs_median_ms"]),
                    ms(f[f"abs_p{PERCENTILE}_ms"]),
                ])
                lost = [s["occurrences"][k] for k in s["lost"]]
                if lost:
                    notes.append(f"- {built.name}, {label}: lost {lost_summary(lost, s.get('dropped', []))}")
                if s.get("dropped"):
                    notes.append(f"- {built.name}, {label}: ovsub's guards dropped {len(s['dropped'])} window(s): "
                                 + "; ".join(f"{d['start_s']:.1f}-{d['end_s']:.1f} s ({', '.join(d['reasons'])})"
                                             for d in s["dropped"]))
    return accuracy, timing, notes


def lost_summary(lost: Sequence[dict[str, Any]], dropped: Sequence[dict[str, Any]]) -> str:
    """Each lost occurrence with where it is and what came before it; when there are many, counts per clip."""
    if len(lost) <= MAX_LOST_LISTED:
        return ", ".join(
            f"{o['clip']} at {o['start_s']:.1f}-{o['end_s']:.1f} s ({o['words']}/{o['ref_words']} words"
            f"; VAD heard {fmt(o['vad_s'], 1)} s of it; after {o['after'] or 'the start'}"
            + ("; in a dropped window" if in_dropped(o, dropped) else "") + ")"
            for o in lost
        )
    by_clip: dict[str, list[dict[str, Any]]] = {}
    for o in lost:
        by_clip.setdefault(o["clip"], []).append(o)
    return f"{len(lost)} occurrences (each in the JSON): " + ", ".join(
        f"{clip} ×{len(os)} ({sum(o['after'] == 'noise' for o in os)} after noise, "
        f"{sum(not o['vad_s'] for o in os)} unheard by the VAD)"
        for clip, os in sorted(by_clip.items(), key=lambda kv: -len(kv[1]))
    )


def in_dropped(occurrence: dict[str, Any], dropped: Sequence[dict[str, Any]]) -> bool:
    """Whether a clip occurrence overlaps a window that ovsub's guards dropped."""
    return any(d["start_s"] < occurrence["end_s"] and occurrence["start_s"] < d["end_s"] for d in dropped)


def composite_rows(runs: Sequence[dict[str, Any]]) -> list[list[str]]:
    rows = []
    for run in runs:
        clips = run["clips"]
        for built in (b for b in run["built"] if b.kind == "composite"):
            loud, quiet = built.occurrences
            noise = next(g for g in built.gaps if g[0] == "noise")
            for label, result in run["engines"].items():
                s = result.get("scores", {}).get(built.name)
                if s is None:
                    continue
                o = s["occurrences"][1]
                delay = None if o["first_word_s"] is None else o["first_word_s"] - quiet.onset_s
                rows.append([
                    built.name, f"{clips[loud.clip].name} ({clips[loud.clip].level_dbfs:g} dBFS)",
                    fmt(noise[2] - noise[1], 1), f"{clips[quiet.clip].name} ({clips[quiet.clip].level_dbfs:g} dBFS)",
                    label, f"{o['words']} / {o['ref_words']}", pct(o["wer"]), fmt(delay, 2),
                    f"{fmt(o['vad_s'], 1)} of {fmt(quiet.end_s - quiet.start_s, 1)}", "LOST" if o["lost"] else "found",
                ])
    return rows


def no_speech_rows(runs: Sequence[dict[str, Any]]) -> list[list[str]]:
    rows = []
    for run in runs:
        for built in (b for b in run["built"] if b.kind == "no-speech"):
            for label, result in run["engines"].items():
                s = result.get("scores", {}).get(built.name)
                rows.append([built.name, fmt(built.duration_s, 1), label, "FAILED" if s is None else str(s["words"])])
    return rows


def last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1].strip() if lines else "(no message)"


def render(runs: Sequence[dict[str, Any]], title_argv: Sequence[str]) -> str:
    accuracy, timing, notes = long_rows(runs)
    lines = [
        "# Long recordings: is speech lost? (issue 11)",
        "",
        f"Made {dt.datetime.now().strftime('%Y-%m-%d %H:%M')} with `python bench/longform.py {' '.join(title_argv)}`.",
        "",
        "## Machine",
        "",
    ]
    for run in runs:
        lines += [f"Run of `{' '.join(run['argv'])}`:", "", *run["machine"], ""]
    lines += [
        "## Settings",
        "",
        "- Long files: the English ground-truth clips of the shared data (without the derived long file), whole "
        "passes (each clip once, then again; later passes in a seeded random order), loudness as recorded, before "
        f"each clip {LONG_JOIN.silence_s[0]:g}-{LONG_JOIN.silence_s[1]:g} s of silence or (a share of "
        f"{LONG_JOIN.noise_share:g}) {LONG_JOIN.noise_s[0]:g}-{LONG_JOIN.noise_s[1]:g} s of `{NOISE_FILE}` (looped). "
        "16 kHz 16-bit WAV.",
        f"- Engines: Whisper base, {PRECISION}, same bundled weights, {runs[0]['threads']} threads, language `en`, "
        "word timestamps on; each in its own process, warmed up on an 11 s clip; wall time from samples in to the "
        "last segment out.",
        *dict.fromkeys(  # each engine once, though several runs may hold it
            f"- {label}: {r['notes'] if r.get('ok') else 'FAILED: ' + last_line(r.get('error', ''))}"
            + (f" (ovsub source fingerprint {r['ovsub_code']})" if r.get("ovsub_code") else "")
            for run in runs for label, r in run["engines"].items()
        ),
        "",
        "## Long files",
        "",
        report.markdown_table(
            ["file", "engine@beams", "WER long %", "WER clips alone %", "Δ points", "clips lost",
             "speech without words s", "VAD speech s", "words on silence", "words on noise", "wall s", "RTF"],
            accuracy,
        ),
        "",
        "Cue and first-word start against each clip occurrence's speech onset (ms; negative is early):",
        "",
        report.markdown_table(
            ["file", "engine@beams", "clips timed", "cue signed median", "cue |err| median",
             f"cue |err| p{PERCENTILE}", "word signed median", "word |err| median", f"word |err| p{PERCENTILE}"],
            timing,
        ),
        "",
        *notes,
        "",
        "## A quiet clip after noise (short composites)",
        "",
        report.markdown_table(
            ["file", "loud clip", "noise s", "quiet clip", "engine@beams", "quiet clip words / ref",
             "its WER %", "first word after onset s", "VAD heard s", "quiet clip"],
            composite_rows(runs),
        ),
        "",
        "## No speech: every word is made up",
        "",
        report.markdown_table(["input", "seconds", "engine@beams", "words"], no_speech_rows(runs)),
        "",
        "## What the columns mean",
        "",
        "- WER long: corpus WER of the whole long file (all segment text against all clip references in order), "
        "Whisper's English normaliser. WER clips alone: the same engine and setting on each distinct clip by "
        "itself (every clip occurs equally often in the long file, so the two are comparable). Δ: long minus alone.",
        f"- Words belong to a clip occurrence when their midpoint falls inside it, or less than {EDGE_TOLERANCE_S:g} s "
        f"outside (the nearest); others are words on a gap (silence or noise). A clip occurrence is lost when it "
        f"got fewer than {LOST_SHARE:.0%} of its reference's word count (normalised words).",
        f"- Speech without words: seconds of ovsub's VAD speech (no padding) inside clip occurrences that no word "
        f"covers, each word widened by {COVER_TOLERANCE_S:g} s both sides. VAD speech s: the total it is out of.",
        "- Cue start: for each clip occurrence with words, the first cue (`ovsub.build_cues` at its defaults, on "
        "every engine's words alike) showing one of its words, minus the occurrence's speech onset (where ovsub's "
        f"VAD, on the clip alone and without padding, first hears speech, moved back to where the clip's energy "
        f"rises if that is at most {ONSET_LOOKBACK_S:g} s earlier). Word: the same for its first word.",
        "- RTF: wall / audio length. Ratios between engines are meaningful within one run only (shared machine).",
    ]
    return "\n".join(lines) + "\n"


# -- Command line -----------------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="Long files built from the shared clips: is speech lost? (issue 11)")
    p.add_argument("--minutes", default="10", help="long files to build, comma-separated (whole passes nearest)")
    p.add_argument("--engines", default="ovsub,fw,fw-vad,fw-batched", help=f"{', '.join(ENGINE_FAMILIES)}; NAME@B")
    p.add_argument("--beams", default="5", help="beams for engines named without @B, comma-separated")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--composites", type=int, default=COMPOSITES, help="short loud-noise-quiet files (0: none)")
    p.add_argument("--no-speech", choices=("on", "off"), default="on", help="the noise, silence, gaps-only inputs")
    p.add_argument("--clip-wer", choices=("on", "off"), default="on", help="decode each distinct clip alone too")
    p.add_argument("--clips", default="", help="only these clips (names without extension, comma-separated)")
    p.add_argument("--data-dir", type=Path, default=report.DATA_DIR)
    p.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE, help="where built files are kept")
    p.add_argument("--label", help="write bench/results/longform-LABEL.md (and .json)")
    p.add_argument("--out", type=Path, help=f"markdown output, raw JSON beside it (default {DEFAULT_OUT.name})")
    p.add_argument("--from-json", type=Path, nargs="+", help="re-score saved runs into one report, run nothing")
    p.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    args.minutes = [float(m) for m in args.minutes.split(",") if m.strip()]
    args.beams = [int(b) for b in args.beams.split(",") if b.strip()]
    args.clip_wer, args.no_speech = args.clip_wer == "on", args.no_speech == "on"
    args.clips = [c.strip() for c in args.clips.split(",") if c.strip()]
    if args.out is None:
        args.out = report.BENCH_DIR / "results" / f"longform-{args.label}.md" if args.label else DEFAULT_OUT
    try:
        args.specs = parse_engines(args.engines, args.beams)
    except ValueError as e:
        p.error(str(e))
    if any(m <= 0 for m in args.minutes):
        p.error("--minutes must be positive")
    return args


def rescore(raw: dict[str, Any]) -> dict[str, Any]:
    """A saved run with its measures computed again from its raw segments."""
    clips = [SourceClip(**{**c, "path": Path(c["path"])}) for c in raw["clips"]]
    built = [Built.from_dict(b) for b in raw["built"]]
    for result in raw["engines"].values():
        if not result.get("ok"):
            continue
        result["clip_wer"] = clip_wer(result, clips)
        result["scores"] = {
            b.name: score(b, result["inputs"][b.name], clips, raw["vad_speech"].get(b.name))
            for b in built
            if b.name in result.get("inputs", {})
        }
    return {**raw, "clips": clips, "built": built}


def to_json(run: dict[str, Any]) -> dict[str, Any]:
    return {
        **run,
        "clips": [{**dataclasses.asdict(c), "path": str(c.path)} for c in run["clips"]],
        "built": [b.to_dict() for b in run["built"]],
    }


def measure(args: argparse.Namespace, argv: Sequence[str]) -> dict[str, Any]:
    """Build the inputs, run every engine on them, score: one run's results."""
    load_start = report.load_average()
    clips, arrays = source_clips(args.data_dir, args.clips)
    noise = load_audio(args.data_dir / NOISE_FILE)
    built = build_inputs(args, clips, arrays, noise)
    del arrays
    vad_speech = {}
    for b in (b for b in built if b.occurrences):  # where the VAD hears speech in the whole file, as ovsub would
        vad_speech[b.name] = [(r.start_s, r.end_s) for r in speech_regions(load_audio(b.path), ONSET_VAD)]
        print(f"{b.name}: {b.duration_s:.1f} s, {len(b.occurrences)} clips, {b.path}", file=sys.stderr, flush=True)
    report.run_worker_once([ENGINE_FAMILIES["ovsub"][0], "--prepare"], args.threads)  # convert outside any timing
    results = {}
    with tempfile.TemporaryDirectory(prefix="ovsub-longform-") as tmp:
        for spec in args.specs:
            print(f"{spec.label}: running", file=sys.stderr, flush=True)
            results[spec.label] = run_engine(spec, built, clips, args, Path(tmp))
    raw = {
        "argv": list(argv), "threads": args.threads, "load_start": load_start, "load_end": report.load_average(),
        "clips": clips, "built": built, "vad_speech": vad_speech, "engines": results,
    }
    raw["machine"] = report.machine_lines(raw["load_start"], raw["load_end"])
    return raw


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    if args.worker:
        return run_worker(args.worker)
    if args.from_json:
        saved = []
        for path in args.from_json:
            loaded = json.loads(path.read_text(encoding="utf-8"))
            saved += loaded.get("runs", [loaded])  # a merged report holds several runs
    else:
        saved = [to_json(measure(args, argv))]
    runs = [rescore(json.loads(json.dumps(raw))) for raw in saved]
    markdown = render(runs, argv)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(markdown, encoding="utf-8")
    merged = saved[0] if len(saved) == 1 else {"runs": saved}
    for raw, run in zip(saved, runs):  # keep the measures beside the raw segments
        for label, result in raw["engines"].items():
            result["clip_wer"] = run["engines"][label].get("clip_wer")
            result["scores"] = run["engines"][label].get("scores")
    args.out.with_suffix(".json").write_text(json.dumps(merged, ensure_ascii=False), encoding="utf-8")
    print(markdown)
    return 0 if all(r.get("ok") for raw in saved for r in raw["engines"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
