"""Interactive latency while a batch is in flight, with and without traffic lanes.

The reference support_triage workflow on the repository's tiers (embedded models, one
call at a time per tier), step cache off so every execution calls the models. Each round
starts a batch of executions at once, then sends interactive executions one after the
other, each waiting for its answer, while the batch is still running. With lanes, the
batch runs in the `batch` lane and interactive calls overtake it at every tier; without,
everything is one first-come-first-served queue (the batch runs in the interactive lane).
Rounds alternate the two settings on the same inputs.

    python -m evals.lanes [--batch 6] [--interactive 4] [--rounds 2]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
from pathlib import Path

from evals.prefix_reuse import QUESTIONS, REPO
from runtime import Runtime, load_config
from runtime.costs import nearest_rank

WORKFLOW = "support_triage"


async def one_round(
    runtime: Runtime, args: argparse.Namespace, *, lanes: bool
) -> list[tuple[float, bool]]:
    """(latency ms, whether the batch was still running when it was sent) of each
    interactive execution: those sent after the batch finished ran alone."""
    batch_lane = "batch" if lanes else "interactive"
    batch = [
        asyncio.create_task(
            runtime.run(
                WORKFLOW,
                {"question": f"{QUESTIONS[i % len(QUESTIONS)]} (batch item {i})"},
                use_cache=False,
                lane=batch_lane,
            )
        )
        for i in range(args.batch)
    ]
    await asyncio.sleep(0.5)  # the batch is queued and running
    latencies = []
    for i in range(args.interactive):
        question = {"question": f"{QUESTIONS[(i + 2) % len(QUESTIONS)]} (customer {i})"}
        beside_batch = not all(task.done() for task in batch)
        record = await runtime.run(WORKFLOW, question, use_cache=False, lane="interactive")
        latencies.append((record.latency_ms, beside_batch))
    await asyncio.gather(*batch)
    return latencies


async def measure(args: argparse.Namespace, scratch: Path) -> dict[str, list[tuple[float, bool]]]:
    config = load_config(REPO / "tierwise.toml")
    # every call waits its turn (no fast 503s), so the latency of waiting is what is measured
    tiers = {
        name: spec.model_copy(update={"max_wait_s": 3600.0}) for name, spec in config.tiers.items()
    }
    runtime = Runtime(config.isolated(scratch).model_copy(update={"tiers": tiers}))
    await runtime.run(WORKFLOW, {"question": QUESTIONS[0]}, use_cache=False)  # warm prefixes
    results: dict[str, list[tuple[float, bool]]] = {"without lanes": [], "with lanes": []}
    for round_number in range(args.rounds):
        order = [False, True] if round_number % 2 == 0 else [True, False]
        for lanes in order:
            latencies = await one_round(runtime, args, lanes=lanes)
            results["with lanes" if lanes else "without lanes"].extend(latencies)
    alone = [
        ((await runtime.run(WORKFLOW, {"question": q}, use_cache=False)).latency_ms, False)
        for q in QUESTIONS[: args.interactive]
    ]
    results["alone (no batch)"] = alone
    await runtime.aclose()
    return results


def render(results: dict[str, list[tuple[float, bool]]], args: argparse.Namespace) -> str:
    lines = [
        "| interactive executions | n | sent while the batch ran | p50 s | p95 s |",
        "|---|---:|---:|---:|---:|",
    ]
    for label, runs in results.items():
        ordered = sorted(ms for ms, _ in runs)
        lines.append(
            f"| {label} | {len(ordered)} | {sum(beside for _, beside in runs)} "
            f"| {statistics.median(ordered) / 1000:.1f} "
            f"| {nearest_rank(ordered, 0.95) / 1000:.1f} |"
        )
    with_lanes = nearest_rank(sorted(ms for ms, _ in results["with lanes"]), 0.95)
    without = nearest_rank(sorted(ms for ms, _ in results["without lanes"]), 0.95)
    return (
        "\n".join(lines) + f"\n\nInteractive p95 with lanes / without: {with_lanes / without:.2f}x "
        f"({args.batch} batch executions in flight per round, {args.rounds} rounds per "
        "setting).\n"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=6, help="batch executions per round")
    parser.add_argument("--interactive", type=int, default=4, help="interactive per round")
    parser.add_argument("--rounds", type=int, default=2, help="rounds per setting")
    parser.add_argument("--report", type=Path, default=REPO / "evals/reports/lanes.md")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        results = asyncio.run(measure(args, Path(scratch)))
    table = render(results, args)
    args.report.write_text(
        "# Traffic lanes: interactive latency beside a batch\n\n"
        f"Measured by `python -m evals.lanes --batch {args.batch} --interactive "
        f"{args.interactive} --rounds {args.rounds}` on this machine: support_triage on the "
        "embedded models, step cache off, one call at a time per tier, no wait limit (every call "
        "queues for its turn).\n\n" + table
    )
    print(table)


if __name__ == "__main__":
    main()
