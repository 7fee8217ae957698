"""``tierwise eval calibrate``: the cheapest routing of nodes to tiers that keeps quality.

Every node that calls a model (a Step, or a hand-written node with a tier) may run on any
configured tier. The eval set is split into a calibration part and a held-out part. On
the calibration part, every routing is evaluated, the all-on-the-largest-tier baseline
among them; the cheapest routing whose quality is at least ``target`` times the
baseline's is chosen. Given semantic cache thresholds to try, the chosen routing is then
run with each of them on its semantic steps, and the cheapest that still keeps the target
and answers more from the cache than the policy's own threshold is kept (a lower
threshold answers more from the cache, and more of it wrongly). Given confidences to try,
each routing cheaper than the choice (one that missed the target) is run again with its
Steps below the largest tier escalating answers under that confidence: a cascade, which
keeps the cheap tier's confident answers and pays the large tier for the rest. The
cheapest that reaches the target wins. The choice and the baseline are then run on the
held-out part, which no choice saw: those are the numbers that say whether the choice
holds.

Every configuration starts with empty step caches but shares the embedded engine's
prefix states (prompt prefixes' KV, never answers) and warms its prefixes up before its
first item: each is measured from warm prefixes, as on a server, whatever ran before
it, and the cold prefills are paid once for the whole search instead of once per
configuration.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runtime.config import TierwiseConfig
from runtime.errors import InputError
from runtime.evaluation._harness import ConfigResult, EvalItem, Scorer, evaluate_config
from runtime.registry import Workflow

MAX_ROUTINGS = 64
"""More routings than this would take hours on one machine: narrow the nodes or tiers."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Routing:
    """One assignment of nodes to tiers, and how it did on the calibration part."""

    routes: dict[str, str]
    result: ConfigResult
    cache_thresholds: dict[str, float] = field(default_factory=dict)
    """Semantic steps' thresholds tried with the routing (none: the policies' own)."""
    min_confidence: dict[str, float] = field(default_factory=dict)
    """Nodes that escalate answers under this confidence (none: as the steps declare)."""

    def tables(self) -> dict[str, dict[str, Any]]:
        """The workflow's config tables that these settings fill, by table name."""
        return _tables(self.routes, self.cache_thresholds, self.min_confidence)


def _tables(
    routes: dict[str, str], cache_thresholds: dict[str, float], min_confidence: dict[str, float]
) -> dict[str, dict[str, Any]]:
    return {
        "routes": routes,
        "cache_thresholds": cache_thresholds,
        "min_confidence": min_confidence,
    }


@dataclass(frozen=True, slots=True, kw_only=True)
class Calibration:
    """The search, the choice, and the held-out proof."""

    workflow: str
    target: float
    """The chosen routing's quality is at least this share of the baseline's."""
    calibration_items: int
    holdout_items: int
    baseline: Routing
    """Every node on the most capable (last) tier."""
    routings: list[Routing]
    threshold_trials: list[Routing]
    """The chosen routing with each semantic cache threshold tried (empty: none asked)."""
    confidence_trials: list[Routing]
    """Cheaper routings with each confidence tried as a cascade (empty: none asked)."""
    chosen: Routing
    holdout_chosen: ConfigResult
    holdout_baseline: ConfigResult

    @property
    def holds(self) -> bool:
        """Whether the choice keeps the target on the held-out part too."""
        return self.holdout_chosen.quality >= self.target * self.holdout_baseline.quality

    def as_toml(self) -> str:
        """The ``[routes.<workflow>]`` table to put in tierwise.toml."""
        lines = [
            f"# tierwise eval calibrate: the cheapest routing at >= {self.target:.0%} of the "
            "all-large quality",
            f"# held-out: quality {self.holdout_chosen.quality:.3f} vs "
            f"{self.holdout_baseline.quality:.3f}, cost per execution "
            f"${self.holdout_chosen.mean_cost_usd:.6f} vs "
            f"${self.holdout_baseline.mean_cost_usd:.6f}",
        ]
        for name, table in self.chosen.tables().items():
            if not table:
                continue
            lines.append(f"[{name}.{self.workflow}]")
            lines += [f"{node} = {json.dumps(value)}" for node, value in sorted(table.items())]
        return "\n".join(lines) + "\n"


def split(items: list[EvalItem], holdout: float) -> tuple[list[EvalItem], list[EvalItem]]:
    """(calibration, held-out): every k-th item held out, so both parts span the set."""
    if not 0 < holdout < 1:
        raise InputError("--holdout must be between 0 and 1")
    every = max(2, round(1 / holdout))
    held = [item for index, item in enumerate(items) if index % every == every - 1]
    kept = [item for index, item in enumerate(items) if index % every != every - 1]
    if not held or not kept:
        raise InputError(f"{len(items)} items are too few to hold {holdout:.0%} out")
    return kept, held


async def calibrate(
    config: TierwiseConfig,
    workflow: Workflow,
    items: list[EvalItem],
    *,
    target: float,
    holdout: float,
    scorer: Scorer = "field",
    cache_thresholds: Sequence[float] = (),
    min_confidences: Sequence[float] = (),
    on_item: Callable[[], None] | None = None,
    prefix_states: Path,
) -> Calibration:
    """The cheapest settings on the calibration part, proved on the rest.

    Every routing is searched; then each of ``cache_thresholds`` on the chosen routing;
    then each of ``min_confidences`` on the routings cheaper than the choice. Every
    configuration keeps its prefix states in ``prefix_states`` (shared) and starts warm.
    """
    nodes = workflow.routable_nodes()
    tiers = list(config.tiers)
    if not nodes:
        raise InputError(f"workflow {workflow.name!r} has no node with a tier to route")
    if len(tiers) ** len(nodes) > MAX_ROUTINGS:
        raise InputError(
            f"{len(tiers)} tiers and {len(nodes)} nodes make {len(tiers) ** len(nodes)} "
            f"routings, over {MAX_ROUTINGS}"
        )
    calibration, held_out = split(items, holdout)

    async def evaluate(
        routes: dict[str, str],
        part: list[EvalItem],
        cache_thresholds: dict[str, float] | None = None,
        min_confidence: dict[str, float] | None = None,
    ) -> Routing:
        thresholds, floors = cache_thresholds or {}, min_confidence or {}
        label = ", ".join(
            [f"{node}={tier}" for node, tier in routes.items()]
            + [f"{node}@{t}" for node, t in thresholds.items()]
            + [f"{node}>={c}" for node, c in floors.items()]
        )
        update = {
            name: {**getattr(config, name), workflow.name: table}
            for name, table in _tables(routes, thresholds, floors).items()
        }
        result = await evaluate_config(
            config.model_copy(update=update),
            workflow.name,
            part,
            scorer=scorer,
            on_item=on_item,
            label=label,
            prefix_states=prefix_states,
        )
        return Routing(
            routes=routes, result=result, cache_thresholds=thresholds, min_confidence=floors
        )

    async def prove(routing: Routing) -> ConfigResult:
        """The routing's settings on the held-out part."""
        settings = (routing.routes, held_out, routing.cache_thresholds, routing.min_confidence)
        return (await evaluate(*settings)).result

    routings = [
        await evaluate(dict(zip(nodes, choice, strict=True)), calibration)
        for choice in itertools.product(tiers, repeat=len(nodes))
    ]
    largest = {node: tiers[-1] for node in nodes}
    baseline = next(r for r in routings if r.routes == largest)
    bar = target * baseline.result.quality
    good = [r for r in routings if r.result.quality >= bar]
    chosen = min(good, key=lambda r: r.result.mean_cost_usd)  # the baseline is always good
    trials = []
    semantic = workflow.semantic_nodes() if cache_thresholds else []
    for threshold in sorted(set(cache_thresholds), reverse=True):  # ties: the safer one
        thresholds = dict.fromkeys(semantic, threshold)
        trials.append(await evaluate(chosen.routes, calibration, thresholds))
    # a threshold earns its place only by answering more from the cache; with no more
    # hits than the policy's own threshold, a cost difference is the models' variance
    kept = [
        t
        for t in trials
        if t.result.quality >= bar and t.result.cache_hit_rate > chosen.result.cache_hit_rate
    ]
    if kept:
        chosen = min([chosen, *kept], key=lambda r: r.result.mean_cost_usd)
    cascades = []
    cheaper = [r for r in routings if r.result.mean_cost_usd < chosen.result.mean_cost_usd]
    steps = workflow.step_nodes()  # a hand-written model node has no cascade to take a floor
    for routing in sorted(cheaper, key=lambda r: r.result.mean_cost_usd):
        below = [node for node in steps if routing.routes[node] != tiers[-1]]
        if not below:
            continue  # only hand-written nodes are cheaper here: nothing to cascade
        for floor in sorted(set(min_confidences), reverse=True):  # ties: the safer one
            floors = dict.fromkeys(below, floor)
            cascades.append(
                await evaluate(routing.routes, calibration, chosen.cache_thresholds, floors)
            )
    good = [c for c in cascades if c.result.quality >= bar]
    chosen = min([chosen, *good], key=lambda r: r.result.mean_cost_usd)
    return Calibration(
        workflow=workflow.name,
        target=target,
        calibration_items=len(calibration),
        holdout_items=len(held_out),
        baseline=baseline,
        routings=routings,
        threshold_trials=trials,
        confidence_trials=cascades,
        chosen=chosen,
        holdout_chosen=await prove(chosen),
        holdout_baseline=await prove(baseline),
    )
