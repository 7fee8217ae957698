"""Fakes behind the seams, for unit tests only."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from runtime.costs import Usage
from runtime.engines import ChatRequest, ChatResult


def _words(request: ChatRequest) -> list[str]:
    return " ".join(f"<{m.role}> {m.content}" for m in request.messages).split()


@dataclass
class FakeTierClient:
    """Answers from a function; one word is one token; reuses the longest earlier prefix."""

    answer: Callable[[ChatRequest], str]
    model: str = "fake-model"
    requests: list[ChatRequest] = field(default_factory=list)
    _seen: list[list[str]] = field(default_factory=list)

    async def chat(self, request: ChatRequest) -> ChatResult:
        self.requests.append(request)
        words = _words(request)
        cached = max((_shared(words, seen) for seen in self._seen), default=0)
        self._seen.append(words)
        text = self.answer(request)
        return ChatResult(
            text=text,
            usage=Usage(
                input_tokens=len(words),
                cached_input_tokens=cached,
                output_tokens=len(text.split()),
            ),
            model=self.model,
        )

    async def aclose(self) -> None:
        return None


def _shared(a: list[str], b: list[str]) -> int:
    count = 0
    for left, right in zip(a, b, strict=False):
        if left != right:
            break
        count += 1
    return count
