"""The ledger, ``OUT/ovsub-batch.sqlite``: one row per input, written by the driver only.

SQLite from the standard library, in WAL mode with ``synchronous=FULL``: every state change is one
committed transaction, so a run killed at any moment leaves the ledger as it was after the last one,
and ``ovsub batch --status`` can read it while a run writes. One table, ``inputs``, with the schema's
version in ``PRAGMA user_version``.

A row is the input's path (absolute; a link as given) with the content hash and the options fingerprint
it was last queued with (a new file's hash is PENDING until the worker that transcribes it reports it).
Running the batch again with a changed file or changed options resets the row to queued; the same content
and options find it as they left it:

    queued -> running (attempts + 1) -> done (outputs, audio seconds, wall time)
                                     -> failed (error)       -> queued again only with --retry-failed
                                     -> queued (its worker died; or the run was killed: on the next start)

``completions`` counts the transcriptions of the row's content that were published (done): it is 1 for
every done row, and the kill test checks that it never goes above.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ovsub.errors import OutputError
from ovsub.options import JobOptions, to_dict

LEDGER_NAME = "ovsub-batch.sqlite"
SCHEMA_VERSION = 1
STATES = ("queued", "running", "done", "failed")
PENDING = ""  # the content hash of a file no worker has read yet (see driver.sync)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS inputs (
    id INTEGER PRIMARY KEY,
    source TEXT NOT NULL UNIQUE,       -- absolute path, or the link as given
    content_hash TEXT NOT NULL,        -- sha256 of the file's bytes ('' until a worker read it); a link's: url:...
    size INTEGER,                      -- with mtime_ns: the file as hashed, so an unchanged file is not hashed again
    mtime_ns INTEGER,
    options_fp TEXT NOT NULL,          -- sha256 of `options`
    options TEXT NOT NULL,             -- JSON of the options that change outputs
    out_prefix TEXT NOT NULL,          -- its outputs' path without the extension: OUT/<folders>/<name>
    state TEXT NOT NULL CHECK (state IN ('queued', 'running', 'done', 'failed')),
    attempts INTEGER NOT NULL DEFAULT 0,
    completions INTEGER NOT NULL DEFAULT 0,
    outputs TEXT NOT NULL DEFAULT '[]', -- JSON list of the files written
    error TEXT,
    audio_s REAL,                      -- the media's length (probed when queued, decoded when done)
    wall_s REAL,                       -- worker time of the attempt that finished it
    updated_at REAL NOT NULL
)
"""


@dataclass(frozen=True)
class Row:
    """One input as the ledger has it."""

    id: int
    source: str
    content_hash: str
    size: int | None
    mtime_ns: int | None
    options_fp: str
    options: str
    out_prefix: str
    state: str
    attempts: int
    completions: int
    outputs: tuple[str, ...]
    error: str | None
    audio_s: float | None
    wall_s: float | None


def options_fingerprint(job: JobOptions) -> tuple[str, str]:
    """The options that change an input's outputs, as canonical JSON, and its sha256.

    Where outputs go and how fast they are made (output folder, threads, model cache) are left out.

    >>> from ovsub.options import ModelOptions
    >>> options_fingerprint(JobOptions())[0] == options_fingerprint(JobOptions(model=ModelOptions(threads=3)))[0]
    True
    """
    data: dict[str, Any] = to_dict(job)
    data["output"].pop("output_dir", None)
    for name in ("threads", "cache_dir"):
        data["model"].pop(name, None)
    text = json.dumps(data, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest(), text


class Ledger:
    """The open ledger; use :func:`open_ledger`."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def _one(self, sql: str, args: tuple[Any, ...]) -> Row | None:
        cur = self.conn.execute(f"SELECT * FROM inputs WHERE {sql}", args)
        found = cur.fetchone()
        return _row(found) if found else None

    def get(self, key: int) -> Row | None:
        return self._one("id = ?", (key,))

    def find(self, source: str) -> Row | None:
        return self._one("source = ?", (source,))

    def rows(self) -> list[Row]:
        return [_row(r) for r in self.conn.execute("SELECT * FROM inputs ORDER BY id")]

    def known_hash(self, source: str, size: int, mtime_ns: int) -> str | None:
        """The content hash recorded for ``source`` (PENDING if not read yet) if the file still has the size and
        time it had then; else None."""
        row = self.find(source)
        return row.content_hash if row and row.size == size and row.mtime_ns == mtime_ns else None

    def _update(self, key: int, **values: Any) -> None:
        values["updated_at"] = time.time()
        sets = ", ".join(f"{name} = ?" for name in values)
        with self.conn:
            self.conn.execute(f"UPDATE inputs SET {sets} WHERE id = ?", (*values.values(), key))

    def enqueue(self, source: str, content_hash: str, stat: tuple[int, int] | None, fingerprint: tuple[str, str],
                out_prefix: str, audio_s: float | None) -> tuple[Row, bool]:  # fmt: skip
        """The row of ``source``, added or reset to queued if its content or options changed; and whether
        it was (False: the row as a former run left it)."""
        size, mtime_ns = stat or (None, None)
        fp, options = fingerprint
        row = self.find(source)
        same_content = row is not None and row.content_hash == content_hash and (
            content_hash != PENDING or (row.size, row.mtime_ns) == (size, mtime_ns)  # never read: trust the stat only
        )
        if row and same_content and row.options_fp == fp:
            # Touched, not changed. A done row's outputs stay where they are (its `outputs` say where), even if
            # this run would put them elsewhere (another set of INPUTS has another common folder).
            prefix = row.out_prefix if row.state == "done" else out_prefix
            if (row.size, row.mtime_ns, row.out_prefix) != (size, mtime_ns, prefix):
                self._update(row.id, size=size, mtime_ns=mtime_ns, out_prefix=prefix)
            return self.get(row.id) or row, False
        fresh = {"content_hash": content_hash, "size": size, "mtime_ns": mtime_ns, "options_fp": fp,
                 "options": options, "out_prefix": out_prefix, "state": "queued", "attempts": 0, "completions": 0,
                 "outputs": "[]", "error": None, "audio_s": audio_s, "wall_s": None}  # fmt: skip
        if row:
            self._update(row.id, **fresh)
            key = row.id
        else:
            with self.conn:
                names = ", ".join(["source", *fresh, "updated_at"])
                marks = ", ".join("?" * (len(fresh) + 2))
                cur = self.conn.execute(f"INSERT INTO inputs ({names}) VALUES ({marks})",
                                        (source, *fresh.values(), time.time()))  # fmt: skip
                key = int(cur.lastrowid or 0)
        return self._must(key), True

    def _must(self, key: int) -> Row:
        row = self.get(key)
        if row is None:
            raise KeyError(f"no input {key} in the ledger")
        return row

    def requeue_running(self) -> int:
        """Rows a killed run left running go back to queued (their attempt stays counted); how many."""
        with self.conn:
            cur = self.conn.execute("UPDATE inputs SET state = 'queued', updated_at = ? WHERE state = 'running'",
                                    (time.time(),))  # fmt: skip
        return cur.rowcount

    def start(self, key: int) -> int:
        """queued -> running; the attempt number it starts."""
        row = self._must(key)
        self._update(key, state="running", attempts=row.attempts + 1, error=None)
        return row.attempts + 1

    def finish(self, key: int, attempt: int, outputs: list[str], audio_s: float, wall_s: float,
               content_hash: str = PENDING) -> bool:  # fmt: skip
        """-> done, with what it made (and the content hash its worker read, if the row had none yet); False
        (nothing changed) if that attempt was recorded done already."""
        row = self._must(key)
        if row.state == "done" and row.attempts == attempt:
            return False
        digest = row.content_hash or content_hash
        self._update(key, state="done", attempts=max(row.attempts, attempt), completions=row.completions + 1,
                     outputs=json.dumps(outputs), error=None, audio_s=audio_s, wall_s=wall_s,
                     content_hash=digest)  # fmt: skip
        return True

    def fail(self, key: int, error: str, wall_s: float | None = None) -> None:
        self._update(key, state="failed", error=error, wall_s=wall_s)

    def requeue(self, key: int, why: str | None = None) -> None:
        """Back to queued: its worker died (``why``), or --retry-failed."""
        self._update(key, state="queued", error=why)

    def set_audio(self, key: int, audio_s: float) -> None:
        """The input's length, once probed (for the progress over the whole archive)."""
        self._update(key, audio_s=audio_s)

    def counts(self) -> dict[str, int]:
        found = dict(self.conn.execute("SELECT state, COUNT(*) FROM inputs GROUP BY state").fetchall())
        return {state: int(found.get(state, 0)) for state in STATES}


def _row(r: sqlite3.Row) -> Row:
    values = dict(r)
    values.pop("updated_at", None)
    values["outputs"] = tuple(json.loads(values["outputs"] or "[]"))
    return Row(**values)


@contextmanager
def open_ledger(out_dir: str | Path, create: bool = True) -> Iterator[Ledger]:
    """The ledger of the batch in ``out_dir`` (made if ``create``); OutputError if it cannot be used."""
    path = Path(out_dir) / LEDGER_NAME
    if not create and not path.is_file():
        raise OutputError(f"{path}: no batch ledger here; is {out_dir} the -o folder of an `ovsub batch` run?")
    try:
        if create:
            path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(path, timeout=30.0)
    except (OSError, sqlite3.Error) as e:
        raise OutputError(f"{path}: cannot open the batch ledger ({e})") from e
    with closing(conn):
        conn.row_factory = sqlite3.Row
        _prepare(conn, path, create)
        yield Ledger(conn)


def _prepare(conn: sqlite3.Connection, path: Path, create: bool) -> None:
    try:
        version = int(conn.execute("PRAGMA user_version").fetchone()[0])
        if version > SCHEMA_VERSION:
            raise OutputError(f"{path}: written by a newer ovsub (ledger schema {version}); upgrade ovsub to use it")
        if create:
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = FULL")
            with conn:
                conn.execute(_SCHEMA)
                conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
    except sqlite3.Error as e:
        raise OutputError(f"{path}: not a usable batch ledger ({e})") from e


__all__ = ["LEDGER_NAME", "PENDING", "Ledger", "Row", "STATES", "open_ledger", "options_fingerprint"]
