"""The part of the LangGraph Platform API that ``langgraph-sdk`` and ``RemoteGraph`` use.

Workflows are assistants (one per workflow, its id derived from its name; the name works
too). Stateless runs use the plain graph; thread runs use the checkpointer, so a thread's
state persists across runs and restarts. Thread ids are per tenant: two tenants may use
the same one and each gets a thread of its own. Every run is a tierwise execution: cached,
priced, traced and budgeted, with its run id and cost in response headers.
"""

import json
import logging
import sqlite3
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from enum import Enum
from importlib import metadata
from typing import TYPE_CHECKING, Annotated, Any, Literal, NamedTuple

from fastapi import Depends, FastAPI, Response
from pydantic import BaseModel, ConfigDict, Field
from sse_starlette import EventSourceResponse

from runtime.config import BudgetSpec
from runtime.errors import ConflictError, InputError, NotFoundError, StoreUnavailableError
from runtime.registry import Workflow
from runtime.server._errors import problem
from runtime.server._streaming import as_json, execution_events

log = logging.getLogger(__name__)

if TYPE_CHECKING:  # _app imports this module
    from runtime.server._app import Server

_NAMESPACE = uuid.UUID("6f1b1c5e-3b1a-4f7e-9d7e-1f2a7c9e0b11")
_STREAMED = ("values", "updates")
_THREADS = """
CREATE TABLE IF NOT EXISTS tenant_threads (
    tenant     TEXT NOT NULL,
    thread_id  TEXT NOT NULL,
    state_key  TEXT NOT NULL,
    workflow   TEXT,
    metadata   TEXT NOT NULL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    PRIMARY KEY (tenant, thread_id)
)
"""
"""Thread ids are the client's and unique per tenant only: two tenants may both name a
thread "support-1". ``state_key`` is the checkpointer's thread id for it, derived from
tenant and thread id (``_state_key``), so their states never mix either."""
_GLOBAL_THREADS = "threads"
"""The table before thread ids were per tenant; its rows move over, state keys unchanged."""


class _ThreadRow(NamedTuple):
    """A thread as ``tenant_threads`` holds it (the columns ``thread_row`` selects)."""

    thread_id: str
    workflow: str | None
    metadata: str
    created_at: float
    updated_at: float
    state_key: str


class AssistantSearch(BaseModel):
    """``POST /assistants/search``."""

    model_config = ConfigDict(extra="ignore")

    graph_id: str | None = None
    metadata: dict[str, Any] | None = None
    limit: int = Field(default=10, ge=1, le=1000)
    offset: int = Field(default=0, ge=0)


class RunRequest(BaseModel):
    """A run as the SDK sends it; fields tierwise does not use are accepted and ignored."""

    model_config = ConfigDict(extra="ignore")

    assistant_id: str
    input: dict[str, Any] | None = None
    config: dict[str, Any] | None = None
    metadata: dict[str, Any] | None = None
    stream_mode: str | list[str] = "values"
    command: dict[str, Any] | None = None
    budget: BudgetSpec | None = None
    """tierwise's own: at most the workflow's configured budget."""


class ThreadCreate(BaseModel):
    """``POST /threads``."""

    model_config = ConfigDict(extra="ignore")

    thread_id: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    if_exists: Literal["raise", "do_nothing"] = "raise"


def assistant_id(workflow: str) -> str:
    """The assistant id of a workflow: stable across restarts and replicas."""
    return str(uuid.uuid5(_NAMESPACE, workflow))


def add_platform_routes(
    app: FastAPI, server: "Server", tenant_of: Callable[..., Awaitable[str]]
) -> None:
    """Mount the LangGraph Platform subset on ``app``."""
    runtime, store = server.runtime, server.store
    store.now("threads", _create_threads)
    started = datetime.now(UTC).isoformat()
    Tenant = Annotated[str, Depends(tenant_of)]
    tags: list[str | Enum] = ["langgraph platform"]

    def resolve(assistant: str) -> Workflow:
        for name in runtime.workflows.names():
            if assistant in (name, assistant_id(name)):
                return runtime.workflows.get(name)
        raise NotFoundError(f"no assistant {assistant!r}")

    def describe(workflow: Workflow) -> dict[str, Any]:
        return {
            "assistant_id": assistant_id(workflow.name),
            "graph_id": workflow.name,
            "name": workflow.name,
            "description": workflow.description,
            "config": {},
            "context": {},
            "metadata": {"created_by": "system"},
            "version": 1,
            "created_at": started,
            "updated_at": started,
        }

    @app.get("/ok", tags=tags)
    async def ok() -> dict[str, bool]:
        """Liveness, as the SDK checks it."""
        return {"ok": True}

    @app.get("/info", tags=tags)
    async def info() -> dict[str, Any]:
        """Server version and the API features it offers."""
        return {
            "version": metadata.version("tierwise"),
            "langgraph_py_version": metadata.version("langgraph"),
            "flags": {"assistants": True, "crons": False, "langsmith": False},
        }

    @app.post("/assistants/search", tags=tags)
    async def search(body: AssistantSearch, _: Tenant) -> list[dict[str, Any]]:
        """One assistant per workflow."""
        found = [
            describe(runtime.workflows.get(name))
            for name in runtime.workflows.names()
            if body.graph_id in (None, name)
        ]
        return found[body.offset : body.offset + body.limit]

    @app.get("/assistants/{assistant}", tags=tags)
    async def get_assistant(assistant: str, _: Tenant) -> dict[str, Any]:
        """The assistant of a workflow (by assistant id or workflow name)."""
        return describe(resolve(assistant))

    @app.get("/assistants/{assistant}/graph", tags=tags)
    async def get_graph(assistant: str, _: Tenant) -> dict[str, Any]:
        """Nodes and edges of the workflow's graph."""
        graph: dict[str, Any] = resolve(assistant).graph.get_graph().to_json()
        return graph

    @app.get("/assistants/{assistant}/schemas", tags=tags)
    async def get_schemas(assistant: str, _: Tenant) -> dict[str, Any]:
        """Input, output and state schemas."""
        workflow = resolve(assistant)
        return {
            "graph_id": workflow.name,
            "input_schema": workflow.input_schema(),
            "output_schema": workflow.output_schema(),
            "state_schema": workflow.output_schema(),
            "config_schema": {},
            "context_schema": {},
        }

    async def wait(body: RunRequest, tenant: str, thread_id: str | None) -> Response:
        workflow, state_key = await prepare(body, tenant, thread_id)
        async with server.admission.slot():
            record = await runtime.run(
                workflow.name,
                body.input,
                tenant=tenant,
                budget=body.budget,
                thread_id=state_key,
            )
        await touch(tenant, thread_id, workflow.name)
        return Response(
            as_json(record.output),
            media_type="application/json",
            headers=_headers(record.run_id, record.cost_usd),
        )

    async def stream(body: RunRequest, tenant: str, thread_id: str | None) -> EventSourceResponse:
        workflow, state_key = await prepare(body, tenant, thread_id)
        modes = [body.stream_mode] if isinstance(body.stream_mode, str) else body.stream_mode
        requested = {mode for mode in modes if mode in _STREAMED} or {"values"}
        run_id = str(uuid.uuid4())

        async def events() -> AsyncIterator[dict[str, str]]:
            yield {"event": "metadata", "data": as_json({"run_id": run_id, "attempt": 1})}
            async with server.admission.slot():
                async for kind, payload in execution_events(
                    runtime,
                    workflow.name,
                    body.input,
                    tenant=tenant,
                    budget=body.budget,
                    thread_id=state_key,
                ):
                    if kind in requested:
                        yield {"event": kind, "data": as_json(payload)}
                    elif kind == "error":
                        _, problem_body, _ = problem(payload)
                        yield {
                            "event": "error",
                            "data": as_json(
                                {"error": problem_body["error"], "message": problem_body["detail"]}
                            ),
                        }
                        return
            await touch(tenant, thread_id, workflow.name)
            yield {"event": "end", "data": "null"}

        return EventSourceResponse(events(), headers={"Content-Location": f"/runs/{run_id}"})

    async def prepare(
        body: RunRequest, tenant: str, thread_id: str | None
    ) -> tuple[Workflow, str | None]:
        """The workflow and the thread's state key, checked before any response starts.

        Errors here are 4xx responses, not events in a stream that has begun.
        """
        if body.command is not None:
            raise InputError("commands (interrupt / resume) are not supported by tierwise")
        workflow = resolve(body.assistant_id)
        state_key = None if thread_id is None else (await thread_row(thread_id, tenant)).state_key
        if body.input is not None or thread_id is None:
            workflow.validate_input(body.input)
        runtime.budget_for(workflow.name, body.budget)
        return workflow, state_key

    @app.post("/runs/wait", tags=tags)
    async def runs_wait(body: RunRequest, tenant: Tenant) -> Response:
        """Run statelessly; the final state."""
        return await wait(body, tenant, None)

    @app.post("/runs/stream", tags=tags)
    async def runs_stream(body: RunRequest, tenant: Tenant) -> EventSourceResponse:
        """Run statelessly; SSE ``metadata``, ``values`` / ``updates``, ``end`` or ``error``."""
        return await stream(body, tenant, None)

    async def thread_row(thread_id: str, tenant: str) -> _ThreadRow:
        row = await store.run(
            "threads",
            lambda db: db.execute(
                "SELECT thread_id, workflow, metadata, created_at, updated_at, state_key "
                "FROM tenant_threads WHERE tenant = ? AND thread_id = ?",
                (tenant, thread_id),
            ).fetchone(),
        )
        if row is None:
            raise NotFoundError(f"no thread {thread_id!r}")
        return _ThreadRow(*row)

    async def thread(thread_id: str, tenant: str) -> dict[str, Any]:
        row = await thread_row(thread_id, tenant)
        return {
            "thread_id": row.thread_id,
            "workflow": row.workflow,
            "metadata": json.loads(row.metadata),
            "created_at": _iso(row.created_at),
            "updated_at": _iso(row.updated_at),
            "status": "idle",
            "values": {},
        }

    async def touch(tenant: str, thread_id: str | None, workflow: str) -> None:
        """Note the thread's run; a store that cannot take it costs the note, not the answer."""
        if thread_id is None:
            return
        now = time.time()
        try:
            await store.run(
                "threads",
                lambda db: db.execute(
                    "UPDATE tenant_threads SET workflow = ?, updated_at = ? "
                    "WHERE tenant = ? AND thread_id = ?",
                    (workflow, now, tenant, thread_id),
                ),
            )
        except StoreUnavailableError as exc:
            log.warning("thread %s ran but was not noted: %s", thread_id, exc)

    @app.post("/threads", tags=tags)
    async def create_thread(body: ThreadCreate, tenant: Tenant) -> dict[str, Any]:
        """A new thread (state persists across its runs)."""
        thread_id = body.thread_id or str(uuid.uuid4())
        now = time.time()
        created = await store.run(
            "threads",
            lambda db: (
                db.execute(
                    "INSERT OR IGNORE INTO tenant_threads VALUES (?, ?, ?, NULL, ?, ?, ?)",
                    (
                        tenant,
                        thread_id,
                        _state_key(tenant, thread_id),
                        as_json(body.metadata),
                        now,
                        now,
                    ),
                ).rowcount
            ),
        )
        if not created and body.if_exists == "raise":
            raise ConflictError(f"thread {thread_id!r} already exists")
        return await thread(thread_id, tenant)

    @app.get("/threads/{thread_id}", tags=tags)
    async def get_thread(thread_id: str, tenant: Tenant) -> dict[str, Any]:
        """A thread."""
        return await thread(thread_id, tenant)

    @app.get("/threads/{thread_id}/state", tags=tags)
    async def thread_state(thread_id: str, tenant: Tenant) -> dict[str, Any]:
        """The thread's latest state."""
        found = await thread_row(thread_id, tenant)
        workflow, state_key = found.workflow, found.state_key
        empty: dict[str, Any] = {
            "values": {},
            "next": [],
            "tasks": [],
            "interrupts": [],
            "metadata": {},
            "created_at": None,
            "checkpoint": {"thread_id": thread_id, "checkpoint_ns": "", "checkpoint_id": None},
            "parent_checkpoint": None,
        }
        if workflow is None:
            return empty
        graph = runtime.workflows.get(workflow).with_checkpointer(await runtime.checkpointer())
        state = await graph.aget_state({"configurable": {"thread_id": state_key}})
        configurable = (state.config or {}).get("configurable", {})
        parent = (state.parent_config or {}).get("configurable")
        if parent is not None:  # the client's thread id, not the checkpointer's
            parent = {**parent, "thread_id": thread_id}
        return {
            **empty,
            "values": _jsonable(state.values),
            "next": list(state.next),
            "metadata": _jsonable(state.metadata or {}),
            "created_at": state.created_at,
            "checkpoint": {
                "thread_id": thread_id,
                "checkpoint_ns": configurable.get("checkpoint_ns", ""),
                "checkpoint_id": configurable.get("checkpoint_id"),
            },
            "parent_checkpoint": parent,
        }

    @app.post("/threads/{thread_id}/runs/wait", tags=tags)
    async def thread_wait(thread_id: str, body: RunRequest, tenant: Tenant) -> Response:
        """Run on the thread's state; the final state."""
        return await wait(body, tenant, thread_id)

    @app.post("/threads/{thread_id}/runs/stream", tags=tags)
    async def thread_stream(
        thread_id: str, body: RunRequest, tenant: Tenant
    ) -> EventSourceResponse:
        """Run on the thread's state, streamed."""
        return await stream(body, tenant, thread_id)


def _state_key(tenant: str, thread_id: str) -> str:
    """The checkpointer's thread id for a tenant's thread: one per (tenant, thread id)."""
    return str(uuid.uuid5(_NAMESPACE, json.dumps([tenant, thread_id])))


def _create_threads(db: sqlite3.Connection) -> None:
    """The threads table; the rows of the old, globally keyed table move over (same keys)."""
    db.execute(_THREADS)
    found = db.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (_GLOBAL_THREADS,)
    ).fetchone()
    if found is None:
        return
    db.execute(
        "INSERT OR IGNORE INTO tenant_threads SELECT tenant, thread_id, thread_id, workflow, "
        f"metadata, created_at, updated_at FROM {_GLOBAL_THREADS}"
    )
    db.execute(f"DROP TABLE {_GLOBAL_THREADS}")


def _headers(run_id: str, cost_usd: float) -> dict[str, str]:
    return {"X-Tierwise-Run-Id": run_id, "X-Tierwise-Cost-Usd": f"{cost_usd:.8f}"}


def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, tz=UTC).isoformat()


def _jsonable(value: Any) -> Any:
    return json.loads(as_json(value))
