"""The web app's job state: one SQLite file, ``<data_dir>/jobs.sqlite3``, written by the job queue alone.

Why SQLite (the standard library's ``sqlite3``) and not a JSON file per job: every change is one
transaction, so a crash or a power cut leaves the old state or the new one, never half of either,
and a change that touches several jobs (those a restart re-queues, those a prune deletes) happens
all at once. The file is in WAL mode with full sync, so a committed change survives a power cut.

One writer: the job queue owns the only connection and uses it under its own lock. The file is
opened in exclusive locking mode, so a second server pointed at the same data folder stops at
start with a clear message, instead of running the same queued jobs a second time.

Each row keeps a job's whole record as JSON (``records.Job.to_record``; it carries its own version),
plus the columns a query would want. ``PRAGMA user_version`` is the schema version of the table.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from ovsub.errors import OvsubError

DB_FILE = "jobs.sqlite3"  # in the data folder, beside jobs/
SCHEMA_VERSION = 1  # PRAGMA user_version of a database this code made; bump with a migration when the table changes
LOCK_WAIT_S = 0.5  # how long opening waits for another server to let go of the file before giving up
SCHEMA = """
CREATE TABLE jobs (
    id TEXT PRIMARY KEY,       -- the job's id, also its folder's name
    state TEXT NOT NULL,       -- queued, running, done, failed or cancelled
    created_at REAL NOT NULL,  -- Unix time
    finished_at REAL,          -- Unix time it ended, NULL while unfinished
    record TEXT NOT NULL       -- the whole job as JSON
)
"""


class StoreError(OvsubError):
    """The job database cannot be used (another server holds it, a newer ovsub made it, it is damaged)."""


class JobStore:
    """Job records by id in one SQLite file. Not thread-safe by itself: the caller serializes every call."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self._db: sqlite3.Connection | None = _open(path)
        except sqlite3.OperationalError as e:
            if "locked" in str(e):
                raise StoreError(
                    f"another ovsub server is using the data folder {path.parent}; stop it or give this one "
                    "another --data-dir"
                ) from e
            raise StoreError(f"cannot open the job database {path} ({e})") from e
        except sqlite3.DatabaseError as e:
            raise StoreError(f"the job database {path} is damaged ({e}); move it away to start afresh") from e

    def records(self) -> list[dict[str, Any]]:
        """Every stored record, oldest first; a row whose JSON cannot be read comes back as {"id": id}."""
        rows = self._connection().execute("SELECT id, record FROM jobs ORDER BY created_at, id").fetchall()
        records = []
        for job_id, text in rows:
            try:
                record = json.loads(text)
            except ValueError:
                record = None
            records.append(record if isinstance(record, dict) else {"id": job_id})
        return records

    def write(self, put: Iterable[dict[str, Any]] = (), remove: Iterable[str] = ()) -> None:
        """Insert or replace the records in ``put`` and delete the rows of ``remove``, in one transaction.

        Folders are the caller's business. Raises StoreError if the file cannot be written (nothing changed).
        """
        rows = [
            (r["id"], r["state"], r["created_at"], r.get("finished_at"), json.dumps(r, ensure_ascii=False)) for r in put
        ]
        gone = [(job_id,) for job_id in remove]
        try:
            with self._transaction() as db:
                db.executemany(
                    "INSERT OR REPLACE INTO jobs (id, state, created_at, finished_at, record) VALUES (?, ?, ?, ?, ?)",
                    rows,
                )
                db.executemany("DELETE FROM jobs WHERE id = ?", gone)
        except sqlite3.Error as e:
            raise StoreError(f"cannot write the job database {self.path} ({e})") from e

    def close(self) -> None:
        """Close the file (committed changes are already on disk); later calls raise StoreError."""
        if self._db is not None:
            self._db.close()
            self._db = None

    def _connection(self) -> sqlite3.Connection:
        if self._db is None:
            raise StoreError("the job database is closed")
        return self._db

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        db = self._connection()
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")


def _open(path: Path) -> sqlite3.Connection:
    """Connect, take the file for this process alone, and make or check the schema."""
    # isolation_level=None: no implicit transactions; JobStore begins and commits its own
    db = sqlite3.connect(path, timeout=LOCK_WAIT_S, isolation_level=None, check_same_thread=False)
    try:
        db.execute("PRAGMA locking_mode = EXCLUSIVE")  # before WAL: no shared memory, and the lock is held
        db.execute("PRAGMA journal_mode = WAL")
        db.execute("PRAGMA synchronous = FULL")
        db.execute("BEGIN EXCLUSIVE")  # takes the lock now, and keeps it until the connection closes
        version = db.execute("PRAGMA user_version").fetchone()[0]
        if version == 0:
            db.execute(SCHEMA)
            db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        elif version != SCHEMA_VERSION:
            db.execute("ROLLBACK")
            raise StoreError(
                f"the job database {path} has schema version {version}, made by another version of ovsub "
                f"(this one reads version {SCHEMA_VERSION}); use that version, or move the file away"
            )
        db.execute("COMMIT")
    except BaseException:
        db.close()
        raise
    return db
