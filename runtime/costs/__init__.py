"""Token usage, its price, and spend aggregated over executions."""

from runtime.costs._pricing import Usage, cost_parts, price_step
from runtime.costs._report import CostSummary, nearest_rank, summarise

__all__ = ["CostSummary", "Usage", "cost_parts", "nearest_rank", "price_step", "summarise"]
