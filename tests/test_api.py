"""The public API as the README shows it: ``import ovsub``, then ``ovsub.transcribe`` as often as needed."""

from __future__ import annotations

import importlib

import pytest

import ovsub
from ovsub.evaluation import corpus_wer

pytestmark = pytest.mark.model


def test_transcribe_is_the_function_on_every_call_and_after_importing_the_pipeline(data_dir):
    clip = data_dir / "english/other/jfk.flac"
    reference = clip.with_suffix(".ref.txt").read_text()
    first, info = ovsub.transcribe(str(clip), language="en", beam_size=1)
    text = " ".join(s.text for s in first)
    assert info.language == "en" and corpus_wer([(reference, text)]) < 0.1
    # Importing submodules must never rebind the package's function (ovsub.transcribe was once shadowed).
    for name in ("ovsub.pipeline", "ovsub.transcription", "ovsub.cues", "ovsub.cli", "ovsub.whisper"):
        importlib.import_module(name)
    assert callable(ovsub.transcribe) and callable(ovsub.build_cues)
    second, _ = ovsub.transcribe(str(clip), language="en", beam_size=1)
    segments = list(second)
    assert " ".join(s.text for s in segments) == text
    cues = ovsub.build_cues(segments)
    assert cues and all(c.start_ms < c.end_ms for c in cues)


def test_the_readme_example_runs_twice_in_one_process(data_dir, capsys):
    """The Python example at the top of README.md, twice, on a real clip (language detected)."""
    for _ in range(2):
        segments, info = ovsub.transcribe(str(data_dir / "non_english/fleurs/fleurs-de-001.ogg"), task="translate")
        print(info.language, info.duration_s)
        for segment in segments:
            print(segment.start_s, segment.end_s, segment.text, [w.text for w in segment.words])
    out = capsys.readouterr().out.splitlines()
    firsts = [line for line in out if line.startswith("de ")]
    assert len(firsts) == 2 and len(out) > 2


def test_every_public_name_resolves():
    for name in ovsub.__all__:
        assert getattr(ovsub, name) is not None
    with pytest.raises(AttributeError):
        ovsub.no_such_thing  # noqa: B018
