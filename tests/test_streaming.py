"""Streaming input (issue 12 item 1): blocks cut at pauses, and transcription block by block with the real model."""

from __future__ import annotations

import json
import wave
import weakref

import numpy as np
import pytest

from ovsub.audio import media
from ovsub.cues import build_cues
from ovsub.evaluation import corpus_wer
from ovsub.options import CueOptions, VadOptions
from ovsub.transcription import blocks as blocking
from ovsub.transcription import streaming, transcribe
from ovsub.transcription.blocks import FRAME_SAMPLES, blocks, cut_sample

SR = media.SAMPLE_RATE


# --- the block cutter, on made-up audio: loud stretches are speech, quiet ones pauses ------------------------------


def _score(samples: np.ndarray) -> np.ndarray:
    """A stand-in for the VAD: a frame is speech (0.9) when loud, a pause (0.05) when quiet."""
    frames = -(-samples.size // FRAME_SAMPLES)
    padded = np.zeros(frames * FRAME_SAMPLES, np.float32)
    padded[: samples.size] = samples
    loud = np.abs(padded.reshape(frames, FRAME_SAMPLES)).max(axis=1) > 0.1
    return np.where(loud, 0.9, 0.05).astype(np.float32)


def _speech(layout: list[tuple[str, float]]) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """Audio of ("speech" | "pause", seconds) pieces, and the sample spans of its speech."""
    rng = np.random.default_rng(1)
    pieces, spans, at = [], [], 0
    for kind, seconds in layout:
        n = int(seconds * SR)
        if kind == "speech":
            pieces.append((0.5 * rng.standard_normal(n)).clip(-1, 1).astype(np.float32))
            spans.append((at, at + n))
        else:
            pieces.append(0.001 * rng.standard_normal(n).astype(np.float32))
        at += n
    return np.concatenate(pieces), spans


def _chunks(audio: np.ndarray, chunk_s: float = 3.0) -> list[np.ndarray]:
    step = int(chunk_s * SR)
    return [audio[i : i + step] for i in range(0, audio.size, step)]


VAD = VadOptions()


def _cut(audio: np.ndarray, block_s: float, vad_options: VadOptions | None = VAD) -> list[blocking.Block]:
    return list(blocks(_chunks(audio), block_s, vad_options, score=_score))


def test_blocks_end_inside_pauses_never_inside_speech_and_join_to_the_recording():
    layout = [("pause", 0.5)] + [("speech", 4.3), ("pause", 0.7), ("speech", 2.9), ("pause", 1.6)] * 8
    audio, spans = _speech(layout)
    parts = _cut(audio, 20.0)
    assert len(parts) >= 3
    assert np.array_equal(np.concatenate([b.samples for b in parts]), audio)  # the rest carried, nothing lost
    for block, after in zip(parts, parts[1:]):
        cut = round(after.offset_s * SR)
        assert cut == round(block.offset_s * SR) + block.samples.size
        assert block.duration_s <= 20.0 and cut % FRAME_SAMPLES == 0
        assert not any(start <= cut < end for start, end in spans), cut  # never inside speech
        assert block.probabilities is not None and block.probabilities.size == block.samples.size // FRAME_SAMPLES
    # The longest pause near the end wins: the 1.6 s ones, each cut near its middle.
    for block in parts[:-1]:
        end = round(block.offset_s * SR) + block.samples.size
        before = max(e for s, e in spans if e <= end)
        after_start = min(s for s, e in spans if s >= end)
        assert after_start - before > 1.5 * SR and abs(end - (before + after_start) / 2) < 2 * FRAME_SAMPLES
    assert parts[-1].probabilities is None  # the last block is scored when it is planned


def test_blocks_without_a_pause_are_cut_at_the_quietest_stretch():
    audio, _ = _speech([("speech", 50.0)])
    audio[int(17.0 * SR) : int(17.3 * SR)] *= 0.2  # still "speech" to the scorer, but the quietest stretch
    parts = _cut(audio, 20.0)
    assert np.array_equal(np.concatenate([b.samples for b in parts]), audio)
    assert 16.9 < parts[1].offset_s < 17.4 and all(b.duration_s <= 20.0 for b in parts)
    # With voice activity off, the same stretch is chosen from the energy alone.
    assert 16.9 < _cut(audio, 20.0, vad_options=None)[1].offset_s < 17.4


def test_a_recording_shorter_than_a_block_is_one_block_and_an_empty_one_none():
    audio, _ = _speech([("speech", 3.0), ("pause", 1.0)])
    [only] = _cut(audio, 20.0)
    assert only.offset_s == 0.0 and np.array_equal(only.samples, audio) and only.probabilities is None
    assert _cut(np.zeros(0, np.float32), 20.0) == []


def test_a_recording_of_exactly_one_block_leaves_no_empty_tail():
    size = round(20.0 * SR) // FRAME_SAMPLES * FRAME_SAMPLES
    audio, _ = _speech([("speech", 11.0), ("pause", 2.0), ("speech", 7.0)])  # the pause in the last half
    audio = np.resize(audio, size)
    parts = _cut(audio, 20.0)
    assert len(parts) == 2 and all(b.samples.size for b in parts)
    assert np.array_equal(np.concatenate([b.samples for b in parts]), audio)
    assert 11.0 < parts[1].offset_s < 13.0


def test_cut_sample_stays_inside_the_block():
    audio = np.zeros(4 * FRAME_SAMPLES, np.float32)
    for probabilities in (np.array([0.1, 0.9, 0.9, 0.9]), np.array([0.9, 0.9, 0.9, 0.1]), None):
        cut = cut_sample(audio, probabilities, VadOptions(), search_s=1.0)
        assert FRAME_SAMPLES <= cut <= 3 * FRAME_SAMPLES


# --- transcription block by block, with the real model ------------------------------------------------------------

BLOCK_S = 45.0  # small, so the composite below (about 3 minutes) makes four blocks


@pytest.fixture(scope="module")
def composite(data_dir, tmp_path_factory):
    """The 89 s english/long file twice over, as a 16-bit WAV; its reference text and utterance spans."""
    path = data_dir / "english/long/derived_librispeech_concat_10utt.flac"
    audio = media.load_audio(path)
    utterances = json.loads(path.with_suffix(".boundaries.json").read_text())
    gap = np.zeros(SR, np.float32)
    joined = np.concatenate([audio, gap, audio])
    second_s = (audio.size + gap.size) / SR
    spans = [(u["start"], u["end"]) for u in utterances] + [(u["start"] + second_s, u["end"] + second_s)
                                                            for u in utterances]  # fmt: skip
    wav = tmp_path_factory.mktemp("streaming") / "twice.wav"
    with wave.open(str(wav), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(SR)
        out.writeframes((np.clip(joined, -1, 1) * 32767).astype("<i2").tobytes())
    reference = path.with_suffix(".ref.txt").read_text()
    return wav, " ".join([reference, reference]), spans, joined.size / SR


@pytest.fixture(scope="module")
def blocked_run(composite, base_model):
    """The composite transcribed in blocks of BLOCK_S, watching what is read from the decoder and what is held."""
    wav, _, _, _ = composite
    watch = _Watch()
    patches = pytest.MonkeyPatch()
    patches.setattr(streaming.media, "iter_audio", watch.decoder(media.iter_audio))
    patches.setattr(streaming, "blocks", watch.blocker(blocking.blocks))
    try:
        segments, info = transcribe(str(wav), transcriber=base_model, beam_size=1, block_s=BLOCK_S)
        out = []
        for segment in segments:
            watch.at_segment(segment)
            out.append(segment)
        info = segments.completed(info)
    finally:
        patches.undo()
    return out, info, watch


class _Watch:
    """What transcription reads from the decoder and which blocks' samples are still alive, segment by segment."""

    def __init__(self) -> None:
        self.read_s = 0.0
        self.ahead_s: list[float] = []  # audio read beyond each segment's start
        self.alive: list[int] = []  # blocks' sample buffers alive when each segment came out
        self.buffers: list[weakref.ref[np.ndarray]] = []
        self.offsets_s: list[float] = []

    def decoder(self, real):
        def iter_audio(*args, **kwargs):
            for chunk in real(*args, **kwargs):
                self.read_s += chunk.size / SR
                yield chunk

        return iter_audio

    def blocker(self, real):
        def watched(*args, **kwargs):
            for block in real(*args, **kwargs):
                base = block.samples.base if block.samples.base is not None else block.samples
                self.buffers.append(weakref.ref(base))
                self.offsets_s.append(block.offset_s)
                yield block
                del block, base

        return watched

    def at_segment(self, segment) -> None:
        self.ahead_s.append(self.read_s - segment.start_s)
        self.alive.append(sum(ref() is not None for ref in self.buffers))


@pytest.fixture(scope="module")
def whole_run(composite, base_model):
    wav, _, _, _ = composite
    segments, info = transcribe(str(wav), transcriber=base_model, beam_size=1, block_s=None)
    return list(segments), info


pytestmark = pytest.mark.model


def test_blocks_keep_accuracy_and_the_file_language(composite, blocked_run, whole_run):
    _, reference, _, _ = composite
    blocked, info, watch = blocked_run
    whole, whole_info = whole_run
    assert len(watch.offsets_s) >= 4  # several blocks were read
    wer_blocked = corpus_wer([(reference, " ".join(s.text for s in blocked))])
    wer_whole = corpus_wer([(reference, " ".join(s.text for s in whole))])
    assert wer_blocked <= wer_whole + 0.02 and wer_blocked < 0.08, (wer_blocked, wer_whole)
    assert info.language == whole_info.language == "en"
    assert info.language_probability == pytest.approx(whole_info.language_probability, abs=0.01)
    assert info.duration_s == pytest.approx(whole_info.duration_s, abs=1e-3)
    assert info.speech_s == pytest.approx(whole_info.speech_s, rel=0.05)


def test_blocked_segments_are_ordered_inside_the_audio_and_no_cue_crosses_a_cut(composite, blocked_run):
    _, _, spans, duration_s = composite
    segments, info, watch = blocked_run
    assert [s.id for s in segments] == list(range(len(segments)))
    for a, b in zip(segments, segments[1:]):
        assert a.start_s <= b.start_s and a.end_s <= b.start_s + 1e-6
    for s in segments:
        assert 0 <= s.start_s <= s.end_s <= duration_s + 1e-6
        for w in s.words:
            assert s.start_s - 1e-6 <= w.start_s <= w.end_s <= s.end_s + 1e-6
    cuts_s = watch.offsets_s[1:]
    for cut in cuts_s:  # each cut lies in a pause between utterances
        assert not any(start + 0.2 < cut < end - 0.2 for start, end in spans), cut
    for cue in build_cues(segments, CueOptions(), info.language):
        assert not any(cue.start_ms < cut * 1000 < cue.end_ms for cut in cuts_s), (cue, cuts_s)


def test_transcription_holds_about_one_block_of_audio(blocked_run):
    segments, _, watch = blocked_run
    chunk_s = 30.0  # media.iter_audio's chunk
    assert max(watch.ahead_s) <= BLOCK_S + chunk_s + 1.0, watch.ahead_s  # never read far beyond what it yields
    assert watch.ahead_s[0] < 90.0  # the first segments came before the whole file was read
    assert max(watch.alive) == 1, watch.alive  # one block's samples at a time
