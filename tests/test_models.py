"""The conversion cache: built once, recorded, rebuilt when stale or half-written, safe under concurrency."""

from __future__ import annotations

import json
import multiprocessing
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from ovsub.errors import ModelError
from ovsub.options import ModelOptions
from ovsub.whisper import convert, files, models, weights

TINY = "tiny.en"  # the smallest bundled model: conversions in these tests take a few seconds


def _options(cache: Path, precision: str = "int8") -> ModelOptions:
    return ModelOptions(name=TINY, precision=precision, cache_dir=str(cache))


def test_ct2_reader_splits_fused_attention_back():
    dims, w = weights.read_ct2(models.resolve(TINY).weights)
    assert (dims.n_audio_layer, dims.n_text_layer, dims.d_model, dims.n_vocab) == (4, 4, 384, 51864)
    assert w["dec.L0.attn.q.w"].shape == w["dec.L0.attn.k.w"].shape == (384, 384)
    assert w["dec.L0.cross.k.w"].shape == w["dec.L0.cross.v.w"].shape == (384, 384)
    assert not np.array_equal(w["dec.L0.cross.k.w"], w["dec.L0.cross.v.w"])
    assert np.all(w["enc.L0.attn.k.b"] == 0)  # Whisper's key projections have no bias


def test_tokenizer_gets_timestamp_tokens():
    source = models.resolve("base")
    tj = json.loads((source.assets / files.TOKENIZER_JSON).read_text(encoding="utf-8"))
    added = convert._tokenizer_with_timestamps(tj, 51865)["added_tokens"]
    ids = {t["content"]: t["id"] for t in added}
    assert ids["<|0.00|>"] == ids["<|notimestamps|>"] + 1 == 50364
    assert ids["<|30.00|>"] == 51864


def test_conversion_is_cached_and_recorded(tmp_path):
    entry = models.ensure_model(_options(tmp_path))
    manifest = json.loads((entry / files.MANIFEST).read_text())
    assert manifest["converter"] == models.CONVERTER_VERSION and manifest["precision"] == "int8"
    assert len(manifest["source"]["sha256"]) == 64 and manifest["openvino"]
    for name in files.GENAI_REQUIRED + files.NATIVE_REQUIRED:
        assert (entry / name).is_file()
    decoder_weights = (entry / files.DECODER_MODEL).with_suffix(".bin")
    stamp = decoder_weights.stat().st_mtime_ns
    assert models.ensure_model(_options(tmp_path)) == entry
    assert decoder_weights.stat().st_mtime_ns == stamp  # reused, not rebuilt


def test_half_written_or_stale_entries_are_rebuilt(tmp_path):
    entry = models.ensure_model(_options(tmp_path))
    # A file cut short (a crash while copying, a full disk): the recorded size disagrees.
    encoder_weights = (entry / files.ENCODER_MODEL).with_suffix(".bin")
    with open(encoder_weights, "r+b") as f:
        f.truncate(100)
    assert not models.entry_is_valid(entry, models.resolve(TINY))
    entry = models.ensure_model(_options(tmp_path))
    assert encoder_weights.stat().st_size > 100
    # An interrupted build: a leftover temporary folder and an entry with no record.
    leftover = entry.parent / f".{entry.name}.tmp-crashed"
    leftover.mkdir()
    (entry / files.MANIFEST).unlink()
    entry = models.ensure_model(_options(tmp_path))
    assert (entry / files.MANIFEST).is_file() and not leftover.exists()
    # Built by an older converter: rebuilt.
    manifest = json.loads((entry / files.MANIFEST).read_text())
    manifest["converter"] = models.CONVERTER_VERSION - 1
    (entry / files.MANIFEST).write_text(json.dumps(manifest))
    assert not models.entry_is_valid(entry, models.resolve(TINY))


def _convert_in_child(cache: str) -> str:
    return str(models.ensure_model(ModelOptions(name=TINY, precision="fp16", cache_dir=cache)))


def test_two_processes_converting_at_once_share_one_build(tmp_path):
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(2) as pool:
        paths = pool.map(_convert_in_child, [str(tmp_path)] * 2)
    assert paths[0] == paths[1]
    entry = Path(paths[0])
    assert models.entry_is_valid(entry, models.resolve(TINY))
    assert not [p for p in entry.parent.iterdir() if ".tmp-" in p.name]


def test_unknown_model_names_say_what_would_work(tmp_path):
    with pytest.raises(ModelError, match="base"):
        models.resolve("no-such-model")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelError, match="not a model folder"):
        models.resolve(str(tmp_path / "empty"))


def test_hugging_face_folder_converts_like_the_ct2_model(tmp_path):
    """A safetensors checkpoint with HF names converts to the same graph as the CTranslate2 weights it holds."""
    safetensors = pytest.importorskip("safetensors.numpy")
    dims, w = weights.read_ct2(models.resolve(TINY).weights)
    hf: dict[str, np.ndarray] = {
        "model.encoder.conv1.weight": w["enc.conv1.w"], "model.encoder.conv1.bias": w["enc.conv1.b"],
        "model.encoder.conv2.weight": w["enc.conv2.w"], "model.encoder.conv2.bias": w["enc.conv2.b"],
        "model.encoder.embed_positions.weight": w["enc.pos"],
        "model.encoder.layer_norm.weight": w["enc.ln_post.g"], "model.encoder.layer_norm.bias": w["enc.ln_post.b"],
        "model.decoder.embed_tokens.weight": w["dec.embed"], "model.decoder.embed_positions.weight": w["dec.pos"],
        "model.decoder.layer_norm.weight": w["dec.ln.g"], "model.decoder.layer_norm.bias": w["dec.ln.b"],
    }  # fmt: skip
    for side, n in (("encoder", dims.n_audio_layer), ("decoder", dims.n_text_layer)):
        for i in range(n):
            ours, theirs = f"{side[:3]}.L{i}", f"model.{side}.layers.{i}"
            attns = [("attn", "self_attn")] + ([("cross", "encoder_attn")] if side == "decoder" else [])
            for a, b in attns:
                for o, t in (("q", "q_proj"), ("k", "k_proj"), ("v", "v_proj"), ("o", "out_proj")):
                    hf[f"{theirs}.{b}.{t}.weight"] = w[f"{ours}.{a}.{o}.w"]
                    if o != "k":
                        hf[f"{theirs}.{b}.{t}.bias"] = w[f"{ours}.{a}.{o}.b"]
            lns = [("attn_ln", "self_attn_layer_norm"), ("mlp_ln", "final_layer_norm")]
            lns += [("cross_ln", "encoder_attn_layer_norm")] if side == "decoder" else []
            for o, t in lns:
                hf[f"{theirs}.{t}.weight"], hf[f"{theirs}.{t}.bias"] = w[f"{ours}.{o}.g"], w[f"{ours}.{o}.b"]
            for j, fc in ((0, "fc1"), (1, "fc2")):
                hf[f"{theirs}.{fc}.weight"], hf[f"{theirs}.{fc}.bias"] = w[f"{ours}.mlp.{j}.w"], w[f"{ours}.mlp.{j}.b"]
    folder = tmp_path / "hf-tiny"
    folder.mkdir()
    as_f16 = {k: np.ascontiguousarray(v, np.float16) for k, v in hf.items()}
    safetensors.save_file(as_f16, str(folder / "model.safetensors"))
    cfg = {"num_mel_bins": 80, "max_source_positions": 1500, "max_target_positions": 448, "d_model": 384,
           "encoder_attention_heads": 6, "encoder_layers": 4, "decoder_attention_heads": 6, "decoder_layers": 4,
           "vocab_size": 51864, "model_type": "whisper"}  # fmt: skip
    (folder / files.CONFIG).write_text(json.dumps(cfg))
    src = models.resolve(TINY)
    (folder / files.TOKENIZER_JSON).write_bytes((src.assets / files.TOKENIZER_JSON).read_bytes())
    assert models.resolve(str(folder)).kind == "hf"
    dims2, w2 = weights.read_hf(folder)
    assert dims2 == dims
    for key in w:
        np.testing.assert_allclose(w2[key], w[key], atol=1e-3, err_msg=key)
    entry = models.ensure_model(ModelOptions(name=str(folder), precision="fp16", cache_dir=str(tmp_path / "cache")))
    assert (entry / files.DECODER_MODEL).is_file()
    assert models.resolve(str(entry)).kind == "openvino"  # and that folder is itself usable as a model
    assert os.path.samefile(models.ensure_model(ModelOptions(name=str(entry))), entry)


# --- damaged entries (issue 13 item 1) -------------------------------------------------------------


def _damage(path: Path, offset_fraction: float = 0.5, nbytes: int = 4096) -> None:
    """Overwrite ``nbytes`` in the middle of ``path`` with random bytes: same size, different content."""
    size = path.stat().st_size
    with open(path, "r+b") as f:
        f.seek(int(size * offset_fraction))
        f.write(os.urandom(nbytes))
    assert path.stat().st_size == size


def test_a_damaged_entry_is_found_by_its_hashes_and_rebuilt(tmp_path, caplog):
    entry = models.ensure_model(_options(tmp_path))
    manifest = json.loads((entry / files.MANIFEST).read_text())
    step_weights = (entry / files.STEP_DECODER_MODEL).with_suffix(".bin")
    built = step_weights.read_bytes()
    _damage(step_weights)
    with caplog.at_level("WARNING", logger="ovsub"):
        assert models.ensure_model(_options(tmp_path)) == entry
    assert step_weights.read_bytes() == built, "the damaged file must be rebuilt"
    assert any(str(step_weights) in r.getMessage() and "damaged" in r.getMessage() for r in caplog.records), [
        r.getMessage() for r in caplog.records
    ]
    assert set(manifest["sha256"]) == set(manifest["outputs"])  # every file of the entry has its hash recorded


def test_an_entry_without_hashes_is_rebuilt(tmp_path):
    """A record from before ovsub recorded hashes cannot vouch for the files: rebuilt rather than trusted."""
    entry = models.ensure_model(_options(tmp_path))
    manifest = json.loads((entry / files.MANIFEST).read_text())
    del manifest["sha256"]
    (entry / files.MANIFEST).write_text(json.dumps(manifest))
    encoder_weights = (entry / files.ENCODER_MODEL).with_suffix(".bin")
    _damage(encoder_weights)
    assert not models.entry_is_valid(entry, models.resolve(TINY))
    models.ensure_model(_options(tmp_path))
    assert "sha256" in json.loads((entry / files.MANIFEST).read_text())
    assert models.entry_is_valid(entry, models.resolve(TINY))


def test_contents_are_hashed_once_per_process_until_a_file_changes(tmp_path, monkeypatch):
    entry = models.ensure_model(_options(tmp_path))
    hashed: list[str] = []
    real = models.file_sha256
    monkeypatch.setattr(models, "file_sha256", lambda p: hashed.append(Path(p).name) or real(p))
    models.ensure_model(_options(tmp_path))
    assert hashed == [], "the build hashed every file already"
    models.forget_verified()  # as a new process would start
    models.ensure_model(_options(tmp_path))
    assert sorted(hashed) == sorted(json.loads((entry / files.MANIFEST).read_text())["sha256"])
    hashed.clear()
    models.ensure_model(_options(tmp_path))
    assert hashed == []
    # damage after the check, in the same process: the file's modification time tells it changed
    _damage((entry / files.ENCODER_MODEL).with_suffix(".bin"))
    assert not models.entry_is_valid(entry, models.resolve(TINY))


def test_a_damaged_model_folder_given_by_path_is_refused(tmp_path):
    """A folder ovsub built, named as --model DIR: its record is checked too, and the folder left as it is."""
    entry = models.ensure_model(_options(tmp_path / "cache"))
    folder = tmp_path / "my-model"
    shutil.copytree(entry, folder)
    assert models.ensure_model(ModelOptions(name=str(folder))) == folder
    damaged = folder / files.DETOKENIZER_MODEL
    _damage(damaged, nbytes=16)
    models.forget_verified()
    with pytest.raises(ModelError, match=f"{damaged}: .*damaged"):
        models.ensure_model(ModelOptions(name=str(folder)))


def test_a_model_folder_may_leave_out_files_it_does_not_need(tmp_path):
    """A copy without ovsub's own graphs (for GenAI alone) is not damaged: only the files present are checked."""
    entry = models.ensure_model(_options(tmp_path / "cache"))
    folder = tmp_path / "for-genai"
    shutil.copytree(entry, folder, ignore=shutil.ignore_patterns("ovsub_*"))
    assert (folder / files.MANIFEST).is_file() and not (folder / files.STEP_DECODER_MODEL).exists()
    assert models.ensure_model(ModelOptions(name=str(folder))) == folder
