"""Whisper on OpenVINO: the only package that knows Whisper's models, tokens and files, or OpenVINO.

    load(model_dir, options) -> Transcriber        (transcriber.py: the protocol and its data)
        NativeTranscriber   ovsub's own decode loop (native.py), over
                            features.py (log-mel), decoding.py (Whisper's rules, beam search),
                            alignment.py and dtw.py (word times from cross-attention)
        GenAITranscriber    OpenVINO GenAI's WhisperPipeline (genai.py), for folders other tools exported

    models.py   model names -> weights -> the cached, converted IR (``ensure_model``)
    convert.py  Whisper weights -> OpenVINO IR, op by op, without torch: weights.py (reading CTranslate2
                and Hugging Face files), graphs.py (the encoder and decoders as OpenVINO graphs)
    files.py    every file name of a model folder

Loading takes a model folder that is ready: turning a model name into one (conversion, caching) is
the caller's step, ``models.ensure_model``. Nothing here imports OpenVINO until a model is loaded.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

from ovsub.errors import ModelError
from ovsub.options import ModelOptions
from ovsub.whisper import files
from ovsub.whisper.transcriber import Chunk, DecodeRequest, DecodeResult, LanguageGuess, Transcriber

log = logging.getLogger("ovsub")

_loaded: dict[tuple[Any, ...], Transcriber] = {}
_loaded_lock = threading.Lock()


def load(model_dir: str | Path, options: ModelOptions, word_timestamps: bool = True) -> Transcriber:
    """A transcriber for the OpenVINO model in ``model_dir``; one instance per process, folder and settings.

    ``options.decoder`` picks the loop: ovsub's own wherever the folder has its step decoder (every
    folder ovsub converts does); GenAI's WhisperPipeline for a folder exported by another tool, or when
    asked for. ``word_timestamps`` matters to GenAI only, which must know at load time.
    """
    folder = Path(model_dir)
    native = (folder / files.STEP_DECODER_MODEL).is_file()
    if options.decoder == "ovsub" and not native:
        raise ModelError(f"{folder}: no {files.STEP_DECODER_MODEL}; this folder can only run with --decoder genai")
    use_native = native and options.decoder != "genai"
    key = (folder.resolve(), options.device, options.threads, use_native, use_native or word_timestamps)
    with _loaded_lock:
        if key not in _loaded:
            log.info("loading the model in %s (%s decode loop, %s)", folder, "ovsub" if use_native else "GenAI",
                     options.device)  # fmt: skip
            if use_native:
                from ovsub.whisper.native import NativeTranscriber

                _loaded[key] = NativeTranscriber(folder, options)
            else:
                from ovsub.whisper.genai import GenAITranscriber

                _loaded[key] = GenAITranscriber(folder, options, word_timestamps)
        return _loaded[key]


__all__ = ["load", "Transcriber", "DecodeRequest", "DecodeResult", "Chunk", "LanguageGuess"]
