"""Prefix discipline: every step's prompt should start with text that stays the same.

A prefix cache reuses KV state only for identical leading tokens. For each Step, the
prompt is rendered from two synthetic states (two executions) and twice from the same
one; the report gives the tokens shared across executions and with the previous step on
the same tier, and names every segment that puts changing text where stable text belongs.
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from runtime._sequences import common_prefix_length
from runtime.prompts import Message, Segment, Stability
from runtime.registry import Workflow
from runtime.steps import Step, steps_of

TokenCounter = Callable[[str, str], int]
"""(tier, text) -> tokens in that tier's model."""

_VOLATILE_TEXT = {
    "a timestamp": re.compile(
        r"\b\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}|\b\d{1,2}:\d{2}:\d{2}\b|\b1[6-9]\d{8}(\.\d+)?\b"
    ),
    "a UUID": re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b", re.I),
    "a hex id": re.compile(r"\b[0-9a-f]{24,}\b", re.I),
}


@dataclass(frozen=True, slots=True)
class Finding:
    """Something that breaks (or wastes) prefix reuse, at a node and segment."""

    node: str
    segment: str
    problem: str


@dataclass(slots=True)
class StepReport:
    """One Step's prompt as the prefix cache sees it."""

    node: str
    tier: str
    prompt_tokens: int
    """Tokens of the rendered prompt (first sample)."""
    shared_across_executions: int
    """Leading tokens identical in two executions: what a warm cache reuses."""
    shared_with_previous: int | None
    """Leading tokens shared with the previous Step on the same tier (None for the first)."""
    findings: list[Finding] = field(default_factory=list)


@dataclass(slots=True)
class LintReport:
    """A workflow's Steps in graph order, and the nodes lint cannot see into."""

    workflow: str
    steps: list[StepReport]
    unlinted: list[str]
    """Hand-written nodes: their prompts exist only when they run."""

    @property
    def findings(self) -> list[Finding]:
        """Every finding of every step."""
        return [finding for step in self.steps for finding in step.findings]


def lint_workflow(
    workflow: Workflow, count_tokens: TokenCounter, routes: Mapping[str, str] | None = None
) -> LintReport:
    """Render every Step of ``workflow`` and report its prefix discipline.

    ``routes`` (node -> tier, from the configuration) place nodes on other tiers than
    they declare, which changes which steps share a model's prefix cache.
    """
    steps = steps_of(workflow.graph.builder)
    routes = routes or {}
    reports: list[StepReport] = []
    last_on_tier: dict[str, str] = {}
    for node in graph_order(workflow, steps):
        step = steps[node]
        tier = routes.get(node, step.tier)
        first = _flat(step.messages(Sample("A"), node=node))
        second = _flat(step.messages(Sample("B"), node=node))
        previous = last_on_tier.get(tier)
        reports.append(
            StepReport(
                node=node,
                tier=tier,
                prompt_tokens=count_tokens(tier, first),
                shared_across_executions=count_tokens(tier, _common(first, second)),
                shared_with_previous=None
                if previous is None
                else count_tokens(tier, _common(previous, first)),
                findings=list(_findings(node, step, first, second)),
            )
        )
        last_on_tier[tier] = first
    unlinted = [name for name in workflow.graph.builder.nodes if name not in steps]
    return LintReport(workflow=workflow.name, steps=reports, unlinted=unlinted)


def _findings(node: str, step: Step, first: str, second: str) -> Iterator[Finding]:
    for segment in step.prompt:
        if segment.stability <= Stability.NODE:
            fields = _placeholders(segment)
            if fields:
                yield Finding(
                    node,
                    segment.name,
                    f"{segment.stability.name.lower()} segment interpolates "
                    f"{', '.join('{' + f + '}' for f in fields)}: it differs between "
                    "executions, so nothing after it is reused; make it an execution or "
                    "volatile segment",
                )
            for kind, pattern in _VOLATILE_TEXT.items():
                match = pattern.search(segment.template)
                if match:
                    yield Finding(
                        node,
                        segment.name,
                        f"{segment.stability.name.lower()} segment contains {kind} "
                        f"({match.group(0)!r}): it changes when the process restarts or the "
                        "clock moves; pass it in the state as a volatile segment",
                    )
    again = _flat(step.messages(Sample("A"), node=node))
    if again != first:
        yield Finding(node, "(all)", "renders differently from the same state twice")
    if not _common(first, second):
        yield Finding(node, "(all)", "no prefix is shared across executions")


def _placeholders(segment: Segment) -> list[str]:
    return [
        name.split(".")[0] for _, name, _, _ in string.Formatter().parse(segment.template) if name
    ]


def graph_order(workflow: Workflow, steps: Mapping[str, Step]) -> list[str]:
    """Steps in the order the graph reaches them (breadth-first from START)."""
    graph = workflow.graph.get_graph()
    edges: dict[str, list[str]] = {}
    for edge in graph.edges:
        edges.setdefault(edge.source, []).append(edge.target)
    order: list[str] = []
    frontier = ["__start__"]
    seen = set(frontier)
    while frontier:
        node = frontier.pop(0)
        if node in steps:
            order.append(node)
        for target in edges.get(node, []):
            if target not in seen:
                seen.add(target)
                frontier.append(target)
    return order + [node for node in steps if node not in order]


def _flat(messages: tuple[Message, ...]) -> str:
    return "".join(f"<|{m.role}|>\n{m.content}\n" for m in messages)


def _common(a: str, b: str) -> str:
    return a[: common_prefix_length(a, b)]


class Sample(Mapping[str, Any]):
    """A state with every field, each a distinct placeholder for one sample execution."""

    def __init__(self, variant: str) -> None:
        self._variant = variant

    def __getitem__(self, key: str) -> Any:
        return _Value(f"{key}", self._variant)

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0

    def __contains__(self, key: object) -> bool:
        return True


class _Value:
    """A placeholder value: formats as ``<path:variant>``, reaches into itself by attribute."""

    def __init__(self, path: str, variant: str) -> None:
        self._path = path
        self._variant = variant

    def __getattr__(self, part: str) -> _Value:
        return _Value(f"{self._path}.{part}", self._variant)

    def __format__(self, spec: str) -> str:
        return f"<{self._path}:{self._variant}>"

    def __str__(self) -> str:
        return format(self)
