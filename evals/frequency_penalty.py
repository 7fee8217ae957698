"""Free-text answers with and without a frequency penalty, on support_triage's answer step.

Small models decoding greedily repeat a sentence until ``max_tokens``. This runs
support_triage uncached, its answer step routed to ``--tier``, on the first eval questions
with ``tiers.<tier>.frequency_penalty``
at each value given, one runtime per value, taking the questions in turn on each (the
order rotating, so no value always goes first), and reports for the answer step: mean
output tokens, answers cut at ``max_tokens``, the share of sentences that repeat an
earlier one of the same answer, the mean time of the answer's model call and how many
policy checks called the answer compliant. Writes
evals/reports/frequency_penalty.md.

    python -m evals.frequency_penalty [--items 12] [--tier small] [--penalty 0 --penalty 0.5]
"""

from __future__ import annotations

import argparse
import asyncio
import re
import statistics
import tempfile
from contextlib import AsyncExitStack
from pathlib import Path

from evals.prefix_reuse import REPO
from graphs.support_triage import ANSWER
from runtime import Runtime, load_config
from runtime.evaluation import load_dataset
from runtime.execution import ExecutionRecord

_SENTENCE_END = re.compile(r"[.!?\n]+")


def repeated_share(text: str) -> float:
    """Sentences that repeat an earlier one of ``text`` / its sentences (case aside)."""
    sentences = [s.strip().lower() for s in _SENTENCE_END.split(text) if s.strip()]
    return 1 - len(set(sentences)) / len(sentences) if sentences else 0.0


async def measure(
    items: int, tier: str, penalties: list[float], scratch: Path
) -> dict[float, list[ExecutionRecord]]:
    config = load_config(REPO / "tierwise.toml")
    if tier not in config.tiers:
        raise SystemExit(f"tierwise.toml has no tier {tier!r} (it has: {', '.join(config.tiers)})")
    questions = [item.input for item in load_dataset(REPO / "evals/datasets/support_triage.jsonl")]
    records: dict[float, list[ExecutionRecord]] = {p: [] for p in penalties}
    routes = {**config.routes}  # the answer step goes to the tier under test
    routes["support_triage"] = {**routes.get("support_triage", {}), "answer": tier}
    async with AsyncExitStack() as stack:
        runtimes = {}
        for penalty in penalties:
            spec = config.tiers[tier].model_copy(update={"frequency_penalty": penalty})
            tiers = {**config.tiers, tier: spec}
            runtime = Runtime(
                config.model_copy(update={"tiers": tiers, "routes": routes}).isolated(
                    scratch / str(penalty)
                )
            )
            stack.push_async_callback(runtime.aclose)
            await runtime.warm_up("support_triage")
            runtimes[penalty] = runtime
        for index, question in enumerate(questions[:items]):
            turn = index % len(penalties)
            for penalty in penalties[turn:] + penalties[:turn]:
                record = await runtimes[penalty].run("support_triage", question, use_cache=False)
                records[penalty].append(record)
    return records


def row(penalty: float, records: list[ExecutionRecord], tier: str) -> str:
    answers = [s for r in records for s in r.steps if s.node == "answer"]
    if any(step.tier != tier for step in answers):
        raise SystemExit(f"the answer step ran on another tier than {tier!r}: see [routes]")
    cap = ANSWER.max_tokens
    if cap is None:
        raise SystemExit("the answer step sets no max_tokens: nothing to count answers cut at")
    tokens = [step.usage.output_tokens for step in answers]
    repeated = statistics.fmean(repeated_share(str(r.output.get("answer", ""))) for r in records)
    call_ms = statistics.fmean(s.latency_ms for s in answers)
    compliant = sum(bool((r.output.get("verdict") or {}).get("compliant")) for r in records)
    return (
        f"| {penalty:g} | {len(answers)} | {statistics.fmean(tokens):.1f} "
        f"| {sum(t >= cap for t in tokens)} | {repeated:.1%} | {call_ms:.0f} "
        f"| {compliant} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=12)
    parser.add_argument("--tier", default="small", help="the tier the answer step is routed to")
    parser.add_argument("--penalty", type=float, action="append", dest="penalties")
    parser.add_argument("--report", type=Path, default=REPO / "evals/reports/frequency_penalty.md")
    args = parser.parse_args()
    penalties = args.penalties or [0.0, 0.5]
    with tempfile.TemporaryDirectory() as scratch:
        records = asyncio.run(measure(args.items, args.tier, penalties, Path(scratch)))
    table = "\n".join(
        [
            "| frequency_penalty | answers | mean output tokens | at max_tokens "
            "| sentences repeated | mean answer call ms | compliant verdicts |",
            "|---:|---:|---:|---:|---:|---:|---:|",
        ]
        + [row(p, records[p], args.tier) for p in penalties]
    )
    args.report.write_text(
        "# Frequency penalty on free-text answers\n\n"
        f"Measured by `python -m evals.frequency_penalty --items {args.items} --tier {args.tier}"
        + "".join(f" --penalty {p:g}" for p in penalties)
        + "`: support_triage "
        f"uncached, its answer step on the {args.tier} tier (max_tokens {ANSWER.max_tokens}), "
        "each question on every setting in rotating order.\n\n" + table + "\n"
    )
    print(table)


if __name__ == "__main__":
    main()
