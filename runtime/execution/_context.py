"""The execution context: which run is executing, for whom, and where its steps go.

It travels in a ``contextvars.ContextVar``, so LangGraph's tasks (which copy the context)
see it without any global state and concurrent executions never mix.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Protocol

from runtime.cache import StepCache
from runtime.config import TierSpec
from runtime.engines import TierClient
from runtime.errors import WorkflowError
from runtime.execution._records import StepRecord
from runtime.tracing import Telemetry


class TierResolver(Protocol):
    """Finds the client and the spec of a tier by name."""

    def tier_spec(self, tier: str) -> TierSpec:
        """The configured tier."""
        ...

    def tier_client(self, tier: str) -> TierClient:
        """A ready client for the tier."""
        ...


@dataclass(slots=True, kw_only=True)
class ExecutionContext:
    """The state of one executing run."""

    run_id: str
    """Unique id of the run."""
    workflow: str
    """Registered workflow name."""
    tenant: str
    """Who the run is for."""
    tiers: TierResolver
    """Where model calls go."""
    cache: StepCache | None = None
    """The step cache; None bypasses it (``--no-cache``)."""
    steps: list[StepRecord] = field(default_factory=list)
    """Model calls made so far."""
    telemetry: Telemetry = field(default_factory=Telemetry)
    """Where spans and metrics go (by default: metrics only, no spans)."""
    trace_id: str | None = None
    """The OpenTelemetry trace of the execution (32 hex digits), when spans are recorded."""


_CURRENT: ContextVar[ExecutionContext | None] = ContextVar("tierwise_execution", default=None)


def current_execution() -> ExecutionContext:
    """The executing run; a clear error when a model is called outside of one."""
    context = _CURRENT.get()
    if context is None:
        raise WorkflowError(
            "a model was called outside a tierwise execution: run the graph with "
            "Runtime.run(...) or inside `with runtime.execution(...)`"
        )
    return context


def current_execution_or_none() -> ExecutionContext | None:
    """The executing run, or None outside of one."""
    return _CURRENT.get()


@contextmanager
def activate(context: ExecutionContext) -> Iterator[ExecutionContext]:
    """Make ``context`` the current execution for the code inside the block."""
    token = _CURRENT.set(context)
    try:
        yield context
    finally:
        _CURRENT.reset(token)
