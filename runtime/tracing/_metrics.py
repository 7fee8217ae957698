"""Prometheus metrics for operators: load, latency, spend and cache effectiveness per tier."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Self

import prometheus_client
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

_LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
_PER_TOKEN_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
"""The exposition format's media type, for the HTTP endpoint."""


class _LabelledOnce(prometheus_client.metrics.MetricWrapperBase):
    """A metric that finds each labelled child once, then from a plain dict.

    ``labels()`` checks and converts the values and takes a lock on every call; right
    after a model call has pushed the interpreter out of the CPU caches, that costs a
    step tens of microseconds per metric, and steps update the same few label sets over
    and over. A race only looks a child up twice: ``labels()`` returns the same one.
    (A removed child would stay remembered; tierwise never removes one.)
    """

    def labels(self, *values: object, **named: object) -> Self:
        if named:
            return super().labels(*values, **named)
        children: dict[tuple[object, ...], Self] = self.__dict__.setdefault("_children", {})
        child = children.get(values)
        if child is None:
            child = children[values] = super().labels(*values)
        return child


class Counter(_LabelledOnce, prometheus_client.Counter):
    pass


class Gauge(_LabelledOnce, prometheus_client.Gauge):
    pass


class Histogram(_LabelledOnce, prometheus_client.Histogram):
    pass


class Metrics:
    """Every tierwise metric, in a registry of its own (one per runtime)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "tierwise_model_requests",
            "Model calls per tier and outcome (ok, error).",
            ["tier", "model", "outcome"],
            registry=r,
        )
        self.ttft = Histogram(
            "tierwise_time_to_first_token_seconds",
            "Time from sending a model call to its first generated token, queueing included.",
            ["tier"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.tpot = Histogram(
            "tierwise_time_per_output_token_seconds",
            "Generation time per output token after the first.",
            ["tier"],
            buckets=_PER_TOKEN_BUCKETS,
            registry=r,
        )
        self.tokens = Counter(
            "tierwise_tokens",
            "Tokens per tier and kind (input, cached_input, output).",
            ["tier", "kind"],
            registry=r,
        )
        self.cost = Counter(
            "tierwise_cost_usd",
            "Spend priced from the tier prices, per workflow and tier.",
            ["workflow", "tier"],
            registry=r,
        )
        self.queue_depth = Gauge(
            "tierwise_queue_depth",
            "Model calls waiting or running per tier: the autoscaling signal.",
            ["tier"],
            registry=r,
        )
        self.cache_lookups = Counter(
            "tierwise_cache_lookups",
            "Step cache lookups per node and outcome (miss, exact, semantic).",
            ["workflow", "node", "outcome"],
            registry=r,
        )
        self.cache_saved = Counter(
            "tierwise_cache_saved_usd",
            "What cache hits saved (the cost of the answers they reused).",
            ["workflow", "node"],
            registry=r,
        )
        self.cache_checks = Counter(
            "tierwise_cache_checks",
            "Semantic hits spot-checked against a fresh answer, by outcome (right, wrong).",
            ["workflow", "node", "outcome"],
            registry=r,
        )
        self.escalations = Counter(
            "tierwise_escalations",
            "Answers passed on to a higher tier, per node and the tier that gave them.",
            ["workflow", "node", "tier"],
            registry=r,
        )
        self.cache_errors = Counter(
            "tierwise_cache_errors",
            "Cache operations that failed or timed out; the step ran uncached.",
            ["operation"],
            registry=r,
        )
        self.run_records_lost = Counter(
            "tierwise_run_records_lost",
            "Executions whose record the run store failed to keep; the answer was returned.",
            ["workflow"],
            registry=r,
        )
        self.fallbacks = Counter(
            "tierwise_fallbacks",
            "Calls a tier's server failed that its fallback tier answered.",
            ["tier", "fallback"],
            registry=r,
        )
        self.execution_seconds = Histogram(
            "tierwise_execution_seconds",
            "Wall time of executions, per traffic lane (interactive, batch).",
            ["workflow", "lane"],
            buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300),
            registry=r,
        )
        self.executions = Counter(
            "tierwise_executions",
            "Workflow executions per outcome (ok, error).",
            ["workflow", "outcome"],
            registry=r,
        )
        r.register(_HitRatio(self.cache_lookups))

    def exposition(self) -> bytes:
        """The registry in Prometheus text format (``CONTENT_TYPE``)."""
        return generate_latest(self.registry)


class _HitRatio(Collector):
    """``tierwise_cache_hit_ratio{workflow,node}``: hits / lookups since start."""

    def __init__(self, lookups: Counter) -> None:
        self._lookups = lookups

    def collect(self) -> Iterator[Metric]:
        totals: dict[tuple[str, str], list[float]] = {}
        for family in self._lookups.collect():
            for sample in family.samples:
                if not sample.name.endswith("_total"):
                    continue
                key = (sample.labels["workflow"], sample.labels["node"])
                hits_and_all = totals.setdefault(key, [0.0, 0.0])
                hits_and_all[1] += sample.value
                if sample.labels["outcome"] != "miss":
                    hits_and_all[0] += sample.value
        ratio = GaugeMetricFamily(
            "tierwise_cache_hit_ratio",
            "Share of step cache lookups answered from the cache, per node.",
            labels=["workflow", "node"],
        )
        for (workflow, node), (hits, lookups) in sorted(totals.items()):
            ratio.add_metric([workflow, node], hits / lookups if lookups else 0.0)
        yield ratio

    def describe(self) -> Iterator[Metric]:
        yield GaugeMetricFamily("tierwise_cache_hit_ratio", "", labels=["workflow", "node"])
