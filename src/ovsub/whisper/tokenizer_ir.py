"""Whisper's tokenizer.json -> tokenizer and detokenizer IR for OpenVINO GenAI, without transformers.

GenAI's ``WhisperPipeline`` tokenizes prompts and turns token ids back into text with two small
OpenVINO models, ``openvino_tokenizer.xml`` and ``openvino_detokenizer.xml``, whose string ops come
from openvino-tokenizers. Its ``convert_tokenizer`` builds them, but accepts only a transformers
tokenizer object: transformers and the packages it pulls in (160 MB of a 990 MB install, and a
"PyTorch was not found" notice on import) would be installed for this alone. The building blocks
underneath (``openvino_tokenizers.tokenizer_pipeline``) need no transformers, so we assemble from
them the pipeline ``convert_tokenizer`` assembles for Whisper's tokenizer, a GPT-2 style
byte-level BPE:

    tokenizer:   split out added tokens (<|en|>, <|0.00|>, ...) -> GPT-2 regex split -> BPE
                 -> <|startoftranscript|> <|notimestamps|> text <|endoftext|> -> pad to a batch
    detokenizer: ids -> bytes of each token, special tokens skipped -> join -> repair invalid UTF-8

The ``tokenizers`` library (which ovsub's own decode loop uses anyway) reads the tokenizer.json,
filling in the fields older files leave out; the tests compare the IR with it. Only this shape of
tokenizer is supported: anything else raises ``ValueError`` rather than producing a tokenizer that
quietly differs. The step classes belong to the openvino-tokenizers release pinned through
openvino-genai; a new release may rename them, which the tests here catch.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ovsub.whisper.files import DETOKENIZER_MODEL, TOKENIZER_MODEL

# Truncation is built in but off by default (GenAI can switch it on); this is the longest input then kept.
MAX_LENGTH = 2**31 - 1


def write_tokenizer_ir(tokenizer_json: Path, generation_config: Mapping[str, Any] | Path, out_dir: Path) -> None:
    """Write ``openvino_tokenizer.xml/.bin`` and ``openvino_detokenizer.xml/.bin`` into ``out_dir``.

    ``tokenizer_json`` is a Whisper tokenizer.json (byte-level BPE) that already lists every token
    the model can emit, timestamps included; ``generation_config`` (a dict or a
    generation_config.json) gives the ids GenAI reads back from the IR: ``bos_token_id``,
    ``eos_token_id`` and ``pad_token_id``. The tokenizer adds the post-processor's special tokens by
    default and the detokenizer skips every added token marked special, as GenAI expects.
    """
    import openvino as ov

    spec = _read_tokenizer_json(tokenizer_json)
    if isinstance(generation_config, Path):
        ids: Mapping[str, Any] = json.loads(generation_config.read_text(encoding="utf-8"))
    else:
        ids = generation_config
    tokenizer, detokenizer = build_tokenizer_ir(spec, ids)
    out_dir.mkdir(parents=True, exist_ok=True)
    ov.save_model(tokenizer, out_dir / TOKENIZER_MODEL)
    ov.save_model(detokenizer, out_dir / DETOKENIZER_MODEL)


def save_tokenizer_json(spec: Mapping[str, Any], path: Path) -> None:
    """Write a tokenizer.json dict the way the ``tokenizers`` library saves it: every field present, indented.

    Raises ``ValueError`` if ``tokenizers`` cannot load ``spec``.
    """
    import tokenizers

    try:
        tokenizer = tokenizers.Tokenizer.from_str(json.dumps(spec, ensure_ascii=False))
    except Exception as e:  # tokenizers raises plain Exception for a malformed file
        raise ValueError(f"not a tokenizer.json the tokenizers library can read ({e})") from e
    tokenizer.save(str(path), pretty=True)


def _read_tokenizer_json(path: Path) -> dict[str, Any]:
    """The tokenizer.json as the ``tokenizers`` library writes it (all fields present), checked for shape."""
    import tokenizers

    try:
        spec: dict[str, Any] = json.loads(tokenizers.Tokenizer.from_file(str(path)).to_str())
    except Exception as e:  # tokenizers raises plain Exception for a malformed file
        raise ValueError(f"{path}: not a tokenizer.json the tokenizers library can read ({e})") from e
    _check_supported(spec, path)
    return spec


def _check_supported(spec: dict[str, Any], path: Path) -> None:
    """Raise ValueError unless ``spec`` is a byte-level BPE tokenizer of the kind Whisper uses."""
    model = spec["model"]
    pre = spec.get("pre_tokenizer") or {}
    post = spec.get("post_processor") or {"type": "TemplateProcessing"}
    problems = []
    if model["type"] != "BPE":
        problems.append(f"model {model['type']} (need BPE)")
    if model.get("continuing_subword_prefix") or model.get("end_of_word_suffix") or model.get("byte_fallback"):
        problems.append("BPE subword prefix/suffix or byte fallback")
    if spec.get("normalizer") is not None:
        problems.append(f"normalizer {spec['normalizer'].get('type')} (need none)")
    if pre.get("type") != "ByteLevel" or pre.get("add_prefix_space") or not pre.get("use_regex", True):
        problems.append("pre-tokenizer other than ByteLevel(add_prefix_space=false, use_regex=true)")
    if (spec.get("decoder") or {}).get("type") != "ByteLevel":
        problems.append("decoder other than ByteLevel")
    if post["type"] != "TemplateProcessing":
        problems.append(f"post-processor {post['type']} (need TemplateProcessing or none)")
    if spec.get("truncation") is not None or spec.get("padding") is not None:
        problems.append("truncation or padding set in the file")
    if problems:
        raise ValueError(f"{path}: unsupported tokenizer for the OpenVINO tokenizer IR: {'; '.join(problems)}")


def build_tokenizer_ir(spec: dict[str, Any], generation_config: Mapping[str, Any]) -> tuple[Any, Any]:
    """(tokenizer, detokenizer) as ``openvino.Model`` objects for a checked, complete tokenizer.json dict."""
    import openvino as ov
    from openvino_tokenizers import tokenizer_pipeline as tp
    from openvino_tokenizers.constants import UTF8ReplaceMode
    from openvino_tokenizers.utils import change_inputs_type, change_outputs_type

    added = sorted(spec["added_tokens"], key=lambda t: int(t["id"]))
    special_ids = [int(t["id"]) for t in added if t["special"]]
    pad_id = int(generation_config["pad_token_id"])
    id_to_token = {int(t["id"]): str(t["content"]) for t in added}
    post = spec.get("post_processor")

    pipeline = tp.TokenizerPipeline()
    bpe = tp.BPETokenizationStep.from_hf_json(spec)
    pipeline.add_steps(
        [
            tp.SpecialTokensSplit(
                [tp.SpecialToken(t["content"], strip_left=t["lstrip"], strip_right=t["rstrip"]) for t in added]
            ),
            tp.RegexSplitStep.byte_level_splitter(),
            tp.BytesToCharsStep(),
            bpe,
        ]
    )
    pipeline.vocab = bpe.vocab
    if post is None:  # no template: the text alone
        combine = tp.CombineSegmentsStep([tp.Sequence()], add_special_tokens=True)
    else:
        combine = tp.CombineSegmentsStep.from_hf_json_template_postprocessor(post, 1, True)
    pipeline.add_steps(
        [
            tp.TruncationStep(max_length=MAX_LENGTH - combine.number_of_added_tokens),
            combine,
            tp.PaddingStep(token=id_to_token.get(pad_id), _token_id=pad_id),
            tp.VocabDecoderStep.from_hf_json(
                tokenizer_json=spec,
                pipeline_vocab=pipeline.vocab,
                added_tokens=id_to_token,
                skip_tokens=special_ids,
                do_skip_tokens=True,
                is_byte_level=True,
            ),
            tp.CharsToBytesStep(),
            tp.UTF8ValidateStep(mode=UTF8ReplaceMode.REPLACE),
        ]
    )
    full = pipeline.get_tokenizer_ov_subgraph()
    # Whisper has no token types: keep input_ids and attention_mask, as convert_tokenizer does.
    outputs = [next(o for o in full.outputs if name in o.names) for name in ("input_ids", "attention_mask")]
    tokenizer = ov.Model(outputs, full.get_parameters(), full.get_friendly_name())
    tokenizer.add_sinks(full.get_sinks())
    tokenizer = change_outputs_type(tokenizer, ov.Type.i64)
    detokenizer = change_inputs_type(pipeline.get_detokenizer_ov_subgraph(), ov.Type.i64)
    info = _rt_info(spec, generation_config)
    for model in (tokenizer, detokenizer):
        for key, value in info.items():
            model.set_rt_info(value, key)
    return tokenizer, detokenizer


def _rt_info(spec: dict[str, Any], generation_config: Mapping[str, Any]) -> dict[str, str | None]:
    """What GenAI reads from the models' runtime info: special-token ids, the defaults, the template.

    The same keys and values ``convert_tokenizer`` records for these settings, minus the transformers ones.
    """
    import openvino
    import openvino_tokenizers
    import tokenizers

    vocab = {str(t["content"]): int(t["id"]) for t in spec["added_tokens"]}
    info: dict[str, str | None] = {
        "bos_token_id": str(generation_config["bos_token_id"]),
        "eos_token_id": str(generation_config["eos_token_id"]),
        "pad_token_id": str(generation_config["pad_token_id"]),
        "add_special_tokens": "True",  # the tokenizer adds the template's tokens unless told not to
        "skip_special_tokens": "True",  # the detokenizer leaves out special tokens unless told not to
        "add_attention_mask": "True",
        "with_detokenizer": "True",
        "number_of_inputs": "1",
        "tokenizer_output_type": "i64",
        "detokenizer_input_type": "i64",
        "streaming_detokenizer": "False",
        "use_max_padding": "False",
        "truncation": "False",
        "use_sentencepiece_backend": "False",
        "utf8_replace_mode": "replace",
        # Settings left to their defaults: recorded, empty, as convert_tokenizer records them.
        "add_prefix_space": None,
        "clean_up_tokenization_spaces": None,
        "handle_special_tokens_with_re": None,
        "max_length": None,
        "original_tokenizer_class": str(tokenizers.Tokenizer),
        "openvino_version": openvino.get_version(),
        "openvino_tokenizers_version": str(openvino_tokenizers.__version__),
        "tokenizers_version": str(tokenizers.__version__),
    }
    post = spec.get("post_processor")
    if post is not None:

        def template(items: list[dict[str, Any]]) -> dict[str, list[int]]:
            ids, type_ids, sequence = [], [], -1  # texts count down from -1 (A) and -2 (B)
            for kind, item in (next(iter(element.items())) for element in items):
                type_ids.append(int(item["type_id"]))
                if kind == "Sequence":
                    ids.append(sequence)
                    sequence -= 1
                else:
                    ids.append(vocab[item["id"]])
            return {"ids": ids, "type_ids": type_ids}

        info["original_post_processor_template"] = json.dumps(post)
        info["processed_post_processor_template"] = json.dumps(
            {"single": template(post["single"]), "pair": template(post["pair"])}
        )
    return info
