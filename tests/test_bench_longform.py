"""bench/longform.py (issue 11): its file builder and measures on synthetic inputs, and one tiny end-to-end run.

The measures are checked on hand-made words and clip spans, so no model runs; the smoke test at the end builds a
20 s file from two short clips and runs ovsub on it in a real subprocess (no timing asserted).
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"
sys.path.insert(0, str(BENCH))

import longform  # noqa: E402
import scale  # noqa: E402
from longform import Built, Occurrence, SourceClip  # noqa: E402

from ovsub import Segment, Word  # noqa: E402

SR = scale.SAMPLE_RATE


def _clip(name: str, reference: str, seconds: float, onset_s: float = 0.2) -> SourceClip:
    return SourceClip(name, Path(f"/nowhere/{name}.wav"), reference, int(seconds * SR), -30.0, onset_s, onset_s)


def _words(*spans: tuple[float, float, str]) -> list[Word]:
    return [Word(start, end, " " + text) for start, end, text in spans]


# -- The builder (bench/scale.py) -------------------------------------------------------------------------------


def test_plan_is_repeatable_and_pieces_tile_the_file():
    lengths = [SR * 3, SR * 2, SR * 5]
    options = scale.JoinOptions(levelled=False, silence_s=(0.5, 2.0), noise_share=0.5, whole_passes=True,
                                shuffle_after=1, seed=3)
    first = scale.plan(lengths, 1.0, options, noise_samples=SR * 8)
    assert first == scale.plan(lengths, 1.0, options, noise_samples=SR * 8)
    assert first[0].start == 0 and all(a.end == b.start for a, b in zip(first, first[1:]))
    clips = [p for p in first if p.kind == "clip"]
    assert sorted(p.clip for p in clips) == sorted(list(range(3)) * (len(clips) // 3))  # whole passes
    assert all(p.end - p.start == lengths[p.clip] for p in clips)
    gaps = [p for p in first if p.kind != "clip"]
    assert {p.kind for p in gaps} == {"silence", "noise"}
    for p in gaps:
        low, high = options.noise_s if p.kind == "noise" else options.silence_s
        assert low * SR - 1 <= p.end - p.start <= high * SR


def test_written_file_keeps_clips_as_recorded_and_noise_where_planned(tmp_path):
    quiet = np.full(SR, 0.001, dtype=np.float32)
    noise = np.linspace(-0.1, 0.1, SR // 2, dtype=np.float32)
    pieces = scale.lay_out([0], [quiet.size], [("noise", SR, 100), ("silence", SR // 4, 0)])
    path = tmp_path / "x.wav"
    scale.write_wav(path, pieces, [quiet], noise, levelled=False)
    audio = longform.load_audio(path)
    assert audio.size == pieces[-1].end
    assert np.allclose(audio[SR : 2 * SR], 0.001, atol=1e-4)  # not levelled
    assert np.allclose(audio[:10], noise[100:110], atol=1e-4)  # noise from its offset, looped
    assert np.abs(audio[2 * SR :]).max() == 0.0


def test_default_join_options_make_the_same_file_as_before():
    # scale.py's own files (levelled, 0.5-1 s silences, no noise) are drawn exactly as before the builder grew
    rng = random.Random(scale.SEED)
    lengths = [SR * 10, SR * 7]
    pieces = scale.plan(lengths, 0.5, scale.JoinOptions())
    expected_gaps = [int(rng.uniform(*scale.SILENCE_S) * SR) for _ in range(4)]
    assert [p.end - p.start for p in pieces if p.kind == "silence"] == expected_gaps[: len(pieces) // 2]


# -- Onsets -------------------------------------------------------------------------------------------------------


def test_onset_moves_back_to_an_energy_rise_only_when_it_is_close():
    assert longform.speech_onset_s(0.58, [0.36]) == 0.36
    assert longform.speech_onset_s(0.93, [0.2, 0.5]) == 0.93  # noise rising long before the voice
    assert longform.speech_onset_s(0.40, []) == 0.40
    burst = np.r_[np.zeros(SR // 2), np.ones(SR // 2)].astype(np.float32)
    assert longform.energy_rises_s(burst) == [0.5]


# -- Measures -----------------------------------------------------------------------------------------------------

OCC = (Occurrence(0, 1.0, 4.0, 1.3), Occurrence(1, 6.0, 8.0, 6.2), Occurrence(0, 12.0, 15.0, 12.3))


def test_words_go_to_the_clip_they_fall_in_or_to_a_gap():
    words = _words((1.1, 1.4, "a"), (4.1, 4.4, "b"), (5.0, 5.1, "c"), (5.9, 6.3, "d"), (9.0, 9.5, "e"))
    assert longform.assign_words(words, OCC) == [0, 0, None, 1, None]
    assert longform.assign_words(words, OCC, tolerance_s=0.0) == [0, None, None, 1, None]
    assert longform.assign_words([], OCC) == [] and longform.assign_words(words[:1], ()) == [None]


def test_uncovered_speech_counts_only_what_no_word_reaches():
    speech = [(1.0, 4.0), (6.0, 8.0)]
    words = _words((1.2, 2.0, "a"), (2.2, 2.8, "b"))
    # covered: 0.95..3.05 of the first span (words widened 0.25 s and merged); the second span not at all
    assert longform.uncovered_s(speech, words) == pytest.approx((4.0 - 3.05) + 2.0)
    assert longform.uncovered_s(speech, []) == pytest.approx(5.0)
    assert longform.uncovered_s([], words) == 0.0


def test_first_cue_of_each_clip_and_its_start_error():
    cue_a = ovsub_cue(1250, 3000, _words((1.3, 2.0, "a"), (2.1, 2.9, "b")))
    cue_b = ovsub_cue(3100, 3900, _words((3.1, 3.8, "c")))
    cue_c = ovsub_cue(6400, 7000, _words((6.45, 6.9, "d")))
    starts = longform.first_cue_starts([cue_a, cue_b, cue_c], OCC)
    assert starts == {0: 1.25, 1: 6.4}  # the third occurrence has no words: no start error for it
    errors = [starts[k] - OCC[k].onset_s for k in sorted(starts)]
    stats = longform.error_stats(errors)
    assert stats["n"] == 2 and stats["signed_median_ms"] == pytest.approx(75.0)
    assert stats["abs_median_ms"] == pytest.approx(125.0) and stats["abs_p90_ms"] == pytest.approx(185.0)


def ovsub_cue(start_ms: int, end_ms: int, words: list[Word]):
    from ovsub import Cue

    return Cue(start_ms, end_ms, ("".join(w.text for w in words).strip(),), tuple(words))


def test_score_counts_lost_clips_gap_words_and_wer():
    clips = [_clip("one", "the cat sat on the mat", 3.0), _clip("two", "dogs bark loudly", 2.0)]
    built = Built("synthetic", "long", Path("/nowhere.wav"), 16.0, OCC,
                  (("silence", 0.0, 1.0), ("noise", 4.0, 6.0), ("silence", 8.0, 12.0), ("silence", 15.0, 16.0)))
    spans = [(1.3, 1.5, "The"), (1.6, 1.9, "cat"), (2.0, 2.3, "sat"), (2.4, 2.6, "on"), (2.7, 2.9, "the"),
             (3.0, 3.4, "mat."), (5.0, 5.3, "Thanks"), (10.0, 10.4, "you"), (12.4, 12.8, "cat")]
    words = _words(*spans)
    segments = [Segment(0, 1.3, 3.4, "The cat sat on the mat.", tuple(words[:6])),
                Segment(1, 5.0, 10.4, "Thanks you", tuple(words[6:8])),
                Segment(2, 12.4, 12.8, "cat", tuple(words[8:]))]
    run = {"wall_s": 1.6, "segments": longform.compact(segments)}
    s = longform.score(built, run, clips, vad_speech=[(1.3, 3.5), (6.2, 7.8), (12.3, 14.5)])
    assert s["gap_words"] == {"silence": 1, "noise": 1}
    assert s["lost"] == [1, 2]  # "dogs bark loudly" heard nowhere; one word of six is under a quarter
    assert [o["words"] for o in s["occurrences"]] == [6, 0, 1]
    assert s["rtf"] == pytest.approx(0.1)
    assert s["uncovered_speech_s"] == pytest.approx(1.6 + (14.5 - 13.05))
    assert s["wer"] == pytest.approx(longform.corpus_wer(
        [("the cat sat on the mat dogs bark loudly the cat sat on the mat", "the cat sat on the mat thanks you cat")]))
    assert s["first_word_start"]["n"] == 2
    assert [o["after"] for o in s["occurrences"]] == ["silence", "noise", "silence"]
    assert [o["vad_s"] for o in s["occurrences"]] == [2.2, 1.6, 2.2]
    without_vad = longform.score(built, run, clips, vad_speech=None)
    assert without_vad["uncovered_speech_s"] is None and without_vad["lost"] == s["lost"]


def test_engine_names_and_beams():
    assert [s.label for s in longform.parse_engines("ovsub,fw-batched@1", [5])] == ["ovsub@5", "fw-batched@1"]
    assert longform.EngineSpec("fw-batched", 5).settings(2).batch_size == longform.FW_BATCH_SIZE
    with pytest.raises(ValueError):
        longform.parse_engines("whisper.cpp", [5])


# -- End to end ---------------------------------------------------------------------------------------------------

SHORT_CLIPS = "ls_test-clean_1089-134686-0001,ls_test-clean_1089-134691-0000"  # 3.3 s and 2.1 s of read speech


@pytest.mark.model
def test_longform_runs_on_a_tiny_file(data_dir, tmp_path):
    out = tmp_path / "longform.md"
    argv = ["--minutes", "0.3", "--clips", SHORT_CLIPS, "--engines", "ovsub@1", "--composites", "1",
            "--no-speech", "off", "--data-dir", str(data_dir), "--cache-dir", str(tmp_path / "cache"),
            "--out", str(out)]
    done = subprocess.run([sys.executable, str(BENCH / "longform.py"), *argv], capture_output=True, text=True,
                          timeout=300)  # a safety net for a stuck worker; the run takes well under a minute
    assert done.returncode == 0, done.stderr[-3000:]
    row = next(line for line in done.stdout.splitlines() if line.startswith("| 0.3 min | ovsub@1 "))
    cells = [c.strip() for c in row.strip().strip("|").split("|")]
    assert float(cells[2]) < 50 and cells[5] == "0 / 4"  # WER long %; no clip lost of 2 passes over 2 clips
    raw = json.loads(out.with_suffix(".json").read_text(encoding="utf-8"))
    result = raw["engines"]["ovsub@1"]
    assert result["ok"] and result["scores"]["0.3 min"]["cue_start"]["n"] == 4
    assert len(list((tmp_path / "cache").glob("*.wav"))) == 2  # the long file and the composite, cached
    rerun = subprocess.run([sys.executable, str(BENCH / "longform.py"), "--from-json", str(out.with_suffix(".json")),
                            "--out", str(tmp_path / "again.md")], capture_output=True, text=True, timeout=120)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert row in rerun.stdout  # re-scoring the saved segments gives the same table
