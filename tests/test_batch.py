"""``ovsub batch``: the ledger's rules, inputs and where their outputs go, recovery after a kill, and real runs
(the session's model in-process; ``--workers 2`` as a real command). The kill -9 test is test_batch_kill.py."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pysubs2
import pytest

from ovsub.batch import driver, inputs
from ovsub.batch.driver import recover, run_batch, staging_root, sync
from ovsub.batch.ledger import LEDGER_NAME, PENDING, open_ledger, options_fingerprint
from ovsub.batch.local import InlineExecutor, worker_setup
from ovsub.batch.report import status
from ovsub.batch.work import Outcome, write_marker
from ovsub.options import JobOptions, ModelOptions, OutputOptions, TranscribeOptions

FAST = JobOptions(transcribe=TranscribeOptions(beam_size=1))
FP = options_fingerprint(FAST)


def _clips(data_dir: Path, n: int) -> list[Path]:
    return sorted((data_dir / "english" / "fleurs").glob("*.ogg"))[:n]


# -- the ledger ---------------------------------------------------------------------------------------------


def test_ledger_walks_queued_running_done_and_counts_one_completion(tmp_path):
    with open_ledger(tmp_path) as ledger:
        row, fresh = ledger.enqueue("/a.mp3", "h1", (10, 1), FP, str(tmp_path / "a"), 12.0)
        assert fresh and (row.state, row.attempts, row.completions) == ("queued", 0, 0)
        assert ledger.start(row.id) == 1 and ledger.get(row.id).state == "running"
        assert ledger.finish(row.id, 1, ["/o/a.srt"], 11.5, 3.0)
        assert not ledger.finish(row.id, 1, ["/o/a.srt"], 11.5, 3.0)  # that attempt is recorded already
        done = ledger.get(row.id)
        assert (done.state, done.attempts, done.completions, done.outputs) == ("done", 1, 1, ("/o/a.srt",))
        assert (done.audio_s, done.wall_s) == (11.5, 3.0)
    with sqlite3.connect(tmp_path / LEDGER_NAME) as conn:  # what other tools see
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 1
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_same_content_and_options_keep_the_row_changed_ones_redo_it(tmp_path):
    with open_ledger(tmp_path) as ledger:
        row, _ = ledger.enqueue("/a.mp3", "h1", (10, 1), FP, "/o/a", None)
        ledger.start(row.id)
        ledger.finish(row.id, 1, [], 1.0, 1.0)
        same, fresh = ledger.enqueue("/a.mp3", "h1", (10, 2), FP, "/o/a", None)  # touched, not changed
        assert not fresh and same.state == "done" and same.mtime_ns == 2
        changed, fresh = ledger.enqueue("/a.mp3", "h2", (11, 3), FP, "/o/a", None)
        assert fresh and (changed.state, changed.attempts, changed.completions) == ("queued", 0, 0)
        other = options_fingerprint(replace(FAST, output=OutputOptions(formats=("vtt",))))
        ledger.start(row.id)
        ledger.finish(row.id, 1, [], 1.0, 1.0)
        assert ledger.enqueue("/a.mp3", "h2", (11, 3), other, "/o/a", None)[1]
        assert ledger.known_hash("/a.mp3", 11, 3) == "h2" and ledger.known_hash("/a.mp3", 11, 4) is None


def test_options_fingerprint_ignores_where_and_how_fast_but_not_what():
    base = options_fingerprint(FAST)[0]
    assert options_fingerprint(replace(FAST, model=ModelOptions(threads=3, cache_dir="/x")))[0] == base
    assert options_fingerprint(replace(FAST, output=OutputOptions(output_dir="/elsewhere")))[0] == base
    assert options_fingerprint(JobOptions())[0] != base  # beam size 5
    assert options_fingerprint(replace(FAST, model=ModelOptions(name="tiny")))[0] != base


def test_rows_a_killed_run_left_running_are_queued_again_and_failed_wait_for_retry(tmp_path):
    (tmp_path / "a.mp3").write_bytes(b"not media a")
    (tmp_path / "b.mp3").write_bytes(b"not media b")
    entries = inputs.collect([str(tmp_path)], tmp_path / "out")
    with open_ledger(tmp_path / "out") as ledger:
        todo, tally = sync(ledger, entries, FAST, retry_failed=False)
        assert len(todo) == 2 and tally.total == 2 and tally.audio_total_s == 0
        assert [r.content_hash for r in ledger.rows()] == [PENDING, PENDING]  # the worker will hash them
        ledger.start(todo[0])
        ledger.start(todo[1])
        ledger.fail(todo[1], "bad")
        recover(ledger, tmp_path / "out")
        assert [r.state for r in ledger.rows()] == ["queued", "failed"]
        assert sync(ledger, entries, FAST, retry_failed=False)[0] == [todo[0]]
        todo_again, tally = sync(ledger, entries, FAST, retry_failed=True)
        assert todo_again == todo and tally.failed == {}
        (tmp_path / "a.mp3").write_bytes(b"changed")  # new content: a new row state, attempts from 0
        sync(ledger, entries, FAST, retry_failed=False)
        assert ledger.rows()[0].attempts == 0


def test_a_done_file_only_touched_is_skipped_and_one_changed_is_redone(tmp_path):
    media, out = tmp_path / "a.mp3", tmp_path / "out"
    media.write_bytes(b"one")
    entries = inputs.collect([str(media)], out)
    with open_ledger(out) as ledger:
        todo, _ = sync(ledger, entries, FAST, retry_failed=False)
        ledger.start(todo[0])
        ledger.finish(todo[0], 1, [], 1.0, 1.0, inputs.content_hash(str(media)))
        os.utime(media, ns=(1, 1))
        assert sync(ledger, entries, FAST, retry_failed=False)[0] == []  # hashed again: the same bytes
        media.write_bytes(b"two")
        assert sync(ledger, entries, FAST, retry_failed=False)[0] == todo
        assert ledger.get(todo[0]).content_hash == inputs.content_hash(str(media))


def test_recovery_publishes_a_finished_attempt_and_deletes_unfinished_ones(tmp_path):
    out = tmp_path / "out"
    with open_ledger(out) as ledger:
        a, _ = ledger.enqueue("/in/a.mp3", "h", (1, 1), FP, str(out / "x" / "a"), None)
        b, _ = ledger.enqueue("/in/b.mp3", "h", (1, 1), FP, str(out / "b"), None)
        for row in (a, b):
            ledger.start(row.id)
        finished, unfinished = staging_root(out) / str(a.id), staging_root(out) / str(b.id)
        finished.mkdir(parents=True)
        unfinished.mkdir(parents=True)
        (finished / "a.srt").write_text("1\n00:00:00,000 --> 00:00:01,000\nhi\n")
        (unfinished / ".b.x.part.srt").write_text("half")
        write_marker(finished, Outcome(a.id, 1, True, ("a.srt",), 1.0, 2.0))
        assert recover(ledger, out) == 1
        assert (out / "x" / "a.srt").is_file() and list(staging_root(out).iterdir()) == []
        assert [(r.state, r.completions) for r in ledger.rows()] == [("done", 1), ("queued", 0)]


class Killed(BaseException):
    """A kill -9, as far as the code under test can tell: it stops where it is."""


@pytest.mark.parametrize("kill_at", range(5))
def test_a_kill_anywhere_in_publishing_is_finished_by_the_next_start(tmp_path, monkeypatch, kill_at):
    """Publishing is two renames, the ledger's commit, the staging's removal: killed before any of them (or
    none), the next start ends with the outputs in place and the input done once."""
    out = tmp_path / "out"
    with open_ledger(out) as ledger:
        row, _ = ledger.enqueue("/in/a.mp3", "h", (1, 1), FP, str(out / "a"), None)
        ledger.start(row.id)
        staging = staging_root(out) / str(row.id)
        staging.mkdir(parents=True)
        (staging / "a.srt").write_text("1\n00:00:00,000 --> 00:00:01,000\nhi\n")
        (staging / "a.json").write_text("{}")
        outcome = Outcome(row.id, 1, True, ("a.srt", "a.json"), 1.0, 2.0)
        write_marker(staging, outcome)
        steps = {"done": 0}

        def step(real):
            def wrapped(*args, **kwargs):
                if steps["done"] == kill_at:
                    raise Killed
                steps["done"] += 1
                return real(*args, **kwargs)

            return wrapped

        monkeypatch.setattr(driver.os, "replace", step(os.replace))
        monkeypatch.setattr(driver.Ledger, "finish", step(driver.Ledger.finish))
        monkeypatch.setattr(driver, "_remove", step(driver._remove))
        if kill_at < 4:
            with pytest.raises(Killed):
                driver.publish(ledger, ledger.get(row.id), outcome, staging)
        else:
            driver.publish(ledger, ledger.get(row.id), outcome, staging)
        monkeypatch.undo()
    with open_ledger(out) as ledger:  # the next start
        recover(ledger, out)
        done = ledger.get(row.id)
        assert (done.state, done.attempts, done.completions) == ("done", 1, 1)
        assert sorted(Path(p).name for p in done.outputs) == ["a.json", "a.srt"]
    assert pysubs2.load(str(out / "a.srt")).events and (out / "a.json").read_text() == "{}"
    assert list(staging_root(out).iterdir()) == []


# -- inputs -------------------------------------------------------------------------------------------------


def test_inputs_mirror_their_folders_and_names_that_would_clash_stay_apart(tmp_path):
    for name in ("2019/talk.mp4", "2020/talk.mp4", "2020/talk.wav", "2020/notes.doc", "out/old.mp4"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"")
    listing = tmp_path / "list.txt"
    listing.write_text("# links and a path relative to this list\nhttps://a.example/x/talk.mp4\n"
                       "https://b.example/talk.mp4\n2019/talk.mp4\n\ngone.mp3\n")  # fmt: skip
    out = tmp_path / "out"
    found = inputs.collect([str(tmp_path), str(listing)], out)
    where = {e.source.replace(str(tmp_path), "IN"): e.out_prefix.replace(str(out), "OUT") for e in found}
    assert where == {
        "IN/2019/talk.mp4": "OUT/2019/talk",
        "IN/2020/talk.mp4": "OUT/2020/talk.mp4",
        "IN/2020/talk.wav": "OUT/2020/talk.wav",
        "https://a.example/x/talk.mp4": f"OUT/talk-{inputs.content_hash('https://a.example/x/talk.mp4')[4:12]}",
        "https://b.example/talk.mp4": f"OUT/talk-{inputs.content_hash('https://b.example/talk.mp4')[4:12]}",
        "IN/gone.mp3": "OUT/gone",  # listed but missing: it will fail alone
    }  # the folder's own copy of 2019/talk.mp4 once, nothing from OUT, no .doc
    assert str(inputs.final_path("OUT/2020/talk.wav", "/in/2020/talk.wav", "talk.srt")) == "OUT/2020/talk.wav.srt"


def test_a_missing_input_is_refused_before_any_work(tmp_path):
    from ovsub.errors import InputNotFoundError

    with pytest.raises(InputNotFoundError, match="nope.mp4"):
        inputs.collect([str(tmp_path / "nope.mp4")], tmp_path / "out")


# -- real runs ----------------------------------------------------------------------------------------------


def test_a_batch_resumes_skips_done_inputs_and_fails_a_broken_one_alone(data_dir, tmp_path, base_model):
    broken = tmp_path / "in" / "broken.mp3"
    broken.parent.mkdir()
    broken.write_bytes(os.urandom(4000))
    sources = [str(p) for p in _clips(data_dir, 2)] + [str(broken)]
    out = tmp_path / "out"
    entries = inputs.collect(sources, out)
    executor = InlineExecutor(transcriber=base_model)
    events: list[str] = []
    tally = run_batch(entries, FAST, out, executor, event=lambda kind, row, t: events.append(kind))
    assert (tally.done, tally.skipped, list(tally.failed)) == (2, 0, [str(broken.resolve())])
    assert events.count("done") == 2 and events.count("failed") == 1
    for srt in out.rglob("*.srt"):
        assert pysubs2.load(str(srt)).events
    again = run_batch(entries, FAST, out, executor)  # done ones skipped, the failed one not retried
    assert (again.done, again.skipped, len(again.failed)) == (0, 2, 1)
    retried = run_batch(entries, FAST, out, executor, retry_failed=True)
    assert (retried.done, retried.skipped, len(retried.failed)) == (0, 2, 1)
    with open_ledger(out) as ledger:
        rows = ledger.rows()
    assert [(r.state, r.attempts, r.completions) for r in rows] == [("done", 1, 1), ("done", 1, 1), ("failed", 2, 0)]
    assert [r.content_hash for r in rows[:2]] == [inputs.content_hash(s) for s in sources[:2]]  # as the worker read it
    lines = status(rows, out / LEDGER_NAME)
    assert "3 inputs: 2 done, 1 failed, 0 queued, 0 running" in lines[0]
    assert any(line.startswith(f"  failed (2 attempts): {broken.resolve()}: not a media file") for line in lines)
    vtt = run_batch(entries, replace(FAST, output=OutputOptions(formats=("vtt",))), out, executor)
    assert vtt.done == 2 and len(list(out.rglob("*.vtt"))) == 2  # other options: done again


def test_worker_setup_shares_the_cores():
    assert worker_setup(ModelOptions(), True, 10_000).model.threads == 1
    assert worker_setup(ModelOptions(threads=3), True, 2).model.threads == 3


def test_the_command_with_two_workers_and_its_status(data_dir, tmp_path):
    broken = tmp_path / "broken.wav"
    broken.write_bytes(os.urandom(4000))
    out = tmp_path / "out"
    clips = [str(p) for p in _clips(data_dir, 3)]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src")}
    cmd = [sys.executable, "-m", "ovsub", "batch", *clips, str(broken), "-o", str(out), "--workers", "2",
           "--beam-size", "1", "-f", "srt,json"]  # fmt: skip
    run = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert run.returncode == 1, run.stderr
    assert "4 inputs: 3 done (3 now, 0 earlier), 1 failed" in run.stderr
    assert f"failed: {broken}" in run.stderr
    for clip in clips:  # under OUT as under the folder the inputs share (here /)
        mirrored = out / Path(clip).parent.relative_to("/") / Path(clip).stem
        assert pysubs2.load(f"{mirrored}.srt").events
        assert json.loads(Path(f"{mirrored}.json").read_text())["segments"]
    shown = subprocess.run([sys.executable, "-m", "ovsub", "batch", "--status", str(out)], capture_output=True,
                           text=True, env=env, timeout=120)  # fmt: skip
    assert shown.returncode == 1 and "4 inputs: 3 done, 1 failed, 0 queued, 0 running" in shown.stdout


def _workers_of(pid: int) -> list[int]:
    """The worker processes (multiprocessing spawn children) of ``pid``."""
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [int(c) for c in children if b"spawn_main" in Path(f"/proc/{c}/cmdline").read_bytes()]


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="finds the workers through /proc")
def test_a_worker_killed_mid_input_has_that_input_redone_and_the_run_succeeds(data_dir, tmp_path):
    clips = [str(p) for p in _clips(data_dir, 4)]
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src")}
    cmd = [sys.executable, "-m", "ovsub", "batch", *clips, "-o", str(out), "--workers", "2", "--beam-size", "1"]
    proc = subprocess.Popen(cmd, env=env, stderr=subprocess.PIPE, text=True, start_new_session=True)
    deadline = time.monotonic() + 600
    while not (out / LEDGER_NAME).is_file() or not _states(out).count("done"):  # the models are loaded, both busy
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    workers = _workers_of(proc.pid)
    assert len(workers) == 2
    os.kill(workers[0], signal.SIGKILL)
    _, stderr = proc.communicate(timeout=600)
    assert proc.returncode == 0, stderr
    assert stderr.count("its worker process died (exit code -9); it goes back in the queue") == 1, stderr
    with open_ledger(out) as ledger:
        rows = ledger.rows()
    assert [(r.state, r.completions) for r in rows] == [("done", 1)] * 4
    assert sorted(r.attempts for r in rows) == [1, 1, 1, 2]


def _states(out: Path) -> list[str]:
    with sqlite3.connect(f"file:{out / LEDGER_NAME}?mode=ro", uri=True, timeout=30) as conn:
        try:
            return [s for (s,) in conn.execute("SELECT state FROM inputs")]
        except sqlite3.OperationalError:
            return []


def test_a_second_run_on_the_same_folder_is_refused_while_the_first_goes_on(tmp_path):
    from ovsub.errors import OutputError

    class Nested:  # an executor that tries a second run on OUT while the first runs
        def run(self, next_task, on_done):
            with pytest.raises(OutputError, match="another `ovsub batch` is running"):
                run_batch(entries, FAST, tmp_path / "out", InlineExecutor())
            while (task := next_task()) is not None:
                on_done(Outcome(task.key, task.attempt, False, error="not run"))

    (tmp_path / "a.mp3").write_bytes(b"x")
    entries = inputs.collect([str(tmp_path / "a.mp3")], tmp_path / "out")
    assert list(run_batch(entries, FAST, tmp_path / "out", Nested()).failed.values()) == ["not run"]
