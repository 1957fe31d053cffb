"""Cue quality on long files, and words made up from silence and noise: with VAD (the default) and without.

What it measures, on the shared long file (english/long, ten LibriSpeech utterances 1 s apart) and on long files
it builds the same way from the shared English clips (silences of 0.7-2 s between clips, every second gap holding
a burst of white noise at -30 dBFS), with ``transcribe(path, language="en")`` and ``build_cues`` at their defaults:

- how far each utterance's nearest cue starts from it, in ms (median and 90th percentile of the distance, and
  the median signed offset, negative when cues come early), against two references: the utterance's start in
  the file (a LibriSpeech clip begins with up to 0.6 s of silence, so a cue that starts with the voice is "late"
  by that much) and the speech onset, where Silero VAD without padding (``VadOptions(speech_pad_ms=0)``) first
  hears speech inside the utterance;
- cues that cross a gap: start before utterance i ends and end after utterance i+1 starts;
- the file's WER against its utterances' references (text lost or made up on a long file shows here);
- the share of cues within every limit of ``CueOptions`` (``check_cues`` with soft limits);
- words emitted on 20 s of digital silence, on english/other/noise_only_leopard_empty.wav, and on a 10 s file
  that is silent but for 2 s of white noise (standard deviation 0.3) in the middle;
- corpus WER on the English ground-truth clips (``evaluation.english_ground_truth``, forced English).

Every measure is taken with VAD and with ``vad=False``, which is raw Whisper on OpenVINO GenAI: the state before
ovsub's VAD windows. The built files go to a temporary directory (``--keep DIR`` keeps them).

    /work/venv/bin/python bench/cue_quality.py              # everything, about 15 minutes on 2 cores
    /work/venv/bin/python bench/cue_quality.py --skip-wer   # without the WER runs (about 6 minutes)

The script is self-contained (numpy, the standard library's ``wave`` and ovsub), so it runs without the other
benchmark modules.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
import wave
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ovsub import cues
from ovsub.audio import media, vad
from ovsub.evaluation import corpus_wer, english_ground_truth, load_clips
from ovsub.options import CueOptions, ModelOptions, VadOptions
from ovsub.transcription import load_model, transcribe
from ovsub.types import Cue, Segment

REPO_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = REPO_DIR.parent / "shared" / "data"  # the shared real speech (see its README.md)
LONG_FILE = "english/long/derived_librispeech_concat_10utt.flac"  # with .boundaries.json beside it
NOISE_ONLY_FILE = "english/other/noise_only_leopard_empty.wav"  # background noise, no speech: expect no words

SAMPLE_RATE = media.SAMPLE_RATE  # 16 kHz mono float32, what ovsub decodes everything to
SEED = 1089  # the built files and the noise are the same on every run
SILENCE_S = (0.7, 2.0)  # silence between two clips, drawn uniformly
NOISE_EVERY = 2  # every second gap between clips holds a noise burst
NOISE_S = (1.0, 2.0)  # length of a burst between clips, drawn uniformly
NOISE_DBFS = -30.0  # RMS level of those bursts relative to full scale: standard deviation 0.0316
DIGITAL_SILENCE_S = 20.0  # the all-zero file
BURST_FILE_S = 10.0  # the noise-burst file: this long, silent but for ...
BURST_S = 2.0  # ... this much white noise in the middle ...
BURST_STD = 0.3  # ... with this standard deviation (about -10 dBFS)
PERCENTILE = 90  # the tail statistic reported beside the median

# The long files built from the shared clips: name -> clips (paths under DATA_DIR), in order.
BUILT_FILES = {
    "built_fleurs_10utt": [f"english/fleurs/fleurs-en-{i:03d}.ogg" for i in range(10)],
    "built_mixed_9utt": [
        "english/librispeech/ls_dev-clean_1272-128104-0004_8k.wav",
        "english/other/jfk.flac",
        "english/other/ljspeech_LJ050-0131.wav",
        "english/other/ljspeech_LJ002-0020.wav",
        "english/other/ami_ES2011a_headset_40-46s.wav",
        "english/other/ljspeech_LJ002-0035.wav",
        "english/other/sr_one_two_three.wav",
        "english/other/leopard_diarization_test.wav",
        "english/librispeech/ls_test-clean_1089-134686-0001.flac",
    ],
}
MODES = (("on", True), ("off", False))  # VAD label, TranscribeOptions.vad


@dataclass(frozen=True)
class Utterance:
    """One clip's place in a long file, in seconds."""

    start_s: float  # where the clip starts (LibriSpeech clips begin with some silence)
    end_s: float  # where the clip ends
    onset_s: float  # where speech starts inside it, by Silero VAD without padding
    reference: str  # what is said


@dataclass(frozen=True)
class LongFile:
    name: str
    path: Path
    utterances: tuple[Utterance, ...]


# -- Test material ------------------------------------------------------------------------------------------------


def write_wav(path: Path, samples: np.ndarray) -> None:
    """Float samples in [-1, 1] as a 16-bit mono WAV at 16 kHz."""
    pcm = (np.clip(samples, -1.0, 1.0) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(SAMPLE_RATE)
        out.writeframes(pcm.tobytes())


def white_noise(rng: np.random.Generator, seconds: float, std: float) -> np.ndarray:
    return (rng.standard_normal(int(round(seconds * SAMPLE_RATE))) * std).astype(np.float32)


def silence(seconds: float) -> np.ndarray:
    return np.zeros(int(round(seconds * SAMPLE_RATE)), dtype=np.float32)


def speech_onset_s(audio: np.ndarray, start_s: float, end_s: float) -> float:
    """Where Silero VAD (no padding) first hears speech in ``audio[start_s:end_s]``; ``start_s`` if nowhere."""
    span = audio[int(start_s * SAMPLE_RATE) : int(end_s * SAMPLE_RATE)]
    regions = vad.speech_regions(span, VadOptions(speech_pad_ms=0))
    return start_s + regions[0].start_s if regions else start_s


def build_long_file(path: Path, clip_paths: Sequence[str], seed: int) -> tuple[Utterance, ...]:
    """Concatenate the clips with silences (and noise bursts) between them; write ``path``; say where each is."""
    references = {c.path: c.reference for c in load_clips(DATA_DIR)}
    rng = random.Random(seed)
    noise_rng = np.random.default_rng(seed)
    noise_std = 10 ** (NOISE_DBFS / 20)
    parts: list[np.ndarray] = []
    spans: list[tuple[float, float]] = []
    at = 0
    for i, clip in enumerate(clip_paths):
        if i:
            gap = rng.uniform(*SILENCE_S)
            if i % NOISE_EVERY == 0:  # silence, a burst, silence: the clips never touch the noise
                burst = rng.uniform(*NOISE_S)
                filler = [silence(gap / 2), white_noise(noise_rng, burst, noise_std), silence(gap / 2)]
            else:
                filler = [silence(gap)]
            parts += filler
            at += sum(len(f) for f in filler)
        samples = media.load_audio(DATA_DIR / clip)
        spans.append((at / SAMPLE_RATE, (at + len(samples)) / SAMPLE_RATE))
        parts.append(samples)
        at += len(samples)
    audio = np.concatenate(parts)
    write_wav(path, audio)
    return tuple(
        Utterance(s, e, speech_onset_s(audio, s, e), references[DATA_DIR / clip])
        for (s, e), clip in zip(spans, clip_paths)
    )


def shared_long_file() -> LongFile:
    path = DATA_DIR / LONG_FILE
    bounds = json.loads(path.with_suffix(".boundaries.json").read_text(encoding="utf-8"))
    audio = media.load_audio(path)
    utterances = tuple(
        Utterance(b["start"], b["end"], speech_onset_s(audio, b["start"], b["end"]), b["text"]) for b in bounds
    )
    return LongFile(path.stem, path, utterances)


def long_files(into: Path, seed: int) -> list[LongFile]:
    files = [shared_long_file()]
    for k, (name, clips) in enumerate(BUILT_FILES.items()):
        path = into / f"{name}.wav"
        files.append(LongFile(name, path, build_long_file(path, clips, seed + k)))
    return files


def noise_files(into: Path, seed: int) -> dict[str, Path]:
    """The inputs that should give no words at all."""
    rng = np.random.default_rng(seed)
    quiet = into / "digital_silence_20s.wav"
    write_wav(quiet, silence(DIGITAL_SILENCE_S))
    burst = into / "noise_burst_10s.wav"
    side = (BURST_FILE_S - BURST_S) / 2
    write_wav(burst, np.concatenate([silence(side), white_noise(rng, BURST_S, BURST_STD), silence(side)]))
    return {
        f"digital silence ({DIGITAL_SILENCE_S:g} s)": quiet,
        Path(NOISE_ONLY_FILE).name: DATA_DIR / NOISE_ONLY_FILE,
        f"noise burst ({BURST_FILE_S:g} s file, {BURST_S:g} s white noise, std {BURST_STD:g})": burst,
    }


# -- Measures -----------------------------------------------------------------------------------------------------


def start_offsets_ms(cue_list: Sequence[Cue], references_s: Sequence[float]) -> list[int]:
    """For each reference time, the nearest cue start minus it: negative is early (empty when there are no cues)."""
    if not cue_list:
        return []
    offsets = []
    for t in references_s:
        nearest = min(cue_list, key=lambda c: abs(c.start_ms - cues.to_ms(t)))
        offsets.append(nearest.start_ms - cues.to_ms(t))
    return offsets


def crossing_cues(cue_list: Sequence[Cue], utterances: Sequence[Utterance]) -> int:
    """Cues that start before one utterance ends and end after the next one starts."""
    crossing: set[int] = set()
    for before, after in zip(utterances, utterances[1:]):
        end_ms, start_ms = cues.to_ms(before.end_s), cues.to_ms(after.start_s)
        crossing.update(k for k, c in enumerate(cue_list) if c.start_ms < end_ms and c.end_ms > start_ms)
    return len(crossing)


def cues_within_limits(cue_list: Sequence[Cue], options: CueOptions) -> int:
    problems = cues.check_cues(cue_list, options)
    broken = {int(p.split()[1]) for p in problems}  # "cue 3 at ...: ..."
    return len(cue_list) - len(broken)


def word_count(segments: Sequence[Segment]) -> int:
    return sum(len(s.words) if s.words else len(s.text.split()) for s in segments)


def percentile(values: Sequence[int], q: float) -> float | None:
    return float(np.percentile(values, q)) if values else None


def ms(value: float | None) -> str:
    return "—" if value is None else f"{value:.0f}"


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])


# -- Runs ---------------------------------------------------------------------------------------------------------


class Runner:
    """One loaded model, forced English, VAD on or off; remembers what it transcribed."""

    def __init__(self, threads: int) -> None:
        self.transcriber = load_model(ModelOptions(threads=threads), word_timestamps=True)
        self.done: dict[tuple[str, bool], list[Segment]] = {}

    def segments(self, path: Path, use_vad: bool) -> list[Segment]:
        key = (str(path), use_vad)
        if key not in self.done:
            started = time.perf_counter()
            segment_iter, _ = transcribe(str(path), language="en", vad=use_vad, transcriber=self.transcriber)
            self.done[key] = list(segment_iter)
            took = time.perf_counter() - started
            print(f"  {path.name} (VAD {'on' if use_vad else 'off'}): {took:.1f} s", file=sys.stderr, flush=True)
        return self.done[key]


def cue_rows(runner: Runner, files: Sequence[LongFile], options: CueOptions) -> list[list[str]]:
    rows = []
    for label, use_vad in MODES:
        totals: dict[str, Any] = {
            "start": [], "onset": [], "crossing": 0, "cues": 0, "within": 0, "utterances": 0, "pairs": []
        }
        for f in files:
            segments = runner.segments(f.path, use_vad)
            built = cues.build_cues(segments, options, "en")
            measured = {
                "start": start_offsets_ms(built, [u.start_s for u in f.utterances]),
                "onset": start_offsets_ms(built, [u.onset_s for u in f.utterances]),
                "crossing": crossing_cues(built, f.utterances),
                "cues": len(built),
                "within": cues_within_limits(built, options),
                "utterances": len(f.utterances),
                "pairs": [(" ".join(u.reference for u in f.utterances), " ".join(s.text for s in segments))],
            }
            rows.append(_cue_row(f.name, label, measured))
            for key, value in measured.items():
                totals[key] += value
        rows.append(_cue_row("**all long files**", label, totals))
    return rows


def _cue_row(name: str, label: str, m: dict[str, Any]) -> list[str]:
    share = f"{m['within']}/{m['cues']} ({100 * m['within'] / m['cues']:.1f} %)" if m["cues"] else "—"
    return [
        name,
        label,
        str(m["utterances"]),
        str(m["cues"]),
        _offsets(m["start"]),
        _offsets(m["onset"]),
        str(m["crossing"]),
        share,
        f"{100 * corpus_wer(m['pairs']):.1f} %",
    ]


def _offsets(signed: Sequence[int]) -> str:
    """Median and tail of the distances, then the median signed offset in brackets."""
    absolute = [abs(v) for v in signed]
    return f"{ms(percentile(absolute, 50))} / {ms(percentile(absolute, PERCENTILE))} ({ms(percentile(signed, 50))})"


def noise_rows(runner: Runner, inputs: dict[str, Path]) -> list[list[str]]:
    return [
        [name] + [str(word_count(runner.segments(path, use_vad))) for _, use_vad in MODES]
        for name, path in inputs.items()
    ]


def wer_rows(runner: Runner) -> list[list[str]]:
    clips = english_ground_truth(DATA_DIR)
    rows = []
    for label, use_vad in MODES:
        pairs = [(c.reference, " ".join(s.text for s in runner.segments(c.path, use_vad))) for c in clips]
        audio_s = sum(c.duration_s for c in clips)
        rows.append([label, str(len(clips)), f"{audio_s:.0f}", f"{100 * corpus_wer(pairs):.2f} %"])
    return rows


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="Cue timing and limits on long files; words on silence and noise.")
    p.add_argument("--threads", type=int, default=0, help="inference threads (0 lets OpenVINO choose)")
    p.add_argument("--seed", type=int, default=SEED, help="for the built files' gaps and noise")
    p.add_argument("--skip-wer", action="store_true", help="leave out the WER runs on the ground-truth clips")
    p.add_argument("--keep", type=Path, help="write the built files here and keep them (default: a temp dir)")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    options = CueOptions()
    with tempfile.TemporaryDirectory(prefix="ovsub-cue-quality-") as tmp:
        into = args.keep or Path(tmp)
        into.mkdir(parents=True, exist_ok=True)
        files = long_files(into, args.seed)
        quiet = noise_files(into, args.seed)
        runner = Runner(args.threads)
        started = time.perf_counter()
        table = cue_rows(runner, files, options)
        noise = noise_rows(runner, quiet)
        wer = None if args.skip_wer else wer_rows(runner)
        took = time.perf_counter() - started

    print("## Cues on long files (transcribe language=en, default cue options)\n")
    print(
        markdown_table(
            [
                "file",
                "VAD",
                "utterances",
                "cues",
                "cue start vs utterance start, ms: median / p90 of distance (signed median)",
                "cue start vs speech onset, ms: median / p90 of distance (signed median)",
                "cues crossing a gap",
                "cues within every limit",
                "WER",
            ],
            table,
        )
    )
    print(
        "\nUtterance start: where the clip starts in the file (LibriSpeech clips open with up to 0.6 s of silence)."
        "\nSpeech onset: where Silero VAD without padding first hears speech inside the clip."
        "\nEach utterance is matched to the cue starting nearest it; a negative signed offset means the cue starts"
        " before the reference."
        f"\nBuilt files: gaps of {SILENCE_S[0]:g}-{SILENCE_S[1]:g} s, one in {NOISE_EVERY} with "
        f"{NOISE_S[0]:g}-{NOISE_S[1]:g} s of white noise at {NOISE_DBFS:g} dBFS in its middle (seed {args.seed}): "
        + "; ".join(f"{name} = {', '.join(Path(c).stem for c in clips)}" for name, clips in BUILT_FILES.items())
    )
    print("\n## Words emitted where nobody speaks\n")
    print(markdown_table(["input", "words, VAD on", "words, VAD off"], noise))
    if wer is not None:
        print("\n## Corpus WER on the English ground-truth clips (language=en, defaults otherwise)\n")
        print(markdown_table(["VAD", "clips", "audio s", "WER"], wer))
    print(f"\n{len(runner.done)} transcriptions in {took:.0f} s.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
