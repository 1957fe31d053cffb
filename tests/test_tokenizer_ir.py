"""GenAI's tokenizer/detokenizer IR, built without transformers, against the `tokenizers` library.

GenAI reads the IR through ``openvino_genai.Tokenizer`` (encode with or without the template's special
tokens; decode skipping special tokens or not), so the tests go through it too.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from ovsub.whisper import convert, files, models, tokenizer_ir

genai = pytest.importorskip("openvino_genai")
tokenizers = pytest.importorskip("tokenizers")

MODELS = {"base": 51865, "tiny.en": 51864}  # bundled models and their vocabulary sizes (timestamps included)

TEXTS = [
    "",
    " ",
    "\n\t \n",
    " Hello, world!",
    "And so, my fellow Americans: ask not what your country can do for you.",
    "I don't think it's what we'd've wanted, y'all're sure? 'S 'T",
    "It's 12:30 pm, 3.14159 and 1,000,000 or 1e-5.",
    " Die Katze läuft über die Straße. Wie geht's?",
    " 我们今天去公园散步吧。“引号”（括号）",
    " 日本語のテキストです。カタカナとひらがなと漢字。ｶﾀｶﾅ",
    " 한국어 Привет مرحبا שלום नमस्ते สวัสดี Xin chào",
    " 😀 👍🏽 👨‍👩‍👧‍👦 🇩🇪 ❤️ 🤷‍♀️ e\u0301 zero\u200bwidth \ufeff ﬁ 𝔘𝔫𝔦",
    "<|endoftext|>",
    "<|startoftranscript|><|en|><|transcribe|><|notimestamps|> Hello",
    "<|startoftranscript|><|de|><|translate|><|0.00|> Hallo<|1.24|><|endoftext|>",
    " <|0.00|> a <|30.00|> <|30.02|> <|xx|> <|EN|> < |en| > <|0.00",
    "<|startofprev|> earlier text<|nospeech|>",
    "a" * 300 + " " * 40 + "!?.," * 20,
]


@pytest.fixture(scope="module", params=sorted(MODELS))
def built(request, tmp_path_factory) -> tuple[str, Path]:
    """A model's tokenizer.json (timestamps added) and its IR, written as convert.py writes them."""
    name = request.param
    out = tmp_path_factory.mktemp(name)
    spec = json.loads((models.resolve(name).assets / "tokenizer.json").read_text(encoding="utf-8"))
    spec = convert._tokenizer_with_timestamps(spec, MODELS[name])
    tokenizer_ir.save_tokenizer_json(spec, out / "tokenizer.json")
    eot = next(t["id"] for t in spec["added_tokens"] if t["content"] == "<|endoftext|>")
    tokenizer_ir.write_tokenizer_ir(
        out / "tokenizer.json", {"bos_token_id": eot, "eos_token_id": eot, "pad_token_id": eot}, out
    )
    return name, out


def _reference(model_dir: Path) -> tokenizers.Tokenizer:
    """`tokenizers` on the same file, with the one merge the multilingual file lacks put back.

    The CTranslate2 tokenizer.json of the multilingual models has no merge "Ġ t" (its vocabulary has
    "Ġt", "Ġthe", "Ġto"). OpenVINO's BPE op still produces " the" as one token, the token Whisper was
    trained with; `tokenizers` follows the merges literally and gives " " + "the". With the merge
    restored the two agree, so the comparison below checks everything else exactly.
    """
    spec = json.loads((model_dir / "tokenizer.json").read_text(encoding="utf-8"))
    if ["Ġ", "t"] not in spec["model"]["merges"]:
        spec["model"]["merges"].insert(0, ["Ġ", "t"])
    return tokenizers.Tokenizer.from_str(json.dumps(spec))


def _encode(tok, text: str, add_special_tokens: bool) -> list[int]:
    return [int(i) for i in tok.encode(text, add_special_tokens=add_special_tokens).input_ids.data[0]]


def _shared_texts(data_dir: Path) -> list[str]:
    texts = []
    for path in sorted(data_dir.rglob("*.ref.txt")) + sorted(data_dir.rglob("*.en.txt")):
        text = path.read_text(encoding="utf-8")
        texts += [text, " " + text.strip(), *(" " + word for word in text.split()[:30])]
    return texts


@pytest.mark.parametrize("add_special_tokens", [True, False])
def test_ir_tokenizes_like_tokenizers(built, add_special_tokens):
    model_dir = built[1]
    ir, ref = genai.Tokenizer(str(model_dir)), _reference(model_dir)
    for text in TEXTS:
        want = ref.encode(text, add_special_tokens=add_special_tokens).ids
        assert _encode(ir, text, add_special_tokens) == want, text


def test_ir_tokenizes_shared_references_like_tokenizers(built, data_dir):
    model_dir = built[1]
    ir, ref = genai.Tokenizer(str(model_dir)), _reference(model_dir)
    texts = _shared_texts(data_dir)
    assert len(texts) > 500  # English, German, Spanish, French, Portuguese, Italian, Japanese, Korean, Chinese
    mismatched = [t for t in texts if _encode(ir, t, False) != ref.encode(t, add_special_tokens=False).ids]
    assert not mismatched


def test_the_template_brackets_the_text(built):
    model_dir = built[1]
    ref = tokenizers.Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    ids = _encode(genai.Tokenizer(str(model_dir)), " Hi", True)
    names = ("<|startoftranscript|>", "<|notimestamps|>", "<|endoftext|>")
    sot, notimestamps, eot = (ref.token_to_id(t) for t in names)
    assert ids[:2] == [sot, notimestamps] and ids[-1] == eot and len(ids) == 4


@pytest.mark.parametrize("skip_special_tokens", [True, False])
def test_every_token_detokenizes_like_tokenizers(built, skip_special_tokens):
    name, model_dir = built
    ir, ref = genai.Tokenizer(str(model_dir)), tokenizers.Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    singles = [[i] for i in range(MODELS[name])]
    got = ir.decode(singles, skip_special_tokens=skip_special_tokens)
    want = ref.decode_batch(singles, skip_special_tokens=skip_special_tokens)
    assert [i for i, (a, b) in enumerate(zip(got, want)) if a != b] == []
    if skip_special_tokens:  # every special token, timestamps included, decodes to nothing
        assert got[-1] == "" and got[ref.token_to_id("<|startoftranscript|>")] == ""
    else:
        assert got[-1] == "<|30.00|>"


@pytest.mark.parametrize("skip_special_tokens", [True, False])
def test_transcripts_with_timestamps_detokenize_like_tokenizers(built, skip_special_tokens):
    name, model_dir = built
    ir, ref = genai.Tokenizer(str(model_dir)), tokenizers.Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    tid = ref.token_to_id
    prefix = [tid("<|startoftranscript|>")] + ([tid("<|fr|>"), tid("<|transcribe|>")] if name == "base" else [])
    for i, text in enumerate(TEXTS):
        ids = ref.encode(text, add_special_tokens=False).ids
        half = len(ids) // 2
        seq = prefix + [tid("<|0.00|>")] + ids[:half] + [tid(f"<|{i * 1.5:.2f}|>")] + ids[half:]
        seq += [tid("<|30.00|>"), tid("<|endoftext|>")]
        want = ref.decode(seq, skip_special_tokens=skip_special_tokens)
        assert ir.decode(seq, skip_special_tokens=skip_special_tokens) == want
        if skip_special_tokens:
            assert want == ref.decode(ids)


def test_runtime_info_has_what_genai_reads(built):
    import openvino as ov
    import openvino_tokenizers  # noqa: F401  (registers the string ops the IR uses)

    model_dir = built[1]
    eot = tokenizers.Tokenizer.from_file(str(model_dir / "tokenizer.json")).token_to_id("<|endoftext|>")
    for xml in (files.TOKENIZER_MODEL, files.DETOKENIZER_MODEL):
        model = ov.Core().read_model(model_dir / xml)
        info = {key: model.get_rt_info(key).astype(str) for key in ("eos_token_id", "pad_token_id", "bos_token_id")}
        assert info == {"eos_token_id": str(eot), "pad_token_id": str(eot), "bos_token_id": str(eot)}
        assert model.get_rt_info("add_special_tokens").astype(str) == "True"
        assert model.get_rt_info("skip_special_tokens").astype(str) == "True"
        template = json.loads(model.get_rt_info("processed_post_processor_template").astype(str))
        assert template["single"]["ids"][2] == -1 and template["single"]["ids"][-1] == eot


def test_transformers_is_neither_required_nor_imported(built):
    import re
    import subprocess
    import sys

    pyproject = (Path(__file__).parents[1] / "pyproject.toml").read_text(encoding="utf-8")
    runtime = re.search(r"^dependencies = \[(.*?)^\]", pyproject, re.DOTALL | re.MULTILINE)
    assert runtime and '"tokenizers' in runtime[1] and "transformers" not in runtime[1]
    model_dir = built[1]
    code = (
        "import sys; from pathlib import Path; from ovsub.whisper import tokenizer_ir; "
        f"d = Path({str(model_dir)!r}); "
        "tokenizer_ir.write_tokenizer_ir(d / 'tokenizer.json', d / 'ids.json', Path(sys.argv[1])); "
        "assert 'transformers' not in sys.modules, 'transformers was imported'"
    )
    ids = dict.fromkeys(("bos_token_id", "eos_token_id", "pad_token_id"), 0)
    (model_dir / "ids.json").write_text(json.dumps(ids), encoding="utf-8")
    out = model_dir / "again"
    src = str(Path(tokenizer_ir.__file__).parents[2])  # this checkout's ovsub, installed or not
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [src, os.environ.get("PYTHONPATH")]))}
    run = subprocess.run([sys.executable, "-c", code, str(out)], capture_output=True, text=True, env=env, check=False)
    assert run.returncode == 0, run.stderr
    assert run.stderr == ""  # nothing printed: no notices from the libraries used
    assert (out / files.TOKENIZER_MODEL).is_file() and (out / files.DETOKENIZER_MODEL).is_file()


def test_other_tokenizer_shapes_are_refused(tmp_path, built):
    model_dir = built[1]
    spec = json.loads((model_dir / "tokenizer.json").read_text(encoding="utf-8"))
    spec["normalizer"] = {"type": "Lowercase"}
    path = tmp_path / "tokenizer.json"
    tokenizer_ir.save_tokenizer_json(spec, path)
    with pytest.raises(ValueError, match="normalizer Lowercase"):
        tokenizer_ir.write_tokenizer_ir(path, {"bos_token_id": 0, "eos_token_id": 0, "pad_token_id": 0}, tmp_path)
    assert not (tmp_path / files.TOKENIZER_MODEL).exists()
    with pytest.raises(ValueError, match="tokenizers library"):
        tokenizer_ir.save_tokenizer_json({"model": {"type": "Nonsense"}}, tmp_path / "bad.json")
