"""What the benchmark scripts share: machine facts, driving a worker process, and markdown tables."""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO_DIR = BENCH_DIR.parent
WORKER = BENCH_DIR / "worker.py"
DATA_DIR = REPO_DIR.parent / "shared" / "data"  # the shared real speech (see its README.md)
PACKAGES = ("ovsub", "openvino", "openvino-genai", "openvino-tokenizers", "ctranslate2", "faster-whisper", "numpy")
# CPU features the int8/bf16 kernels of OpenVINO and CTranslate2 choose between
CPU_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_bf16", "amx_int8")
STDERR_TAIL_CHARS = 2000  # how much of a failed worker's stderr to show


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} / {five:.2f} / {fifteen:.2f}"


def cpu_facts() -> dict[str, Any]:
    model, flags = platform.processor() or "unknown", set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name":
                model = value.strip()
            elif key.strip() == "flags":
                flags = set(value.split())
    except OSError:
        pass
    return {"cpu": model, "cores": os.cpu_count(), "flags": [f for f in CPU_FLAGS if f in flags]}


def versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    try:
        commit = subprocess.run(
            ["git", "-C", str(REPO_DIR), "describe", "--always", "--dirty"], capture_output=True, text=True, check=True
        ).stdout.strip()
        out["ovsub commit"] = commit
    except (OSError, subprocess.CalledProcessError):
        pass
    return out


def machine_lines(load_start: str, load_end: str) -> list[str]:
    cpu = cpu_facts()
    return [
        f"- CPU: {cpu['cpu']}, {cpu['cores']} logical cores; flags: {', '.join(cpu['flags']) or 'none of interest'}",
        f"- Load average (1/5/15 min): {load_start} at start, {load_end} at end (other jobs share this machine)",
        "- Versions: " + ", ".join(f"{k} {v}" for k, v in versions().items()),
    ]


def worker_env(threads: int) -> dict[str, str]:
    """The worker's environment: every thread pool a library might start capped at the benchmark's count."""
    env = dict(os.environ)
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        env[var] = str(threads)
    return env


class WorkerError(RuntimeError):
    """A worker died or answered with an error."""


class WorkerProcess:
    """A running ``worker.py --serve``: send a command, read its JSON answer."""

    def __init__(self, args: Sequence[str], threads: int) -> None:
        self._stderr = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115  closed in close()
        self.proc = subprocess.Popen(
            [sys.executable, str(WORKER), *args, "--serve"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
            env=worker_env(threads),
        )
        self.ready = self._read()

    def _read(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            self.proc.wait()
            raise WorkerError(f"worker exited ({self.proc.returncode}): {self.stderr_tail()}")
        reply: dict[str, Any] = json.loads(line)
        if reply.get("event") == "error":
            raise WorkerError(f"{reply.get('error')}\n{self.stderr_tail()}")
        return reply

    def call(self, command: str) -> dict[str, Any]:
        assert self.proc.stdin is not None
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        return self._read()

    def stderr_tail(self) -> str:
        self._stderr.seek(0)
        return self._stderr.read()[-STDERR_TAIL_CHARS:]

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._stderr.close()


def run_worker_once(args: Sequence[str], threads: int) -> dict[str, Any]:
    """Run ``worker.py`` to completion and return its one JSON line (``--runs`` or ``--prepare`` mode)."""
    done = subprocess.run(
        [sys.executable, str(WORKER), *args], capture_output=True, text=True, env=worker_env(threads)
    )
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    if not lines:
        if done.returncode == 0:
            return {"ok": True}
        raise WorkerError(f"worker exited ({done.returncode}): {done.stderr[-STDERR_TAIL_CHARS:]}")
    reply: dict[str, Any] = json.loads(lines[-1])
    if reply.get("event") == "error":
        raise WorkerError(f"{reply.get('error')}\n{done.stderr[-STDERR_TAIL_CHARS:]}")
    return reply


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def fmt(value: float | None, digits: int = 2) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)
