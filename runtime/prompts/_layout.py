"""Prompt segments and their layout: stable text first, so consecutive steps share a prefix.

A prefix cache (SGLang's RadixAttention, the embedded engine's prefix states) only helps
when two prompts start with the *same tokens*. The layout therefore orders segments by how
long they stay the same, and never lets volatile text (the step's own input, timestamps,
ids) come before stable text.
"""

from __future__ import annotations

import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import Any, Literal

from runtime.errors import WorkflowError


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

    @classmethod
    def global_(cls, name: str, template: str) -> Segment:
        """A segment shared by every node and execution."""
        return cls(name=name, template=template, stability=Stability.GLOBAL)

    @classmethod
    def node(cls, name: str, template: str) -> Segment:
        """A segment shared by every execution of one node."""
        return cls(name=name, template=template, stability=Stability.NODE)

    @classmethod
    def execution(cls, name: str, template: str) -> Segment:
        """A segment shared by the steps of one execution."""
        return cls(name=name, template=template, stability=Stability.EXECUTION)

    @classmethod
    def volatile(cls, name: str, template: str) -> Segment:
        """The step's own input."""
        return cls(name=name, template=template, stability=Stability.VOLATILE)


@dataclass(frozen=True, slots=True)
class Message:
    """One chat message."""

    role: Literal["system", "user", "assistant"]
    content: str


def prefix_layout(segments: Sequence[Segment]) -> tuple[Segment, ...]:
    """Segments ordered stable -> volatile; the declared order is kept within a stability."""
    return tuple(sorted(segments, key=lambda segment: segment.stability))


def render_messages(
    segments: Sequence[Segment], state: Mapping[str, Any], *, node: str
) -> tuple[Message, ...]:
    """Lay out and fill the segments: stable ones form the system message, volatile the user's.

    The split keeps the chat template's framing of the system message identical across
    steps, so everything up to the first differing segment is a shared token prefix.
    """
    laid_out = prefix_layout(segments)
    stable = [s for s in laid_out if s.stability < Stability.VOLATILE]
    volatile = [s for s in laid_out if s.stability == Stability.VOLATILE]
    if not volatile:
        raise WorkflowError(f"node {node!r}: a prompt needs at least one volatile segment")
    system = "\n\n".join(_fill(s, state, node) for s in stable)
    user = "\n\n".join(_fill(s, state, node) for s in volatile)
    if not system:
        return (Message("user", user),)
    return (Message("system", system), Message("user", user))


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
