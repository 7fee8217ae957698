"""Token usage and what it costs: pure arithmetic, no I/O."""

from __future__ import annotations

from dataclasses import dataclass

from runtime.config import TierPrice

_PER_MILLION = 1_000_000


@dataclass(frozen=True, slots=True, kw_only=True)
class Usage:
    """Tokens one model call consumed, as the engine or server reported them."""

    input_tokens: int
    """All prompt tokens, cached ones included (the OpenTelemetry GenAI convention)."""
    cached_input_tokens: int = 0
    """Prompt tokens whose KV state was reused instead of computed."""
    output_tokens: int
    """Generated tokens."""

    def __post_init__(self) -> None:
        if min(self.input_tokens, self.cached_input_tokens, self.output_tokens) < 0:
            raise ValueError(f"token counts cannot be negative: {self}")
        if self.cached_input_tokens > self.input_tokens:
            raise ValueError(f"more cached than total input tokens: {self}")

    @property
    def uncached_input_tokens(self) -> int:
        """Prompt tokens the engine had to compute."""
        return self.input_tokens - self.cached_input_tokens


def cost_parts(usage: Usage, price: TierPrice) -> dict[str, float]:
    """Cost in USD of each kind of token, keyed as Langfuse keys usage details."""
    return {
        "input": usage.uncached_input_tokens * price.input / _PER_MILLION,
        "input_cached_tokens": usage.cached_input_tokens * price.cached_input / _PER_MILLION,
        "output": usage.output_tokens * price.output / _PER_MILLION,
    }


def price_step(usage: Usage, price: TierPrice) -> float:
    """Cost in USD: uncached input, cached input and output, each at its own price."""
    return sum(cost_parts(usage, price).values())
