"""Whisper weights read into numpy arrays, from the files users already have, without torch.

Both readers return the model's shape (``Dims``) and its arrays under one naming scheme
(``enc.L0.attn.q.w``, ``dec.L3.cross.k.b``, ...) that ``graphs.py`` builds the OpenVINO graphs from:

* CTranslate2 ``model.bin`` (what faster-whisper uses, and what the registry packages ship): a
  small binary header (format version, spec name, revision), then named arrays. CTranslate2 fuses
  attention projections (q|k|v for self-attention, k|v for cross-attention); we split them back.
* Hugging Face ``*.safetensors`` (``WhisperForConditionalGeneration``), read with numpy.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from ovsub.whisper import files

# CTranslate2 DataType ids (ctranslate2/types.h) -> numpy dtypes.
_CT2_DTYPES = {0: np.float32, 1: np.int8, 2: np.int16, 3: np.int32, 4: np.float16}


@dataclass(frozen=True)
class Dims:
    """Shape of a Whisper model."""

    n_mels: int  # mel bins per frame (80, or 128 for large-v3)
    n_audio_ctx: int  # encoder positions (1500)
    n_text_ctx: int  # decoder positions (448)
    d_model: int  # width of every layer
    n_audio_head: int  # encoder attention heads
    n_audio_layer: int  # encoder layers
    n_text_head: int  # decoder attention heads
    n_text_layer: int  # decoder layers
    n_vocab: int  # vocabulary incl. special and timestamp tokens


Weights = dict[str, np.ndarray]


def _read_ct2_arrays(stream: BinaryIO) -> tuple[str, dict[str, np.ndarray]]:
    """Read every named array of a CTranslate2 model.bin (format versions 5 and 6)."""

    def unpack(fmt: str) -> Any:
        size = struct.calcsize("<" + fmt)
        data = stream.read(size)
        if len(data) != size:
            raise ValueError("model.bin ends early (truncated file)")
        return struct.unpack("<" + fmt, data)[0]

    def string() -> str:
        n = unpack("H")
        return stream.read(n)[:-1].decode("utf-8")

    version = unpack("I")
    if version < 5 or version > 6:
        raise ValueError(f"unsupported CTranslate2 model.bin version {version} (expected 5 or 6)")
    spec = string()
    unpack("I")  # spec revision
    arrays: dict[str, np.ndarray] = {}
    for _ in range(unpack("I")):
        name = string()
        rank = unpack("B")
        shape = tuple(unpack("I") for _ in range(rank))
        dtype = _CT2_DTYPES.get(unpack("B"))
        nbytes = unpack("I")
        raw = stream.read(nbytes)
        if dtype is None or len(raw) != nbytes:
            raise ValueError(f"model.bin: cannot read array {name!r}")
        arrays[name] = np.frombuffer(raw, dtype=dtype).reshape(shape)
    for _ in range(unpack("I")):
        alias, target = string(), string()
        arrays[alias] = arrays[target]
    return spec, arrays


def read_ct2(parts: Iterable[Path]) -> tuple[Dims, Weights]:
    """Read a CTranslate2 Whisper model given as one model.bin or its parts, in order."""
    import io

    paths = list(parts)
    if len(paths) == 1:
        with open(paths[0], "rb") as single:
            spec, a = _read_ct2_arrays(single)
    else:
        with io.BytesIO(b"".join(p.read_bytes() for p in paths)) as joined:
            spec, a = _read_ct2_arrays(joined)
    if spec != "WhisperSpec":
        raise ValueError(f"not a Whisper model: CTranslate2 spec is {spec!r}")

    def f32(name: str) -> np.ndarray:
        return np.asarray(a[name], dtype=np.float32)

    n_enc = sum(1 for k in a if k.startswith("encoder/layer_") and k.endswith("ffn/linear_0/weight"))
    n_dec = sum(1 for k in a if k.startswith("decoder/layer_") and k.endswith("ffn/linear_0/weight"))
    d = a["decoder/embeddings/weight"].shape[1]
    dims = Dims(
        n_mels=a["encoder/conv1/weight"].shape[1],
        n_audio_ctx=a["encoder/position_encodings/encodings"].shape[0],
        n_text_ctx=a["decoder/position_encodings/encodings"].shape[0],
        d_model=d,
        n_audio_head=int(a["encoder/num_heads"]),
        n_audio_layer=n_enc,
        n_text_head=int(a["decoder/num_heads"]),
        n_text_layer=n_dec,
        n_vocab=a["decoder/embeddings/weight"].shape[0],
    )
    w: Weights = {
        "enc.conv1.w": f32("encoder/conv1/weight"),
        "enc.conv1.b": f32("encoder/conv1/bias"),
        "enc.conv2.w": f32("encoder/conv2/weight"),
        "enc.conv2.b": f32("encoder/conv2/bias"),
        "enc.pos": f32("encoder/position_encodings/encodings"),
        "enc.ln_post.g": f32("encoder/layer_norm/gamma"),
        "enc.ln_post.b": f32("encoder/layer_norm/beta"),
        "dec.embed": f32("decoder/embeddings/weight"),
        "dec.pos": f32("decoder/position_encodings/encodings"),
        "dec.ln.g": f32("decoder/layer_norm/gamma"),
        "dec.ln.b": f32("decoder/layer_norm/beta"),
    }

    def put_block(dst: str, src: str, linears: tuple[tuple[str, ...], ...]) -> None:
        """A layer norm and the linears after it, each linear holding the projections named, stacked."""
        w[f"{dst}_ln.g"], w[f"{dst}_ln.b"] = f32(f"{src}/layer_norm/gamma"), f32(f"{src}/layer_norm/beta")
        for i, names in enumerate(linears):
            weights = np.split(f32(f"{src}/linear_{i}/weight"), len(names))
            biases = np.split(f32(f"{src}/linear_{i}/bias"), len(names))
            for name, weight, bias in zip(names, weights, biases, strict=True):
                w[f"{dst}.{name}.w"], w[f"{dst}.{name}.b"] = weight, bias

    self_attention = (("q", "k", "v"), ("o",))  # CTranslate2 fuses q|k|v into linear_0
    cross_attention = (("q",), ("k", "v"), ("o",))  # ... and k|v into linear_1
    mlp = (("0",), ("1",))
    for i in range(n_enc):
        put_block(f"enc.L{i}.attn", f"encoder/layer_{i}/self_attention", self_attention)
        put_block(f"enc.L{i}.mlp", f"encoder/layer_{i}/ffn", mlp)
    for i in range(n_dec):
        put_block(f"dec.L{i}.attn", f"decoder/layer_{i}/self_attention", self_attention)
        put_block(f"dec.L{i}.cross", f"decoder/layer_{i}/attention", cross_attention)
        put_block(f"dec.L{i}.mlp", f"decoder/layer_{i}/ffn", mlp)
    return dims, w


def read_hf(model_dir: Path) -> tuple[Dims, Weights]:
    """Read a Hugging Face ``WhisperForConditionalGeneration`` directory (safetensors) with numpy."""
    from safetensors.numpy import load_file

    cfg = json.loads((model_dir / files.CONFIG).read_text(encoding="utf-8"))
    paths = sorted(model_dir.glob(files.SAFETENSORS_GLOB))
    if not paths:
        raise ValueError(f"{model_dir}: no *.safetensors weights (convert .bin checkpoints with safetensors first)")
    raw: dict[str, np.ndarray] = {}
    for f in paths:
        raw.update(load_file(str(f)))
    a = {k.removeprefix("model."): v for k, v in raw.items()}

    def f32(name: str) -> np.ndarray:
        return np.asarray(a[name], dtype=np.float32)

    dims = Dims(
        n_mels=cfg["num_mel_bins"],
        n_audio_ctx=cfg["max_source_positions"],
        n_text_ctx=cfg["max_target_positions"],
        d_model=cfg["d_model"],
        n_audio_head=cfg["encoder_attention_heads"],
        n_audio_layer=cfg["encoder_layers"],
        n_text_head=cfg["decoder_attention_heads"],
        n_text_layer=cfg["decoder_layers"],
        n_vocab=cfg["vocab_size"],
    )
    w: Weights = {
        "enc.conv1.w": f32("encoder.conv1.weight"),
        "enc.conv1.b": f32("encoder.conv1.bias"),
        "enc.conv2.w": f32("encoder.conv2.weight"),
        "enc.conv2.b": f32("encoder.conv2.bias"),
        "enc.pos": f32("encoder.embed_positions.weight"),
        "enc.ln_post.g": f32("encoder.layer_norm.weight"),
        "enc.ln_post.b": f32("encoder.layer_norm.bias"),
        "dec.embed": f32("decoder.embed_tokens.weight"),
        "dec.pos": f32("decoder.embed_positions.weight"),
        "dec.ln.g": f32("decoder.layer_norm.weight"),
        "dec.ln.b": f32("decoder.layer_norm.bias"),
    }

    def attn(dst: str, src: str) -> None:
        for ours, theirs in (("q", "q_proj"), ("k", "k_proj"), ("v", "v_proj"), ("o", "out_proj")):
            w[f"{dst}.{ours}.w"] = f32(f"{src}.{theirs}.weight")
            bias = a.get(f"{src}.{theirs}.bias")
            w[f"{dst}.{ours}.b"] = (
                np.zeros(dims.d_model, np.float32) if bias is None else np.asarray(bias, np.float32)
            )

    def ln(dst: str, src: str) -> None:
        w[f"{dst}.g"], w[f"{dst}.b"] = f32(f"{src}.weight"), f32(f"{src}.bias")

    for side, n in (("encoder", dims.n_audio_layer), ("decoder", dims.n_text_layer)):
        for i in range(n):
            dst, src = f"{side[:3]}.L{i}", f"{side}.layers.{i}"
            attn(f"{dst}.attn", f"{src}.self_attn")
            ln(f"{dst}.attn_ln", f"{src}.self_attn_layer_norm")
            ln(f"{dst}.mlp_ln", f"{src}.final_layer_norm")
            for j, fc in ((0, "fc1"), (1, "fc2")):
                w[f"{dst}.mlp.{j}.w"], w[f"{dst}.mlp.{j}.b"] = f32(f"{src}.{fc}.weight"), f32(f"{src}.{fc}.bias")
            if side == "decoder":
                attn(f"{dst}.cross", f"{src}.encoder_attn")
                ln(f"{dst}.cross_ln", f"{src}.encoder_attn_layer_norm")
    return dims, w
