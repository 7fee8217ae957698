"""Prompt segments and their layout: stable text first, so consecutive steps share a prefix.

A prefix cache (SGLang's RadixAttention, the embedded engine's prefix states) only helps
when two prompts start with the *same tokens*. The layout therefore orders segments by how
long they stay the same, and never lets volatile text (the step's own input, timestamps,
ids) come before stable text.
"""

from __future__ import annotations

import dataclasses
import string
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import Any, Literal, TypedDict, Unpack

from runtime.errors import WorkflowError
from runtime.prompts._budget import Overflow, Trim, check_fits, fit_segment


class Stability(IntEnum):
    """How long a segment's text stays the same; lower values are laid out first."""

    GLOBAL = 0
    """The same for every node and execution: the system policy, tool descriptions."""
    NODE = 1
    """The same for every execution of one node: its task instructions, output format."""
    EXECUTION = 2
    """The same for the steps of one execution: a document, retrieved context, a profile."""
    VOLATILE = 3
    """Different for every step: the step's own input."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Segment:
    """A named piece of a prompt, a ``str.format`` template filled from the node's state."""

    name: str
    """Names the segment in errors, lint and audit reports."""
    template: str
    """Text with ``{field}`` placeholders (``{ticket.category}`` reaches into objects)."""
    stability: Stability
    """Decides where the segment is laid out."""
    max_tokens: int | None = None
    """The most tokens the filled segment may take; None is unbounded."""
    overflow: Overflow = "error"
    """What happens past ``max_tokens``: ``error``, ``truncate``, keep the ``relevant``
    chunks, or ``summarise``. Only context (execution and volatile segments) may be cut:
    instructions never."""
    summary_tier: str | None = None
    """The tier that writes the summary (``overflow="summarise"``); the step's own if None."""

    def __post_init__(self) -> None:
        if self.overflow != "error" and self.stability < Stability.EXECUTION:
            raise WorkflowError(
                f"segment {self.name!r}: instructions are never cut; overflow "
                f"{self.overflow!r} is for execution and volatile segments"
            )
        if self.max_tokens is not None and self.max_tokens < 1:
            raise WorkflowError(f"segment {self.name!r}: max_tokens must be at least 1")

    @classmethod
    def global_(cls, name: str, template: str, *, max_tokens: int | None = None) -> Segment:
        """A segment shared by every node and execution."""
        return cls(name=name, template=template, stability=Stability.GLOBAL, max_tokens=max_tokens)

    @classmethod
    def node(cls, name: str, template: str, *, max_tokens: int | None = None) -> Segment:
        """A segment shared by every execution of one node."""
        return cls(name=name, template=template, stability=Stability.NODE, max_tokens=max_tokens)

    @classmethod
    def execution(cls, name: str, template: str, **budget: Unpack[SegmentBudget]) -> Segment:
        """A segment shared by the steps of one execution (a document, retrieved context)."""
        return cls(name=name, template=template, stability=Stability.EXECUTION, **budget)

    @classmethod
    def volatile(cls, name: str, template: str, **budget: Unpack[SegmentBudget]) -> Segment:
        """The step's own input."""
        return cls(name=name, template=template, stability=Stability.VOLATILE, **budget)


class SegmentBudget(TypedDict, total=False):
    """What a context segment may cost (``Segment.execution(..., max_tokens=...)``)."""

    max_tokens: int | None
    overflow: Overflow
    summary_tier: str | None


@dataclass(frozen=True, slots=True)
class Message:
    """One chat message."""

    role: Literal["system", "user", "assistant"]
    content: str


def prefix_layout(segments: Sequence[Segment]) -> tuple[Segment, ...]:
    """Segments ordered stable -> volatile; the declared order is kept within a stability."""
    return tuple(sorted(segments, key=lambda segment: segment.stability))


@dataclass(frozen=True, slots=True, kw_only=True)
class TokenBudget:
    """How a step's prompt is fitted: its tier's tokenizer and context window."""

    count: Callable[[str], int]
    """Tokens a text takes on the step's tier."""
    context_tokens: int | None
    """The tier's context window, when known."""
    output_tokens: int
    """Tokens kept free for the answer."""
    summaries: Mapping[str, str] = dataclasses.field(default_factory=dict)
    """Segment name -> the summary written for it (``overflow="summarise"``)."""


def render_messages(
    segments: Sequence[Segment], state: Mapping[str, Any], *, node: str
) -> tuple[Message, ...]:
    """Lay out and fill the segments: stable ones form the system message, volatile the user's.

    The split keeps the chat template's framing of the system message identical across
    steps, so everything up to the first differing segment is a shared token prefix.
    """
    return render_prompt(segments, state, node=node)[0]


def render_prompt(
    segments: Sequence[Segment],
    state: Mapping[str, Any],
    *,
    node: str,
    budget: TokenBudget | None = None,
) -> tuple[tuple[Message, ...], tuple[Trim, ...]]:
    """``render_messages``, fitting each budgeted segment when ``budget`` is given.

    The whole prompt is then checked against the tier's context; returns what was trimmed.
    """
    laid_out = prefix_layout(segments)
    if not any(s.stability == Stability.VOLATILE for s in laid_out):
        raise WorkflowError(f"node {node!r}: a prompt needs at least one volatile segment")
    texts = [_fill(s, state, node) for s in laid_out]
    trims: list[Trim] = []
    if budget is not None and any(s.max_tokens is not None for s in laid_out):
        query = " ".join(
            text
            for s, text in zip(laid_out, texts, strict=True)
            if s.stability == Stability.VOLATILE
        )
        for index, segment in enumerate(laid_out):
            if segment.max_tokens is None:
                continue
            texts[index], trim = fit_segment(
                segment.name,
                texts[index],
                max_tokens=segment.max_tokens,
                overflow=segment.overflow,
                query=query,
                count=budget.count,
                node=node,
                summary=budget.summaries.get(segment.name),
            )
            trims.extend([trim] if trim else [])
        if budget.context_tokens is not None:
            check_fits(
                [(s.name, budget.count(text)) for s, text in zip(laid_out, texts, strict=True)],
                context_tokens=budget.context_tokens,
                output_tokens=budget.output_tokens,
                node=node,
            )
    pairs = list(zip(laid_out, texts, strict=True))
    system = "\n\n".join(text for s, text in pairs if s.stability < Stability.VOLATILE)
    user = "\n\n".join(text for s, text in pairs if s.stability == Stability.VOLATILE)
    if not system:
        return (Message("user", user),), tuple(trims)
    return (Message("system", system), Message("user", user)), tuple(trims)


def render_segment(segment: Segment, state: Mapping[str, Any], *, node: str) -> str:
    """One segment filled from the state (a cache key input, a lint report)."""
    return _fill(segment, state, node)


def _fill(segment: Segment, state: Mapping[str, Any], node: str) -> str:
    try:
        return _FORMATTER.vformat(segment.template, (), state)
    except (KeyError, AttributeError, IndexError) as exc:
        raise WorkflowError(
            f"node {node!r}, segment {segment.name!r}: cannot fill {exc} from the state "
            f"(fields: {', '.join(sorted(state))})"
        ) from exc


class _StateFormatter(string.Formatter):
    """``str.format`` that also reaches into mappings with ``{a.b}``, as states nest dicts."""

    def get_field(self, field_name: str, args: Sequence[Any], kwargs: Mapping[str, Any]) -> Any:
        first, *rest = field_name.split(".")
        value = kwargs[first]
        for part in rest:
            value = value[part] if isinstance(value, Mapping) else getattr(value, part)
        return value, first


_FORMATTER = _StateFormatter()
