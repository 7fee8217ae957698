"""Prefix reuse per turn in a 20-turn thread: a sliding window vs a stable summary.

One support conversation of 20 customer messages runs on the small tier (embedded
engine, which reports the prompt tokens it served from its prefix cache). Both variants
keep the verbatim turns within the same token budget:

- sliding window: once over budget, the oldest turns are dropped, every turn;
- stable summary (`ConversationMemory`): once over budget, older turns are folded into a
  summary at a stable position, and the recent turns are appended to until the next fold.

Reports, per variant, the answering step's share of prompt tokens served from the prefix
cache on turns 2 to 20, the turns where it fell below half, and the input cost.

    python -m evals.memory [--turns 20] [--budget 300]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
from pathlib import Path
from typing import Any

from langgraph.graph import START, StateGraph
from typing_extensions import TypedDict

from evals.prefix_reuse import REPO
from runtime import ConversationMemory, Runtime, Segment, Step, add_step, load_config
from runtime.execution import current_execution

MESSAGES = [
    "Hi, my order 4471 hasn't arrived yet.",
    "It was supposed to come last Tuesday.",
    "The tracking page says it left the depot on Monday.",
    "I ordered a desk lamp and two notebooks.",
    "Can you check where it is now?",
    "I'm at the same address as always, 12 Elm Street.",
    "Will I get a refund if it's lost?",
    "How long do I have to wait before you call it lost?",
    "Can you send a replacement instead?",
    "I need the lamp before Friday if possible.",
    "Is express shipping free for a replacement?",
    "My phone number is 555-0134 if the courier needs it.",
    "Also, I was charged twice for this order.",
    "The second charge was on the 3rd.",
    "Can both issues be handled in one ticket?",
    "Will I get an email confirmation?",
    "What's the ticket number?",
    "Thanks. Can you summarise what happens next?",
    "One more thing: can I change the delivery to my office?",
    "Great, that's all for now.",
]


class Chat(TypedDict, total=False):
    question: str
    reply: str
    summary: str
    transcript: str


POLICY = Segment.global_(
    "policy",
    "You are Acme's support agent. Be brief and concrete; never invent order details; "
    "confirm what you will do next. " * 3,
)


def build(memory: ConversationMemory, *, window: bool) -> Any:
    """The chat graph; ``window`` drops the oldest turns instead of folding them."""
    builder = StateGraph(Chat)

    async def slide(state: Chat) -> dict[str, Any]:
        if "transcript" not in state:
            return memory.initial()
        turns = [t for t in state["transcript"].split("\n---\n") if t]
        tiers = current_execution().tiers
        while len(turns) > 1 and tiers.count_tokens(memory.tier, "\n---\n".join(turns)) > (
            memory.max_tokens
        ):
            turns.pop(0)
        return {"transcript": "\n---\n".join(turns)}

    builder.add_node("fold", slide if window else memory.fold)
    add_step(
        builder,
        "answer",
        Step(
            tier=memory.tier,
            prompt=(
                POLICY,
                memory.summary_segment(),
                memory.transcript_segment(),
                Segment.volatile("question", "Customer: {question}"),
            ),
            writes="reply",
            max_tokens=48,
        ),
    )
    builder.add_node("remember", memory.remember)
    builder.add_edge(START, "fold")
    builder.add_edge("fold", "answer")
    builder.add_edge("answer", "remember")
    return builder.compile()


async def converse(runtime: Runtime, graph: Any, turns: int) -> list[dict[str, float]]:
    state: dict[str, Any] = {}
    rows = []
    for message in MESSAGES[:turns]:
        with runtime.execution("memory", use_cache=False) as execution:
            state = await graph.ainvoke({**state, "question": message})
        answer = next(s for s in execution.steps if s.node == "answer")
        rows.append(
            {
                "input": answer.usage.input_tokens,
                "cached": answer.usage.cached_input_tokens,
                "cost": sum(s.cost_usd for s in execution.steps),
                "folded": float(any(s.node == "fold" for s in execution.steps)),
            }
        )
    return rows


async def measure(args: argparse.Namespace, scratch: Path) -> dict[str, list[dict[str, float]]]:
    config = load_config(REPO / "tierwise.toml")
    results = {}
    memory = ConversationMemory(max_tokens=args.budget, tier="small")
    for label, window in (("sliding window", True), ("stable summary", False)):
        runtime = Runtime(config.isolated(scratch / label.replace(" ", "-")))
        results[label] = await converse(runtime, build(memory, window=window), args.turns)
        await runtime.aclose()
    return results


def render(results: dict[str, list[dict[str, float]]], args: argparse.Namespace) -> str:
    lines = [
        "| memory | mean reused share, turns 2+ | turns under 50% | summary folds | "
        "input tokens | cost USD |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for label, rows in results.items():
        later = rows[1:]
        shares = [r["cached"] / r["input"] for r in later if r["input"]]
        low = [
            str(turn)
            for turn, r in enumerate(rows, start=1)
            if turn > 1 and r["input"] and r["cached"] / r["input"] < 0.5
        ]
        lines.append(
            f"| {label} | {statistics.mean(shares):.0%} | {len(low)} | "
            f"{sum(r['folded'] for r in rows):.0f} | {sum(r['input'] for r in rows):.0f} | "
            f"{sum(r['cost'] for r in rows):.6f} |"
        )
    series = {
        label: " ".join(f"{r['cached'] / r['input']:.0%}" for r in rows if r["input"])
        for label, rows in results.items()
    }
    return (
        "\n".join(lines)
        + "\n\nReused share per turn:\n\n"
        + "\n".join(f"- {label}: {values}" for label, values in series.items())
        + "\n"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=20)
    parser.add_argument("--budget", type=int, default=300, help="tokens of verbatim turns")
    parser.add_argument("--report", type=Path, default=REPO / "evals/reports/memory.md")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        results = asyncio.run(measure(args, Path(scratch)))
    table = render(results, args)
    args.report.write_text(
        "# Conversation memory: prefix reuse per turn\n\n"
        f"Measured by `python -m evals.memory --turns {args.turns} --budget {args.budget}` on "
        "this machine: one support conversation on the small tier (embedded engine), the "
        "answering step's prompt tokens served from the prefix cache.\n\n" + table
    )
    print(table)


if __name__ == "__main__":
    main()
