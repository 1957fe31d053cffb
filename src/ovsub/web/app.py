"""The REST API and the page, as one FastAPI app; the page uses nothing the API does not offer.

Routes (all under /api need the token when one is set, except /api/config, which the page reads
to learn whether it must ask for one):

    GET    /                                   the page (static HTML, JS and CSS, no build step)
    GET    /api/config                         models, languages, limits, whether a token is needed
    POST   /api/jobs                           multipart ``file`` or a ``url`` (form or JSON), plus options -> 202
    GET    /api/jobs                           every job, newest first
    GET    /api/jobs/{id}                      state, progress, ETA, error, results
    GET    /api/jobs/{id}/media                the input as uploaded (Range requests for seeking)
    GET    /api/jobs/{id}/subtitles/{task}.{fmt}   srt, vtt, ttml or json of transcribe or translate
    GET    /api/jobs/{id}/video                the video with the subtitles as soft tracks
    POST   /api/jobs/{id}/cancel               stop a job (dropped if still waiting)
    DELETE /api/jobs/{id}                      forget a job and delete its files

Every refusal is JSON ``{"detail": "<what is wrong and what would be right>"}`` with a 4xx status.
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, Literal
from urllib.parse import unquote, urlsplit

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from ovsub import __version__, languages
from ovsub.errors import MediaError, NoAudioStreamError
from ovsub.options import CueOptions, JobOptions, ModelOptions, TranscribeOptions, build, option_fields
from ovsub.web import runner
from ovsub.web.jobs import JobFinished, JobNotFound, JobQueue, QueueFull
from ovsub.web.records import Job, eta_s
from ovsub.web.schemas import ERRORS, JobFields, JobList, JobOut, Language, MediaOut, ResultOut, ServerConfig
from ovsub.web.security import RequestGuard, UrlRefused, check_url, display_name, token_matches
from ovsub.web.settings import WebSettings, default_data_dir
from ovsub.web.uploads import BodyError, UploadSlots, human_size, read_job_form, timed

STATIC_DIR = Path(__file__).resolve().parent / "static"
FORM_OVERHEAD_BYTES = 64 * 1024  # multipart boundaries and option fields on top of the file itself
SUBTITLE_TYPES = {
    "srt": "application/x-subrip",
    "vtt": "text/vtt",
    "ttml": "application/ttml+xml",  # the media type TTML registered with IANA (EBU-TT-D and IMSC use it)
    "json": "application/json",
}


# --- the app -----------------------------------------------------------------------------------


def create_app(settings: WebSettings | None = None) -> FastAPI:
    """The web app for ``settings``; its worker threads start now and stop at the app's shutdown."""
    settings = settings or WebSettings()
    data_dir = Path(settings.data_dir) if settings.data_dir else default_data_dir()
    queue = JobQueue(settings, data_dir)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        await run_in_threadpool(queue.close)

    app = FastAPI(
        title="ovsub",
        version=__version__,
        description="Subtitles from video or audio with Whisper on OpenVINO, on this computer.",
        lifespan=lifespan,
        docs_url=None,  # Swagger UI and ReDoc load scripts from a CDN: not offline, and a third party
        redoc_url=None,
    )
    app.state.settings, app.state.queue, app.state.data_dir = settings, queue, data_dir
    app.add_middleware(RequestGuard, host_names=settings.host_names())
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)

    def require_token(request: Request) -> None:
        if not token_matches(settings.token, request.headers.get("authorization"), request.query_params.get("token")):
            raise HTTPException(
                401,
                "this server needs its access token: send 'Authorization: Bearer <token>' or add ?token=<token>",
                headers={"WWW-Authenticate": "Bearer"},
            )

    @app.get("/", include_in_schema=False)
    def page() -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html")  # RequestGuard adds the Content-Security-Policy

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    @app.get("/api/config", response_model=ServerConfig, tags=["server"])
    def config() -> ServerConfig:
        """What the page needs to build its form."""
        names = sorted(languages.names().items(), key=lambda kv: kv[1])
        return ServerConfig(
            version=__version__,
            models=list(settings.models),
            default_model=settings.default_model,
            english_only_models=[m for m in settings.models if _english_only(m)],
            languages=[Language(code=c, name=n) for c, n in names],
            max_upload_bytes=settings.max_upload_bytes,
            token_required=settings.token is not None,
        )

    app.include_router(_jobs_api(queue, settings, require_token))
    app.include_router(_files_api(queue, require_token))
    return app


def _jobs_api(queue: JobQueue, settings: WebSettings, require_token: Callable[[Request], None]) -> APIRouter:
    """Starting, listing, reading, cancelling and deleting jobs."""
    receiving = UploadSlots(settings.max_uploads)  # uploads arriving at once
    api = APIRouter(prefix="/api", dependencies=[Depends(require_token)], responses=ERRORS, tags=["jobs"])

    @api.post(
        "/jobs",
        status_code=202,
        response_model=JobOut,
        openapi_extra={"requestBody": _job_body_schema()},
        summary="Start a job from an uploaded file or a link",
    )
    async def create_job(request: Request, response: Response) -> JobOut:
        """Multipart with a ``file`` part (or a ``url`` field), or a JSON/urlencoded body with ``url``; plus options."""
        if not queue.has_room():
            raise HTTPException(429, f"{settings.max_queue} jobs are already waiting; try again when one has finished")
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > settings.max_upload_bytes + FORM_OVERHEAD_BYTES:
            raise HTTPException(413, f"the upload is larger than the limit of {human_size(settings.max_upload_bytes)}")
        if not receiving.free():
            raise HTTPException(429, f"{receiving.limit} uploads are arriving already; try again when one is in")
        job_id, folder = queue.new_folder()
        try:
            with receiving.held():
                job = await _receive_job(request, job_id, folder, settings)
            snapshot = queue.submit(job)
        except QueueFull as e:
            shutil.rmtree(folder, ignore_errors=True)
            raise HTTPException(429, str(e)) from e
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        response.headers["Location"] = f"{_root(request)}/api/jobs/{job_id}"
        return _view(snapshot, queue, _root(request))

    @api.get("/jobs", response_model=JobList, summary="Every job, newest first")
    def list_jobs(request: Request) -> JobList:
        return JobList(jobs=[_view(job, queue, _root(request)) for job in queue.all()])

    @api.get("/jobs/{job_id}", response_model=JobOut, summary="A job's state, progress, ETA and results")
    def get_job(job_id: str, request: Request) -> JobOut:
        return _view(_find(queue, job_id), queue, _root(request))

    @api.post("/jobs/{job_id}/cancel", status_code=202, response_model=JobOut, summary="Stop a job")
    def cancel_job(job_id: str, request: Request) -> JobOut:
        try:
            job = queue.cancel(job_id)
        except JobNotFound as e:
            raise _not_found(job_id) from e
        except JobFinished as e:
            raise HTTPException(409, f"the job has already ended ({e}); nothing to cancel") from e
        return _view(job, queue, _root(request))

    @api.delete("/jobs/{job_id}", status_code=204, response_class=Response, summary="Delete a job and its files")
    def delete_job(job_id: str) -> Response:
        try:
            queue.delete(job_id)
        except JobNotFound as e:
            raise _not_found(job_id) from e
        return Response(status_code=204)

    return api


def _files_api(queue: JobQueue, require_token: Callable[[Request], None]) -> APIRouter:
    """A job's files: the media as uploaded, its subtitles, the video with them."""
    api = APIRouter(prefix="/api", dependencies=[Depends(require_token)], responses=ERRORS, tags=["jobs"])

    @api.get("/jobs/{job_id}/media", response_class=FileResponse, summary="The input media (supports Range)")
    def get_media(job_id: str, download: bool = False) -> FileResponse:
        job = _find(queue, job_id)
        if job.media is None:
            raise HTTPException(409, "the link has not been downloaded yet")
        return FileResponse(
            job.dir / job.media.file,
            media_type=job.media.content_type,
            filename=_download_name(job.name, Path(job.media.file).suffix),
            content_disposition_type="attachment" if download else "inline",
        )

    @api.get(
        "/jobs/{job_id}/subtitles/{task}.{fmt}", response_class=FileResponse, summary="Subtitles of one task"
    )
    def get_subtitles(job_id: str, task: str, fmt: str, download: bool = False) -> FileResponse:
        job = _find(queue, job_id)
        if fmt not in runner.SUBTITLE_FORMATS:
            raise HTTPException(404, f"no subtitles in format {fmt!r}; use one of {', '.join(runner.SUBTITLE_FORMATS)}")
        if task not in ("transcribe", "translate"):
            raise HTTPException(404, f"no task {task!r}; use transcribe or translate")
        result = next((r for r in job.results if r.task == task), None)
        if result is None:
            if job.state in ("queued", "running"):
                raise HTTPException(409, f"the job is {job.state}; subtitles are ready once it is done")
            if job.state != "done":
                raise HTTPException(404, f"the job {job.state}, so it has no subtitles")
            raise HTTPException(404, f"this job did not {task}; it made {', '.join(r.task for r in job.results)}")
        tag = result.language or "und"
        suffix = f".{tag}.translation.{fmt}" if task == "translate" else f".{tag}.{fmt}"
        return FileResponse(
            job.dir / result.files[fmt],
            media_type=f"{SUBTITLE_TYPES[fmt]}; charset=utf-8",
            filename=_download_name(job.name, suffix),
            content_disposition_type="attachment" if download else "inline",
        )

    @api.get("/jobs/{job_id}/video", response_class=FileResponse, summary="The video with subtitle tracks")
    def get_video(job_id: str) -> FileResponse:
        job = _find(queue, job_id)
        if job.media is not None and not job.media.has_video:
            raise HTTPException(404, "the input is audio only, so there is no video with subtitles")
        if job.state in ("queued", "running"):
            raise HTTPException(409, f"the job is {job.state}; the video is ready once it is done")
        if job.state != "done":
            raise HTTPException(404, f"the job {job.state}, so there is no video with subtitles")
        if job.video_file is None:
            raise HTTPException(404, f"there is no video with subtitles: {job.video_error or 'it was not made'}")
        path = job.dir / job.video_file
        return FileResponse(path, filename=_download_name(job.name, ".subtitled" + path.suffix))
    return api


# --- receiving a job ---------------------------------------------------------------------------


async def _receive_job(request: Request, job_id: str, folder: Path, settings: WebSettings) -> Job:
    """Read the body (the file straight to disk), check the options and the media or link; a Job to queue."""
    upload = folder / runner.UPLOAD_PART
    chunks = timed(request.stream(), settings.upload_idle_timeout_s, settings.upload_timeout_s)
    try:
        form = await read_job_form(request.headers.get("content-type", ""), chunks, upload, settings.max_upload_bytes)
    except BodyError as e:  # the rest of the body is not read: the connection cannot carry another request
        raise HTTPException(e.status, str(e), headers={"Connection": "close"}) from e
    except ClientDisconnect as e:  # nobody reads this answer; it only keeps a traceback out of the log
        raise HTTPException(400, "the client went away before the request body was complete") from e
    options = _job_options(form.fields)
    job_request = _job_request(options, settings)
    url = (getattr(options, "url", None) or "").strip() or None
    if form.has_file and url:
        raise HTTPException(422, "send either a file or a url, not both")
    if not form.has_file and not url:
        raise HTTPException(422, "send a media file in the 'file' field, or a link in 'url'")
    if url is not None:
        try:
            url = await run_in_threadpool(check_url, url, settings.allow_private_urls, settings.private_networks())
        except UrlRefused as e:
            raise HTTPException(400, f"this link cannot be used: {e}") from e
        parts = urlsplit(url)
        name = display_name(unquote(parts.path), fallback=parts.hostname or "link")
        return Job(job_id, folder, name, job_request, url=url)
    name = display_name(form.file_name)
    if form.file_bytes == 0:
        raise HTTPException(422, f"{name}: the uploaded file is empty")
    try:
        media_file = await run_in_threadpool(runner.store_media, upload, folder)
    except NoAudioStreamError as e:
        raise HTTPException(422, f"{name}: {e}") from e
    except MediaError as e:
        raise HTTPException(415, f"{name}: not audio or video that can be read: {_reason(e, upload)}") from e
    return Job(job_id, folder, name, job_request, media=media_file)


def _job_options(fields: dict[str, object]) -> BaseModel:
    given = {k: v for k, v in fields.items() if not (isinstance(v, str) and not v.strip())}
    try:
        return JobFields.model_validate(given)
    except ValidationError as e:
        raise HTTPException(422, _explain(e.errors())) from e


def _job_request(fields: BaseModel, settings: WebSettings) -> JobOptions:
    values = fields.model_dump()
    model = values.pop("model") or settings.default_model
    if model not in settings.models:
        raise HTTPException(422, f"model must be one of {', '.join(settings.models)}, not {model!r}")
    spoken = (values.pop("language") or "auto").strip()
    values["language"] = None if spoken.lower() == "auto" else spoken
    task = values.pop("task")
    tasks = ("transcribe", "translate") if task == "both" else (task,)
    try:
        request = JobOptions(
            tasks=tasks,
            transcribe=build(TranscribeOptions, values),
            model=ModelOptions(name=model, precision=settings.precision, cache_dir=settings.cache_dir),
            cues=build(CueOptions, values),
        )
    except ValueError as e:
        raise HTTPException(422, str(e)) from e
    if _english_only(model):
        if "translate" in tasks:
            raise HTTPException(422, f"{model} is English-only and cannot translate; choose a multilingual model")
        if request.transcribe.language not in (None, "en"):
            raise HTTPException(422, f"{model} is English-only; it cannot transcribe {request.transcribe.language!r}")
    return request


def _english_only(model: str) -> bool:
    """Whisper's English-only checkpoints are named ``*.en`` (tiny.en, base.en, ...)."""
    return model.endswith(".en")


def _reason(error: Exception, upload: Path) -> str:
    text = str(error).replace(str(upload), "").lstrip(": ")
    return text or type(error).__name__


def _explain(errors: Any) -> str:
    """Pydantic's error list as one line: ``beam_size: Input should be less than or equal to 8``."""
    parts = []
    for error in errors:
        where = ".".join(str(p) for p in error.get("loc", ()) if p not in ("body", "query", "path"))
        message = "unknown option" if error.get("type") == "extra_forbidden" else error.get("msg", "invalid")
        parts.append(f"{where}: {message}" if where else message)
    return "; ".join(parts) or "invalid request"


def _job_body_schema() -> dict[str, Any]:
    schema = JobFields.model_json_schema()
    file = {"type": "string", "format": "binary", "description": "the media"}
    multipart = {**schema, "properties": {"file": file, **schema["properties"]}}
    return {
        "required": True,
        "content": {
            "multipart/form-data": {"schema": multipart},
            "application/json": {"schema": schema},
            "application/x-www-form-urlencoded": {"schema": schema},
        },
    }


# --- answering ---------------------------------------------------------------------------------


def _root(request: Request) -> str:
    return str(request.scope.get("root_path", "")).rstrip("/")


def _find(queue: JobQueue, job_id: str) -> Job:
    try:
        return queue.get(job_id)
    except JobNotFound as e:
        raise _not_found(job_id) from e


def _not_found(job_id: str) -> HTTPException:
    return HTTPException(404, f"no job {job_id!r}: it never existed, was deleted, or was removed as too old")


def _download_name(name: str, suffix: str) -> str:
    stem = Path(name).stem.replace('"', "'") or "ovsub"
    return f"{stem}{suffix}"


def _view(job: Job, queue: JobQueue, root: str) -> JobOut:
    base = f"{root}/api/jobs/{job.id}"
    media = None
    if job.media is not None:
        kind: Literal["video", "audio"] = "video" if job.media.has_video else "audio"
        media = MediaOut(url=f"{base}/media", content_type=job.media.content_type, kind=kind,
                         duration_s=job.media.duration_s)  # fmt: skip
    results = []
    for r in job.results:
        label = languages.track_title(r.language, r.task)
        files = {fmt: f"{base}/subtitles/{r.task}.{fmt}" for fmt in r.files}
        results.append(ResultOut(task=r.task, language=r.language, label=label, cues=r.cues, files=files))
    return JobOut(
        id=job.id,
        name=job.name,
        url=job.url,
        state=job.state,  # type: ignore[arg-type]
        stage=job.stage,
        progress=round(job.progress, 4),
        eta_s=None if (eta := eta_s(job, queue.speed)) is None else round(eta, 1),
        queue_position=queue.position(job.id) if job.state == "queued" else None,
        error=job.error,
        options=_echo(job.request),
        media=media,
        results=results,
        video_url=f"{base}/video" if job.video_file else None,
        video_error=job.video_error,
        created_at=job.created_at,
        started_at=job.started_at,
        finished_at=job.finished_at,
    )


def _echo(request: JobOptions) -> dict[str, Any]:
    """The options a job ran with, under the names the job form takes."""
    echoed: dict[str, Any] = {"tasks": list(request.tasks), "model": request.model.name}
    for options in (request.transcribe, request.cues):
        for f in option_fields(type(options)):
            if f.web:
                value: Any = options
                for part in f.path:
                    value = getattr(value, part)
                echoed[f.name] = value
    echoed["language"] = request.transcribe.language or "auto"
    return echoed


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    headers = dict(exc.headers or {})
    if exc.status_code in (204, 304):
        return Response(status_code=exc.status_code, headers=headers)
    return JSONResponse({"detail": str(exc.detail)}, status_code=exc.status_code, headers=headers)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return JSONResponse({"detail": _explain(exc.errors())}, status_code=422)
