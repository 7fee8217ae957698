"""``traced_tool``: a tool call as its own span in the execution's trace."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any, ParamSpec, TypeVar, cast

from runtime.execution import current_execution_or_none
from runtime.tracing import attributes as a

P = ParamSpec("P")
R = TypeVar("R")


def traced_tool(name: str) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Wrap a tool function (sync or async) so each call is an ``execute_tool`` span.

    Outside an execution the function runs untraced.
    """

    def decorate(function: Callable[P, R]) -> Callable[P, R]:
        attributes = {
            a.GEN_AI_OPERATION: "execute_tool",
            a.GEN_AI_TOOL_NAME: name,
            a.LF_TYPE: "tool",
        }
        span_name = f"execute_tool {name}"

        if inspect.iscoroutinefunction(function):
            async_function = cast(Callable[P, Awaitable[Any]], function)

            @functools.wraps(function)
            async def traced_async(*args: P.args, **kwargs: P.kwargs) -> Any:
                with _span(span_name, attributes):
                    return await async_function(*args, **kwargs)

            return cast(Callable[P, R], traced_async)

        @functools.wraps(function)
        def traced(*args: P.args, **kwargs: P.kwargs) -> R:
            with _span(span_name, attributes):
                return function(*args, **kwargs)

        return traced

    return decorate


@contextmanager
def _span(name: str, attributes: dict[str, Any]) -> Iterator[None]:
    execution = current_execution_or_none()
    if execution is None:
        yield
        return
    with execution.telemetry.tracer.start_as_current_span(name, attributes=attributes):
        yield
