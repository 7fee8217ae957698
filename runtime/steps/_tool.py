"""``traced_tool``: a tool call as its own span in the execution's trace, optionally cached.

A cached tool answers repeated calls with the same arguments, per tenant, from the step
cache's exact store (in-process or Redis), for ``ttl_s``. Results travel as JSON and
come back as the function's declared return type (pydantic validates them), so a cached
call returns what a fresh one would.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import json
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, ParamSpec, TypeVar, cast, get_type_hints

from opentelemetry.trace import Span
from pydantic import TypeAdapter

from runtime.execution import ExecutionContext, current_execution_or_none
from runtime.tracing import attributes as a

P = ParamSpec("P")
R = TypeVar("R")


@dataclass(frozen=True, slots=True, kw_only=True)
class ToolCache:
    """Reuse a tool's result for the same arguments, per tenant."""

    ttl_s: float
    """How long a result may be reused (the data behind the tool changes at this pace)."""
    max_entries: int = 10_000
    """Results kept per tool and tenant (in-process store; Redis evicts by its own policy)."""
    version: str = ""
    """Change it when the tool's behaviour or data changes: earlier results are not reused."""


def traced_tool(
    name: str, *, cache: ToolCache | None = None
) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Wrap a tool function (sync or async) so each call is an ``execute_tool`` span.

    With ``cache``, a call whose arguments were seen before (for the same tenant, within
    ``ttl_s``) is answered from the cache; the span says which. Outside an execution the
    function runs untraced and uncached. A cached sync tool becomes async (the cache is).
    """

    def decorate(function: Callable[P, R]) -> Callable[P, R]:
        attributes = {
            a.GEN_AI_OPERATION: "execute_tool",
            a.GEN_AI_TOOL_NAME: name,
            a.LF_TYPE: "tool",
        }
        span_name = f"execute_tool {name}"
        is_async = inspect.iscoroutinefunction(function)

        if cache is not None:
            results = _ToolResults(name, function, cache)

            @functools.wraps(function)
            async def cached(*args: P.args, **kwargs: P.kwargs) -> Any:
                with _span(span_name, attributes) as (span, execution):
                    return await results.call(execution, span, args, kwargs, is_async=is_async)

            return cast(Callable[P, R], cached)

        if is_async:
            async_function = cast(Callable[P, Awaitable[Any]], function)

            @functools.wraps(function)
            async def traced_async(*args: P.args, **kwargs: P.kwargs) -> Any:
                with _span(span_name, attributes) as (_, execution), _timed(execution):
                    return await async_function(*args, **kwargs)

            return cast(Callable[P, R], traced_async)

        @functools.wraps(function)
        def traced(*args: P.args, **kwargs: P.kwargs) -> R:
            with _span(span_name, attributes) as (_, execution), _timed(execution):
                return function(*args, **kwargs)

        return traced

    return decorate


class _ToolResults:
    """One cached tool: its argument keys and its results' JSON round trip."""

    def __init__(self, name: str, function: Callable[..., Any], policy: ToolCache) -> None:
        self._name = name
        self._function = function
        self._policy = policy
        self._signature = inspect.signature(function)
        returns = get_type_hints(function).get("return", Any)
        self._adapter: TypeAdapter[Any] = TypeAdapter(returns)

    def key(self, tenant: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[str, str]:
        """(namespace, key) of a call: the same bound arguments give the same key."""
        bound = self._signature.bind(*args, **kwargs)
        bound.apply_defaults()
        arguments = json.dumps(bound.arguments, sort_keys=True, default=str)
        namespace = _digest(self._name, self._policy.version, tenant)
        return namespace, f"tierwise:tool:{namespace}:{_digest(arguments)}"

    async def call(
        self,
        execution: ExecutionContext | None,
        span: Span | None,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        *,
        is_async: bool,
    ) -> Any:
        store = execution.cache if execution is not None else None
        if store is None or execution is None:
            return await self._run(args, kwargs, is_async=is_async)
        namespace, key = self.key(execution.tenant, args, kwargs)
        raw = await store.get_value(key)
        if raw is not None:
            if span is not None:
                span.set_attribute(a.CACHE_OUTCOME, "exact")
            return self._adapter.validate_json(raw)
        with _timed(execution):
            result = await self._run(args, kwargs, is_async=is_async)
        if span is not None:
            span.set_attribute(a.CACHE_OUTCOME, "miss")
        await store.set_value(
            key,
            self._adapter.dump_json(result),
            ttl_s=self._policy.ttl_s,
            namespace=namespace,
            max_entries=self._policy.max_entries,
        )
        return result

    async def _run(self, args: tuple[Any, ...], kwargs: dict[str, Any], *, is_async: bool) -> Any:
        if is_async:
            return await self._function(*args, **kwargs)
        return self._function(*args, **kwargs)


def _digest(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]


@contextmanager
def _timed(execution: ExecutionContext | None) -> Iterator[None]:
    """Add the time the block takes to the execution's tool time."""
    started = time.perf_counter()
    try:
        yield
    finally:
        if execution is not None:
            execution.tool_ms += (time.perf_counter() - started) * 1000


@contextmanager
def _span(
    name: str, attributes: dict[str, Any]
) -> Iterator[tuple[Span | None, ExecutionContext | None]]:
    execution = current_execution_or_none()
    if execution is None:
        yield None, None
        return
    with execution.telemetry.tracer.start_as_current_span(name, attributes=attributes) as span:
        yield span, execution
