"""Background runs: accepted at once, checkpointed as they go, resumed after a restart."""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from runtime._runtime import Runtime
from runtime._sqlite import SQLiteFile
from runtime.config import BudgetSpec
from runtime.errors import NotFoundError, TierwiseError
from runtime.execution import ExecutionRecord, StepRecord

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
    error      TEXT
)
"""
UNFINISHED = ("pending", "running", "interrupted")
"""Statuses a restart picks up again."""


class BackgroundRuns:
    """Runs that outlive the request that started them (and the server process)."""

    def __init__(self, runtime: Runtime, path: Path) -> None:
        self._runtime = runtime
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._stopping = False
        self._file = SQLiteFile(path)
        with self._db() as db:
            db.execute(_SCHEMA)

    def _db(self) -> AbstractContextManager[Any]:
        return self._file.transaction()

    async def submit(
        self, workflow: str, raw_input: Any, *, tenant: str, budget: BudgetSpec | None
    ) -> dict[str, Any]:
        """Validate and accept a run; it starts at once, in the background."""
        self._runtime.workflows.get(workflow).validate_input(raw_input)  # 422 before accepting
        self._runtime.budget_for(workflow, budget)
        run_id = str(uuid.uuid4())
        now = time.time()
        budget_json = None if budget is None else budget.model_dump_json()
        with self._db() as db:
            db.execute(
                "INSERT INTO background_runs (run_id, workflow, tenant, status, input, budget, "
                "created_at, updated_at) VALUES (?, ?, ?, 'pending', ?, ?, ?, ?)",
                (run_id, workflow, tenant, json.dumps(raw_input), budget_json, now, now),
            )
        self._start(run_id)
        return self.get(run_id, tenant=tenant)

    def get(self, run_id: str, *, tenant: str) -> dict[str, Any]:
        """A run's status, output and cost; another tenant's run does not exist."""
        with self._db() as db:
            row = db.execute(
                "SELECT run_id, workflow, tenant, status, created_at, updated_at, steps, "
                "result, error FROM background_runs WHERE run_id = ? AND tenant = ?",
                (run_id, tenant),
            ).fetchone()
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
        run = self.get(run_id, tenant=tenant)
        task = self._tasks.get(run_id)
        if run["status"] in UNFINISHED:
            if task is not None and not task.done():
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
            self._set(run_id, "cancelled", error="cancelled by the client")
        return self.get(run_id, tenant=tenant)

    async def resume_unfinished(self) -> list[str]:
        """Restart every run a previous process left unfinished (from its checkpoint)."""
        with self._db() as db:
            rows = db.execute(
                "SELECT run_id FROM background_runs WHERE status IN (?, ?, ?)", UNFINISHED
            ).fetchall()
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
        with self._db() as db:
            workflow, tenant, raw_input, budget_json, steps_json = db.execute(
                "SELECT workflow, tenant, input, budget, steps FROM background_runs "
                "WHERE run_id = ?",
                (run_id,),
            ).fetchone()
        earlier = [StepRecord.from_dict(step) for step in json.loads(steps_json)]
        budget = None if budget_json is None else BudgetSpec.model_validate_json(budget_json)
        self._set(run_id, "running")
        try:
            started = await self._has_checkpoint(workflow, run_id)
            record = await self._runtime.run(
                workflow,
                None if started else json.loads(raw_input),
                tenant=tenant,
                budget=budget,
                run_id=run_id,
                thread_id=run_id,
                on_step=lambda step: self._add_step(run_id, step),
            )
            if earlier:  # resumed: the record covers the whole run, both processes
                record = _joined(record, earlier)
                self._runtime.runs.save(record)
            self._set(run_id, "succeeded", result=record.as_dict())
        except asyncio.CancelledError:
            if self._stopping:
                self._set(run_id, "interrupted", error="server stopped; resumes at next start")
            raise
        except TierwiseError as exc:
            self._set(run_id, "failed", error=f"{type(exc).__name__}: {exc}")
        except Exception as exc:  # a run must never take the server down
            log.exception("background run %s failed", run_id)
            self._set(run_id, "failed", error=f"{type(exc).__name__}: {exc}")

    async def _has_checkpoint(self, workflow: str, run_id: str) -> bool:
        saver = await self._runtime.checkpointer()
        found = await saver.aget_tuple({"configurable": {"thread_id": run_id}})
        return found is not None

    def _add_step(self, run_id: str, step: StepRecord) -> None:
        with self._db() as db:
            (steps,) = db.execute(
                "SELECT steps FROM background_runs WHERE run_id = ?", (run_id,)
            ).fetchone()
            db.execute(
                "UPDATE background_runs SET steps = ?, updated_at = ? WHERE run_id = ?",
                (json.dumps([*json.loads(steps), step.as_dict()]), time.time(), run_id),
            )

    def _set(
        self,
        run_id: str,
        status: str,
        *,
        result: dict[str, Any] | None = None,
        error: str | None = None,
    ) -> None:
        with self._db() as db:
            db.execute(
                "UPDATE background_runs SET status = ?, updated_at = ?, "
                "result = COALESCE(?, result), error = ? WHERE run_id = ?",
                (
                    status,
                    time.time(),
                    None if result is None else json.dumps(result, default=str),
                    error,
                    run_id,
                ),
            )


def _joined(record: ExecutionRecord, earlier: list[StepRecord]) -> ExecutionRecord:
    return ExecutionRecord(
        run_id=record.run_id,
        workflow=record.workflow,
        tenant=record.tenant,
        output=record.output,
        steps=(*earlier, *record.steps),
        latency_ms=record.latency_ms,
        trace_id=record.trace_id,
        trace_url=record.trace_url,
    )
