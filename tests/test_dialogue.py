"""Cues for a speaker per channel: dashes where a cue holds two speakers, every limit kept, nothing else changed."""

from __future__ import annotations

import os
from dataclasses import replace

import pytest

from ovsub.cues import build_cues, check_cues, min_display_ms
from ovsub.cues.dialogue import exchanges, speaker_utterances
from ovsub.options import CueOptions
from ovsub.types import Cue, Segment, Word


def said(text: str, start_s: float, channel: int | None, word_s: float = 0.3, gap_s: float = 0.05) -> Segment:
    """A segment of evenly timed words heard on ``channel``."""
    words = []
    t = start_s
    for token in text.split():
        words.append(Word(t, t + word_s, " " + token))
        t += word_s + gap_s
    return Segment(0, start_s, words[-1].end_s, text, tuple(words), language="en", channel=channel)


def dashed(cue: Cue, dash: str = "-") -> bool:
    return len(cue.lines) > 1 and all(line.startswith(dash) for line in cue.lines)


def test_two_speakers_at_once_share_cues_a_dashed_line_each() -> None:
    left = said("He began a confused complaint against the wizard", 0.0, 0, word_s=0.25)
    right = said("The horizon seems extremely distant.", 0.1, 1, word_s=0.35)

    cues = build_cues([left, right])

    assert dashed(cues[0])
    # The speaker who starts first is on top.
    assert cues[0].lines[0].startswith("-He began") and cues[0].lines[1].startswith("-The horizon")
    assert check_cues(cues, soft=False) == []
    for speaker in (left, right):  # each speaker's words all shown, in the speaker's order
        mine = {w.text for w in speaker.words}
        assert [w.text for c in cues for w in c.words if w.text in mine] == [w.text for w in speaker.words]


def test_a_quick_answer_shares_the_question_s_cue() -> None:
    question = said("Are you coming?", 1.0, 0)
    answer = said("In a minute.", question.end_s + 0.3, 1)

    cues = build_cues([question, answer])

    assert [c.lines for c in cues] == [("-Are you coming?", "-In a minute.")]
    assert cues[0].words == question.words + answer.words


def test_a_later_answer_gets_its_own_cue_without_dashes() -> None:
    question = said("Are you coming?", 1.0, 0)
    answer = said("In a minute.", question.end_s + 1.0, 1)  # more than max_pause_ms later: a turn of its own

    cues = build_cues([question, answer])

    assert [c.lines for c in cues] == [("Are you coming?",), ("In a minute.",)]


def test_a_question_too_long_for_a_dialogue_line_keeps_its_cue() -> None:
    question = said("Did you read the letter I sent you last week?", 1.0, 0)  # 45 characters: two lines
    answer = said("Yes.", question.end_s + 0.1, 1)

    cues = build_cues([question, answer])

    assert [c.lines for c in cues] == [("Did you read the letter", "I sent you last week?"), ("Yes.",)]


def test_turns_far_apart_are_cued_as_each_speaker_alone() -> None:
    first = said("We went to the market early and bought some apples.", 0.0, 0)
    second = said("Then we walked along the river and talked for hours.", 8.0, 1)

    together = build_cues([first, second])
    alone = build_cues([replace(first, channel=None), replace(second, channel=None)])

    assert [(c.start_ms, c.end_ms, c.lines) for c in together] == [(c.start_ms, c.end_ms, c.lines) for c in alone]


def test_one_channel_labelled_is_cued_as_no_channel() -> None:
    segments = [said("Hello there, how are you?", 0.0, 0), said("Fine, thanks.", 3.0, 0)]

    assert build_cues(segments) == build_cues([replace(s, channel=None) for s in segments])


def test_french_puts_a_space_after_the_dash() -> None:
    question = replace(said("Tu viens ?", 1.0, 0), language="fr")
    answer = replace(said("Une minute !", 1.9, 1), language="fr")

    cues = build_cues([question, answer])

    assert cues[0].lines == ("- Tu viens ?", "- Une minute !")


def test_a_speaker_too_long_for_one_line_is_not_squeezed_into_a_dialogue() -> None:
    long = said("Everything I have ever told you about this house was true", 0.0, 0, word_s=0.2, gap_s=0.0)
    short = said("Really?", 0.2, 1)
    options = CueOptions(max_line_chars=30)

    cues = build_cues([long, short], options)

    assert check_cues(cues, options, soft=False) == []
    for cue in cues:
        assert all(len(line) <= 30 for line in cue.lines)
        if dashed(cue):
            assert len(cue.lines) == 2  # one line for each of the two speakers
    assert any(dashed(c) and any("Really?" in line for line in c.lines) for c in cues)


def test_exchanges_join_only_other_speakers_within_reach() -> None:
    segments = [said("one two", 0.0, 0), said("three", 0.4, 1), said("four five", 5.0, 0), said("six", 9.0, 1)]
    utterances, untimed = speaker_utterances(segments, CueOptions(), "en")

    groups = exchanges(utterances, 700)

    assert [[(u.speaker, u.words[0].text) for u in g] for g in groups] == [
        [(0, " one"), (1, " three")],
        [(0, " four")],
        [(1, " six")],
    ]
    assert not untimed


def test_segments_without_words_still_make_dialogue_cues() -> None:
    question = Segment(0, 1.0, 2.0, "Ready?", language="en", channel=0)
    answer = Segment(1, 2.1, 2.6, "Yes.", language="en", channel=1)

    cues = build_cues([question, answer])

    assert [c.lines for c in cues] == [("-Ready?", "-Yes.")]
    assert cues[0].words == ()  # words shared out by characters are not shown as timed words


# -- properties -------------------------------------------------------------------------------------------------

hypothesis = pytest.importorskip("hypothesis", reason="property tests need hypothesis: pip install hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

TOKENS = ["the", "a", "and", "house", "window", "remarkable", "however,", "yes.", "No!", "really?", "Mr.", "Smith",
          "it's", "self-evident", "antidisestablishmentarianism", "x" * 45, "-", "--"]  # fmt: skip


@st.composite
def conversations(draw: st.DrawFn) -> list[Segment]:
    """Two or three channels of random words, talking over each other or taking turns, in merged start order."""
    segments = []
    for channel in range(draw(st.integers(2, 3))):
        t = draw(st.floats(0, 5))
        for _ in range(draw(st.integers(0, 3))):
            words = []
            for _ in range(draw(st.integers(1, 12))):
                start = max(0.0, t + draw(st.sampled_from([0.0, 0.05, 0.3, 0.8, 2.0, -0.1])))
                end = start + draw(st.sampled_from([0.0, 0.1, 0.3, 0.6, 1.5, 8.0]))
                words.append(Word(start, end, " " + draw(st.sampled_from(TOKENS))))
                t = end
            text = "".join(w.text for w in words).strip()
            segments.append(Segment(0, words[0].start_s, words[-1].end_s, text, tuple(words), channel=channel))
            t += draw(st.floats(0, 4))
    segments.sort(key=lambda s: (s.start_s, s.channel))
    return [replace(s, id=i) for i, s in enumerate(segments)]


cue_options = st.builds(
    CueOptions,
    max_line_chars=st.integers(10, 60),
    max_lines=st.integers(1, 3),
    max_cps=st.floats(5, 30),
    min_duration_ms=st.integers(0, 1500),
    max_duration_ms=st.integers(1500, 9000),
    min_gap_ms=st.integers(0, 200),
    max_pause_ms=st.integers(100, 1500),
    lead_in_ms=st.integers(0, 300),
    linger_ms=st.integers(0, 1000),
)


@settings(
    max_examples=int(os.environ.get("OVSUB_PROPERTY_EXAMPLES", "150")),
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(conversations(), cue_options)
def test_dialogue_cues_keep_every_limit_and_every_word(segments: list[Segment], options: CueOptions) -> None:
    cues = build_cues(segments, options)

    assert check_cues(cues, options, soft=False) == []
    words = [w for s in segments for w in s.words]
    # Every word once (cut into pieces only when wider than a line), every piece in some cue's lines.
    shown = sorted(w.text.strip() for c in cues for w in c.words)
    if all(len(w.text.strip()) <= options.max_line_chars - 2 for w in words):
        assert shown == sorted(w.text.strip() for w in words)
    assert len(shown) >= len(words)
    for i, cue in enumerate(cues):
        assert all(line == line.strip() and line for line in cue.lines)
        if cue.duration_ms < min_display_ms(cue, options):  # too short only when boxed in by the next cue
            assert i + 1 < len(cues) and cue.end_ms == cues[i + 1].start_ms - options.min_gap_ms
