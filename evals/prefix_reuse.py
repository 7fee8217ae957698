"""Benchmark: what prefix reuse saves, cold execution vs warm ones, on the embedded engine.

Each reference workflow runs once with empty prefix caches (cold), then again with new
inputs (warm: the stable prefixes are cached from earlier executions). The report gives
the cold execution and the median warm one: latency, input tokens, the share of them
served from the prefix cache, and priced cost. The step cache is off, so only prefix
reuse is measured (the step cache has its own benchmark, evals/cache_eval.py).

    python -m evals.prefix_reuse [--warm 3] [--report evals/reports/prefix_reuse.md]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
from pathlib import Path
from typing import Any

from runtime import ExecutionRecord, Runtime, load_config

REPO = Path(__file__).resolve().parent.parent

QUESTIONS = [
    "I was charged twice this month",
    "How do I download my invoices?",
    "I lost my phone and can't get past two-factor login",
    "My desk display arrived with a cracked screen",
    "The API keeps returning 429 errors",
]
ASPECTS = [
    ["renewal and term", "fees and price changes", "termination", "liability"],
    ["data protection", "acceptable use", "governing law", "liability"],
    ["fees and price changes", "termination", "data protection", "renewal and term"],
    ["liability", "renewal and term", "acceptable use", "fees and price changes"],
]


def workloads(warm: int) -> dict[str, list[dict[str, Any]]]:
    contract = json.loads((REPO / "graphs/examples/contract.json").read_text())["contract"]
    return {
        "support_triage": [{"question": q} for q in QUESTIONS[: warm + 1]],
        "contract_review": [{"contract": contract, "aspects": a} for a in ASPECTS[: warm + 1]],
    }


def summarise(record: ExecutionRecord) -> dict[str, float]:
    inputs = sum(s.usage.input_tokens for s in record.steps)
    cached = sum(s.usage.cached_input_tokens for s in record.steps)
    return {
        "latency_ms": record.latency_ms,
        "input_tokens": inputs,
        "cached_share": cached / inputs if inputs else 0.0,
        "cost_usd": record.cost_usd,
    }


async def measure(warm: int, scratch: Path) -> dict[str, tuple[dict[str, float], dict[str, float]]]:
    config = load_config(REPO / "tierwise.toml")
    runtime = Runtime(config.isolated(scratch))
    results = {}
    for workflow, inputs in workloads(warm).items():
        records = [summarise(await runtime.run(workflow, item, use_cache=False)) for item in inputs]
        cold, rest = records[0], records[1:]
        median = {key: statistics.median(r[key] for r in rest) for key in cold}
        results[workflow] = (cold, median)
    await runtime.aclose()
    return results


def render(results: dict[str, tuple[dict[str, float], dict[str, float]]], warm: int) -> str:
    lines = [
        "| workflow | execution | latency ms | input tokens | cached share | cost USD |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for workflow, (cold, median) in results.items():
        for label, row in (("cold (1st)", cold), (f"warm (median of {warm})", median)):
            lines.append(
                f"| {workflow} | {label} | {row['latency_ms']:.0f} | {row['input_tokens']:.0f} "
                f"| {row['cached_share']:.0%} | {row['cost_usd']:.6f} |"
            )
        lines.append(
            f"| {workflow} | warm / cold | {median['latency_ms'] / cold['latency_ms']:.2f}x | "
            f"| | {median['cost_usd'] / cold['cost_usd']:.2f}x |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--warm", type=int, default=3, help="warm executions per workflow")
    parser.add_argument("--report", type=Path, default=REPO / "evals/reports/prefix_reuse.md")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        results = asyncio.run(measure(args.warm, Path(scratch)))
    table = render(results, args.warm)
    args.report.parent.mkdir(parents=True, exist_ok=True)
    args.report.write_text(
        "# Prefix reuse on the embedded engine\n\n"
        "Measured by `python -m evals.prefix_reuse`; prices from tierwise.toml.\n\n" + table
    )
    print(table)


if __name__ == "__main__":
    main()
