"""What goes over the wire: the job form and every answer, as pydantic models (they make the OpenAPI schema)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model

from ovsub.options import CueOptions, TranscribeOptions, option_fields


def _job_fields() -> type[BaseModel]:
    """The options a job takes, as form fields or JSON members: the web-facing fields of ovsub's options.

    Each field's type, default and bounds come from ``ovsub.options`` (``option_fields``), so the web app
    refuses what the command line and the Python API refuse, with the same limits.
    """
    spec: dict[str, Any] = {
        "url": (str | None, Field(None, description="an http(s) link to media, instead of a file")),
        "task": (Literal["transcribe", "translate", "both"], Field("transcribe", description="translate: to English")),
        "language": (str | None, Field("auto", description="spoken language (ISO 639-1, 'de'), or 'auto'")),
        "model": (str | None, Field(None, description="one of the server's models (GET /api/config)")),
    }
    for cls in (TranscribeOptions, CueOptions):
        for f in option_fields(cls):
            if not f.web or f.name in spec:
                continue
            kind: Any = f.type | None if f.optional else f.type
            spec[f.name] = (kind, Field(f.default, description=f.help, ge=f.min, le=f.max))
    return create_model("JobOptions", __config__=ConfigDict(extra="forbid"), **spec)


JobFields = _job_fields()


class MediaOut(BaseModel):
    url: str  # where the page plays it from
    content_type: str
    kind: Literal["video", "audio"]
    duration_s: float | None


class ResultOut(BaseModel):
    task: str  # transcribe or translate
    language: str | None  # of the subtitle text
    label: str  # e.g. "English (transcription)"
    cues: int
    files: dict[str, str]  # format -> URL


class JobOut(BaseModel):
    id: str
    name: str
    url: str | None  # the link it was made from, if any
    state: Literal["queued", "running", "done", "failed", "cancelled"]
    stage: str
    progress: float
    eta_s: float | None
    queue_position: int | None
    error: str | None
    options: dict[str, Any]
    media: MediaOut | None
    results: list[ResultOut]
    video_url: str | None  # the subtitled video, for video inputs
    video_error: str | None
    created_at: float
    started_at: float | None
    finished_at: float | None


class JobList(BaseModel):
    jobs: list[JobOut]


class Language(BaseModel):
    code: str
    name: str


class ServerConfig(BaseModel):
    version: str
    models: list[str]
    default_model: str
    english_only_models: list[str]
    languages: list[Language]
    max_upload_bytes: int
    token_required: bool


class Problem(BaseModel):
    detail: str


ERROR_CODES = (400, 401, 404, 408, 409, 413, 415, 422, 429)  # every refusal the API documents, all as Problem
ERRORS: dict[int | str, dict[str, Any]] = {code: {"model": Problem} for code in ERROR_CODES}
