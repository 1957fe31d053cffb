"""Where ovsub's time goes on one file: features, encoder, decoder per token, word timing, VAD, our own code.

    python bench/profile_ovsub.py --beams 1,5
    python bench/profile_ovsub.py --beams 1 --ov-config INFERENCE_PRECISION_HINT=f32   # try a runtime setting

Two views, both after a warm-up:

1. GenAI's own stage timings (``perf_metrics`` of a WhisperPipeline built as ovsub's engine builds
   it: same IR, threads, word-timestamp flag), for the whole file in one ``generate`` call, which
   is what ovsub does with VAD off.
2. ovsub's path, ``transcribe()``, with VAD on and off, its transcriber wrapped so each decode call
   (one per VAD window, more when the guards ask for a retry) is timed; VAD is timed on its own.

This script reads GenAI directly (the package keeps every GenAI call inside engine.py; a profiler
outside the package may look underneath). Runs are single and the machine may be shared: compare
stages within a run, and look at the load average printed with them.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import report
from report import fmt

DEFAULT_AUDIO = report.DATA_DIR / "english" / "long" / "derived_librispeech_concat_10utt.flac"
WARMUP_S = 10  # seconds of the file decoded once before measuring
US_PER_S = 1e6  # GenAI's raw durations are microseconds
SAMPLE_RATE = 16000


def _ov_config(items: list[str], threads: int) -> dict[str, Any]:
    config: dict[str, Any] = {"INFERENCE_NUM_THREADS": threads}
    for item in items:
        key, _, value = item.partition("=")
        config[key] = value
    return config


def genai_stages(
    model_dir: Path, audio: np.ndarray, beams: list[int], word_timestamps: bool, config: dict[str, Any]
) -> list[dict[str, Any]]:
    """One WhisperPipeline, one measured generate per beam setting: GenAI's stage timings in seconds."""
    import openvino_genai

    extra = {"word_timestamps": True} if word_timestamps else {}
    pipe = openvino_genai.WhisperPipeline(str(model_dir), "CPU", **extra, **config)
    kwargs = {"return_timestamps": True, "language": "<|en|>", "task": "transcribe", "max_new_tokens": 224, **extra}
    pipe.generate(audio[: WARMUP_S * SAMPLE_RATE], num_beams=1, **kwargs)
    out = []
    for beam in beams:
        pipe.generate(audio[: WARMUP_S * SAMPLE_RATE], num_beams=beam, **kwargs)
        cpu0, started = process_cpu_s(), time.perf_counter()
        result = pipe.generate(audio, num_beams=beam, **kwargs)
        wall, cpu = time.perf_counter() - started, process_cpu_s() - cpu0
        pm = result.perf_metrics
        raw = pm.whisper_raw_metrics
        decode = list(raw.decode_inference_durations)
        stages = {
            "features": sum(raw.features_extraction_durations) / US_PER_S,
            "encoder": sum(raw.encode_inference_durations) / US_PER_S,
            "decoder": sum(decode) / US_PER_S,
            "sampling": sum(pm.raw_metrics.sampling_durations) / US_PER_S,
            "word timing": sum(raw.word_level_timestamps_processing_durations) / US_PER_S,
            "detokenize": sum(pm.raw_metrics.detokenization_durations) / US_PER_S,
        }
        out.append(
            {
                "beams": beam,
                "word_timestamps": word_timestamps,
                "wall_s": wall,
                "cpu_s": cpu,
                "stages": stages,
                "other_s": wall - sum(stages.values()),
                "encoder_calls": len(raw.encode_inference_durations),
                "decoder_steps": len(decode),
                "ms_per_step": 1000 * sum(decode) / US_PER_S / max(len(decode), 1),
                "ms_per_step_median": float(np.median(decode)) / 1000 if decode else None,
                "tokens": pm.get_num_generated_tokens(),
                "text": result.texts[0] if result.texts else "",
            }
        )
    return out


def process_cpu_s() -> float:
    import resource

    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


@dataclass
class TimedTranscriber:
    """ovsub's transcriber with each decode call timed (a wrapper, not a patch)."""

    inner: Any
    calls: list[tuple[float, float, float]] = field(default_factory=list)  # (audio s, wall s, temperature)
    multilingual: bool = True

    def __post_init__(self) -> None:
        self.multilingual = bool(self.inner.multilingual)

    def decode(self, audio: np.ndarray, request: Any) -> Any:
        started = time.perf_counter()
        result = self.inner.decode(audio, request)
        self.calls.append((len(audio) / SAMPLE_RATE, time.perf_counter() - started, request.temperature))
        return result


def ovsub_path(audio: np.ndarray, path: str, model: Any, beams: list[int]) -> list[dict[str, Any]]:
    """transcribe() with VAD on and off per beam setting: decode calls, their time, VAD time, the rest."""
    from ovsub.audio import vad
    from ovsub.options import TranscribeOptions
    from ovsub.transcription import load_model, transcribe

    inner = load_model(model, word_timestamps=True)
    vad.speech_regions(audio[: WARMUP_S * SAMPLE_RATE])  # compiles the VAD model
    started = time.perf_counter()
    regions = vad.speech_regions(audio)
    vad_s = time.perf_counter() - started
    out = []
    for beam in beams:
        for use_vad in (False, True):
            timed = TimedTranscriber(inner)
            options = TranscribeOptions(language="en", beam_size=beam, vad=use_vad)
            list(transcribe(path, options, model, audio=audio[: WARMUP_S * SAMPLE_RATE], transcriber=timed)[0])
            timed.calls.clear()
            started = time.perf_counter()
            segments, _ = transcribe(path, options, model, audio=audio, transcriber=timed)
            text = " ".join(s.text for s in segments)
            wall = time.perf_counter() - started
            decode_s = sum(c[1] for c in timed.calls)
            out.append(
                {
                    "beams": beam,
                    "vad": use_vad,
                    "wall_s": wall,
                    "decode_calls": len(timed.calls),
                    "retries": sum(1 for c in timed.calls if c[2] > 0),
                    "decode_s": decode_s,
                    "decoded_audio_s": sum(c[0] for c in timed.calls),
                    "vad_s": vad_s if use_vad else 0.0,
                    "rest_s": wall - decode_s - (vad_s if use_vad else 0.0),
                    "speech_regions": len(regions),
                    "text": text,
                }
            )
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Where ovsub's time goes on one file.")
    p.add_argument("--audio", type=Path, default=DEFAULT_AUDIO)
    p.add_argument("--beams", default="1,5")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--model", default="base", help="model name or folder (e.g. an edited copy of the cached IR)")
    p.add_argument("--precision", default="int8", choices=("int8", "fp16", "fp32"))
    p.add_argument("--word-timestamps", default="on,off", help="GenAI view: on, off or both (on,off)")
    p.add_argument("--ov-config", action="append", default=[], metavar="KEY=VALUE", help="extra pipeline property")
    p.add_argument("--skip-ovsub-path", action="store_true", help="only GenAI's stage timings")
    p.add_argument("--out", type=Path, help="also write the markdown here")
    args = p.parse_args(argv)
    beams = [int(b) for b in args.beams.split(",")]

    from ovsub.audio import media
    from ovsub.options import ModelOptions
    from ovsub.whisper import models

    load_start = report.load_average()
    audio = media.load_audio(args.audio)
    audio_s = len(audio) / SAMPLE_RATE
    model = ModelOptions(name=args.model, precision=args.precision, threads=args.threads)
    model_dir = models.ensure_model(model)
    config = _ov_config(args.ov_config, args.threads)
    genai = []
    for wt in args.word_timestamps.split(","):
        genai += genai_stages(model_dir, audio, beams, wt.strip() == "on", config)
    path_rows = []
    if not args.skip_ovsub_path:
        path_rows = ovsub_path(audio, str(args.audio), model, beams)
    load_end = report.load_average()

    stage_names = list(genai[0]["stages"]) if genai else []
    lines = [
        f"# Where ovsub's time goes: {args.audio.name} ({audio_s:.1f} s), {args.model} {args.precision}, "
        f"{args.threads} threads",
        "",
        *report.machine_lines(load_start, load_end),
        f"- Pipeline properties: {config}",
        "",
        "## GenAI stages (one generate over the whole file, language forced to en), seconds",
        "",
        report.markdown_table(
            [
                *("beams", "word ts", "wall", "CPU", *stage_names, "other"),
                *("enc calls", "dec steps", "ms/step (mean, median)"),
            ],
            [
                [
                    str(g["beams"]),
                    "on" if g["word_timestamps"] else "off",
                    fmt(g["wall_s"]),
                    fmt(g["cpu_s"]),
                    *(fmt(g["stages"][n]) for n in stage_names),
                    fmt(g["other_s"]),
                    str(g["encoder_calls"]),
                    str(g["decoder_steps"]),
                    f"{g['ms_per_step']:.1f}, {fmt(g['ms_per_step_median'], 1)}",
                ]
                for g in genai
            ],
        ),
        "",
    ]
    if path_rows:
        lines += [
            "## ovsub's transcribe() (word timestamps on), seconds",
            "",
            report.markdown_table(
                ["beams", "VAD", "wall", "VAD s", "decode calls", "retries", "decode s", "audio decoded s", "rest"],
                [
                    [
                        str(r["beams"]),
                        "on" if r["vad"] else "off",
                        fmt(r["wall_s"]),
                        fmt(r["vad_s"]),
                        str(r["decode_calls"]),
                        str(r["retries"]),
                        fmt(r["decode_s"]),
                        fmt(r["decoded_audio_s"], 1),
                        fmt(r["rest_s"]),
                    ]
                    for r in path_rows
                ],
            ),
            "",
        ]
    markdown = "\n".join(lines)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(markdown, encoding="utf-8")
    print(markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
