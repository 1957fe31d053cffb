"""ovsub.languages: one rule for a spoken language a user names, container tags, track titles."""

from __future__ import annotations

import pytest

from ovsub.cli import main
from ovsub.errors import OptionError, OvsubError
from ovsub.languages import LANGUAGES, codes_for, iso639_2, language_name, normalize, track_title
from ovsub.options import TranscribeOptions


@pytest.mark.parametrize(
    ("given", "code"),
    [("en", "en"), ("EN", "en"), (" de ", "de"), ("deu", "de"), ("ger", "de"), ("de-AT", "de"), ("pt_BR", "pt"),
     ("ZH-Hant", "zh"), ("chi", "zh"), ("yue", "yue"), ("haw", "haw"), ("jv", "jw"), ("jav", "jw"), ("nno", "nn")],
)  # fmt: skip
def test_normalize_maps_every_form_to_the_code_whisper_knows(given: str, code: str) -> None:
    assert normalize(given) == code
    assert normalize(code) == code, "normalizing twice changes nothing"


@pytest.mark.parametrize("given", ["xx", "English", "", "  ", "und", "e", "ga", "-de"])
def test_normalize_refuses_what_whisper_cannot_transcribe(given: str) -> None:
    with pytest.raises(OptionError, match="such as 'en'") as info:
        normalize(given)
    assert repr(given) in str(info.value), "the message names the value"
    assert isinstance(info.value, ValueError) and isinstance(info.value, OvsubError)


def test_irish_is_known_but_not_transcribed() -> None:
    with pytest.raises(OptionError, match="cannot transcribe Irish"):
        normalize("ga")
    assert codes_for("gle") == {"ga", "gle"} and language_name("ga") == "Irish"


def test_every_whisper_code_is_its_own_normal_form_except_jv() -> None:
    assert {code for code in LANGUAGES if normalize(code) != code} == {"jv"}


def test_the_same_rule_for_options_cli_and_web(capsys: pytest.CaptureFixture[str]) -> None:
    assert TranscribeOptions(language="EN").language == "en"
    assert TranscribeOptions(language="de-AT").language == "de"
    with pytest.raises(ValueError, match="'xx'"):
        TranscribeOptions(language="xx")
    assert main(["transcribe", "talk.wav", "--language", "xx"]) == 2
    assert "'xx'" in capsys.readouterr().err


def test_the_web_form_takes_the_same_rule() -> None:
    pytest.importorskip("fastapi")
    from fastapi import HTTPException

    from ovsub.web.app import _job_options, _job_request
    from ovsub.web.settings import WebSettings

    settings = WebSettings()
    assert _job_request(_job_options({"language": "EN"}), settings).transcribe.language == "en"
    assert _job_request(_job_options({"language": "auto"}), settings).transcribe.language is None
    with pytest.raises(HTTPException) as info:
        _job_request(_job_options({"language": "xx"}), settings)
    assert info.value.status_code == 422 and "'xx'" in str(info.value.detail)


def test_codes_for_matches_every_tag_of_a_language() -> None:
    assert codes_for("de") == codes_for("deu") == codes_for("GER") == codes_for("de-AT") == {"de", "deu", "ger"}
    assert {"no", "nor"} <= codes_for("nob") and "no" in codes_for("nno")  # Norwegian by written standard
    assert codes_for("yue") == {"yue"} and "yue" not in codes_for("chi"), "a Chinese track is not Cantonese"
    assert codes_for("xx") == {"xx"}, "an unknown tag still matches itself"


def test_container_tags_and_names() -> None:
    assert [iso639_2(c) for c in ("en", "de", "zh", "yue", "jw", "pt-BR", "und")] == [
        "eng", "deu", "zho", "zho", "jav", "por", "und",
    ]  # fmt: skip
    assert [iso639_2(c, bibliographic=True) for c in ("de", "fr", "ger", "deu")] == ["ger", "fre", "ger", "ger"]
    with pytest.raises(OptionError):
        iso639_2("english")
    assert [language_name(c) for c in ("de", "deu", "zho", "nob", "de-AT", "xx-unknown")] == [
        "German", "German", "Chinese", "Norwegian", "German", "xx-unknown",
    ]  # fmt: skip


def test_track_title() -> None:
    assert track_title("de", "transcribe") == "German (transcription)"
    assert track_title("en", "translate") == "English (translation)"
    assert track_title("ger", "transcribe") == "German (transcription)"
    assert track_title(None, "transcribe") == "Transcription"
    assert track_title("und", "translate") == "Translation"
