"""Fakes behind the seams, for unit tests only."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from runtime import TierwiseConfig
from runtime._sequences import common_prefix_length
from runtime.config import parse_config
from runtime.costs import Usage
from runtime.engines import ChatRequest, ChatResult

TIERS = {
    "small": {
        "engine": "embedded",
        "model": "smollm2-135m-instruct",
        "price": {"input": 0.15, "cached_input": 0.015, "output": 0.6},
    },
    "large": {
        "engine": "embedded",
        "model": "qwen2.5-coder-0.5b-instruct",
        "price": {"input": 3.0, "cached_input": 0.3, "output": 15.0},
    },
}


def fake_config(
    tmp_path: Path, workflows: dict[str, str] | None = None, **sections: Any
) -> TierwiseConfig:
    """Both tiers, with run records and local stores under ``tmp_path``; ``sections``
    (``server=...``, ``budgets=...``, ``tiers=...``) replace parts of the file."""
    raw = {"tiers": TIERS, "state_dir": str(tmp_path), "workflows": workflows or {}, **sections}
    return parse_config(raw, source="test", base_dir=tmp_path)


class Label(BaseModel):
    """A structured output for steps under test."""

    label: str


def answer_billing(_request: ChatRequest) -> str:
    """Always the same valid ``Label``."""
    return json.dumps({"label": "billing"})


def _words(request: ChatRequest) -> list[str]:
    return " ".join(f"<{m.role}> {m.content}" for m in request.messages).split()


@dataclass
class FakeTierClient:
    """Answers from a function; one word is one token; reuses the longest earlier prefix."""

    answer: Callable[[ChatRequest], str]
    model: str = "fake-model"
    ttft_ms: float | None = 5.0
    requests: list[ChatRequest] = field(default_factory=list)
    _seen: list[list[str]] = field(default_factory=list)

    async def chat(self, request: ChatRequest) -> ChatResult:
        self.requests.append(request)
        words = _words(request)
        cached = max((common_prefix_length(words, seen) for seen in self._seen), default=0)
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
            ttft_ms=self.ttft_ms,
        )

    async def aclose(self) -> None:
        return None
