from __future__ import annotations

import pytest

from runtime import TierPrice, Usage, price_step

LARGE = TierPrice(input=3.0, cached_input=0.3, output=15.0)


def test_cached_input_is_priced_at_the_cached_price() -> None:
    usage = Usage(input_tokens=1_000, cached_input_tokens=800, output_tokens=100)
    # 200 uncached x 3.00 + 800 cached x 0.30 + 100 output x 15.00, per million
    assert price_step(usage, LARGE) == pytest.approx((600 + 240 + 1_500) / 1e6)


def test_a_fully_cached_prompt_costs_a_tenth_of_a_cold_one() -> None:
    cold = price_step(Usage(input_tokens=1_000, output_tokens=0), LARGE)
    warm = price_step(Usage(input_tokens=1_000, cached_input_tokens=1_000, output_tokens=0), LARGE)
    assert warm == pytest.approx(cold / 10)


@pytest.mark.parametrize(
    "counts",
    [
        dict(input_tokens=10, cached_input_tokens=11, output_tokens=0),
        dict(input_tokens=-1, output_tokens=0),
    ],
)
def test_impossible_usage_is_refused(counts: dict[str, int]) -> None:
    with pytest.raises(ValueError):
        Usage(**counts)


def test_the_cost_summary_counts_only_steps_a_cache_answered_as_hits() -> None:
    from runtime.costs import summarise

    def step(cache: str, checked: str | None = None, cost: float = 0.0) -> dict[str, object]:
        return {"node": "n", "tier": "small", "cost_usd": cost, "cache": cache, "checked": checked}

    record = {
        "cost_usd": 0.002,
        "steps": [
            step("exact"),
            step("semantic"),
            step("semantic", "wrong", 0.001),
            step("miss", cost=0.001),
        ],
    }
    summary = summarise([record])
    assert (summary.cache_hits, summary.steps) == (2, 4)  # the checked hit made a call
