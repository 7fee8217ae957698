"""The tier client seam: one protocol that every engine implements."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from runtime.costs import Usage
from runtime.prompts import Message

Lane = Literal["interactive", "batch"]
"""Who waits for a call: a person (``interactive``, first in line) or nobody (``batch``)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ChatRequest:
    """One chat completion, engine-agnostic."""

    messages: tuple[Message, ...]
    """The laid-out prompt."""
    json_schema: dict[str, Any] | None = None
    """Constrain the output to this JSON schema (a step's Pydantic output model)."""
    max_tokens: int
    """Cap on generated tokens."""
    temperature: float = 0.0
    """0 picks the most likely token, which keeps answers reproducible and cacheable."""
    frequency_penalty: float = 0.0
    """Lowers the odds of tokens by how often the completion has used them (0: none)."""
    lane: Lane = "interactive"
    """The traffic lane: batch calls yield to interactive ones at the tier's gate."""
    logprobs: bool = False
    """Ask for the sampled tokens' log-probabilities (a cascade's confidence signal)."""
    deadline: float | None = None
    """``time.monotonic()`` by which the caller needs the answer: a call that would have to
    queue past it, at the tier's measured call time, is refused at once instead (None:
    the lane's own limits only)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ChatResult:
    """What a model said and what it consumed."""

    text: str
    """The completion text."""
    usage: Usage
    """Token counts, cached input included."""
    model: str
    """The model that actually answered (after any fallback)."""
    truncated: bool = False
    """Generation stopped at ``max_tokens`` rather than at its natural end."""
    ttft_ms: float | None = None
    """Time to first token, queueing included, when the engine can tell."""
    confidence: float | None = None
    """exp(mean log-probability) of the generated tokens, when asked for and reported."""


class TierClient(Protocol):
    """A connection to the model behind one tier."""

    @property
    def model(self) -> str:
        """The model that answers this tier's calls."""
        ...

    async def chat(self, request: ChatRequest) -> ChatResult:
        """Run one chat completion; map engine failures to ``runtime.errors.ModelError``."""
        ...

    async def aclose(self) -> None:
        """Release connections or memory."""
        ...


def confidence(logprobs: list[float]) -> float | None:
    """exp(mean log-probability): the geometric mean of the tokens' probabilities."""
    return math.exp(sum(logprobs) / len(logprobs)) if logprobs else None
