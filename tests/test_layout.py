"""The codebase stays the shape the architecture asks for: small modules, short functions, one door per stage."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "ovsub"
MAX_MODULE_LINES = 450
MAX_FUNCTION_LINES = 80


def _modules() -> list[Path]:
    return sorted(SRC.rglob("*.py"))


def test_no_module_is_over_450_lines():
    long = {str(p.relative_to(SRC)): n for p in _modules() if (n := p.read_text().count("\n")) > MAX_MODULE_LINES}
    assert long == {}


def test_no_function_is_over_80_lines():
    long = []
    for path in _modules():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = (node.end_lineno or node.lineno) - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    long.append(f"{path.relative_to(SRC)}:{node.lineno} {node.name} ({lines} lines)")
    assert long == []


def test_only_the_whisper_package_imports_openvino():
    """whisper/ is the only package that knows Whisper's models or OpenVINO (audio/vad.py runs Silero on it)."""
    allowed = {"whisper", "audio"}
    offenders = []
    for path in _modules():
        rel = path.relative_to(SRC)
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            uses = any(n.split(".")[0] in ("openvino", "openvino_genai", "openvino_tokenizers") for n in names)
            outside = rel.parts[0] not in allowed or (rel.parts[0] == "audio" and rel.name != "vad.py")
            if uses and outside:
                offenders.append(str(rel))
    assert offenders == []
