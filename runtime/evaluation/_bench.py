"""``tierwise bench``: tierwise against two other ways of running the same workflow.

Same process, same inputs, interleaved in rounds. The naive baseline runs every step on
the large tier (the all-large configuration), with no step cache and a volatile header
(a request id and a timestamp) before every prompt, so no prefix is ever reused. The
peer baseline is what a competent team gets without tierwise: every step on the large
tier, the prompts as written (so the engine reuses their prefixes), and LangGraph's own
exact-match node cache on every Step. tierwise runs as configured. The workload mixes
fresh questions, exact repeats and paraphrases (about a third each, as production traffic
shows).
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
    model_seconds_per_execution: float
    """Seconds the model engines spent on an execution's calls: the compute cost, which no
    price sheet can flatter."""
    output_tokens_per_execution: float
    """Tokens the models generated per execution: decoding is most of a call's time, so a
    tier that writes longer answers is slower although it is cheaper per token."""
    p50_latency_ms: float
    p95_latency_ms: float
    quality: float
    prefix_reuse: float
    """Prompt tokens served from the prefix cache / prompt tokens, on model calls after an
    execution's first."""
    cache_hit_rate: float
    """Model steps answered from a cache (tierwise's step cache, or LangGraph's node cache
    on the peer side) / model steps."""
    overhead_ms_per_step: float
    """Execution time not spent in model calls, cache lookups or tool functions, per step."""
    fully_cached_executions: int
    """Executions that made no model call: every step answered from a cache."""
    fully_cached_p95_latency_ms: float | None
    """p95 latency of the executions that made no model call, every step answered from a
    cache (None when there were none: the naive side never caches)."""
    executions_per_s: float


SIDES = ("naive", "peer", "tierwise")
"""How the workload is run: the naive baseline, what a competent team gets from LangGraph
and the engine alone, and tierwise."""
_RATIOS = ("cost_per_execution", "model_seconds_per_execution", "p95_latency_ms", "quality")


@dataclass(frozen=True, slots=True)
class BenchResult:
    """The three sides and tierwise's ratios to the two baselines, as ``--json`` writes them."""

    naive: Side
    peer: Side
    tierwise: Side

    def as_dict(self) -> dict[str, Any]:
        """Each side, ``ratios`` (tierwise / naive) and ``ratios_to_peer`` (tierwise / peer)."""

        def ratios(base: Side) -> dict[str, float | None]:
            return {
                key: getattr(self.tierwise, key) / getattr(base, key)
                if getattr(base, key)
                else None
                for key in _RATIOS
            }

        return {
            **{side: asdict(getattr(self, side)) for side in SIDES},
            "ratios": ratios(self.naive),
            "ratios_to_peer": ratios(self.peer),
        }


@dataclass(frozen=True, slots=True)
class _Run:
    request: Request
    record: ExecutionRecord | None
    """None when the execution failed."""
    node_hits: int = 0
    """Steps LangGraph's node cache answered (they leave no step record)."""


async def bench(
    workflow: str,
    requests: list[Request],
    *,
    naive: Runtime,
    peer: Runtime,
    tierwise: Runtime,
    concurrency: int = 1,
) -> BenchResult:
    """Run the workload on the three runtimes, round by round (``concurrency`` at a time).

    ``naive`` runs with a volatile header before every prompt and no cache; ``peer`` with
    the prompts as written, the engine's prefix reuse and LangGraph's node cache on every
    Step, no step cache; ``tierwise`` as configured. Give naive and peer the all-large
    configuration.
    """
    runtimes = {"naive": naive, "peer": peer, "tierwise": tierwise}
    runs: dict[str, list[_Run]] = {side: [] for side in SIDES}
    busy = dict.fromkeys(SIDES, 0.0)
    for start in range(0, len(requests), concurrency):
        batch = requests[start : start + concurrency]
        for side in SIDES:
            began = time.perf_counter()
            runs[side] += await asyncio.gather(
                *(_execute(runtimes[side], workflow, request, side) for request in batch)
            )
            busy[side] += time.perf_counter() - began
    return BenchResult(**{side: _measure(runs[side], busy[side]) for side in SIDES})


async def _execute(runtime: Runtime, workflow: str, request: Request, side: str) -> _Run:
    node_hits = 0

    def count_node_hits(mode: str, chunk: Any) -> None:
        nonlocal node_hits
        if mode == "updates" and (chunk.get("__metadata__") or {}).get("cached"):
            node_hits += 1

    try:
        record = await runtime.run(
            workflow,
            request.input,
            use_cache=side == "tierwise",
            volatile_header=side == "naive",
            node_cache=side == "peer",
            on_chunk=count_node_hits if side == "peer" else None,
        )
    except TierwiseError:
        return _Run(request, None)
    return _Run(request, record, node_hits)


def _measure(runs: list[_Run], seconds: float) -> Side:
    done = [run for run in runs if run.record is not None]
    records = [run.record for run in done if run.record is not None]
    costs = sorted(record.cost_usd for record in records) or [0.0]
    latencies = sorted(record.latency_ms for record in records) or [0.0]
    steps = [step for record in records for step in record.steps]
    calls = [step for step in steps if not step.from_cache]
    later_calls = [
        step for record in records for step in [s for s in record.steps if not s.from_cache][1:]
    ]
    prompt = sum(step.usage.input_tokens for step in later_calls)
    node_hits = sum(run.node_hits for run in done)
    all_steps = len(steps) + node_hits
    not_runtime = sum(step.latency_ms + step.lookup_ms for step in steps) + sum(
        record.tool_ms for record in records
    )
    cached = [
        record.latency_ms
        for run, record in zip(done, records, strict=True)
        if (record.steps or run.node_hits) and all(s.from_cache for s in record.steps)
    ]
    return Side(
        executions=len(runs),
        failures=len(runs) - len(done),
        cost_per_execution=statistics.fmean(costs),
        model_seconds_per_execution=sum(s.latency_ms for s in calls) / 1000 / len(records)
        if records
        else 0.0,
        output_tokens_per_execution=sum(s.usage.output_tokens for s in calls) / len(records)
        if records
        else 0.0,
        p50_latency_ms=nearest_rank(latencies, 0.50),
        p95_latency_ms=nearest_rank(latencies, 0.95),
        quality=statistics.fmean(
            [field_match(run.record.output, run.request.expect) for run in done if run.record]
            or [0.0]
        )
        * len(done)
        / max(len(runs), 1),
        prefix_reuse=sum(s.usage.cached_input_tokens for s in later_calls) / prompt
        if prompt
        else 0.0,
        cache_hit_rate=(len(steps) - len(calls) + node_hits) / all_steps if all_steps else 0.0,
        overhead_ms_per_step=max(0.0, sum(latencies) - not_runtime) / all_steps
        if all_steps
        else 0.0,
        executions_per_s=len(records) / seconds if seconds else 0.0,
        fully_cached_executions=len(cached),
        fully_cached_p95_latency_ms=nearest_rank(sorted(cached), 0.95) if cached else None,
    )
