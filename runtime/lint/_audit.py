"""``tierwise audit``: where a workflow's prompt tokens go, and which ones are repeated.

For every Step, each segment is rendered from a real state (the latest recorded
execution of the workflow, or a placeholder state when there is none) and counted with
the tier's tokenizer. Sentences that appear in more than one place are listed: within one
prompt they are paid twice on every call; across nodes, outside a shared global segment,
they are candidates for one shared segment (which the prefix cache also reuses). Spend
comes from the recorded executions: each step's input cost is split over its segments
by their share of its tokens, so a team sees which instructions earn their tokens.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from runtime.config import TierPrice
from runtime.costs import Usage, price_step
from runtime.lint._lint import Sample, TokenCounter, graph_order
from runtime.prompts import Stability, render_segment
from runtime.registry import Workflow
from runtime.steps import steps_of

_SENTENCE = re.compile(r"(?<=[.!?:])\s+|\n+")  # sentences, and text after a label
_MIN_SENTENCE_CHARS = 24  # shorter repeats ("Reply in JSON.") cost little and are noise


@dataclass(slots=True)
class SegmentAudit:
    """One segment of one Step."""

    node: str
    segment: str
    stability: str
    tokens: int
    share_of_prompt: float
    """This segment's part of the Step's prompt tokens."""
    spend_usd: float = 0.0
    """Input spend attributed to it over the recorded executions."""


@dataclass(frozen=True, slots=True)
class Duplicate:
    """A sentence found in more than one place, and where."""

    sentence: str
    places: tuple[str, ...]
    """``node/segment`` for each occurrence."""
    within_one_prompt: bool
    """True when one Step's prompt carries it twice: paid twice on every call."""


@dataclass(slots=True)
class AuditReport:
    """A workflow's prompt tokens by segment, repeated text, and recorded spend."""

    workflow: str
    state_source: str
    """Where the rendered state came from: a run id, or ``placeholders``."""
    executions: int
    """Recorded executions the spend is taken from."""
    segments: list[SegmentAudit] = field(default_factory=list)
    duplicates: list[Duplicate] = field(default_factory=list)
    spend_usd: float = 0.0
    """Total recorded spend of the workflow (all costs: input, cached input, output)."""


def audit_workflow(
    workflow: Workflow,
    count_tokens: TokenCounter,
    records: Sequence[Mapping[str, Any]],
    price_of: Callable[[str], TierPrice],
) -> AuditReport:
    """Audit ``workflow``'s Steps against its recorded executions (newest first)."""
    steps = steps_of(workflow.graph.builder)
    state: Mapping[str, Any] = records[0]["output"] if records else Sample("A")
    report = AuditReport(
        workflow=workflow.name,
        state_source=records[0]["run_id"] if records else "placeholders",
        executions=len(records),
        spend_usd=sum(float(record["cost_usd"]) for record in records),
    )
    texts: dict[tuple[str, str], str] = {}
    stabilities: dict[tuple[str, str], Stability] = {}
    for node in graph_order(workflow, steps):
        step = steps[node]
        rendered = {s.name: _render(s, state, node) for s in step.prompt}
        tokens = {name: count_tokens(step.tier, text) for name, text in rendered.items()}
        total = sum(tokens.values()) or 1
        input_spend = _input_spend(records, node, price_of)
        for segment in step.prompt:
            share = tokens[segment.name] / total
            report.segments.append(
                SegmentAudit(
                    node=node,
                    segment=segment.name,
                    stability=segment.stability.name.lower(),
                    tokens=tokens[segment.name],
                    share_of_prompt=share,
                    spend_usd=input_spend * share,
                )
            )
            texts[(node, segment.name)] = rendered[segment.name]
            stabilities[(node, segment.name)] = segment.stability
    report.duplicates = _duplicates(texts, stabilities)
    return report


def _render(segment: Any, state: Mapping[str, Any], node: str) -> str:
    try:
        return render_segment(segment, state, node=node)
    except Exception:  # a field the recorded state lacks: count the template instead
        return render_segment(segment, Sample("A"), node=node)


def _input_spend(
    records: Sequence[Mapping[str, Any]], node: str, price_of: Callable[[str], TierPrice]
) -> float:
    """What the node's calls paid for input (uncached and cached), over the records."""
    spend = 0.0
    for record in records:
        for step in record["steps"]:
            if step["node"] != node:
                continue
            usage = Usage(
                input_tokens=step["input_tokens"],
                cached_input_tokens=step["cached_input_tokens"],
                output_tokens=0,
            )
            spend += price_step(usage, price_of(step["tier"]))
    return spend


def _duplicates(
    texts: Mapping[tuple[str, str], str], stabilities: Mapping[tuple[str, str], Stability]
) -> list[Duplicate]:
    places: dict[str, list[tuple[str, str]]] = defaultdict(list)
    shown: dict[str, str] = {}
    for place, text in texts.items():
        for sentence in _SENTENCE.split(text):
            key = " ".join(sentence.lower().split())
            if len(key) >= _MIN_SENTENCE_CHARS:
                places[key].append(place)
                shown.setdefault(key, sentence.strip())
    found = []
    for key, occurrences in places.items():
        # one global segment shared by several nodes is the point of a global segment
        segments = {segment for _, segment in occurrences}
        shared_global = len(segments) == 1 and all(
            stabilities[place] == Stability.GLOBAL for place in occurrences
        )
        if len(occurrences) < 2 or shared_global:
            continue
        nodes = [node for node, _ in occurrences]
        found.append(
            Duplicate(
                sentence=shown[key],
                places=tuple(f"{node}/{segment}" for node, segment in occurrences),
                within_one_prompt=len(nodes) != len(set(nodes)),
            )
        )
    return found
