"""What one execution did and cost, step by step."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from runtime.costs import Usage


@dataclass(frozen=True, slots=True, kw_only=True)
class StepRecord:
    """One model call made by a node."""

    node: str
    """The LangGraph node that made the call."""
    tier: str
    """The tier that answered: the node's, or its fallback when ``fallback`` says why."""
    model: str
    """The model that answered."""
    usage: Usage
    """Tokens, cached input included."""
    cost_usd: float
    """Priced from the usage and the tier's prices."""
    latency_ms: float
    """Wall time of the call, queueing on the engine included."""
    cache: Literal["off", "miss", "exact", "semantic"] = "off"
    """How the step's cache answered: not asked, missed, or hit exactly or semantically."""
    similarity: float | None = None
    """Similarity of the cache hit (1.0 when exact)."""
    saved_cost_usd: float = 0.0
    """What the reused answer cost when it was produced, saved by the hit."""
    cache_entry: str | None = None
    """The semantic entry that answered, for ``tierwise cache feedback``."""
    escalation: str | None = None
    """Why this call's answer was not taken and the step moved to a higher tier."""
    lookup_ms: float = 0.0
    """Time the step cache took to miss before this call (embedding included)."""
    fallback: str | None = None
    """Why the node's own tier did not answer (its server failed) and a fallback did."""
    trimmed: tuple[str, ...] = ()
    """What token budgets cut from the prompt's segments, one line per segment."""
    confidence: float | None = None
    """exp(mean token log-probability) of the answer, when asked for and reported."""
    checked: Literal["right", "wrong"] | None = None
    """A semantic hit spot-checked (``CachePolicy.check_rate``): this call answered it
    anyway, and the cached answer turned out the same (right) or not (wrong)."""

    @property
    def from_cache(self) -> bool:
        """Whether a cache answered the step (no model call; a spot-checked hit made one)."""
        return self.cache in ("exact", "semantic") and self.checked is None

    def as_dict(self) -> dict[str, Any]:
        """The flat JSON shape used by the CLI and the API."""
        return {
            "node": self.node,
            "tier": self.tier,
            "model": self.model,
            "input_tokens": self.usage.input_tokens,
            "cached_input_tokens": self.usage.cached_input_tokens,
            "output_tokens": self.usage.output_tokens,
            "cost_usd": self.cost_usd,
            "latency_ms": round(self.latency_ms, 1),
            "cache": self.cache,
            "similarity": self.similarity,
            "saved_cost_usd": self.saved_cost_usd,
            "cache_entry": self.cache_entry,
            "escalation": self.escalation,
            "lookup_ms": round(self.lookup_ms, 2),
            "fallback": self.fallback,
            "trimmed": list(self.trimmed),
            "confidence": self.confidence,
            "checked": self.checked,
        }

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> StepRecord:
        """Rebuild a record from ``as_dict``'s shape (stored runs)."""
        return cls(
            node=raw["node"],
            tier=raw["tier"],
            model=raw["model"],
            usage=Usage(
                input_tokens=raw["input_tokens"],
                cached_input_tokens=raw["cached_input_tokens"],
                output_tokens=raw["output_tokens"],
            ),
            cost_usd=raw["cost_usd"],
            latency_ms=raw["latency_ms"],
            cache=raw["cache"],
            similarity=raw["similarity"],
            saved_cost_usd=raw["saved_cost_usd"],
            cache_entry=raw.get("cache_entry"),
            escalation=raw.get("escalation"),
            lookup_ms=raw.get("lookup_ms", 0.0),
            fallback=raw.get("fallback"),
            trimmed=tuple(raw.get("trimmed", ())),
            confidence=raw.get("confidence"),
            checked=raw.get("checked"),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class ExecutionRecord:
    """One run of a workflow: its output and the steps that produced it."""

    run_id: str
    """Unique id of the run."""
    workflow: str
    """Registered workflow name."""
    tenant: str
    """Who the run was for."""
    output: dict[str, Any]
    """The final state of the graph."""
    steps: tuple[StepRecord, ...]
    """Every model call, in the order they finished."""
    latency_ms: float
    """Wall time of the whole execution."""
    tool_ms: float = 0.0
    """Of that, time inside traced tool functions (the workflow's code, not tierwise's;
    cached tool results take none)."""
    trace_id: str | None = None
    """The execution's OpenTelemetry trace (``tierwise traces show`` takes the run id)."""
    trace_url: str | None = None
    """The trace in Langfuse, when Langfuse is configured."""

    @property
    def cost_usd(self) -> float:
        """Cost of the whole execution."""
        return sum(step.cost_usd for step in self.steps)

    @property
    def saved_cost_usd(self) -> float:
        """What cache hits saved in this execution."""
        return sum(step.saved_cost_usd for step in self.steps)

    def as_dict(self) -> dict[str, Any]:
        """The JSON shape of ``tierwise run --json``."""
        return {
            "run_id": self.run_id,
            "workflow": self.workflow,
            "tenant": self.tenant,
            "output": self.output,
            "cost_usd": self.cost_usd,
            "saved_cost_usd": self.saved_cost_usd,
            "latency_ms": round(self.latency_ms, 1),
            "tool_ms": round(self.tool_ms, 2),
            "steps": [step.as_dict() for step in self.steps],
            "trace_id": self.trace_id,
            "trace_url": self.trace_url,
        }
