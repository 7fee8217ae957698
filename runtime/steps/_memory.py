"""Conversation memory for threads: a summary at a stable position, folded at boundaries.

A thread's prompt is laid out as instructions, then the summary of older turns, then the
recent turns verbatim, then the new message. Turns are appended, so each turn's prompt
starts with the whole previous one and the prefix cache reuses it. When the recent turns
pass their budget, the older ones are folded into the summary in one call on a small
tier, leaving the newest turns that fit in ``fold_to`` of the budget; the summary then
stays the same until the next fold. A sliding window that drops the oldest turn every
time changes the prompt right after the instructions on every turn, and nothing after
them is reused.

Wire it into a graph with two plain nodes around the answering step::

    memory = ConversationMemory(max_tokens=600, tier="small")
    builder.add_node("fold", memory.fold)            # before the answer
    builder.add_node("remember", memory.remember)    # after it
    # the answer's prompt: ..., memory.summary_segment(), memory.transcript_segment(), ...
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from langgraph.config import get_config

from runtime.execution import current_execution
from runtime.prompts import Message, Segment
from runtime.steps._call import call_model
from runtime.steps._chat import running_node

_SUMMARISE = (
    "Summarise this support conversation for the agent who continues it. Keep every fact "
    "the customer gave (names, numbers, orders, dates), what was promised, and what is "
    "still open. At most 120 words, no preamble."
)


@dataclass(frozen=True, slots=True, kw_only=True)
class ConversationMemory:
    """Keeps a thread's history within ``max_tokens`` with a stable summary."""

    max_tokens: int
    """The most tokens the verbatim turns may take before older ones are folded."""
    tier: str = "small"
    """The tier that writes the summary."""
    fold_to: float = 0.5
    """At a fold, the newest turns that fit in this share of ``max_tokens`` stay verbatim
    (at least one): the next fold is then several turns away, not on every turn."""
    user: str = "question"
    """The state field with the customer's message of this turn."""
    reply: str = "reply"
    """The state field with the answer of this turn."""
    transcript: str = "transcript"
    """The state field holding the verbatim turns (text, appended to)."""
    summary: str = "summary"
    """The state field holding the summary of folded turns."""
    max_summary_tokens: int = 200
    """Cap on the summary call's output."""

    _SEPARATOR = "\n---\n"

    def summary_segment(self) -> Segment:
        """The summary, at its stable position (it changes only at a fold)."""
        return Segment.execution("summary", f"Earlier in this conversation: {{{self.summary}}}")

    def transcript_segment(self) -> Segment:
        """The recent turns, verbatim and appended to."""
        return Segment.execution("transcript", f"Recent turns:\n{{{self.transcript}}}")

    def initial(self) -> dict[str, str]:
        """The memory fields of a new thread."""
        return {self.summary: "(nothing yet)", self.transcript: ""}

    async def fold(self, state: Mapping[str, Any]) -> dict[str, Any]:
        """A LangGraph node: fold older turns into the summary once the turns pass budget."""
        if self.summary not in state or self.transcript not in state:
            return self.initial()  # a new thread
        turns = self._turns(state)
        tiers = current_execution().tiers
        sizes = [tiers.count_tokens(self.tier, turn) for turn in turns]
        if len(turns) < 2 or sum(sizes) <= self.max_tokens:
            return {}
        keep, kept_tokens = 1, sizes[-1]
        while keep < len(turns) - 1 and kept_tokens + sizes[-keep - 1] <= (
            self.max_tokens * self.fold_to
        ):
            kept_tokens += sizes[-keep - 1]
            keep += 1
        older, recent = turns[:-keep], turns[-keep:]
        previous = str(state.get(self.summary) or "")
        history = self._SEPARATOR.join(older)
        summary, _ = await call_model(
            node=running_node(get_config()),
            tier=self.tier,
            messages=(
                Message("system", _SUMMARISE),
                Message("user", f"Summary so far: {previous}\n\nTurns to add:\n{history}"),
            ),
            max_tokens=self.max_summary_tokens,
        )
        return {self.summary: str(summary), self.transcript: self._SEPARATOR.join(recent)}

    async def remember(self, state: Mapping[str, Any]) -> dict[str, Any]:
        """A LangGraph node: append this turn to the verbatim turns."""
        turn = f"Customer: {state[self.user]}\nAgent: {state[self.reply]}"
        return {self.transcript: self._SEPARATOR.join([*self._turns(state), turn])}

    def _turns(self, state: Mapping[str, Any]) -> list[str]:
        text = str(state.get(self.transcript) or "")
        return text.split(self._SEPARATOR) if text else []
