"""Benchmark: support_triage's whole FAQ in the prefix against retrieved excerpts per question.

support_triage holds its whole FAQ in the answer step's stable prefix and repeats only the
closest entry next to the question. The alternative is the usual retrieval prompt: the
top two entries as an execution segment, new tokens on every fresh question. Both run here
on the same eval questions, the routing of tierwise.toml, the step cache off and cold
prefix states each, and the report gives per design: the answer step's prompt tokens and
the share served from the prefix cache, its latency, and grounding, the share of the
closest FAQ answer's words (longer than three letters) that the reply uses: a crude proxy
for "answers from the right entry", which no eval scorer measures. Writes
evals/reports/faq_in_prefix.md.

    python -m evals.faq_in_prefix [--questions 24]
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import re
import statistics
import tempfile
from pathlib import Path
from typing import Any

from langgraph.graph import StateGraph

from evals.prefix_reuse import REPO
from graphs.support_triage import (
    ANSWER,
    POLICY_CHECK,
    SHARED_POLICY,
    TriageInput,
    TriageState,
    build,
    closest_entries,
)
from runtime import Runtime, Segment, load_config
from runtime.evaluation import load_dataset
from tools import render_faq, search_faq

EXCERPTS = "support_triage_excerpts"
ANSWER_FROM_EXCERPTS = dataclasses.replace(
    ANSWER,
    prompt=(
        SHARED_POLICY,
        Segment.node(
            "task",
            "Task: write the support reply to the customer's message. Address the customer "
            "directly, explain what happens next using only the FAQ excerpts below, and "
            "follow the policy.",
        ),
        Segment.execution("faq", "FAQ excerpts:\n{faq}"),
        Segment.volatile(
            "question", "Category: {classification.category}\nCustomer message: {question}"
        ),
    ),
)


async def lookup_excerpts(state: TriageState) -> dict[str, str]:
    """The two closest entries in full, as a retrieval prompt shows them."""
    return {"faq": render_faq(await closest_entries(state))}


def build_excerpts() -> StateGraph[TriageState, Any, TriageInput, TriageState]:
    """support_triage with retrieved excerpts instead of the FAQ in the prefix."""
    return build(
        answer=ANSWER_FROM_EXCERPTS,
        policy_check=dataclasses.replace(POLICY_CHECK, continues=ANSWER_FROM_EXCERPTS),
        find=lookup_excerpts,
    )


_WORD = re.compile(r"[a-z0-9]+")


def _words(text: str) -> set[str]:
    return {word for word in _WORD.findall(text.lower()) if len(word) > 3}


def grounding(question: str, reply: str) -> float | None:
    """Share of the closest FAQ answer's words the reply uses; None when nothing matches."""
    closest = search_faq(question, limit=1)
    if not closest:
        return None
    wanted = _words(closest[0].answer)
    return len(_words(reply) & wanted) / len(wanted)


async def measure(questions: list[str], scratch: Path) -> dict[str, dict[str, float]]:
    config = load_config(REPO / "tierwise.toml")
    config = config.model_copy(
        update={
            "workflows": {**config.workflows, EXCERPTS: "evals.faq_in_prefix:build_excerpts"},
            "routes": {**config.routes, EXCERPTS: config.routes.get("support_triage", {})},
        }
    )
    results = {}
    for label, workflow in (("whole FAQ in the prefix", "support_triage"), ("excerpts", EXCERPTS)):
        runtime = Runtime(config.isolated(scratch / workflow))
        await runtime.warm_up(workflow)
        steps, scores = [], []
        for question in questions:
            record = await runtime.run(workflow, {"question": question}, use_cache=False)
            steps += [s for s in record.steps if s.node == "answer"]
            score = grounding(question, str(record.output.get("answer", "")))
            scores += [] if score is None else [score]
        await runtime.aclose()
        prompt = sum(s.usage.input_tokens for s in steps)
        results[label] = {
            "prompt_tokens": prompt / len(steps),
            "cached_share": sum(s.usage.cached_input_tokens for s in steps) / prompt,
            "latency_ms": statistics.median(s.latency_ms for s in steps),
            "grounding": statistics.fmean(scores) if scores else 0.0,
            "scored": len(scores),
        }
    return results


def render(results: dict[str, dict[str, float]], questions: int) -> str:
    lines = [
        f"Answer step over {questions} eval questions (grounding over those with a matching "
        "FAQ entry).\n",
        "| design | prompt tokens per call | cached share | p50 latency ms | grounding |",
        "|---|---:|---:|---:|---:|",
    ]
    for label, row in results.items():
        lines.append(
            f"| {label} | {row['prompt_tokens']:.0f} | {row['cached_share']:.1%} "
            f"| {row['latency_ms']:.0f} | {row['grounding']:.3f} ({row['scored']:.0f}) |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=int, default=24, help="eval questions to answer")
    parser.add_argument("--report", type=Path, default=REPO / "evals/reports/faq_in_prefix.md")
    args = parser.parse_args()
    dataset = load_dataset(REPO / "evals/datasets/support_triage.jsonl")
    questions = [str(item.input["question"]) for item in dataset[: args.questions]]
    with tempfile.TemporaryDirectory() as scratch:
        results = asyncio.run(measure(questions, Path(scratch)))
    table = render(results, len(questions))
    args.report.parent.mkdir(parents=True, exist_ok=True)
    args.report.write_text(
        "# The FAQ in the prefix against retrieved excerpts\n\n"
        "Measured by `python -m evals.faq_in_prefix`: support_triage as shipped against "
        "the same graph answering from the two closest entries, step cache off.\n\n" + table
    )
    print(table)


if __name__ == "__main__":
    main()
