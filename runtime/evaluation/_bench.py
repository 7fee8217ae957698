"""``tierwise bench``: tierwise against the naive way of running the same workflow.

Same process, same inputs, interleaved in rounds. The naive baseline runs every step on
the large tier (the all-large configuration), with no step cache and a volatile header
(a request id and a timestamp) before every prompt, so no prefix is ever reused.
tierwise runs as configured. The workload mixes fresh questions, exact repeats and
paraphrases (about a third each, as production traffic shows).
"""

from __future__ import annotations

import asyncio
import random
import statistics
import time
from dataclasses import asdict, dataclass
from typing import Any

from runtime._runtime import Runtime
from runtime.costs import nearest_rank
from runtime.errors import TierwiseError
from runtime.evaluation._harness import EvalItem
from runtime.evaluation._scorers import field_match
from runtime.execution import ExecutionRecord

_PARAPHRASES = (
    "Hi there, {q}. Can you help?",
    "Hello! Quick question: {q}.",
    "{q} - please advise.",
)


@dataclass(frozen=True, slots=True)
class Request:
    """One execution of the workload and what a good answer has."""

    input: dict[str, Any]
    expect: dict[str, Any]
    kind: str
    """fresh, repeat or paraphrase."""


def workload(items: list[EvalItem], executions: int, *, seed: int = 7) -> list[Request]:
    """About a third each of fresh questions, exact repeats and paraphrases of earlier ones."""
    rng = random.Random(seed)
    pool = [item for item in items if item.expect]
    rng.shuffle(pool)
    requests: list[Request] = []
    seen: list[EvalItem] = []
    for index in range(executions):
        kind = "fresh" if not seen or index % 3 == 0 else ("repeat", "paraphrase")[index % 3 - 1]
        if kind == "fresh":
            item = pool[len(seen) % len(pool)]
            seen.append(item)
            requests.append(Request(dict(item.input), dict(item.expect or {}), kind))
            continue
        item = rng.choice(seen)
        question = str(item.input["question"]).rstrip("?.!")
        text = item.input["question"] if kind == "repeat" else rng.choice(_PARAPHRASES)
        requests.append(
            Request({"question": text.format(q=question)}, dict(item.expect or {}), kind)
        )
    return requests


@dataclass(frozen=True, slots=True, kw_only=True)
class Side:
    """One way of running the workload, measured."""

    executions: int
    failures: int
    cost_per_execution: float
    p50_latency_ms: float
    p95_latency_ms: float
    quality: float
    prefix_reuse: float
    """Prompt tokens served from the prefix cache / prompt tokens, on model calls after an
    execution's first."""
    cache_hit_rate: float
    overhead_ms_per_step: float
    """Execution time not spent in model calls or cache lookups, per step."""
    fully_cached_p95_latency_ms: float | None
    """p95 latency of the executions whose every step was answered from the step cache
    (None when there were none: the naive side never caches)."""
    executions_per_s: float


@dataclass(frozen=True, slots=True)
class BenchResult:
    """Both sides and tierwise / naive ratios, under the keys ``--json`` writes."""

    naive: Side
    tierwise: Side

    def as_dict(self) -> dict[str, Any]:
        """``naive``, ``tierwise`` and ``ratios`` (tierwise / naive)."""

        def ratio(key: str) -> float | None:
            base = getattr(self.naive, key)
            return getattr(self.tierwise, key) / base if base else None

        return {
            "naive": asdict(self.naive),
            "tierwise": asdict(self.tierwise),
            "ratios": {
                key: ratio(key) for key in ("cost_per_execution", "p95_latency_ms", "quality")
            },
        }


async def bench(
    workflow: str,
    requests: list[Request],
    *,
    naive: Runtime,
    tierwise: Runtime,
    concurrency: int = 1,
) -> BenchResult:
    """Run the workload on both runtimes, round by round (``concurrency`` at a time each)."""
    records: dict[str, list[tuple[Request, ExecutionRecord | None]]] = {"naive": [], "tw": []}
    busy = {"naive": 0.0, "tw": 0.0}
    for start in range(0, len(requests), concurrency):
        batch = requests[start : start + concurrency]
        for side, runtime in (("naive", naive), ("tw", tierwise)):
            began = time.perf_counter()
            results = await asyncio.gather(
                *(_execute(runtime, workflow, request, side == "naive") for request in batch)
            )
            busy[side] += time.perf_counter() - began
            records[side] += list(zip(batch, results, strict=True))
    return BenchResult(
        naive=_measure(records["naive"], busy["naive"]),
        tierwise=_measure(records["tw"], busy["tw"]),
    )


async def _execute(
    runtime: Runtime, workflow: str, request: Request, naive: bool
) -> ExecutionRecord | None:
    try:
        return await runtime.run(
            workflow, request.input, use_cache=not naive, volatile_header=naive
        )
    except TierwiseError:
        return None


def _measure(runs: list[tuple[Request, ExecutionRecord | None]], seconds: float) -> Side:
    done = [(request, record) for request, record in runs if record is not None]
    records = [record for _, record in done]
    costs = sorted(record.cost_usd for record in records) or [0.0]
    latencies = sorted(record.latency_ms for record in records) or [0.0]
    steps = [step for record in records for step in record.steps]
    later_calls = [
        step
        for record in records
        for step in [s for s in record.steps if s.cache in ("off", "miss")][1:]
    ]
    prompt = sum(step.usage.input_tokens for step in later_calls)
    not_runtime = sum(step.latency_ms + step.lookup_ms for step in steps) + sum(
        record.tool_ms for record in records
    )
    cached = [
        record.latency_ms
        for record in records
        if record.steps and all(s.cache in ("exact", "semantic") for s in record.steps)
    ]
    return Side(
        executions=len(runs),
        failures=len(runs) - len(done),
        cost_per_execution=statistics.fmean(costs),
        p50_latency_ms=nearest_rank(latencies, 0.50),
        p95_latency_ms=nearest_rank(latencies, 0.95),
        quality=statistics.fmean(
            [field_match(record.output, request.expect) for request, record in done] or [0.0]
        )
        * len(done)
        / max(len(runs), 1),
        prefix_reuse=sum(s.usage.cached_input_tokens for s in later_calls) / prompt
        if prompt
        else 0.0,
        cache_hit_rate=sum(s.cache in ("exact", "semantic") for s in steps) / len(steps)
        if steps
        else 0.0,
        overhead_ms_per_step=max(0.0, sum(latencies) - not_runtime) / len(steps) if steps else 0.0,
        executions_per_s=len(records) / seconds if seconds else 0.0,
        fully_cached_p95_latency_ms=nearest_rank(sorted(cached), 0.95) if cached else None,
    )
