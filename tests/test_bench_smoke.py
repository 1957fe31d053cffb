"""bench/run.py runs end to end as a real subprocess and prints its table.

A smoke test only: no timing is asserted (speed belongs in the benchmark's own figures).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.model

RUN = Path(__file__).resolve().parents[1] / "bench" / "run.py"
CLIP = Path("english") / "librispeech" / "ls_test-clean_1089-134686-0001.flac"  # 3.3 s of read speech
COLUMNS = [
    *("engine", "beams", "wall s (median)", "min", "max", "RTF", "CPU s"),
    *("peak RSS MB", "load s", "WER %", "WER set s"),
]


def _cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


def test_run_prints_a_table_with_the_expected_columns(data_dir, tmp_path):
    out = tmp_path / "latest.md"
    argv = ["--runs", "1", "--beams", "1", "--engines", "ovsub-int8", "--audio", str(data_dir / CLIP)]
    done = subprocess.run(
        [sys.executable, str(RUN), *argv, "--out", str(out), "--pause-s", "0"],
        capture_output=True,
        text=True,
        timeout=300,  # a safety net for a stuck worker; the run itself takes well under a minute
    )
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.splitlines()
    header = next(line for line in lines if line.startswith("| engine"))
    assert _cells(header) == COLUMNS  # no faster-whisper engine asked for, so no ratio columns
    row = _cells(next(line for line in lines if line.startswith("| ovsub-int8 ")))
    assert row[:2] == ["ovsub-int8", "1"]
    assert float(row[2]) > 0 and float(row[5]) > 0 and float(row[7]) > 0  # wall s, RTF, peak RSS MB are numbers
    assert "Load average" in done.stdout and "openvino-genai" in done.stdout
    assert out.read_text(encoding="utf-8").strip() == done.stdout.strip()
    raw = json.loads(out.with_suffix(".json").read_text(encoding="utf-8"))
    assert raw["results"]["ovsub-int8@1"]["text"].strip()
