"""Whisper weights -> OpenVINO IR, built op by op, without torch.

Why build the graph ourselves: the usual route (optimum-intel) traces the PyTorch model and so
needs torch, a multi-GB install. Whisper is a plain transformer; its encoder and decoder are a
few dozen OpenVINO ops per layer, and the weights can be read straight from the files users
already have:

* CTranslate2 ``model.bin`` (what faster-whisper uses, and what the registry packages ship): a
  small binary header (format version, spec name, revision), then named arrays. CTranslate2 fuses
  attention projections (q|k|v for self-attention, k|v for cross-attention); we split them back.
* Hugging Face ``*.safetensors`` (``WhisperForConditionalGeneration``), read with numpy.

The output directory has the layout OpenVINO GenAI's ``WhisperPipeline`` reads (the same file
names and decoder interface as an optimum export): an encoder taking ``input_features``, a
*stateful* decoder taking ``input_ids``, ``encoder_hidden_states`` and ``beam_idx`` whose
self- and cross-attention key/value caches live in ReadValue/Assign state, tokenizer and
detokenizer IR, and the JSON configs. Two more graphs serve ovsub's own decode loop
(``decoding.py``, ``engine.NativeTranscriber``): the cross-attention key/value projection, run once
per window, and a step decoder that takes those keys/values as inputs, decodes the beams of several
windows as one batch and returns the alignment heads' scores for word timing.
"""

from __future__ import annotations

import json
import logging
import re
import struct
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from ovsub import features

log = logging.getLogger("ovsub")

N_TIMESTAMPS = 1501  # <|0.00|> .. <|30.00|> in steps of 0.02 s
LN_EPS = 1e-5  # LayerNorm epsilon used by Whisper

CROSS_KV_MODEL = "ovsub_cross_kv_model.xml"  # encoder states -> cross-attention keys/values (build_cross_kv)
STEP_DECODER_MODEL = "ovsub_decoder_model.xml"  # the decoder ovsub's own loop drives (build_step_decoder)

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


# ---------------------------------------------------------------------------------------------
# Reading weights
# ---------------------------------------------------------------------------------------------


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

    def put_ffn_ln(dst: str, src: str) -> None:
        w[f"{dst}.mlp_ln.g"] = f32(f"{src}/ffn/layer_norm/gamma")
        w[f"{dst}.mlp_ln.b"] = f32(f"{src}/ffn/layer_norm/beta")
        for i in (0, 1):
            w[f"{dst}.mlp.{i}.w"] = f32(f"{src}/ffn/linear_{i}/weight")
            w[f"{dst}.mlp.{i}.b"] = f32(f"{src}/ffn/linear_{i}/bias")
        w[f"{dst}.attn_ln.g"] = f32(f"{src}/self_attention/layer_norm/gamma")
        w[f"{dst}.attn_ln.b"] = f32(f"{src}/self_attention/layer_norm/beta")
        qkv_w = np.split(f32(f"{src}/self_attention/linear_0/weight"), 3)
        qkv_b = np.split(f32(f"{src}/self_attention/linear_0/bias"), 3)
        for name, wi, bi in zip("qkv", qkv_w, qkv_b):
            w[f"{dst}.attn.{name}.w"], w[f"{dst}.attn.{name}.b"] = wi, bi
        w[f"{dst}.attn.o.w"] = f32(f"{src}/self_attention/linear_1/weight")
        w[f"{dst}.attn.o.b"] = f32(f"{src}/self_attention/linear_1/bias")

    for i in range(n_enc):
        put_ffn_ln(f"enc.L{i}", f"encoder/layer_{i}")
    for i in range(n_dec):
        src, dst = f"decoder/layer_{i}", f"dec.L{i}"
        put_ffn_ln(dst, src)
        w[f"{dst}.cross_ln.g"] = f32(f"{src}/attention/layer_norm/gamma")
        w[f"{dst}.cross_ln.b"] = f32(f"{src}/attention/layer_norm/beta")
        w[f"{dst}.cross.q.w"] = f32(f"{src}/attention/linear_0/weight")
        w[f"{dst}.cross.q.b"] = f32(f"{src}/attention/linear_0/bias")
        kv_w = np.split(f32(f"{src}/attention/linear_1/weight"), 2)
        kv_b = np.split(f32(f"{src}/attention/linear_1/bias"), 2)
        w[f"{dst}.cross.k.w"], w[f"{dst}.cross.k.b"] = kv_w[0], kv_b[0]
        w[f"{dst}.cross.v.w"], w[f"{dst}.cross.v.b"] = kv_w[1], kv_b[1]
        w[f"{dst}.cross.o.w"] = f32(f"{src}/attention/linear_2/weight")
        w[f"{dst}.cross.o.b"] = f32(f"{src}/attention/linear_2/bias")
    return dims, w


def read_hf(model_dir: Path) -> tuple[Dims, Weights]:
    """Read a Hugging Face ``WhisperForConditionalGeneration`` directory (safetensors) with numpy."""
    from safetensors.numpy import load_file

    cfg = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
    files = sorted(model_dir.glob("*.safetensors"))
    if not files:
        raise ValueError(f"{model_dir}: no *.safetensors weights (convert .bin checkpoints with safetensors first)")
    raw: dict[str, np.ndarray] = {}
    for f in files:
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


# ---------------------------------------------------------------------------------------------
# Building the graphs
# ---------------------------------------------------------------------------------------------


class _Builder:
    """Makes weight constants in the requested precision and the few layer patterns Whisper needs."""

    def __init__(self, weights: Weights, precision: str) -> None:
        from openvino import opset16

        self.ops = opset16
        self.w = weights
        self.precision = precision
        self._matrices: dict[str, Any] = {}  # one constant per weight, even when used twice (tied embedding)

    def const(self, array: np.ndarray | list[int] | float | int, dtype: Any = np.float32) -> Any:
        return self.ops.constant(np.asarray(array, dtype=dtype))

    def matrix(self, name: str, copy: str = "") -> Any:
        """A 2-D weight as an f32 tensor; int8 stores it as per-row asymmetric u8 plus scale and zero point.

        The Convert -> Subtract -> Multiply chain is the decompression pattern OpenVINO's CPU plugin
        fuses into its int8-weight MatMul and Gather kernels.
        """
        key = f"{name}#{copy}"
        if key not in self._matrices:
            self._matrices[key] = self._make_matrix(self.w[name])
        return self._matrices[key]

    def _make_matrix(self, w: np.ndarray) -> Any:
        if self.precision != "int8":
            return self.const(w)
        ops = self.ops
        lo = np.minimum(w.min(axis=1, keepdims=True), 0.0)
        hi = np.maximum(w.max(axis=1, keepdims=True), 0.0)
        scale = np.maximum((hi - lo) / 255.0, 1e-12)
        zero = np.clip(np.round(-lo / scale), 0, 255)
        q = np.clip(np.round(w / scale) + zero, 0, 255).astype(np.uint8)
        deq = ops.multiply(
            ops.subtract(
                ops.convert(self.const(q, np.uint8), "f16"),
                ops.convert(self.const(zero.astype(np.uint8), np.uint8), "f16"),
            ),
            self.const(scale.astype(np.float16), np.float16),
        )
        return ops.convert(deq, "f32")

    def linear(self, x: Any, prefix: str) -> Any:
        y = self.ops.matmul(x, self.matrix(f"{prefix}.w"), False, True)
        return self.ops.add(y, self.const(self.w[f"{prefix}.b"]))

    def layer_norm(self, x: Any, prefix: str) -> Any:
        ops = self.ops
        y = ops.mvn(x, self.const([-1], np.int64), True, LN_EPS, "inside_sqrt")
        return ops.add(ops.multiply(y, self.const(self.w[f"{prefix}.g"])), self.const(self.w[f"{prefix}.b"]))

    def mlp(self, x: Any, prefix: str) -> Any:
        h = self.ops.gelu(self.linear(self.layer_norm(x, f"{prefix}.mlp_ln"), f"{prefix}.mlp.0"), "erf")
        return self.ops.add(x, self.linear(h, f"{prefix}.mlp.1"))

    def heads(self, x: Any, n_head: int, d_model: int) -> Any:
        """[B, T, D] -> [B, H, T, D/H]."""
        ops = self.ops
        x = ops.reshape(x, self.const([0, 0, n_head, d_model // n_head], np.int64), True)
        return ops.transpose(x, self.const([0, 2, 1, 3], np.int64))

    def merge_heads(self, x: Any, d_model: int) -> Any:
        """[B, H, T, D/H] -> [B, T, D]."""
        ops = self.ops
        x = ops.transpose(x, self.const([0, 2, 1, 3], np.int64))
        return ops.reshape(x, self.const([0, 0, d_model], np.int64), True)


def build_encoder(dims: Dims, weights: Weights, precision: str) -> Any:
    """Encoder: log-mel features [B, n_mels, 3000] -> ``last_hidden_state`` [B, 1500, d_model]."""
    import openvino as ov

    b = _Builder(weights, precision)
    ops = b.ops
    feats = ops.parameter([-1, dims.n_mels, -1], np.float32, name="input_features")
    feats.output(0).set_names({"input_features"})

    def conv(x: Any, name: str, stride: int) -> Any:
        y = ops.convolution(x, b.const(weights[f"{name}.w"]), [stride], [1], [1], [1])
        y = ops.add(y, b.const(weights[f"{name}.b"].reshape(1, -1, 1)))
        return ops.gelu(y, "erf")

    x = conv(conv(feats, "enc.conv1", 1), "enc.conv2", 2)
    x = ops.transpose(x, b.const([0, 2, 1], np.int64))
    x = ops.add(x, b.const(weights["enc.pos"]))
    for i in range(dims.n_audio_layer):
        p = f"enc.L{i}"
        h = b.layer_norm(x, f"{p}.attn_ln")
        q, k, v = (b.heads(b.linear(h, f"{p}.attn.{n}"), dims.n_audio_head, dims.d_model) for n in "qkv")
        att = ops.scaled_dot_product_attention(q, k, v, causal=False, name=f"encoder.layers.{i}.self_attn.sdpa")
        x = ops.add(x, b.linear(b.merge_heads(att, dims.d_model), f"{p}.attn.o"))
        x = b.mlp(x, p)
    out = b.layer_norm(x, "enc.ln_post")
    result = ops.result(out)
    result.output(0).set_names({"last_hidden_state"})
    out.output(0).set_names({"last_hidden_state"})
    return ov.Model([result], [feats], "whisper_encoder")


def _self_attention_decoder(
    b: _Builder, dims: Dims, input_ids: Any, beam_idx: Any, cross_attention: Any
) -> tuple[Any, list[Any]]:
    """The decoder stack shared by both decoder graphs; returns the final hidden states and the state sinks.

    Self-attention keys/values live in ReadValue/Assign state per layer, grown by the S new tokens of
    each call and reordered by ``beam_idx`` (which is how beam search forks and prunes hypotheses):
    the pattern the CPU plugin fuses into its in-place KV-cache attention. ``cross_attention(q, i)``
    gives layer i's attention over the audio for queries ``q`` [B, H, S, hd].
    """
    import openvino as ov
    from openvino import opset6

    ops = b.ops
    D, H, hd = dims.d_model, dims.n_text_head, dims.d_model // dims.n_text_head
    zero_i64 = b.const(0, np.int64)
    one_i64 = b.const(1, np.int64)
    batch = ops.gather(ops.shape_of(input_ids), b.const([0], np.int64), zero_i64)
    seq_len = ops.gather(ops.shape_of(input_ids), one_i64, zero_i64)
    empty_kv = ops.broadcast(b.const(0.0), ops.concat([batch, b.const([H, 0, hd], np.int64)], 0))
    state_shape = ov.PartialShape([-1, H, -1, hd])
    sinks: list[Any] = []

    def read_state(var_id: str) -> Any:
        """A cached tensor (empty at first), reordered by beam_idx."""
        return ops.gather(opset6.read_value(empty_kv, var_id, np.float32, state_shape), beam_idx, zero_i64)

    def write_state(value: Any, var_id: str) -> Any:
        sinks.append(opset6.assign(value, var_id))
        return value

    # Positions continue from the cached length of layer 0's self-attention keys.
    past_keys = [read_state(f"past_key_values.{i}.decoder.key") for i in range(dims.n_text_layer)]
    past_len = ops.gather(ops.shape_of(past_keys[0]), b.const(2, np.int64), zero_i64)
    positions = ops.range(past_len, ops.add(past_len, seq_len), one_i64, "i64")
    x = ops.add(
        ops.gather(b.matrix("dec.embed"), input_ids, zero_i64),
        ops.gather(b.const(b.w["dec.pos"]), positions, zero_i64),
    )
    # Causal mask [S, past+S]: query at absolute position p sees keys 0..p.
    key_pos = ops.range(b.const(0, np.int64), ops.add(past_len, seq_len), one_i64, "i64")
    self_mask = ops.select(
        ops.less_equal(ops.unsqueeze(key_pos, zero_i64), ops.unsqueeze(positions, one_i64)),
        b.const(0.0),
        b.const(float("-inf")),
    )
    for i in range(dims.n_text_layer):
        p, cache = f"dec.L{i}", f"past_key_values.{i}"
        h = b.layer_norm(x, f"{p}.attn_ln")
        q = b.heads(b.linear(h, f"{p}.attn.q"), H, D)
        k = write_state(
            ops.concat([past_keys[i], b.heads(b.linear(h, f"{p}.attn.k"), H, D)], 2), f"{cache}.decoder.key"
        )
        v_past = read_state(f"{cache}.decoder.value")
        v = write_state(
            ops.concat([v_past, b.heads(b.linear(h, f"{p}.attn.v"), H, D)], 2), f"{cache}.decoder.value"
        )
        att = ops.scaled_dot_product_attention(
            q, k, v, self_mask, causal=False, name=f"decoder.layers.{i}.self_attn.sdpa"
        )
        x = ops.add(x, b.linear(b.merge_heads(att, D), f"{p}.attn.o"))

        h = b.layer_norm(x, f"{p}.cross_ln")
        q = b.heads(b.linear(h, f"{p}.cross.q"), H, D)
        att = cross_attention(q, i)
        x = ops.add(x, b.linear(b.merge_heads(att, D), f"{p}.cross.o"))
        x = b.mlp(x, p)
    return b.layer_norm(x, "dec.ln"), sinks


def _logits(b: _Builder, x: Any) -> Any:
    # A separate copy of the tied embedding for the output projection: a constant shared with the
    # Gather keeps the CPU plugin from pre-packing it for the MatMul (measured: 11 ms vs ~1 ms a token).
    return b.ops.matmul(x, b.matrix("dec.embed", copy="proj"), False, True)


def _named_result(ops: Any, node: Any, name: str) -> Any:
    result = ops.result(node)
    node.output(0).set_names({name})
    result.output(0).set_names({name})
    return result


def build_decoder(dims: Dims, weights: Weights, precision: str) -> Any:
    """Stateful decoder with the interface OpenVINO GenAI's WhisperPipeline drives.

    Inputs ``input_ids`` [B, S], ``encoder_hidden_states`` [B, 1500, D], ``beam_idx`` [B]; output
    ``logits`` [B, S, vocab]. Besides the self-attention cache, per layer two states hold the
    cross-attention keys/values (computed from ``encoder_hidden_states`` only while the state is
    empty: the ReadValue's initial value; the same for every beam). The cross-attention scores
    before softmax are named ``cross_attention_qk_scaled_scores.<layer>``: GenAI exposes them as
    outputs when it times words.
    """
    import openvino as ov
    from openvino import opset6

    b = _Builder(weights, precision)
    ops = b.ops
    D, H, hd = dims.d_model, dims.n_text_head, dims.d_model // dims.n_text_head
    input_ids = ops.parameter([-1, -1], np.int64, name="input_ids")
    enc = ops.parameter([-1, -1, D], np.float32, name="encoder_hidden_states")
    beam_idx = ops.parameter([-1], np.int32, name="beam_idx")
    for p, name in ((input_ids, "input_ids"), (enc, "encoder_hidden_states"), (beam_idx, "beam_idx")):
        p.output(0).set_names({name})
    state_shape = ov.PartialShape([-1, H, -1, hd])
    cross_sinks: list[Any] = []
    # GenAI finds the cross-attention scores by an *Add* op carrying their name, so they are scores + 0.
    cross_mask = b.const(np.zeros((1, 1, 1, 1), np.float32))
    # Cross-attention keys/values depend only on the audio, which is the same for every beam:
    # project the first item of the batch once (the ReadValue's initial value, computed only
    # while the state is empty) and let attention broadcast it over the beams, so there is no
    # per-token reordering or copying of 1500-long tensors.

    def first_item(t: Any) -> Any:
        # A fresh Slice per state, so that each ReadValue's initial value is a private subgraph the
        # CPU plugin runs only while the state is empty (a shared node would run every call).
        return ops.slice(
            t, b.const([0], np.int64), b.const([1], np.int64), b.const([1], np.int64), b.const([0], np.int64)
        )

    def cached(init: Any, var_id: str, shape: Any) -> Any:
        value = opset6.read_value(init, var_id, np.float32, shape)
        cross_sinks.append(opset6.assign(value, var_id))
        return value

    def cross_attention(q: Any, i: int) -> Any:
        """Attention over the audio with the keys cached already transposed ([1, H, hd, T]).

        Plain MatMul/Softmax instead of an SDPA node: nothing is transposed or converted per token, and
        the pre-softmax scores are a named tensor GenAI can expose for word timestamps without
        decomposing anything (so timing words costs no speed).
        """
        p, cache = f"dec.L{i}", f"past_key_values.{i}"
        k_t = cached(
            ops.transpose(b.heads(b.linear(first_item(enc), f"{p}.cross.k"), H, D), b.const([0, 1, 3, 2], np.int64)),
            f"{cache}.encoder.key",
            ov.PartialShape([-1, H, hd, -1]),
        )
        v = cached(b.heads(b.linear(first_item(enc), f"{p}.cross.v"), H, D), f"{cache}.encoder.value", state_shape)
        scores = ops.add(ops.matmul(ops.multiply(q, b.const(1.0 / np.sqrt(hd))), k_t, False, False), cross_mask)
        scores.output(0).set_names({f"cross_attention_qk_scaled_scores.{i}"})
        return ops.matmul(ops.softmax(scores, -1), v, False, False)

    x, sinks = _self_attention_decoder(b, dims, input_ids, beam_idx, cross_attention)
    result = _named_result(ops, _logits(b, x), "logits")
    return ov.Model([result], sinks + cross_sinks, [input_ids, enc, beam_idx], "whisper_decoder")


def default_alignment_heads(dims: Dims) -> list[list[int]]:
    """Every head of the upper half of the decoder: OpenAI Whisper's choice when a model names none."""
    return [[layer, h] for layer in range(dims.n_text_layer // 2, dims.n_text_layer) for h in range(dims.n_text_head)]


def build_cross_kv(dims: Dims, weights: Weights, precision: str) -> Any:
    """Cross-attention keys/values of every decoder layer, computed once per audio window.

    Input ``encoder_hidden_states`` [W, 1500, D]; outputs ``cross_key.<i>`` and ``cross_value.<i>``
    [W, H, 1500, hd] per layer i. Keys stay untransposed: the CPU plugin's MatMul with transpose_b is
    faster over them than over a pre-transposed [hd, 1500] layout (the cross-attention MatMuls took 7.0
    against 9.4 ms a step at 3 windows). ovsub's own
    decode loop passes them to ``build_step_decoder``'s graph as inputs it sets once per window.
    """
    import openvino as ov

    b = _Builder(weights, precision)
    ops = b.ops
    D, H = dims.d_model, dims.n_text_head
    enc = ops.parameter([-1, -1, D], np.float32, name="encoder_hidden_states")
    enc.output(0).set_names({"encoder_hidden_states"})
    results = []
    for i in range(dims.n_text_layer):
        results.append(_named_result(ops, b.heads(b.linear(enc, f"dec.L{i}.cross.k"), H, D), f"cross_key.{i}"))
        results.append(_named_result(ops, b.heads(b.linear(enc, f"dec.L{i}.cross.v"), H, D), f"cross_value.{i}"))
    return ov.Model(results, [enc], "whisper_cross_kv")


def build_step_decoder(dims: Dims, weights: Weights, precision: str, alignment_heads: list[list[int]]) -> Any:
    """The decoder ovsub's own loop drives: batched windows x beams, logits of the last position only.

    Inputs ``input_ids`` [R, S] and ``beam_idx`` [R] as in ``build_decoder``, plus per layer i
    ``cross_key.<i>`` and ``cross_value.<i>`` [W, H, T, hd] (``build_cross_kv``'s
    outputs, set once per batch of W windows). The R rows are W windows times the same number of
    hypotheses each, window-major, so cross-attention runs as one MatMul per window over all of its
    hypotheses and nothing 1500 frames long is copied per token. Outputs: ``logits`` [R, vocab] for the
    last of the S positions (all a decode step needs), and ``alignment_scores`` [R, A, S, T], the
    pre-softmax cross-attention scores of the A alignment heads (what word timing reads).
    """
    import openvino as ov

    b = _Builder(weights, precision)
    ops = b.ops
    D, H, hd = dims.d_model, dims.n_text_head, dims.d_model // dims.n_text_head
    input_ids = ops.parameter([-1, -1], np.int64, name="input_ids")
    beam_idx = ops.parameter([-1], np.int32, name="beam_idx")
    keys = [ops.parameter([-1, H, -1, hd], np.float32, name=f"cross_key.{i}") for i in range(dims.n_text_layer)]
    values = [ops.parameter([-1, H, -1, hd], np.float32, name=f"cross_value.{i}") for i in range(dims.n_text_layer)]
    params = [input_ids, beam_idx, *keys, *values]
    for p in params:
        p.output(0).set_names({p.get_friendly_name()})
    heads_of = {layer: [h for l2, h in alignment_heads if l2 == layer] for layer, _ in alignment_heads}
    picked: list[Any] = []
    i64 = np.int64

    def cross_attention(q: Any, i: int) -> Any:
        # q [R, H, S, hd] -> [W, H, (R/W)*S, hd]: each window's hypotheses and positions as the rows of one MatMul.
        shape_q = ops.shape_of(q)
        windows = ops.gather(ops.shape_of(keys[i]), b.const([0], i64), b.const(0, i64))
        seq = ops.gather(shape_q, b.const([2], i64), b.const(0, i64))
        q5 = ops.reshape(q, ops.concat([windows, b.const([-1, H], i64), seq, b.const([hd], i64)], 0), False)
        qw = ops.reshape(ops.transpose(q5, b.const([0, 2, 1, 3, 4], i64)), b.const([0, H, -1, hd], i64), True)
        scores = ops.matmul(ops.multiply(qw, b.const(1.0 / np.sqrt(hd))), keys[i], False, True)
        att = ops.matmul(ops.softmax(scores, -1), values[i], False, False)  # [W, H, (R/W)*S, hd]
        back = ops.concat([windows, b.const([H, -1], i64), seq, b.const([hd], i64)], 0)
        att = ops.transpose(ops.reshape(att, back, False), b.const([0, 2, 1, 3, 4], i64))
        if i in heads_of:  # [W, H, (R/W)*S, T] -> [R, A_i, S, T]
            frames = ops.gather(ops.shape_of(keys[i]), b.const([2], i64), b.const(0, i64))
            s5 = ops.reshape(scores, ops.concat([windows, b.const([H, -1], i64), seq, frames], 0), False)
            s5 = ops.transpose(s5, b.const([0, 2, 1, 3, 4], i64))
            s4 = ops.reshape(s5, ops.concat([b.const([-1, H], i64), seq, frames], 0), False)
            picked.append(ops.gather(s4, b.const(heads_of[i], i64), b.const(1, i64)))
        return ops.reshape(att, ops.shape_of(q), False)

    x, sinks = _self_attention_decoder(b, dims, input_ids, beam_idx, cross_attention)
    last = ops.gather(x, ops.add(ops.gather(ops.shape_of(x), b.const(1, i64), b.const(0, i64)), b.const(-1, i64)),
                      b.const(1, i64))  # [R, D]
    logits = _named_result(ops, _logits(b, last), "logits")
    scores = _named_result(ops, picked[0] if len(picked) == 1 else ops.concat(picked, 1), "alignment_scores")
    return ov.Model([logits, scores], sinks, params, "whisper_step_decoder")



# ---------------------------------------------------------------------------------------------
# Tokenizer and configs
# ---------------------------------------------------------------------------------------------


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
    from ovsub import tokenizer_ir

    path = out_dir / "tokenizer.json"
    tokenizer_ir.save_tokenizer_json(tokenizer_json, path)
    tokenizer_ir.write_tokenizer_ir(path, gen, out_dir)


def write_model_dir(source: Any, out_dir: Path, precision: str) -> None:
    """Convert ``source`` (a models.Source of kind ct2 or hf) into an OpenVINO GenAI model folder."""
    import openvino as ov

    if source.kind == "ct2":
        dims, weights = read_ct2(source.weights)
        ct2_config = json.loads((source.assets / "config.json").read_text(encoding="utf-8"))
    elif source.kind == "hf":
        dims, weights = read_hf(source.assets)
        ct2_config = {}
        hf_gen_path = source.assets / "generation_config.json"
        if hf_gen_path.is_file():
            hf_gen = json.loads(hf_gen_path.read_text(encoding="utf-8"))
            ct2_config = {
                "alignment_heads": hf_gen.get("alignment_heads", []),
                "suppress_ids": hf_gen.get("suppress_tokens", []),
                "suppress_ids_begin": hf_gen.get("begin_suppress_tokens", []),
            }
    else:
        raise ValueError(f"cannot convert a {source.kind!r} model")
    tokenizer_json = json.loads((source.assets / "tokenizer.json").read_text(encoding="utf-8"))
    tokenizer_json = _tokenizer_with_timestamps(tokenizer_json, dims.n_vocab)
    tokens = {t["content"]: t["id"] for t in tokenizer_json["added_tokens"]}
    gen = _generation_config(tokens, dims, ct2_config)
    _write_tokenizers(tokenizer_json, gen, out_dir)
    for name, data in (
        ("generation_config.json", gen),
        ("config.json", _model_config(dims, gen)),
        ("preprocessor_config.json", _preprocessor_config(dims)),
    ):
        (out_dir / name).write_text(json.dumps(data, indent=2), encoding="utf-8")
    compress = precision != "fp32"
    ov.save_model(build_encoder(dims, weights, precision), out_dir / "openvino_encoder_model.xml", compress)
    ov.save_model(build_decoder(dims, weights, precision), out_dir / "openvino_decoder_model.xml", compress)
    # ovsub's own decode loop (engine.NativeTranscriber) runs these two instead of GenAI's decoder.
    heads = gen["alignment_heads"] or default_alignment_heads(dims)
    ov.save_model(build_cross_kv(dims, weights, precision), out_dir / CROSS_KV_MODEL, compress)
    ov.save_model(build_step_decoder(dims, weights, precision, heads), out_dir / STEP_DECODER_MODEL, compress)
