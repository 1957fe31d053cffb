"""What a batch tells its user: a line per event over the whole archive, a summary at the end, and
``ovsub batch --status OUT`` (read from the ledger alone, so it works while a run is going or after one).

A line per event, not a bar: a batch runs for hours, usually with its output in a log, and each line
says where the whole archive stands (files, hours of audio, the time left at this run's speed so far).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path

from ovsub.batch.driver import Tally
from ovsub.batch.ledger import Row


def duration(seconds: float) -> str:
    """A wall time as people say it.

    >>> duration(42.4), duration(250), duration(7260), duration(200_000)
    ('42 s', '4 min 10 s', '2 h 01 min', '55 h 33 min')
    """
    s = round(max(seconds, 0.0))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"


def hours(seconds: float) -> str:
    """A length of audio: in hours from an hour up, as an archive is counted; below, as a wait is said.

    >>> hours(90), hours(5400), hours(36_000_000)
    ('1 min 30 s', '1.5 h', '10000.0 h')
    """
    return duration(seconds) if seconds < 3600 else f"{seconds / 3600:.1f} h"


class ArchiveProgress:
    """The driver's events as lines: ``[12/20 files, 2 min 30 s/4 min 10 s of audio] done talk.mp4 (61 s of audio in
    9 s); ETA 1 min 40 s``."""

    def __init__(self, write: Callable[[str], None], clock: Callable[[], float] = time.monotonic) -> None:
        self.write, self.clock = write, clock
        self.started_s = clock()

    def __call__(self, kind: str, row: Row, tally: Tally) -> None:
        name = Path(row.source).name or row.source
        if kind == "done":
            what = f"done {name} ({row.audio_s or 0:.0f} s of audio in {duration(row.wall_s or 0)})"
        elif kind == "started":
            what = f"started {name}" + (f" (attempt {row.attempts})" if row.attempts > 1 else "")
        elif kind == "lost":
            what = f"{name}: {row.error}; it goes back in the queue"
        else:
            what = f"failed {name}: {(row.error or '').replace(row.source + ': ', '')}"
        self.write(f"{self.where(tally)} {what}{self.eta(tally)}")

    @staticmethod
    def where(tally: Tally) -> str:
        finished = tally.skipped + tally.done
        failed = f", {len(tally.failed)} failed" if tally.failed else ""
        audio = hours(tally.audio_before_s + tally.audio_done_s)
        return f"[{finished}/{tally.total} files{failed}, {audio}/{hours(tally.audio_total_s)} of audio]"

    def eta(self, tally: Tally) -> str:
        """The time left at this run's speed so far (audio seconds per wall second), once there is one."""
        elapsed = self.clock() - self.started_s
        left_s = tally.audio_total_s - tally.audio_before_s - tally.audio_done_s
        if tally.audio_done_s <= 0 or elapsed <= 0 or left_s < 1:
            return ""
        return f"; ETA {duration(left_s / (tally.audio_done_s / elapsed))}"


def summary(tally: Tally, wall_s: float) -> list[str]:
    """The lines at the end of a run."""
    lines = [f"ovsub batch: {tally.total} inputs: {tally.skipped + tally.done} done ({tally.done} now, "
             f"{tally.skipped} earlier), {len(tally.failed)} failed"]  # fmt: skip
    speed = f" ({tally.audio_done_s / wall_s:.1f}x real time)" if wall_s > 0 and tally.audio_done_s > 0 else ""
    lines.append(f"  {hours(tally.audio_done_s)} of audio transcribed in {duration(wall_s)}{speed}")
    lines.extend(f"  failed: {_named(source, error)}" for source, error in tally.failed.items())
    if tally.failed_earlier:
        lines.append(f"  {tally.failed_earlier} of them failed in an earlier run: --retry-failed tries them again")
    return lines


def status(rows: Sequence[Row], ledger_path: Path) -> list[str]:
    """``ovsub batch --status``: where the archive in a ledger stands, and every failure with its reason."""
    counts = {state: sum(r.state == state for r in rows) for state in ("done", "failed", "queued", "running")}
    done = [r for r in rows if r.state == "done"]
    audio_done = sum(r.audio_s or 0 for r in done)
    audio_all = sum(r.audio_s or 0 for r in rows)
    wall = sum(r.wall_s or 0 for r in done)
    lines = [f"{ledger_path}: {len(rows)} inputs: " + ", ".join(f"{n} {state}" for state, n in counts.items())]
    speed = f", {audio_done / wall:.1f}x real time per worker" if wall > 0 else ""
    lines.append(f"  audio: {hours(audio_done)} done of {hours(audio_all)} known; worker time {duration(wall)}{speed}")
    redone = sum(r.attempts > 1 for r in done)
    if redone:
        lines.append(f"  {redone} done after more than one attempt (a run or a worker was stopped on them)")
    lines.extend(f"  running: {r.source} (attempt {r.attempts})" for r in rows if r.state == "running")
    lines.extend(f"  failed ({r.attempts} attempt{'s' * (r.attempts != 1)}): {_named(r.source, r.error or '')}"
                 for r in rows if r.state == "failed")  # fmt: skip
    return lines


def _named(source: str, error: str) -> str:
    """The error, with the input's name in front unless it names it already."""
    return error if source in error else f"{source}: {error}"


__all__ = ["ArchiveProgress", "duration", "hours", "status", "summary"]
