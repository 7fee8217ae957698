"""Runtime overhead per step, measured alone: no other execution competes for the cores.

Overhead is what `tierwise bench` counts: execution time not spent in model calls, cache
lookups or tool functions, per step. Four rows of it: a bare three-node LangGraph graph
of plain async functions (the floor LangGraph itself sets), the same graph with one real
model call in each node (LangGraph's floor once inference has run on the same cores, as
it has before every real step), support_triage answered entirely from the step cache, and
support_triage with the cache off (every step a model call); then what one step's span
costs, one of tierwise's own costs on every step. Then the bench's workload
replayed on tierwise alone, for the latency of its fully cached executions by kind. Writes
evals/reports/overhead.md.

    python -m evals.overhead [--cached 30] [--uncached 6] [--workload 30]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from langgraph.graph import END, START, StateGraph
from typing_extensions import TypedDict

from evals.prefix_reuse import REPO
from runtime import Runtime, load_config
from runtime.config import TracingSettings
from runtime.engines import ChatRequest
from runtime.evaluation import load_dataset, workload
from runtime.execution import ExecutionRecord
from runtime.prompts import Message
from runtime.tracing import Telemetry
from runtime.tracing import attributes as a


class _State(TypedDict, total=False):
    a: str
    b: str
    c: str


def three_nodes(node: Callable[[_State], Awaitable[dict[str, str]]]) -> Any:
    """A compiled graph of three nodes in a row, each running ``node``."""
    builder = StateGraph(_State)
    for name in ("n1", "n2", "n3"):
        builder.add_node(name, node)
    builder.add_edge(START, "n1")
    builder.add_edge("n1", "n2")
    builder.add_edge("n2", "n3")
    builder.add_edge("n3", END)
    return builder.compile()


async def bare_langgraph_ms_per_node(runs: int = 300) -> float:
    """Milliseconds per node of a three-node graph whose nodes do nothing."""

    async def node(state: _State) -> dict[str, str]:
        return {"b": "x"}

    graph = three_nodes(node)
    for _ in range(20):
        await graph.ainvoke({"a": "q"})
    started = time.perf_counter()
    for _ in range(runs):
        await graph.ainvoke({"a": "q"})
    return (time.perf_counter() - started) / runs / 3 * 1000


async def bare_langgraph_after_models_ms_per_node(runtime: Runtime, runs: int) -> float:
    """The same graph, each node making one real model call: LangGraph's own time per node
    (outside the calls) in the state the CPU is in after inference, as a real step's is."""
    client, in_calls = runtime.tier_client("large"), 0.0

    async def node(state: _State) -> dict[str, str]:
        nonlocal in_calls
        started = time.perf_counter()
        request = ChatRequest(messages=(Message("user", state["a"]),), max_tokens=4)
        await client.chat(request)
        in_calls += time.perf_counter() - started
        return {"b": "x"}

    graph = three_nodes(node)
    await graph.ainvoke({"a": "Say hi."})
    in_calls, started = 0.0, time.perf_counter()
    for _ in range(runs):
        await graph.ainvoke({"a": "Say hi."})
    return (time.perf_counter() - started - in_calls) / runs / 3 * 1000


def span_ms(state: Path, rounds: int = 7, batch: int = 500) -> tuple[float, float]:
    """(milliseconds to open, fill and end a step's span, milliseconds to export it), on
    the runtime's own tracer and local span store, with a step span's attributes; medians
    of rounds of ``batch`` spans, too few to wake the exporter before the flush."""
    telemetry = Telemetry.open(TracingSettings(), state_dir=state, environ={})
    start = {a.NODE: "classify", a.TIER: "small", a.LF_TYPE: "span"}
    end = {
        a.CACHE_OUTCOME: "exact",
        a.CACHE_LOOKUP_MS: 0.5,
        a.CACHE_SIMILARITY: 1.0,
        a.COST_USD: 0.0,
        a.SAVED_COST_USD: 0.001,
        a.ESCALATED: False,
        "tierwise.tiers_tried": ["small"],
    }
    opening, exporting = [], []
    try:
        for _ in range(rounds):
            started = time.perf_counter()
            for _ in range(batch):
                with telemetry.tracer.start_as_current_span("step x", attributes=start) as span:
                    span.set_attributes(end)
            opened = time.perf_counter()
            telemetry.flush(timeout_s=60.0)
            opening.append((opened - started) / batch * 1000)
            exporting.append((time.perf_counter() - opened) / batch * 1000)
    finally:
        telemetry.shutdown()
    return statistics.median(opening), statistics.median(exporting)


def overhead_ms_per_step(records: list[ExecutionRecord]) -> float:
    """Execution time outside model calls, cache lookups and tool functions, per step."""
    steps = [step for record in records for step in record.steps]
    inside = sum(step.latency_ms + step.lookup_ms for step in steps)
    inside += sum(record.tool_ms for record in records)
    return (sum(record.latency_ms for record in records) - inside) / len(steps)


async def measure(cached: int, uncached: int, state: Path) -> list[tuple[str, float, str]]:
    """(row, overhead ms per step, note) for each configuration."""
    config = load_config(REPO / "tierwise.toml").isolated(state)
    runtime = Runtime(config)
    items = load_dataset(REPO / "evals/datasets/support_triage.jsonl")
    try:
        await runtime.warm_up("support_triage")
        question = dict(items[0].input)
        await runtime.run("support_triage", question)  # fills the step cache
        hits = [await runtime.run("support_triage", question) for _ in range(cached)]
        assert all(s.cache == "exact" for r in hits for s in r.steps), "not all cached"
        misses = [
            await runtime.run("support_triage", dict(item.input), use_cache=False)
            for item in items[1 : 1 + uncached]
        ]
        after_models = await bare_langgraph_after_models_ms_per_node(runtime, 3 * uncached)
    finally:
        await runtime.aclose()
    opened, exported = span_ms(state / "spans")
    latencies = sorted(r.latency_ms for r in hits)
    p95 = statistics.quantiles(latencies, n=20, method="inclusive")[18]
    return [
        ("bare LangGraph, per node", await bare_langgraph_ms_per_node(), "floor"),
        (
            "bare LangGraph, per node, each node one model call",
            after_models,
            "floor after inference",
        ),
        (
            f"support_triage, fully cached ({cached} executions)",
            overhead_ms_per_step(hits),
            f"execution p50 {statistics.median(latencies):.1f} ms, p95 {p95:.1f} ms",
        ),
        (f"support_triage, cache off ({uncached} executions)", overhead_ms_per_step(misses), ""),
        ("one step span: open, fill, end", opened, "per span, not per step"),
        ("one step span: export to the local store", exported, "per span, exporter's thread"),
    ]


async def replay_cached(executions: int, state: Path) -> list[tuple[str, list[float], float]]:
    """The bench workload on tierwise alone: for the executions that made no model call,
    by kind (repeat, paraphrase), their latencies and the mean of their semantic lookups."""
    config = load_config(REPO / "tierwise.toml").isolated(state)
    runtime = Runtime(config)
    requests = workload(load_dataset(REPO / "evals/datasets/support_triage.jsonl"), executions)
    cached: dict[str, list[ExecutionRecord]] = {}
    try:
        await runtime.warm_up("support_triage")
        for request in requests:
            record = await runtime.run("support_triage", request.input)
            if record.steps and all(s.from_cache for s in record.steps):
                cached.setdefault(request.kind, []).append(record)
    finally:
        await runtime.aclose()
    rows = []
    for kind, records in sorted(cached.items()):
        lookups = [s.latency_ms for r in records for s in r.steps if s.cache == "semantic"]
        rows.append(
            (
                kind,
                sorted(r.latency_ms for r in records),
                statistics.fmean(lookups) if lookups else 0.0,
            )
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cached", type=int, default=30)
    parser.add_argument("--uncached", type=int, default=6)
    parser.add_argument("--workload", type=int, default=30, help="bench executions to replay")
    parser.add_argument("--report", type=Path, default=REPO / "evals/reports/overhead.md")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as state:
        rows: list[Any] = asyncio.run(measure(args.cached, args.uncached, Path(state)))
    with tempfile.TemporaryDirectory() as state:
        replayed = asyncio.run(replay_cached(args.workload, Path(state)))
    table = "\n".join(
        ["| measured | overhead ms per step | |", "|---|---:|---|"]
        + [f"| {name} | {ms:.2f} | {note} |" for name, ms, note in rows]
    )
    cached_table = "\n".join(
        [
            "| kind | executions | min ms | p50 ms | max ms | mean semantic lookup ms |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        + [
            f"| {kind} | {len(ms)} | {ms[0]:.1f} | {statistics.median(ms):.1f} | {ms[-1]:.1f} "
            f"| {lookup:.1f} |"
            for kind, ms, lookup in replayed
        ]
    )
    args.report.write_text(
        "# Runtime overhead per step, measured alone\n\n"
        "Measured by `python -m evals.overhead`: execution time outside model calls, "
        "cache lookups and tool functions, per step, with nothing else running.\n\n"
        + table
        + f"\n\n## Fully cached executions of the bench workload ({args.workload}), "
        "tierwise alone\n\nExecutions that made no model call: exact repeats, and "
        "paraphrases whose classification the semantic cache answered.\n\n" + cached_table + "\n"
    )
    print(table)
    print(cached_table)


if __name__ == "__main__":
    main()
