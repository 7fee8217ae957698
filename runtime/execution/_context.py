"""The execution context: which run is executing, for whom, and where its steps go.

It travels in a ``contextvars.ContextVar``, so LangGraph's tasks (which copy the context)
see it without any global state and concurrent executions never mix.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Protocol

from runtime.cache import StepCache
from runtime.config import BudgetSpec, TierSpec
from runtime.engines import Lane, TierClient
from runtime.errors import BudgetExceededError, WorkflowError
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

    def count_tokens(self, tier: str, text: str) -> int:
        """Tokens ``text`` takes on the tier."""
        ...

    def context_tokens(self, tier: str) -> int | None:
        """The tier's context window, when known."""
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
    tool_ms: float = 0.0
    """Time spent inside traced tool functions so far: the workflow's own work."""
    telemetry: Telemetry = field(default_factory=Telemetry)
    """Where spans and metrics go (by default: metrics only, no spans)."""
    trace_id: str | None = None
    """The OpenTelemetry trace of the execution (32 hex digits), when spans are recorded."""
    budget: BudgetSpec | None = None
    """The most the execution may spend; None is unbounded."""
    on_step: Callable[[StepRecord], None] | None = None
    """Told of every step as it is recorded (streaming)."""
    lane: Lane = "interactive"
    """Traffic lane of the model calls: ``batch`` yields to ``interactive`` at each tier."""
    deadline: float | None = None
    """``time.monotonic()`` by which someone waits for the answer (interactive lane): a
    model call that would have to queue past it is refused instead; None for batch."""
    routes: Mapping[str, str] = field(default_factory=dict)
    """Node -> tier, overriding the tier the node declares (``[routes.<workflow>]``)."""
    cache_thresholds: Mapping[str, float] = field(default_factory=dict)
    """Node -> semantic cache threshold, overriding the node's policy
    (``[cache_thresholds.<workflow>]``)."""
    min_confidence: Mapping[str, float] = field(default_factory=dict)
    """Node -> the confidence its answer needs before it escalates
    (``[min_confidence.<workflow>]``)."""
    tier_order: tuple[str, ...] = ()
    """The configured tiers, cheapest first: where a step without a cascade escalates."""
    ablated: frozenset[tuple[str, str]] = frozenset()
    """(node, segment) pairs left out of the prompts: ``tierwise audit --ablate``."""
    volatile_header: bool = False
    """Put a fresh request id and timestamp before every prompt: the benchmark's naive
    baseline (it defeats prefix reuse, as many hand-written agents do by accident)."""

    def tier_of(self, node: str, declared: str) -> str:
        """The tier ``node`` runs on: its route when the configuration gives one."""
        return self.routes.get(node, declared)

    def record(self, step: StepRecord) -> None:
        """Add a finished step, tell the listener, and stop the run if it crossed the budget."""
        self.steps.append(step)
        if self.on_step is not None:
            self.on_step(step)
        self.check_budget()

    def escalated(self, step: StepRecord, reason: str) -> StepRecord:
        """Mark a recorded call as passed on to a higher tier, and why; the marked record."""
        self.telemetry.metrics.escalations.labels(self.workflow, step.node, step.tier).inc()
        return self.amend(step, escalation=reason)

    def amend(self, step: StepRecord, **changes: Any) -> StepRecord:
        """Replace a recorded step with a copy that has ``changes``; the copy."""
        amended = dataclasses.replace(step, **changes)
        for index in range(len(self.steps) - 1, -1, -1):
            if self.steps[index] is step:
                self.steps[index] = amended
                break
        return amended

    def affords(self, cost_usd: float) -> bool:
        """Whether one more call costing about ``cost_usd`` keeps the run within budget.

        For calls the run could do without (a spot check of a cache hit): a run with a
        token budget affords none, since a call's tokens are not known before it is made.
        """
        if self.budget is None:
            return True
        if self.budget.max_tokens is not None:
            return False
        spent = sum(step.cost_usd for step in self.steps)
        limit = self.budget.max_cost_usd
        return limit is None or spent + cost_usd <= limit

    def check_budget(self) -> None:
        """Raise ``BudgetExceededError`` once the steps so far spent more than allowed."""
        if self.budget is None:
            return
        cost = sum(step.cost_usd for step in self.steps)
        tokens = sum(step.usage.input_tokens + step.usage.output_tokens for step in self.steps)
        limits = self.budget
        if (limits.max_cost_usd is not None and cost > limits.max_cost_usd) or (
            limits.max_tokens is not None and tokens > limits.max_tokens
        ):
            raise BudgetExceededError(
                f"{self.workflow} run {self.run_id} stopped: it spent ${cost:.6f} and "
                f"{tokens} tokens, over its budget ("
                + ", ".join(
                    f"{name} {value}"
                    for name, value in (
                        ("max_cost_usd", limits.max_cost_usd),
                        ("max_tokens", limits.max_tokens),
                    )
                    if value is not None
                )
                + ")",
                cost_usd=cost,
                tokens=tokens,
            )


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
