"""The HTTP server: every registered workflow as an endpoint, plus health and metrics."""

import asyncio
import logging
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from enum import Enum
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, create_model
from sse_starlette import EventSourceResponse

from runtime._runtime import DEFAULT_TENANT, Runtime
from runtime.config import BudgetSpec
from runtime.engines import Lane
from runtime.errors import InputError, OverloadedError, TierwiseError, TooManyExecutionsError
from runtime.server._auth import ApiKeys
from runtime.server._background import BackgroundRuns
from runtime.server._errors import problem, problem_response
from runtime.server._store import ServerStore
from runtime.server._streaming import as_json, execution_events
from runtime.tracing import CONTENT_TYPE

log = logging.getLogger(__name__)


class RunOptions(BaseModel):
    """What every execution request may set besides its input."""

    model_config = ConfigDict(extra="forbid")

    budget: BudgetSpec | None = None
    """At most the workflow's configured budget."""
    cache: bool = True
    """False bypasses the step cache for this request."""
    lane: Lane | None = None
    """``interactive`` or ``batch``; absent: the workflow's configured lane (``batch`` for
    batch requests and background runs)."""

    def run_options(self, *, lane: Lane | None = None) -> dict[str, Any]:
        """The options as ``Runtime.run`` keywords; ``lane`` when the request names none."""
        return {"budget": self.budget, "use_cache": self.cache, "lane": self.lane or lane}


class BatchRequest(RunOptions):
    """Many inputs of one workflow, run concurrently."""

    inputs: list[dict[str, Any]] = Field(min_length=1)


@dataclass
class Admission:
    """At most ``limit`` executions at once; the next request is told when to come back.

    Retry-After is the measured mean execution time (a moving average), at least 1 s.
    """

    limit: int
    running: int = 0
    mean_s: float | None = None

    @asynccontextmanager
    async def slot(self, count: int = 1) -> AsyncIterator[None]:
        """Hold ``count`` execution slots, or raise ``TooManyExecutionsError`` at once."""
        if self.running + count > self.limit:
            raise TooManyExecutionsError(
                f"{self.running} executions running (limit {self.limit})",
                retry_after_s=max(1.0, self.mean_s or 1.0),
            )
        self.running += count
        started = time.perf_counter()
        try:
            yield
        finally:
            self.running -= count
            took = time.perf_counter() - started
            self.mean_s = took if self.mean_s is None else 0.8 * self.mean_s + 0.2 * took


@dataclass
class Server:
    """What the routes share."""

    runtime: Runtime
    keys: ApiKeys
    admission: Admission
    store: ServerStore
    background: BackgroundRuns
    ready: bool = False
    not_ready_reason: str = "warming up"


def create_app(
    runtime: Runtime, *, environ: Mapping[str, str] | None = None, warm_up: bool = True
) -> FastAPI:
    """The FastAPI app serving ``runtime``'s workflows; closes the runtime on shutdown."""
    environ = os.environ if environ is None else environ
    settings = runtime.config.server
    store = ServerStore(runtime.config.state_dir / "server.sqlite")
    server = Server(
        runtime=runtime,
        keys=ApiKeys.load(settings.api_keys, environ, source=runtime.config.source),
        admission=Admission(settings.max_inflight),
        store=store,
        background=BackgroundRuns(runtime, store),
    )

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        resumed = await server.background.resume_unfinished()
        if resumed:
            log.warning("resuming %d background runs: %s", len(resumed), ", ".join(resumed))
        readiness = asyncio.create_task(_get_ready(server, warm_up))
        try:
            yield
        finally:
            readiness.cancel()
            await server.background.shutdown()
            store.close()  # after the runs' last writes
            await runtime.aclose()

    app = FastAPI(
        title="tierwise",
        summary="Tiered LangGraph workflows: cost per execution, caches, traces.",
        lifespan=lifespan,
    )
    app.state.server = server
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    app.add_exception_handler(TierwiseError, _tierwise_error)

    tenant_of = _tenant_dependency(server)
    health_guard = [] if settings.open_health else [Depends(tenant_of)]

    @app.get("/healthz", dependencies=health_guard, tags=["operations"])
    async def healthz() -> dict[str, str]:
        """The process is up."""
        return {"status": "ok"}

    @app.get("/readyz", dependencies=health_guard, tags=["operations"])
    async def readyz() -> JSONResponse:
        """Ready once every tier has answered (the warm-up calls each one)."""
        if server.ready:
            return JSONResponse({"status": "ready"})
        return JSONResponse({"status": "not ready", "reason": server.not_ready_reason}, 503)

    @app.get("/metrics", dependencies=health_guard, tags=["operations"])
    async def metrics() -> Response:
        """Prometheus metrics."""
        return Response(runtime.telemetry.metrics.exposition(), media_type=CONTENT_TYPE)

    @app.get("/workflows", tags=["workflows"])
    async def list_workflows(_: Annotated[str, Depends(tenant_of)]) -> list[dict[str, Any]]:
        """Every workflow, with its input and output JSON schemas."""
        return [
            {
                "name": name,
                "description": runtime.workflows.get(name).description,
                "input_schema": runtime.workflows.get(name).input_schema(),
                "output_schema": runtime.workflows.get(name).output_schema(),
            }
            for name in runtime.workflows.names()
        ]

    for name in runtime.workflows.names():
        _add_workflow_routes(app, server, name, tenant_of)

    @app.api_route("/workflows/{name}/{action}", methods=["GET", "POST"], include_in_schema=False)
    async def unknown_workflow(name: str, action: str) -> JSONResponse:
        """Anything under a workflow that is not registered."""
        known = ", ".join(runtime.workflows.names()) or "none"
        return JSONResponse(
            {"error": "NotFoundError", "detail": f"no workflow {name!r} (registered: {known})"},
            status_code=404,
        )

    @app.get("/runs/{run_id}", tags=["background runs"])
    async def get_run(run_id: str, tenant: Annotated[str, Depends(tenant_of)]) -> dict[str, Any]:
        """Status, output and cost of a background run."""
        return await server.background.get(run_id, tenant=tenant)

    @app.delete("/runs/{run_id}", tags=["background runs"])
    async def cancel_run(run_id: str, tenant: Annotated[str, Depends(tenant_of)]) -> dict[str, Any]:
        """Cancel a background run (a finished one is left as it is)."""
        return await server.background.cancel(run_id, tenant=tenant)

    @app.post("/runs/{run_id}/resume", tags=["background runs"], status_code=202)
    async def resume_run(run_id: str, tenant: Annotated[str, Depends(tenant_of)]) -> dict[str, Any]:
        """Start a failed or cancelled background run again from its last checkpoint."""
        return await server.background.resume(run_id, tenant=tenant)

    from runtime.server._platform import add_platform_routes

    add_platform_routes(app, server, tenant_of)
    return app


def _add_workflow_routes(
    app: FastAPI, server: Server, name: str, tenant_of: Callable[..., Awaitable[str]]
) -> None:
    """Invoke / stream / batch / runs for one workflow, typed by its input schema."""
    runtime = server.runtime
    workflow = runtime.workflows.get(name)
    camel = "".join(part.title() for part in name.split("_"))
    request_model: Any = create_model(
        f"{camel}Request",
        __base__=RunOptions,
        input=(workflow.graph.builder.input_schema, ...),
    )
    tags: list[str | Enum] = [name]
    documented: dict[int | str, dict[str, Any]] = {
        200: {"description": f"The execution record; output: {workflow.description}"}
    }

    @app.post(f"/workflows/{name}/invoke", tags=tags, responses=documented, name=f"{name}.invoke")
    async def invoke(
        body: request_model,
        tenant: Annotated[str, Depends(tenant_of)],
    ) -> dict[str, Any]:
        """Run the workflow and return its output, cost, per-step table, run id, trace link."""
        async with server.admission.slot():
            record = await runtime.run(name, body.input, tenant=tenant, **body.run_options())
        return record.as_dict()

    @app.post(f"/workflows/{name}/stream", tags=tags, name=f"{name}.stream")
    async def stream(
        body: request_model,
        tenant: Annotated[str, Depends(tenant_of)],
    ) -> EventSourceResponse:
        """Server-Sent Events: ``step`` per finished step, then ``output`` (or ``error``)."""
        workflow.validate_input(body.input)  # 422 before the stream opens
        runtime.budget_for(name, body.budget)

        async def events() -> AsyncIterator[dict[str, str]]:
            async with server.admission.slot():
                async for kind, payload in execution_events(
                    runtime, name, body.input, tenant=tenant, **body.run_options()
                ):
                    if kind == "step":
                        yield {"event": "step", "data": as_json(payload)}
                    elif kind == "done":
                        yield {"event": "output", "data": as_json(payload)}
                    elif kind == "error":
                        status, problem_body, _ = problem(payload)
                        yield {
                            "event": "error",
                            "data": as_json({**problem_body, "status": status}),
                        }

        return EventSourceResponse(_admitted_first(events()))

    @app.post(f"/workflows/{name}/batch", tags=tags, name=f"{name}.batch")
    async def batch(
        body: BatchRequest, tenant: Annotated[str, Depends(tenant_of)]
    ) -> dict[str, Any]:
        """Run many inputs concurrently; each result is a record or an error, in order."""
        settings = runtime.config.server
        if len(body.inputs) > settings.max_batch:
            raise InputError(
                f"a batch may carry at most {settings.max_batch} inputs, got {len(body.inputs)}"
            )
        for raw in body.inputs:
            workflow.validate_input(raw)
        runtime.budget_for(name, body.budget)

        async def one(raw: dict[str, Any]) -> dict[str, Any]:
            try:
                record = await runtime.run(
                    name, raw, tenant=tenant, **body.run_options(lane="batch")
                )
            except TierwiseError as exc:
                status, problem_body, _ = problem(exc)
                return {**problem_body, "status": status}
            return record.as_dict()

        async with server.admission.slot(min(len(body.inputs), server.admission.limit)):
            results = await asyncio.gather(*(one(raw) for raw in body.inputs))
        return {"results": results, "cost_usd": sum(r.get("cost_usd", 0.0) for r in results)}

    @app.post(f"/workflows/{name}/runs", tags=tags, status_code=202, name=f"{name}.runs")
    async def start_run(
        body: request_model,
        tenant: Annotated[str, Depends(tenant_of)],
    ) -> dict[str, Any]:
        """Start a background run; poll ``GET /runs/{run_id}``."""
        return await server.background.submit(
            name, body.input, tenant=tenant, budget=body.budget, lane=body.lane or "batch"
        )


async def _admitted_first(
    events: AsyncIterator[dict[str, str]],
) -> AsyncIterator[dict[str, str]]:
    """Turn a refused admission inside the stream into one ``error`` event."""
    try:
        async for event in events:
            yield event
    except OverloadedError as exc:
        status, body, _ = problem(exc)
        yield {"event": "error", "data": as_json({**body, "status": status})}


def _tenant_dependency(server: Server) -> Callable[..., Awaitable[str]]:
    async def tenant_of(request: Request) -> str:
        if not server.keys:
            return DEFAULT_TENANT
        key = request.headers.get("x-api-key")
        authorization = request.headers.get("authorization", "")
        if key is None and authorization.lower().startswith("bearer "):
            key = authorization[7:].strip()
        tenant = server.keys.tenant(key)
        if tenant is None:
            raise HTTPException(
                status_code=401,
                detail="missing or invalid API key (send X-Api-Key or Authorization: Bearer)",
                headers={"WWW-Authenticate": "Bearer"},
            )
        return tenant

    return tenant_of


async def _get_ready(server: Server, warm_up: bool) -> None:
    """Warm every workflow up (which calls every tier); ready when all answered."""
    if not warm_up:
        server.ready = True
        return
    try:
        for name in server.runtime.workflows.names():
            await server.runtime.warm_up(name)
    except Exception as exc:  # not ready, and says why; requests are still served
        server.not_ready_reason = f"{type(exc).__name__}: {exc}"
        log.error("not ready: %s", server.not_ready_reason)
        return
    server.ready = True


async def _tierwise_error(_: Request, exc: Exception) -> JSONResponse:
    return problem_response(exc)


class BodyLimit:
    """HTTP 413 for bodies over ``max_bytes``, declared or streamed."""

    def __init__(self, app: Any, *, max_bytes: int) -> None:
        self._app = app
        self._max = max_bytes

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self._max:
            await _too_large(self._max)(scope, receive, send)
            return
        seen = 0

        async def counted() -> dict[str, Any]:
            nonlocal seen
            message: dict[str, Any] = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self._max:
                    raise _BodyTooLarge()
            return message

        try:
            await self._app(scope, counted, send)
        except _BodyTooLarge:
            await _too_large(self._max)(scope, receive, send)


class _BodyTooLarge(Exception):
    pass


def _too_large(limit: int) -> JSONResponse:
    return JSONResponse(
        {"error": "PayloadTooLarge", "detail": f"request body over {limit} bytes"},
        status_code=413,
    )
