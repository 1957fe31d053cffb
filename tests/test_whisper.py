"""The converted model run by ovsub's own loop and by OpenVINO GenAI, checked against references on real speech."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from ovsub import whisper
from ovsub.audio import media
from ovsub.evaluation import corpus_wer, edit_distance, english_ground_truth, non_english, normalize
from ovsub.transcription import load_model
from ovsub.whisper.genai import GenAITranscriber
from ovsub.whisper.native import NativeTranscriber

pytestmark = pytest.mark.model


def _ct2_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bundled base weights reassembled as a CTranslate2 model folder (model.bin from its two parts)."""
    from ovsub.whisper import files, models

    source = models.resolve("base")
    folder = tmp_path_factory.mktemp("ct2-base")
    with open(folder / files.CT2_WEIGHTS, "wb") as out:
        for part in source.weights:
            out.write(part.read_bytes())
    for name in (files.CONFIG, files.TOKENIZER_JSON, "vocabulary.txt"):  # the vocabulary is for faster-whisper
        shutil.copy(source.assets / name, folder / name)
    return folder


def test_greedy_matches_ctranslate2_on_the_same_weights(data_dir, base_model_plain, tmp_path_factory):
    """Our torch-free conversion decodes like CTranslate2 (faster-whisper's engine) on the very same weights.

    Differences allowed: int8 weights and bfloat16/float32 arithmetic against CTranslate2's float32 can flip a
    near-tie between two tokens (typically punctuation or a spelling variant), so at most a quarter of the clips
    may differ, and the words as a whole must agree within 3 %.
    """
    faster_whisper = pytest.importorskip("faster_whisper")
    reference = faster_whisper.WhisperModel(
        str(_ct2_model_dir(tmp_path_factory)), device="cpu", compute_type="float32", cpu_threads=2
    )
    clips = english_ground_truth(data_dir)[:12]
    differing, edits, words = [], 0, 0
    for clip in clips:
        audio = media.load_audio(clip.path)
        ours = base_model_plain.decode(audio, whisper.DecodeRequest(language="en", beam_size=1, word_timestamps=False))
        theirs, _ = reference.transcribe(
            audio, language="en", beam_size=1, vad_filter=False, condition_on_previous_text=False, temperature=0.0
        )
        a, b = normalize(ours.text), normalize(" ".join(s.text for s in theirs))
        if a != b:
            differing.append((clip.path.name, " ".join(a), " ".join(b)))
        edits += edit_distance(b, a)
        words += len(b)
    assert len(differing) <= len(clips) // 4, differing
    assert edits / words < 0.03, differing


def test_english_wer_is_under_bound(data_dir, base_model_plain):
    """Greedy decoding of base on every ground-truth English clip: corpus WER under 9 %.

    Measured 6.7 %; faster-whisper greedy about the same.
    """
    pairs = []
    for clip in english_ground_truth(data_dir):
        result = base_model_plain.decode(
            media.load_audio(clip.path), whisper.DecodeRequest(language="en", beam_size=1, word_timestamps=False)
        )
        pairs.append((clip.reference, result.text))
    assert len(pairs) == 30
    assert corpus_wer(pairs) < 0.09


def test_language_is_detected_on_non_english_clips(data_dir, base_model_plain):
    """Language ID: the detected language is right on at least 95 % of the non-English clips."""
    clips = non_english(data_dir)
    wrong = []
    for clip in clips:
        guess = base_model_plain.detect_language(media.load_audio(clip.path))
        assert guess.probability is not None and 0 < guess.probability <= 1
        assert guess.top[0] == (guess.language, guess.probability)
        if guess.language != clip.language:
            wrong.append((clip.path.name, clip.language, guess.language))
    assert len(clips) >= 47
    assert len(wrong) <= len(clips) // 20, wrong


def test_translate_gives_english(data_dir, base_model_plain):
    """Translating German, Spanish and French speech yields English words that overlap the reference translation."""
    clips = [c for c in non_english(data_dir) if c.path.name.endswith("-000.ogg")]
    assert {c.language for c in clips} >= {"de", "es", "fr"}
    for clip in clips:
        result = base_model_plain.decode(
            media.load_audio(clip.path), whisper.DecodeRequest(task="translate", beam_size=1, word_timestamps=False)
        )
        ours, ref = set(normalize(result.text)), set(normalize(clip.translation_en or ""))
        overlap = len(ours & ref) / max(1, len(ref))
        assert overlap > 0.3, (clip.path.name, result.text)
        assert result.text.isascii() or overlap > 0.5, result.text


def test_word_timestamps_are_ordered_and_inside_the_audio(data_dir, base_model):
    audio = media.load_audio(data_dir / "english/other/jfk.flac")
    result = base_model.decode(audio, whisper.DecodeRequest(language="en", beam_size=5))
    words = [w for c in result.chunks for w in c.words]
    assert len(words) >= 20
    duration = len(audio) / media.SAMPLE_RATE
    for a, b in zip(words, words[1:], strict=False):
        assert a.start_s <= a.end_s <= b.end_s and a.start_s <= b.start_s
    assert words[0].start_s >= 0 and words[-1].end_s <= duration + 0.02


def test_english_only_model_refuses_translation():
    from ovsub.options import ModelOptions

    tiny = load_model(ModelOptions(name="tiny.en", precision="int8"), word_timestamps=False)
    assert tiny.multilingual is False
    with pytest.raises(ValueError, match="English-only"):
        tiny.decode(np.zeros(media.SAMPLE_RATE, np.float32), whisper.DecodeRequest(task="translate"))


def test_own_loop_decodes_like_genai_on_the_same_model(data_dir, base_model):
    """ovsub's search over the step decoder against GenAI's WhisperPipeline on the same IR, beam 5, words on.

    Both implement Whisper's rules; they differ in arithmetic (the step decoder runs in f32, GenAI's decoder in
    the plugin's default precision) and in GenAI's beam bookkeeping, so a near-tie may flip a word: at most a
    quarter of the clips may differ and under 3 % of words. Word times come from the same alignment heads: the
    median start difference must stay under 40 ms (two timestamp steps).
    """
    from ovsub.options import ModelOptions

    genai = load_model(ModelOptions(name="base", precision="int8", decoder="genai"), word_timestamps=True)
    assert isinstance(base_model, NativeTranscriber) and isinstance(genai, GenAITranscriber)
    clips = english_ground_truth(data_dir)[:8]
    differing, edits, words, shifts = [], 0, 0, []
    request = whisper.DecodeRequest(language="en", beam_size=5)
    for clip in clips:
        audio = media.load_audio(clip.path)
        ours, theirs = base_model.decode(audio, request), genai.decode(audio, request)
        a, b = normalize(ours.text), normalize(theirs.text)
        if a != b:
            differing.append((clip.path.name, " ".join(a), " ".join(b)))
        edits += edit_distance(b, a)
        words += len(b)
        ours_w = [w for c in ours.chunks for w in c.words]
        theirs_w = [w for c in theirs.chunks for w in c.words]
        if [w.text for w in ours_w] == [w.text for w in theirs_w]:
            shifts += [abs(x.start_s - y.start_s) for x, y in zip(ours_w, theirs_w, strict=True)]
    assert len(differing) <= len(clips) // 4, differing
    assert edits / words < 0.03, differing
    assert len(shifts) > 50 and float(np.median(shifts)) < 0.04


def test_windows_decoded_as_one_batch_match_each_decoded_alone(data_dir, base_model):
    """Batching windows (their beams as one decoder batch) changes nothing but speed."""
    clips = english_ground_truth(data_dir)[:3]
    audios = [media.load_audio(c.path)[: 30 * media.SAMPLE_RATE] for c in clips]
    request = whisper.DecodeRequest(language="en", beam_size=5)
    together = base_model.decode_windows(audios, request)
    for audio, result in zip(audios, together, strict=True):
        alone = base_model.decode(audio, request)
        assert normalize(result.text) == normalize(alone.text)
        assert [round(c.start_s, 2) for c in result.chunks] == [round(c.start_s, 2) for c in alone.chunks]
        got, want = [w for c in result.chunks for w in c.words], [w for c in alone.chunks for w in c.words]
        assert [w.text for w in got] == [w.text for w in want]
        assert max(abs(a.start_s - b.start_s) for a, b in zip(got, want, strict=True)) <= 0.04
    with pytest.raises(ValueError, match="30 s"):
        base_model.decode_windows([np.zeros(31 * media.SAMPLE_RATE, np.float32)], request)


def test_a_model_folder_without_ovsub_graphs_runs_through_genai(tmp_path, base_model):
    """A ready OpenVINO folder exported by another tool has no step decoder: auto picks GenAI, ovsub refuses."""
    from ovsub.errors import ModelError
    from ovsub.options import ModelOptions
    from ovsub.whisper.files import CROSS_KV_MODEL, STEP_DECODER_MODEL

    folder = tmp_path / "exported"
    shutil.copytree(base_model.model_dir, folder, ignore=shutil.ignore_patterns("ovsub_*"))
    assert not (folder / STEP_DECODER_MODEL).exists() and not (folder / CROSS_KV_MODEL).exists()
    loaded = load_model(ModelOptions(name=str(folder)), word_timestamps=False)
    assert isinstance(loaded, GenAITranscriber)
    with pytest.raises(ModelError, match="--decoder genai"):
        load_model(ModelOptions(name=str(folder), decoder="ovsub"))
