"""Hotwords: names and jargon given to every window, so Whisper spells them as the user does.

The clip: FLEURS English 002 names the Portuguese town of Sintra, which Whisper base writes "Cintra" (the old
English spelling) with greedy and with beam search, on both engines; told the hotword, it writes "Sintra".
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ovsub.cli import build_parser, job_from_args
from ovsub.evaluation import edit_distance, normalize
from ovsub.options import ModelOptions, TranscribeOptions
from ovsub.transcription import load_model, transcribe
from ovsub.whisper import DecodeRequest
from ovsub.whisper.decoding import SpecialTokens
from ovsub.whisper.native import NativeTranscriber

MAX_REST_WER_RISE = 0.05  # what hotwords may cost the rest of the transcript (a word in 20)

# (clip, hotwords, words they must make right, the misspellings written without them)
CASES = {
    "sintra": ("english/fleurs/fleurs-en-002.ogg", "Sintra", {"sintra"}, {"cintra"}),
    "birket": ("english/librispeech/ls_dev-clean_1272-128104-0004_8k.wav", "Linnell, Birket Foster", {"birket"},
               {"birk", "birke"}),  # fmt: skip
}


def _rest_wer(reference: list[str], hypothesis: list[str], names: set[str]) -> float:
    """WER with the names and their misspellings taken out of both texts: what the hotwords did to the rest."""
    ref = [w for w in reference if w not in names]
    return edit_distance(ref, [w for w in hypothesis if w not in names]) / len(ref)


@pytest.fixture(scope="module", params=["ovsub", "genai"])
def engine(request, base_model):
    """Both decode loops on the same converted base model."""
    if request.param == "ovsub":
        return base_model
    return load_model(ModelOptions(name="base", precision="int8", decoder="genai"), word_timestamps=True)


@pytest.mark.model
@pytest.mark.parametrize("case", sorted(CASES))
def test_hotwords_correct_a_misspelled_name_and_leave_the_rest_alone(case, engine, data_dir):
    clip, hotwords, right, wrong = CASES[case]
    path = data_dir / clip
    reference = normalize(Path(path).with_suffix(".ref.txt").read_text())
    words = {}
    for given in (None, hotwords):
        segments, info = transcribe(str(path), transcriber=engine, language="en", hotwords=given)
        words[given] = normalize(" ".join(s.text for s in segments))
        assert info.options["transcribe"]["hotwords"] == given  # JSON output says how it was made
    without, with_ = words[None], words[hotwords]
    assert not right & set(without) and wrong & set(without), without  # the clip still shows the problem
    assert right <= set(with_) and not wrong & set(with_), with_
    names = right | wrong
    assert _rest_wer(reference, with_, names) <= _rest_wer(reference, without, names) + MAX_REST_WER_RISE


@pytest.mark.model
def test_hotwords_not_spoken_are_not_written(data_dir, base_model):
    """A hotword is a spelling to prefer, not text to insert: JFK's speech stays as it was."""
    path = str(data_dir / "english/other/jfk.flac")
    plain, _ = transcribe(path, transcriber=base_model, language="en")
    hot, _ = transcribe(path, transcriber=base_model, language="en", hotwords="Sintra, Lord Byron, OpenVINO")
    before, after = normalize(" ".join(s.text for s in plain)), normalize(" ".join(s.text for s in hot))
    assert not {"sintra", "byron", "openvino"} & set(after)
    assert edit_distance(before, after) <= 1


@pytest.mark.model
def test_hotwords_reach_each_engine(engine):
    """Native: after <|startofprev|>, before the initial prompt (faster-whisper's order). GenAI: its own kwarg."""
    request = DecodeRequest.of(TranscribeOptions(hotwords="Sintra", initial_prompt="Lord Byron wrote."), "en")
    if isinstance(engine, NativeTranscriber):
        prompt = engine._prompt(request)
        assert prompt[0] == engine.special.sot_prev
        assert engine.tokenizer.decode(prompt[1:]) == " Sintra Lord Byron wrote."
        assert engine._prompt(DecodeRequest.of(TranscribeOptions(), "en")) == []
    else:
        kwargs = engine._generate_kwargs(request)
        assert kwargs["hotwords"] == "Sintra" and kwargs["initial_prompt"] == "Lord Byron wrote."
        assert "hotwords" not in engine._generate_kwargs(DecodeRequest.of(TranscribeOptions(), "en"))


def test_the_prompt_keeps_the_hotwords_first_and_the_end_of_the_initial_prompt():
    special = SpecialTokens.from_config(
        {"eos_token_id": 0, "decoder_start_token_id": 1, "prev_sot_token_id": 2, "no_timestamps_token_id": 3}, 100
    )
    assert special.prompt_prefix([], 5, hotword_tokens=[10, 11]) == [2, 10, 11]
    assert special.prompt_prefix([20, 21, 22], 4, hotword_tokens=[10, 11]) == [2, 10, 11, 21, 22]
    assert special.prompt_prefix([20, 21], 2, hotword_tokens=[10, 11, 12]) == [2, 10, 11]  # hotwords come first
    assert special.prompt_prefix([], 5) == [] and special.prompt_prefix([20], 0, hotword_tokens=[10]) == []


def test_hotwords_flag_reaches_the_options():
    args = build_parser().parse_args(["transcribe", "talk.mp4", "--hotwords", "Sintra, Lord Byron"])
    assert job_from_args(args).transcribe.hotwords == "Sintra, Lord Byron"
    assert DecodeRequest.of(job_from_args(args).transcribe).hotwords == "Sintra, Lord Byron"
