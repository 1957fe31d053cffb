"""Read a job request's body as it arrives: the file goes straight to disk, with a size limit.

FastAPI's ``UploadFile`` lets Starlette parse the whole body into a spooled temporary file before
the endpoint runs, so a limit could only be checked after the client had sent everything. Here
python-multipart's push parser sees each chunk as it arrives: file bytes are written to a path
the server chose (the client's file name is kept only as text), small fields are collected with
their own caps, and the request stops with 413 as soon as the file passes the limit.

Time is limited too: a body that sends nothing for ``idle_timeout_s``, or is still arriving after
``timeout_s`` (one byte now and then never counts as idle), stops with 408. uvicorn's own
keep-alive timeout only covers the wait between requests. And only so many bodies are received
at once (``UploadSlots``), so a few stalled clients cannot tie up the server's connections and disk.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO
from urllib.parse import parse_qsl

from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header

MAX_FIELD_BYTES = 8 * 1024  # one form field (options, a link) at most
MAX_FIELDS = 32  # form fields at most
MAX_SMALL_BODY_BYTES = 64 * 1024  # a JSON or urlencoded body (no file) at most
FILE_FIELD = "file"  # the form field that carries the media


class BodyError(Exception):
    """The request body is unacceptable; ``status`` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class JobForm:
    """What a client sent to create a job."""

    fields: dict[str, object] = field(default_factory=dict)  # options and the link, as sent
    file_name: str | None = None  # the client's name for the uploaded file (text only)
    file_bytes: int = 0  # bytes written to the destination
    has_file: bool = False  # whether a file part arrived


class UploadSlots:
    """Request bodies being received at once, at most ``limit``; used from the event loop only (no lock)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.busy = 0

    def free(self) -> bool:
        return self.busy < self.limit

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        self.busy += 1
        try:
            yield
        finally:
            self.busy -= 1


async def timed(chunks: AsyncIterator[bytes], idle_timeout_s: float, timeout_s: float) -> AsyncIterator[bytes]:
    """``chunks``, cut off by BodyError 408 once none arrives for ``idle_timeout_s`` or all take over ``timeout_s``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    iterator = aiter(chunks)
    while True:
        left_s = deadline - loop.time()
        try:
            chunk = await asyncio.wait_for(anext(iterator), min(idle_timeout_s, max(left_s, 0.0)))
        except StopAsyncIteration:
            return
        except asyncio.TimeoutError as e:  # the builtin TimeoutError from Python 3.11 on, its own class in 3.10
            if left_s <= idle_timeout_s:
                raise BodyError(408, f"the request body did not arrive within {timeout_s:g} s; send it faster") from e
            raise BodyError(408, f"nothing of the request body arrived for {idle_timeout_s:g} s") from e
        yield chunk


async def read_job_form(
    content_type: str, chunks: AsyncIterator[bytes], destination: Path, max_file_bytes: int
) -> JobForm:
    """Parse a multipart, JSON or urlencoded body; a multipart ``file`` part is written to ``destination``."""
    kind, params = parse_options_header(content_type)
    if kind == b"multipart/form-data":
        boundary = params.get(b"boundary")
        if not boundary:
            raise BodyError(400, "multipart body without a boundary in its Content-Type")
        return await _read_multipart(boundary, chunks, destination, max_file_bytes)
    if kind in (b"application/json", b"application/x-www-form-urlencoded"):
        body = await _read_small(chunks)
        return JobForm(fields=_parse_small(kind, body))
    raise BodyError(
        415,
        "send multipart/form-data with a 'file' (or a 'url' field), or a JSON or form body with 'url'; "
        f"not {kind.decode('latin-1') or 'a body without Content-Type'}",
    )


async def _read_small(chunks: AsyncIterator[bytes]) -> bytes:
    body = bytearray()
    async for chunk in chunks:
        body += chunk
        if len(body) > MAX_SMALL_BODY_BYTES:
            raise BodyError(413, f"the request body is larger than {MAX_SMALL_BODY_BYTES // 1024} KB")
    return bytes(body)


def _parse_small(kind: bytes, body: bytes) -> dict[str, object]:
    if kind == b"application/json":
        try:
            data = json.loads(body or b"{}")
        except ValueError as e:
            raise BodyError(400, f"the body is not valid JSON ({e})") from e
        if not isinstance(data, dict):
            raise BodyError(400, "the JSON body must be an object such as {\"url\": \"https://...\"}")
        return data
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
    except UnicodeDecodeError as e:
        raise BodyError(400, "the form body is not UTF-8") from e
    return dict(pairs)


class _MultipartSink:
    """python-multipart callbacks: collect fields, stream the file part into ``destination``."""

    def __init__(self, destination: Path, max_file_bytes: int) -> None:
        self.destination = destination
        self.max_file_bytes = max_file_bytes
        self.form = JobForm()
        self._header_name = bytearray()
        self._header_value = bytearray()
        self._disposition = b""
        self._name: str | None = None
        self._value = bytearray()
        self._file: BinaryIO | None = None
        self._in_file = False

    def callbacks(self) -> dict[str, object]:
        return {
            "on_part_begin": self.on_part_begin,
            "on_header_field": lambda d, s, e: self._header_name.extend(d[s:e]),
            "on_header_value": lambda d, s, e: self._header_value.extend(d[s:e]),
            "on_header_end": self.on_header_end,
            "on_headers_finished": self.on_headers_finished,
            "on_part_data": self.on_part_data,
            "on_part_end": self.on_part_end,
        }

    def on_part_begin(self) -> None:
        self._disposition, self._name, self._in_file = b"", None, False
        self._value.clear()

    def on_header_end(self) -> None:
        if bytes(self._header_name).lower() == b"content-disposition":
            self._disposition = bytes(self._header_value)
        self._header_name.clear()
        self._header_value.clear()

    def on_headers_finished(self) -> None:
        _, options = parse_options_header(self._disposition)
        if b"name" not in options:
            raise BodyError(400, "a multipart part has no field name")
        self._name = options[b"name"].decode("utf-8", "replace")
        if b"filename" in options or self._name == FILE_FIELD:
            if self._name != FILE_FIELD:
                raise BodyError(422, f"files go in the field {FILE_FIELD!r}, not {self._name!r}")
            if self.form.has_file:
                raise BodyError(422, "send one file per job")
            self.form.has_file = True
            self.form.file_name = options.get(b"filename", b"").decode("utf-8", "replace")
            self._file = self.destination.open("wb")
            self._in_file = True
        elif len(self.form.fields) >= MAX_FIELDS:
            raise BodyError(413, f"more than {MAX_FIELDS} form fields")

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self._in_file:
            assert self._file is not None
            self.form.file_bytes += end - start
            if self.form.file_bytes > self.max_file_bytes:
                raise BodyError(413, f"the file is larger than the upload limit of {human_size(self.max_file_bytes)}")
            self._file.write(data[start:end])
        else:
            self._value.extend(data[start:end])
            if len(self._value) > MAX_FIELD_BYTES:
                raise BodyError(413, f"the form field {self._name!r} is longer than {MAX_FIELD_BYTES} bytes")

    def on_part_end(self) -> None:
        if self._in_file:
            self.close()
            self._in_file = False
        elif self._name is not None:
            try:
                self.form.fields[self._name] = self._value.decode("utf-8")
            except UnicodeDecodeError as e:
                raise BodyError(400, f"the form field {self._name!r} is not UTF-8") from e

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


async def _read_multipart(
    boundary: bytes, chunks: AsyncIterator[bytes], destination: Path, max_file_bytes: int
) -> JobForm:
    sink = _MultipartSink(destination, max_file_bytes)
    parser = MultipartParser(boundary, sink.callbacks())  # type: ignore[arg-type]
    try:
        async for chunk in chunks:
            parser.write(chunk)
        parser.finalize()
    except FormParserError as e:
        raise BodyError(400, f"the multipart body is malformed ({e})") from e
    finally:
        sink.close()
    return sink.form


def human_size(n_bytes: int) -> str:
    """A byte count for people.

    >>> human_size(1536), human_size(5 * 1024 * 1024)
    ('1.5 KB', '5 MB')
    """
    for unit, factor in (("GB", 1024**3), ("MB", 1024**2), ("KB", 1024)):
        if n_bytes >= factor:
            return f"{n_bytes / factor:.3g} {unit}"
    return f"{n_bytes} bytes"
