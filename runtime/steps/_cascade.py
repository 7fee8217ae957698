"""``Cascade``: answer on a cheap tier first, escalate only when the answer is not good enough."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

Verdict = bool | str
"""An acceptance check's answer: True accepts; False or a reason escalates."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Cascade:
    """Try the step's tier, then each of ``escalate_to`` in turn, until an answer is accepted.

    An answer is accepted when its output validates against the step's Pydantic model and
    ``accept`` (if given) says so. The last tier's answer is taken as it is (an invalid one
    still fails the step). Every attempt is paid for and recorded, with why it was passed on.
    """

    escalate_to: tuple[str, ...]
    """Higher tiers, cheapest first."""
    accept: Callable[[Any, Mapping[str, Any]], Verdict] | None = None
    """(output as the state holds it, the node's input state) -> verdict."""

    def __post_init__(self) -> None:
        if not self.escalate_to:
            raise ValueError("a cascade needs at least one tier to escalate to")

    def verdict(self, value: Any, state: Mapping[str, Any]) -> str | None:
        """None when ``value`` is accepted; otherwise why it is not."""
        if self.accept is None:
            return None
        answer = self.accept(value, state)
        if answer is True:
            return None
        return answer if isinstance(answer, str) and answer else "rejected by the acceptance check"
