"""Whisper weights -> an OpenVINO model folder: the graphs, the JSON configs and the tokenizer, without torch.

``write_model_dir`` reads the weights (``weights.py``: CTranslate2 ``model.bin`` or Hugging Face
``*.safetensors``), builds the graphs op by op (``graphs.py``, which says why we do not go through
torch) and writes them with everything else a model folder holds.

The output directory has the layout OpenVINO GenAI's ``WhisperPipeline`` reads (the same file
names and decoder interface as an optimum export): an encoder taking ``input_features``, a
*stateful* decoder taking ``input_ids``, ``encoder_hidden_states`` and ``beam_idx`` whose
self- and cross-attention key/value caches live in ReadValue/Assign state, tokenizer and
detokenizer IR, and the JSON configs. Two more graphs serve ovsub's own decode loop
(``decoding.py``, ``native.NativeTranscriber``): the cross-attention key/value projection, run once
per window, and a step decoder that takes those keys/values as inputs, decodes the beams of several
windows as one batch and returns the alignment heads' scores for word timing.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from ovsub.whisper import features, files
from ovsub.whisper.graphs import build_cross_kv, build_decoder, build_encoder, build_step_decoder
from ovsub.whisper.weights import Dims, read_ct2, read_hf

N_TIMESTAMPS = 1501  # <|0.00|> .. <|30.00|> in steps of 0.02 s

def default_alignment_heads(dims: Dims) -> list[list[int]]:
    """Every head of the upper half of the decoder: OpenAI Whisper's choice when a model names none."""
    return [[layer, h] for layer in range(dims.n_text_layer // 2, dims.n_text_layer) for h in range(dims.n_text_head)]


def _tokenizer_with_timestamps(tokenizer_json: dict[str, Any], n_vocab: int) -> dict[str, Any]:
    """Add the 1501 timestamp tokens <|0.00|> .. <|30.00|> after the special tokens if missing.

    CTranslate2's tokenizer.json stops at <|notimestamps|>; the model's vocabulary (n_vocab)
    includes the timestamps, and the detokenizer must know them for timestamps to decode.
    """
    added = list(tokenizer_json.get("added_tokens", []))
    if any(t["content"] == "<|0.00|>" for t in added):
        return tokenizer_json
    first = max(t["id"] for t in added) + 1
    if first + N_TIMESTAMPS != n_vocab:
        raise ValueError(f"tokenizer has {first} tokens before timestamps; the model expects {n_vocab - N_TIMESTAMPS}")
    for i in range(N_TIMESTAMPS):
        added.append(
            {
                "id": first + i,
                "content": f"<|{i * 0.02:.2f}|>",
                "single_word": False,
                "lstrip": False,
                "rstrip": False,
                "normalized": False,
                "special": True,
            }
        )
    return {**tokenizer_json, "added_tokens": added}


def _generation_config(tokens: dict[str, int], dims: Dims, ct2_config: dict[str, Any]) -> dict[str, Any]:
    """The generation_config.json GenAI reads, derived from the tokenizer's special tokens."""
    eot = tokens["<|endoftext|>"]
    multilingual = dims.n_vocab >= 51865
    languages = {t: i for t, i in tokens.items() if re.fullmatch(r"<\|[a-z]{2,3}\|>", t) or t == "<|haw|>"}
    languages = {t: i for t, i in languages.items() if tokens["<|startoftranscript|>"] < i < tokens["<|translate|>"]}
    config: dict[str, Any] = {
        "alignment_heads": ct2_config.get("alignment_heads", []),
        "begin_suppress_tokens": ct2_config.get("suppress_ids_begin", [220, eot]),
        "suppress_tokens": ct2_config.get("suppress_ids", []),
        "bos_token_id": eot,
        "eos_token_id": eot,
        "pad_token_id": eot,
        "decoder_start_token_id": tokens["<|startoftranscript|>"],
        "no_timestamps_token_id": tokens["<|notimestamps|>"],
        "prev_sot_token_id": tokens["<|startofprev|>"],
        "max_initial_timestamp_index": 50,
        "max_length": dims.n_text_ctx,
        "is_multilingual": multilingual,
        "return_timestamps": False,
    }
    if multilingual:
        config["lang_to_id"] = languages
        config["task_to_id"] = {"transcribe": tokens["<|transcribe|>"], "translate": tokens["<|translate|>"]}
    return config


def _model_config(dims: Dims, gen: dict[str, Any]) -> dict[str, Any]:
    """A Hugging Face style config.json, for tools that read it (GenAI reads max_source_positions)."""
    return {
        "model_type": "whisper",
        "architectures": ["WhisperForConditionalGeneration"],
        "num_mel_bins": dims.n_mels,
        "max_source_positions": dims.n_audio_ctx,
        "max_target_positions": dims.n_text_ctx,
        "d_model": dims.d_model,
        "encoder_attention_heads": dims.n_audio_head,
        "encoder_layers": dims.n_audio_layer,
        "decoder_attention_heads": dims.n_text_head,
        "decoder_layers": dims.n_text_layer,
        "vocab_size": dims.n_vocab,
        "decoder_start_token_id": gen["decoder_start_token_id"],
        "eos_token_id": gen["eos_token_id"],
        "pad_token_id": gen["pad_token_id"],
        "bos_token_id": gen["bos_token_id"],
    }


def _preprocessor_config(dims: Dims) -> dict[str, Any]:
    return {
        "feature_extractor_type": "WhisperFeatureExtractor",
        "feature_size": dims.n_mels,
        "sampling_rate": features.SAMPLE_RATE,
        "hop_length": features.HOP_LENGTH,
        "n_fft": features.N_FFT,
        "chunk_length": features.CHUNK_S,
        "n_samples": features.N_SAMPLES,
        "nb_max_frames": features.N_FRAMES,
        "padding_side": "right",
        "padding_value": 0.0,
        "return_attention_mask": False,
    }


def _write_tokenizers(tokenizer_json: dict[str, Any], gen: dict[str, Any], out_dir: Path) -> None:
    """Write tokenizer.json (read by ovsub's decode loop) and the tokenizer/detokenizer IR (read by GenAI)."""
    from ovsub.whisper import tokenizer_ir

    path = out_dir / files.TOKENIZER_JSON
    tokenizer_ir.save_tokenizer_json(tokenizer_json, path)
    tokenizer_ir.write_tokenizer_ir(path, gen, out_dir)


def write_model_dir(source: Any, out_dir: Path, precision: str) -> None:
    """Convert ``source`` (a models.Source of kind ct2 or hf) into an OpenVINO GenAI model folder."""
    import openvino as ov

    if source.kind == "ct2":
        dims, weights = read_ct2(source.weights)
        ct2_config = json.loads((source.assets / files.CONFIG).read_text(encoding="utf-8"))
    elif source.kind == "hf":
        dims, weights = read_hf(source.assets)
        ct2_config = {}
        hf_gen_path = source.assets / files.GENERATION_CONFIG
        if hf_gen_path.is_file():
            hf_gen = json.loads(hf_gen_path.read_text(encoding="utf-8"))
            ct2_config = {
                "alignment_heads": hf_gen.get("alignment_heads", []),
                "suppress_ids": hf_gen.get("suppress_tokens", []),
                "suppress_ids_begin": hf_gen.get("begin_suppress_tokens", []),
            }
    else:
        raise ValueError(f"cannot convert a {source.kind!r} model")
    tokenizer_json = json.loads((source.assets / files.TOKENIZER_JSON).read_text(encoding="utf-8"))
    tokenizer_json = _tokenizer_with_timestamps(tokenizer_json, dims.n_vocab)
    tokens = {t["content"]: t["id"] for t in tokenizer_json["added_tokens"]}
    gen = _generation_config(tokens, dims, ct2_config)
    _write_tokenizers(tokenizer_json, gen, out_dir)
    for name, data in (
        (files.GENERATION_CONFIG, gen),
        (files.CONFIG, _model_config(dims, gen)),
        (files.PREPROCESSOR_CONFIG, _preprocessor_config(dims)),
    ):
        (out_dir / name).write_text(json.dumps(data, indent=2), encoding="utf-8")
    compress = precision != "fp32"
    ov.save_model(build_encoder(dims, weights, precision), out_dir / files.ENCODER_MODEL, compress)
    ov.save_model(build_decoder(dims, weights, precision), out_dir / files.DECODER_MODEL, compress)
    # ovsub's own decode loop (native.NativeTranscriber) runs these two instead of GenAI's decoder.
    heads = gen["alignment_heads"] or default_alignment_heads(dims)
    ov.save_model(build_cross_kv(dims, weights, precision), out_dir / files.CROSS_KV_MODEL, compress)
    ov.save_model(build_step_decoder(dims, weights, precision, heads), out_dir / files.STEP_DECODER_MODEL, compress)
