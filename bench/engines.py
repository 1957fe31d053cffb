"""The engines the benchmark compares, each behind the same two-method adapter.

An engine is named on the command line as ``<family>-<precision>``:

    ovsub-int8, ovsub-fp16, ovsub-fp32      ovsub's own path (transcribe(): VAD, guards, its own decode loop)
    ovsub-genai-int8, ...                   the same path decoding through OpenVINO GenAI's WhisperPipeline
    fw-int8, fw-float32, fw-int8_float32    faster-whisper (CTranslate2) with that compute_type
    openai-whisper                          the reference PyTorch implementation (fp32), if importable

Every adapter is built from the same ``Settings`` (beams, threads, language, word timestamps,
VAD), so no engine gets a setting the others do not. Nothing here times anything: the worker does.
Only one adapter is built per process, so an engine never shares memory or threads with another.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

MODEL_NAME = "base"  # the bundled CTranslate2 weights; every engine reads these same numbers
OVSUB_PRECISIONS = ("int8", "fp16", "fp32")  # ovsub.options.PRECISIONS
FW_MODEL_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")  # what faster-whisper reads beside model.bin
# What runs between samples in and segments out.
OVSUB_TIMED_CODE = ("audio", "whisper", "transcription", "options.py", "types.py")
COPY_BLOCK_BYTES = 1 << 22  # 4 MiB: join model.bin in blocks, so joining does not raise the worker's peak RSS


class EngineUnavailable(RuntimeError):
    """The engine cannot run on this machine (not installed, no weights); the benchmark skips it with a note."""


@dataclass(frozen=True)
class Settings:
    """What every engine is asked to do; the same object is given to all of them."""

    beam_size: int  # beams; 1 is greedy
    threads: int  # CPU threads for inference
    language: str | None = "en"  # forced language (None detects it)
    word_timestamps: bool = True  # per-word timing: ovsub needs it for cues, so it is on by default
    vad: bool = False  # voice activity detection before decoding (ovsub: Silero on OpenVINO; fw: vad_filter)
    batch_size: int = 0  # faster-whisper only: above 0, its BatchedInferencePipeline with this many windows a batch


class Engine(Protocol):
    """Turns 16 kHz mono float32 samples (or a media file) into text."""

    name: str
    notes: str  # settings a reader of the results should know (defaults left as the engine ships them)

    def transcribe(self, audio: np.ndarray | None, path: str) -> str:
        """The whole transcript; ``audio=None`` makes the engine decode ``path`` itself."""
        ...

    def segments(self, audio: np.ndarray | None, path: str) -> tuple[list[Any], dict[str, Any]]:
        """The transcript as ovsub ``Segment``s with their words (other engines' converted), and what the engine
        reports beside them (ovsub: the windows its guards dropped)."""
        ...

    def close(self) -> None: ...


def code_fingerprint(name: str) -> str | None:
    """A short hash of the ovsub modules on the timed path (None for other engines).

    The working tree may be shared with people editing it; this tells a run whether two of its
    workers ran different code. Modules off the path (CLI, cues, writers) are left out.
    """
    if not parse_name(name)[0].startswith("ovsub"):
        return None
    import ovsub

    root = Path(ovsub.__file__).parent
    digest = hashlib.sha256()
    for part in OVSUB_TIMED_CODE:
        files = sorted((root / part).rglob("*.py")) if (root / part).is_dir() else [root / part]
        for module in files:
            digest.update(str(module.relative_to(root)).encode())
            digest.update(module.read_bytes())
    return digest.hexdigest()[:10]


def ir_info(name: str) -> dict[str, Any] | None:
    """Which cached IR an ovsub engine loads: its converter version and when it was built (None for others)."""
    family, precision = parse_name(name)
    if not family.startswith("ovsub"):
        return None
    from ovsub.whisper import files, models

    entry = models.entry_dir(MODEL_NAME, precision)
    manifest = models.read_manifest(entry) or {}
    built = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime((entry / files.MANIFEST).stat().st_mtime))
    return {"converter": manifest.get("converter"), "built": built, "openvino": manifest.get("openvino")}


def parse_name(name: str) -> tuple[str, str]:
    """Split an engine name into its family and precision.

    >>> parse_name("fw-int8")
    ('fw', 'int8')
    >>> parse_name("ovsub-genai-int8")
    ('ovsub-genai', 'int8')
    >>> parse_name("openai-whisper")
    ('openai-whisper', 'fp32')
    """
    if name == "openai-whisper":
        return name, "fp32"
    family, sep, precision = name.rpartition("-")
    if not sep or family not in ("ovsub", "ovsub-genai", "fw") or not precision:
        raise ValueError(
            f"unknown engine {name!r}: use ovsub-<int8|fp16|fp32>, ovsub-genai-<precision>, fw-<compute_type> "
            "or openai-whisper"
        )
    if family.startswith("ovsub") and precision not in OVSUB_PRECISIONS:
        raise ValueError(f"{name!r}: ovsub precision must be one of {', '.join(OVSUB_PRECISIONS)}")
    return family, precision


def make(name: str, settings: Settings) -> Engine:
    """Load the named engine (model loading happens here, outside any timed region)."""
    family, precision = parse_name(name)
    if family.startswith("ovsub"):
        return OvsubEngine(name, precision, settings, decoder="genai" if family == "ovsub-genai" else "ovsub")
    if family == "fw":
        return FasterWhisperEngine(name, precision, settings)
    return OpenAIWhisperEngine(name, settings)


def prepare(name: str) -> None:
    """One-off work before the engine's worker starts (ovsub converts and caches its IR here).

    Run in a process of its own, so a first conversion never counts towards a worker's peak RSS.
    """
    family, precision = parse_name(name)
    if family.startswith("ovsub"):
        from ovsub.options import ModelOptions
        from ovsub.whisper import models

        models.ensure_model(ModelOptions(name=MODEL_NAME, precision=precision))


class OvsubEngine:
    """ovsub's public path: ``ovsub.transcribe.transcribe`` with its VAD, guards and fallback."""

    def __init__(self, name: str, precision: str, settings: Settings, decoder: str) -> None:
        from ovsub.options import ModelOptions, TranscribeOptions
        from ovsub.transcription import load_model

        self.name = name
        self.options = TranscribeOptions(
            language=settings.language,
            beam_size=settings.beam_size,
            word_timestamps=settings.word_timestamps,
            vad=settings.vad,
        )
        self.model = ModelOptions(name=MODEL_NAME, precision=precision, threads=settings.threads, decoder=decoder)
        load_model(self.model, settings.word_timestamps)  # cached per process: transcribe() reuses it
        self.notes = (
            f"ovsub {precision} IR through transcribe(), {'its own decode loop' if decoder == 'ovsub' else 'GenAI'}: "
            f"VAD {'on' if settings.vad else 'off'}, "
            "hallucination guards with temperature fallback, no conditioning on previous text"
        )

    def transcribe(self, audio: np.ndarray | None, path: str) -> str:
        return " ".join(s.text.strip() for s in self.segments(audio, path)[0])

    def segments(self, audio: np.ndarray | None, path: str) -> tuple[list[Any], dict[str, Any]]:
        from ovsub import transcribe

        segments, info = transcribe(path, self.options, self.model, audio=audio)
        decoded = list(segments)  # info.dropped fills in while the segments are consumed
        return decoded, {"dropped": info.dropped, "speech_s": info.speech_s}

    def close(self) -> None:
        pass


def ct2_model_dir(into: Path) -> Path:
    """The bundled base weights as a CTranslate2 model folder: model.bin joined from its parts, plus assets."""
    from ovsub.whisper import models

    source = models.resolve(MODEL_NAME)
    with open(into / "model.bin", "wb") as out:
        for part in source.weights:
            with open(part, "rb") as src:
                shutil.copyfileobj(src, out, COPY_BLOCK_BYTES)
    for name in FW_MODEL_FILES:
        shutil.copy(source.assets / name, into / name)
    return into


class FasterWhisperEngine:
    """faster-whisper on the same CTranslate2 weights, its own defaults except what Settings fixes."""

    def __init__(self, name: str, compute_type: str, settings: Settings) -> None:
        try:
            import ctranslate2
            from faster_whisper import WhisperModel
        except ImportError as e:
            raise EngineUnavailable(f"faster-whisper is not installed ({e}); pip install 'ovsub[bench]'") from e
        supported = ctranslate2.get_supported_compute_types("cpu")
        if compute_type not in supported:
            raise EngineUnavailable(f"compute_type {compute_type!r} not supported on this CPU ({sorted(supported)})")
        self.name = name
        self.settings = settings
        self._tmp = tempfile.TemporaryDirectory(prefix="ovsub-bench-ct2-")
        folder = ct2_model_dir(Path(self._tmp.name))
        self.model = WhisperModel(str(folder), device="cpu", compute_type=compute_type, cpu_threads=settings.threads)
        self.batched = None
        if settings.batch_size > 0:
            from faster_whisper import BatchedInferencePipeline

            self.batched = BatchedInferencePipeline(self.model)
        self.notes = (
            f"faster-whisper compute_type={compute_type}, cpu_threads={settings.threads}, vad_filter={settings.vad}"
            + (
                f", BatchedInferencePipeline batch_size={settings.batch_size}; its defaults otherwise (no conditioning "
                "on previous text, one temperature)"
                if self.batched
                else "; its defaults otherwise (condition_on_previous_text=True, temperature fallback 0.0-1.0)"
            )
        )

    def _decode(self, audio: np.ndarray | None, path: str) -> Any:
        """faster-whisper's lazy segments (the generator decodes as it is consumed)."""
        s = self.settings
        source = path if audio is None else audio
        asked = dict(language=s.language, beam_size=s.beam_size, word_timestamps=s.word_timestamps, vad_filter=s.vad)
        if self.batched is not None:
            return self.batched.transcribe(source, batch_size=s.batch_size, **asked)[0]
        return self.model.transcribe(source, **asked)[0]

    def transcribe(self, audio: np.ndarray | None, path: str) -> str:
        return " ".join(seg.text.strip() for seg in self._decode(audio, path))

    def segments(self, audio: np.ndarray | None, path: str) -> tuple[list[Any], dict[str, Any]]:
        from ovsub import Segment, Word

        converted = [
            Segment(
                id=i,
                start_s=seg.start,
                end_s=seg.end,
                text=seg.text.strip(),
                words=tuple(Word(w.start, w.end, w.word, w.probability) for w in seg.words or ()),
                language=self.settings.language,
                avg_logprob=seg.avg_logprob,
                compression_ratio=seg.compression_ratio,
                temperature=seg.temperature or 0.0,
            )
            for i, seg in enumerate(self._decode(audio, path))
        ]
        return converted, {}

    def close(self) -> None:
        del self.model
        self._tmp.cleanup()


class OpenAIWhisperEngine:
    """openai-whisper on torch (CPU, fp32), only when torch and a cached checkpoint are already present.

    Its checkpoint is OpenAI's float32 original, not the CTranslate2 float16 copy the others read:
    the same model, not bit-identical weights. Nothing is downloaded.
    """

    def __init__(self, name: str, settings: Settings) -> None:
        try:
            import torch
            import whisper
        except ImportError as e:
            raise EngineUnavailable(f"openai-whisper/torch not importable ({e}); not installed on purpose") from e
        checkpoint = Path.home() / ".cache" / "whisper" / f"{MODEL_NAME}.pt"
        if not checkpoint.is_file():
            raise EngineUnavailable(f"no cached openai-whisper checkpoint at {checkpoint} (offline: not downloaded)")
        torch.set_num_threads(settings.threads)
        self.name = name
        self.settings = settings
        self.model: Any = whisper.load_model(str(checkpoint), device="cpu")
        self.notes = "openai-whisper fp32 on torch CPU, OpenAI's own checkpoint, no VAD; its defaults otherwise"

    def transcribe(self, audio: np.ndarray | None, path: str) -> str:
        s = self.settings
        result = self.model.transcribe(
            path if audio is None else audio,
            language=s.language,
            beam_size=s.beam_size if s.beam_size > 1 else None,
            word_timestamps=s.word_timestamps,
            fp16=False,
        )
        return str(result["text"]).strip()

    def segments(self, audio: np.ndarray | None, path: str) -> tuple[list[Any], dict[str, Any]]:
        raise EngineUnavailable("openai-whisper: only whole transcripts are compared, not segments")

    def close(self) -> None:
        pass
