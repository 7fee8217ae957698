"""Aggregating stored executions: what a workflow costs per run, and where it goes."""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True, slots=True, kw_only=True)
class CostSummary:
    """Spend over a set of executions (``tierwise costs``)."""

    executions: int
    total_usd: float
    mean_usd: float
    p50_usd: float
    p95_usd: float
    by_tier: dict[str, float]
    """Spend per tier, largest first."""
    by_node: dict[str, float]
    """Spend per node, largest first."""
    saved_usd: float
    """What cache hits saved."""
    cache_hits: int
    steps: int

    def as_dict(self) -> dict[str, Any]:
        """The JSON shape of ``tierwise costs --json``."""
        return asdict(self)


def summarise(records: Sequence[Mapping[str, Any]]) -> CostSummary:
    """Aggregate execution records shaped like ``ExecutionRecord.as_dict()``."""
    costs = sorted(float(r["cost_usd"]) for r in records)
    by_tier: dict[str, float] = defaultdict(float)
    by_node: dict[str, float] = defaultdict(float)
    saved = 0.0
    hits = steps = 0
    for record in records:
        for step in record["steps"]:
            steps += 1
            by_tier[step["tier"]] += float(step["cost_usd"])
            by_node[step["node"]] += float(step["cost_usd"])
            saved += float(step.get("saved_cost_usd", 0.0))
            # a spot-checked hit was answered by a model call (StepRecord.from_cache)
            hits += step.get("cache") in ("exact", "semantic") and not step.get("checked")
    return CostSummary(
        executions=len(costs),
        total_usd=sum(costs),
        mean_usd=statistics.fmean(costs) if costs else 0.0,
        p50_usd=nearest_rank(costs, 0.50),
        p95_usd=nearest_rank(costs, 0.95),
        by_tier=_largest_first(by_tier),
        by_node=_largest_first(by_node),
        saved_usd=saved,
        cache_hits=hits,
        steps=steps,
    )


def nearest_rank(ordered: Sequence[float], q: float) -> float:
    """Nearest-rank quantile of sorted values: an observed value, never an interpolated one."""
    if not ordered:
        return 0.0
    return ordered[max(0, math.ceil(len(ordered) * q) - 1)]


def _largest_first(totals: Mapping[str, float]) -> dict[str, float]:
    return dict(sorted(totals.items(), key=lambda item: -item[1]))
