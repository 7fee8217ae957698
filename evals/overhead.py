"""Runtime overhead per step, measured alone: no other execution competes for the cores.

Overhead is what `tierwise bench` counts: execution time not spent in model calls or
cache lookups, per step. Three rows: a bare three-node LangGraph graph of plain async
functions (the floor LangGraph itself sets), support_triage answered entirely from the
step cache, and support_triage with the cache off (every step a model call). Writes
evals/reports/overhead.md.

    python -m evals.overhead [--cached 30] [--uncached 6]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from langgraph.graph import END, START, StateGraph
from typing_extensions import TypedDict

from evals.prefix_reuse import REPO
from runtime import Runtime, load_config
from runtime.evaluation import load_dataset
from runtime.execution import ExecutionRecord


class _State(TypedDict, total=False):
    a: str
    b: str
    c: str


async def bare_langgraph_ms_per_node(runs: int = 300) -> float:
    """Milliseconds per node of a three-node graph whose nodes do nothing."""

    async def node(state: _State) -> dict[str, str]:
        return {"b": "x"}

    builder = StateGraph(_State)
    for name in ("n1", "n2", "n3"):
        builder.add_node(name, node)
    builder.add_edge(START, "n1")
    builder.add_edge("n1", "n2")
    builder.add_edge("n2", "n3")
    builder.add_edge("n3", END)
    graph = builder.compile()
    for _ in range(20):
        await graph.ainvoke({"a": "q"})
    started = time.perf_counter()
    for _ in range(runs):
        await graph.ainvoke({"a": "q"})
    return (time.perf_counter() - started) / runs / 3 * 1000


def overhead_ms_per_step(records: list[ExecutionRecord]) -> float:
    """Execution time outside model calls and cache lookups, per step."""
    steps = [step for record in records for step in record.steps]
    inside = sum(step.latency_ms + step.lookup_ms for step in steps)
    return (sum(record.latency_ms for record in records) - inside) / len(steps)


async def measure(cached: int, uncached: int, state: Path) -> list[tuple[str, float, str]]:
    """(row, overhead ms per step, note) for each configuration."""
    config = load_config(REPO / "tierwise.toml").model_copy(update={"state_dir": state})
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
    finally:
        await runtime.aclose()
    latencies = sorted(r.latency_ms for r in hits)
    p95 = statistics.quantiles(latencies, n=20, method="inclusive")[18]
    return [
        ("bare LangGraph, per node", await bare_langgraph_ms_per_node(), "floor"),
        (
            f"support_triage, fully cached ({cached} executions)",
            overhead_ms_per_step(hits),
            f"execution p50 {statistics.median(latencies):.1f} ms, p95 {p95:.1f} ms",
        ),
        (f"support_triage, cache off ({uncached} executions)", overhead_ms_per_step(misses), ""),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cached", type=int, default=30)
    parser.add_argument("--uncached", type=int, default=6)
    parser.add_argument("--report", type=Path, default=REPO / "evals/reports/overhead.md")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as state:
        rows: list[Any] = asyncio.run(measure(args.cached, args.uncached, Path(state)))
    table = "\n".join(
        ["| measured | overhead ms per step | |", "|---|---:|---|"]
        + [f"| {name} | {ms:.2f} | {note} |" for name, ms, note in rows]
    )
    args.report.write_text(
        "# Runtime overhead per step, measured alone\n\n"
        "Measured by `python -m evals.overhead`: execution time outside model calls and "
        "cache lookups, per step, with nothing else running.\n\n" + table + "\n"
    )
    print(table)


if __name__ == "__main__":
    main()
