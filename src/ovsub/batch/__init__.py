"""``ovsub batch``: a whole archive of inputs, resumable after any crash, on one machine or a Ray cluster.

    inputs.py  INPUTS -> one Entry per media file or link, with the folder its outputs go to under OUT
    ledger.py  OUT/ovsub-batch.sqlite: one row per input (content hash, options, state, attempts, outputs ...)
    work.py    what a worker does with one input: Task -> run_one() -> Outcome (plain, picklable data)
    local.py   the Executor for one machine: N worker processes, each with one model and its share of the cores
    cluster.py the Executor for a Ray cluster (``--ray [ADDRESS]``; imported only then, needs ovsub[cluster])
    driver.py  the loop: recover, sync the ledger with INPUTS, hand tasks out, publish outcomes
    report.py  progress lines over the whole archive, the summary, ``--status``
    command.py the ``ovsub batch`` subcommand (cli.py only registers it)

Only the driver writes the ledger. A worker transcribes into a staging folder of its input
(``OUT/.ovsub-batch/staging/<id>/``) and, as its very last step, writes ``<id>.done.json`` beside it: from
then on the transcription counts as complete and is never redone. The driver then renames the staged
files into place, records the row as done, and removes the staging files; a run killed anywhere in
between is rolled forward from the marker on the next start. Staging folders without a marker are a
killed attempt's leftovers and are deleted, so no partial output is ever in OUT proper.

The executor interface (``work.Executor``), for ``local.LocalExecutor`` and ``cluster``'s Ray one::

    class Executor(Protocol):
        def run(self, next_task: Callable[[], Task | None], on_done: Callable[[Outcome], None]) -> None: ...

- ``run`` calls ``next_task()`` only when a worker is free to start the task at once (the driver marks
  the row running, attempts + 1, as it hands it out); ``None`` means nothing is waiting now. ``run``
  returns when ``next_task()`` gave None and no task is in flight.
- For every task handed out, ``on_done`` is called exactly once, from the thread that called ``run``,
  with the Outcome of ``work.run_one(task)`` run in a worker; if the worker died on it (killed, out of
  memory, a crash in native code) with ``Outcome.lost_task(task, why)``. The driver then offers the task
  again (through ``next_task``) until it has been lost ``work.MAX_ATTEMPTS`` times.
- A worker loads its model once (``work.warm(setup)``, then ``run_one`` finds it loaded), with
  ``setup.threads`` inference threads; one model per worker process.
- An executor is made by ``make_executor(setup, ray_address)`` in ``local.py``:
  ``local.LocalExecutor(setup)`` without ``--ray``, else ``cluster.RayExecutor(setup, address)``
  (``address`` None: a new local Ray just for the run; ``auto`` joins the one ``ray start`` runs here).
- Outputs are written to ``Task.staging_dir``, a path the worker must see: on a cluster, OUT is on a
  shared file system.
"""

from __future__ import annotations
