"""Issue 15 item 5: one option set. Every setting of the Python API is a flag of ``ovsub transcribe`` (and of
``ovsub batch``) unless it is chosen another way, and the JSON output echoes every one of them."""

from __future__ import annotations

import dataclasses
import json
import typing
from pathlib import Path
from typing import Any

import pytest

from ovsub import cli
from ovsub.options import CueOptions, ModelOptions, TranscribeOptions, option_fields

# Settings the command line sets another way: task by --task (a list, so a file can be transcribed and translated),
# silence phrases are a table, not a knob.
CHOSEN_ANOTHER_WAY = {("task",), ("guards", "silence_phrases")}


def _leaves(cls: type, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    hints = typing.get_type_hints(cls)
    out: list[tuple[str, ...]] = []
    for f in dataclasses.fields(cls):
        kind = hints[f.name]
        if dataclasses.is_dataclass(kind):
            out += _leaves(typing.cast(type, kind), (*path, f.name))
        else:
            out.append((*path, f.name))
    return out


@pytest.mark.parametrize("cls", [TranscribeOptions, ModelOptions, CueOptions], ids=lambda c: c.__name__)
def test_every_api_setting_is_a_flag_of_transcribe_and_batch(cls: type) -> None:
    offered = {f.path for f in option_fields(cls)}
    missing = [p for p in _leaves(cls) if p not in offered and p not in CHOSEN_ANOTHER_WAY]
    assert missing == []
    parser = cli.build_parser()
    for command in (["transcribe", "in.wav"], ["batch", "in.wav", "-o", "out"]):
        args = parser.parse_args(command)
        for f in option_fields(cls):
            assert hasattr(args, f.name), (command[0], f.name)


def test_vad_and_guard_flags_reach_the_options() -> None:
    args = cli.build_parser().parse_args(
        ["transcribe", "in.wav", "--vad-threshold", "0.6", "--vad-min-silence-ms", "900", "--max-new-tokens", "100"]
    )
    job = cli.job_from_args(args)
    assert job.transcribe.vad_options.threshold == 0.6 and job.transcribe.vad_options.min_silence_ms == 900
    assert job.transcribe.max_new_tokens == 100


def test_json_echoes_every_setting_used(tmp_path: Path, data_dir: Path) -> None:
    jfk = data_dir / "english/other/jfk.flac"
    code = cli.main(["transcribe", str(jfk), "-o", str(tmp_path), "-f", "json", "-q", "--language", "en",
                     "--vad-threshold", "0.6", "--max-new-tokens", "100", "--model", "tiny.en"])  # fmt: skip
    assert code == 0
    echoed: dict[str, Any] = json.loads((tmp_path / "jfk.json").read_text())["options"]
    assert echoed["transcribe"]["vad_options"]["threshold"] == 0.6
    assert echoed["transcribe"]["max_new_tokens"] == 100
    assert echoed["model"]["name"] == "tiny.en"
    for section, cls in (("transcribe", TranscribeOptions), ("model", ModelOptions), ("cues", CueOptions)):
        for path in _leaves(cls):
            value: Any = echoed[section]
            for key in path:
                assert key in value, (section, path)
                value = value[key]
