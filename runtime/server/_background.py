"""Background runs: accepted at once, checkpointed as they go, resumed after a restart."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import errno
import functools
import json
import logging
import sqlite3
import time
import uuid
from typing import Any

import psycopg
import psycopg_pool
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_delay,
    wait_exponential_jitter,
)

from runtime._runtime import Runtime
from runtime.config import BudgetSpec
from runtime.engines import Lane
from runtime.errors import (
    InputError,
    NotFoundError,
    OverloadedError,
    StoreUnavailableError,
    TierwiseError,
)
from runtime.execution import ExecutionRecord, StepRecord
from runtime.server._store import RETRY_PAUSE_S, ServerStore

log = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS background_runs (
    run_id     TEXT PRIMARY KEY,
    workflow   TEXT NOT NULL,
    tenant     TEXT NOT NULL,
    status     TEXT NOT NULL,
    input      TEXT NOT NULL,
    budget     TEXT,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    steps      TEXT NOT NULL DEFAULT '[]',
    result     TEXT,
    error      TEXT,
    lane       TEXT NOT NULL DEFAULT 'batch'
)
"""
UNFINISHED = ("pending", "running", "interrupted")
"""Statuses a restart picks up again."""
RESUMABLE = ("failed", "cancelled")
"""Statuses a client may resume from the last checkpoint."""
STORE_RETRY_S = 120.0
"""How long a background run waits out an unavailable store before it fails."""
STORE_FAULTS: tuple[type[BaseException], ...] = (
    StoreUnavailableError,
    sqlite3.OperationalError,
    psycopg.OperationalError,
    psycopg.InterfaceError,
    psycopg_pool.PoolTimeout,
)
"""Failures of the stores that hold run state, as opposed to failures of the run."""
_DISK_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EROFS})
_WHAT = "background runs"


def _waits_out(exc: BaseException) -> bool:
    """Whether a background run waits ``exc`` out: no caller there wants a quick 503."""
    return is_store_fault(exc) or isinstance(exc, OverloadedError)


def is_store_fault(exc: BaseException) -> bool:
    """True when ``exc`` is a store holding run state failing, which a retry may outlast."""
    disk = isinstance(exc, OSError) and exc.errno in _DISK_ERRNOS
    return disk or isinstance(exc, STORE_FAULTS)


class BackgroundRuns:
    """Runs that outlive the request that started them (and the server process)."""

    def __init__(self, runtime: Runtime, store: ServerStore) -> None:
        self._runtime = runtime
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._stopping = False
        self._store = store
        store.now(_WHAT, _create_table)

    async def submit(
        self,
        workflow: str,
        raw_input: Any,
        *,
        tenant: str,
        budget: BudgetSpec | None,
        lane: Lane = "batch",
    ) -> dict[str, Any]:
        """Validate and accept a run; it starts at once, in the background."""
        self._runtime.workflows.get(workflow).validate_input(raw_input)  # 422 before accepting
        self._runtime.budget_for(workflow, budget)
        run_id = str(uuid.uuid4())
        now = time.time()
        budget_json = None if budget is None else budget.model_dump_json()
        await self._store.run(
            _WHAT,
            lambda db: db.execute(
                "INSERT INTO background_runs (run_id, workflow, tenant, status, input, budget, "
                "created_at, updated_at, lane) VALUES (?, ?, ?, 'pending', ?, ?, ?, ?, ?)",
                (run_id, workflow, tenant, json.dumps(raw_input), budget_json, now, now, lane),
            ),
        )
        self._start(run_id)
        return await self.get(run_id, tenant=tenant)

    async def get(self, run_id: str, *, tenant: str) -> dict[str, Any]:
        """A run's status, output and cost; another tenant's run does not exist."""
        row = await self._store.run(
            _WHAT,
            lambda db: db.execute(
                "SELECT run_id, workflow, tenant, status, created_at, updated_at, steps, "
                "result, error FROM background_runs WHERE run_id = ? AND tenant = ?",
                (run_id, tenant),
            ).fetchone(),
        )
        if row is None:
            raise NotFoundError(f"no run {run_id!r}")
        steps = json.loads(row[6])
        result = json.loads(row[7]) if row[7] else None
        return {
            "run_id": row[0],
            "workflow": row[1],
            "tenant": row[2],
            "status": row[3],
            "created_at": row[4],
            "updated_at": row[5],
            "cost_usd": sum(step["cost_usd"] for step in steps),
            "steps": steps,
            "output": result["output"] if result else None,
            "trace_url": result.get("trace_url") if result else None,
            "error": row[8],
        }

    async def cancel(self, run_id: str, *, tenant: str) -> dict[str, Any]:
        """Stop a run; finished runs stay as they are."""
        run = await self.get(run_id, tenant=tenant)
        task = self._tasks.get(run_id)
        if run["status"] in UNFINISHED:
            if task is not None and not task.done():
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
            await self._set(run_id, "cancelled", error="cancelled by the client")
        return await self.get(run_id, tenant=tenant)

    async def resume(self, run_id: str, *, tenant: str) -> dict[str, Any]:
        """Start a failed or cancelled run again from its last checkpoint."""
        run = await self.get(run_id, tenant=tenant)
        if run["status"] not in RESUMABLE:
            raise InputError(
                f"run {run_id!r} is {run['status']}; only {' or '.join(RESUMABLE)} runs resume"
            )
        await self._set(run_id, "pending")
        self._start(run_id)
        return await self.get(run_id, tenant=tenant)

    async def resume_unfinished(self) -> list[str]:
        """Restart every run a previous process left unfinished (from its checkpoint)."""
        rows = await self._store.run(
            _WHAT,
            lambda db: db.execute(
                "SELECT run_id FROM background_runs WHERE status IN (?, ?, ?)", UNFINISHED
            ).fetchall(),
        )
        for (run_id,) in rows:
            self._start(run_id)
        return [run_id for (run_id,) in rows]

    async def shutdown(self) -> None:
        """Stop the runs in flight; their checkpoints stay, and the next start resumes them."""
        self._stopping = True
        tasks = [task for task in self._tasks.values() if not task.done()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _start(self, run_id: str) -> None:
        self._tasks[run_id] = asyncio.create_task(self._execute(run_id), name=f"run {run_id}")

    async def _execute(self, run_id: str) -> None:
        """Run to the end, waiting out an outage for up to ``STORE_RETRY_S``.

        A database restarting, a full disk or a saturated tier interrupts the run; each
        retry goes on from the last checkpoint, and the run fails with the reason only when
        the outage outlasts the window.
        """
        try:
            async for attempt in AsyncRetrying(
                stop=stop_after_delay(STORE_RETRY_S),
                wait=wait_exponential_jitter(multiplier=0.5, max=RETRY_PAUSE_S),
                retry=retry_if_exception(_waits_out),
                before_sleep=functools.partial(self._interrupted, run_id),  # awaited
                reraise=True,
            ):
                with attempt:
                    await self._attempt(run_id)
        except asyncio.CancelledError:
            if self._stopping:
                await self._set(
                    run_id, "interrupted", error="server stopped; resumes at next start"
                )
            raise
        except Exception as exc:  # a run must never take the server down
            if not isinstance(exc, TierwiseError) and not is_store_fault(exc):
                log.exception("background run %s failed", run_id)
            reason = f"{type(exc).__name__}: {exc}"
            with contextlib.suppress(StoreUnavailableError):  # a restart resumes it then
                await self._set(run_id, "failed", error=reason)

    async def _attempt(self, run_id: str) -> None:
        workflow, tenant, raw_input, budget_json, steps_json, lane = await self._store.run(
            _WHAT,
            lambda db: db.execute(
                "SELECT workflow, tenant, input, budget, steps, lane FROM background_runs "
                "WHERE run_id = ?",
                (run_id,),
            ).fetchone(),
        )
        earlier = [StepRecord.from_dict(step) for step in json.loads(steps_json)]
        budget = None if budget_json is None else BudgetSpec.model_validate_json(budget_json)
        await self._set(run_id, "running")
        started = await self._has_checkpoint(run_id)
        saving: list[asyncio.Future[None]] = []  # each step's write, queued on the store
        try:
            record = await self._runtime.run(
                workflow,
                None if started else json.loads(raw_input),
                tenant=tenant,
                budget=budget,
                run_id=run_id,
                thread_id=run_id,
                lane=lane,
                on_step=lambda step: saving.append(
                    self._store.later(_WHAT, functools.partial(_add_step, run_id, step))
                ),
            )
        finally:  # every step written (or failed) before the run's status moves on
            saved = await asyncio.gather(*saving, return_exceptions=True)
        for outcome in saved:
            if isinstance(outcome, BaseException):
                raise outcome  # a store fault: the run retries from its checkpoint
        if earlier:  # resumed: the record covers the whole run, every attempt
            record = _joined(record, earlier)
            # after the attempt's own record, over it; a fault: retried
            await asyncio.wrap_future(self._runtime.runs.save_in_order(record))
        await self._set(run_id, "succeeded", result=record.as_dict())

    async def _interrupted(self, run_id: str, state: RetryCallState) -> None:
        failure = state.outcome.exception() if state.outcome else None
        log.warning("background run %s interrupted (%s); retrying", run_id, failure)
        with contextlib.suppress(StoreUnavailableError):
            await self._set(run_id, "interrupted", error=f"retrying from the checkpoint: {failure}")

    async def _has_checkpoint(self, run_id: str) -> bool:
        saver = await self._runtime.checkpointer()
        found = await saver.aget_tuple({"configurable": {"thread_id": run_id}})
        return found is not None

    async def _set(
        self,
        run_id: str,
        status: str,
        *,
        result: dict[str, Any] | None = None,
        error: str | None = None,
    ) -> None:
        result_json = None if result is None else json.dumps(result, default=str)
        await self._store.run(
            _WHAT,
            lambda db: db.execute(
                "UPDATE background_runs SET status = ?, updated_at = ?, "
                "result = COALESCE(?, result), error = ? WHERE run_id = ?",
                (status, time.time(), result_json, error, run_id),
            ),
        )


def _create_table(db: sqlite3.Connection) -> None:
    db.execute(_SCHEMA)
    columns = {row[1] for row in db.execute("PRAGMA table_info(background_runs)")}
    if "lane" not in columns:  # a state_dir from before lanes
        db.execute("ALTER TABLE background_runs ADD COLUMN lane TEXT NOT NULL DEFAULT 'batch'")


def _add_step(run_id: str, step: StepRecord, db: sqlite3.Connection) -> None:
    (steps,) = db.execute(
        "SELECT steps FROM background_runs WHERE run_id = ?", (run_id,)
    ).fetchone()
    db.execute(
        "UPDATE background_runs SET steps = ?, updated_at = ? WHERE run_id = ?",
        (json.dumps([*json.loads(steps), step.as_dict()]), time.time(), run_id),
    )


def _joined(record: ExecutionRecord, earlier: list[StepRecord]) -> ExecutionRecord:
    return dataclasses.replace(record, steps=(*earlier, *record.steps))
