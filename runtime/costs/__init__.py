"""Token usage and its price."""

from runtime.costs._pricing import Usage, price_step

__all__ = ["Usage", "price_step"]
