"""``tierwise eval run``: quality, cost and latency of a workflow, per configuration.

Each configuration runs the whole dataset with empty step caches (its state goes to a
temporary folder), so the numbers of one configuration never depend on another's run.
Given a folder of prefix states to share, each also warms its prompt prefixes up before
its first item, so every configuration is measured warm, whichever ran before it.
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from runtime._jsonl import read_jsonl
from runtime._runtime import Runtime
from runtime.config import TierwiseConfig
from runtime.costs import nearest_rank
from runtime.errors import InputError, TierwiseError
from runtime.evaluation._scorers import (
    exact_match,
    field_match,
    judge_prompt,
)
from runtime.execution import ExecutionRecord
from runtime.prompts import Message
from runtime.steps import call_model
from runtime.steps._judge import JUDGE_INSTRUCTIONS, JudgeScore
from runtime.tracing import Score

Scorer = Literal["field", "exact", "judge"]


class EvalItem(BaseModel):
    """One dataset line: an input and what a good output has."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    input: dict[str, Any]
    expect: dict[str, Any] | None = None
    """Dotted output paths -> expected values (field and exact scorers)."""
    rubric: str | None = None
    """What a good output does (judge scorer)."""


def load_dataset(path: Path) -> list[EvalItem]:
    """Read a JSONL dataset; a bad line is an error naming the file and line."""
    return read_jsonl(path, EvalItem, what="an eval item")


@dataclass(frozen=True, slots=True, kw_only=True)
class ConfigResult:
    """How one configuration did on the dataset."""

    config: str
    executions: int
    failures: int
    quality: float
    """Mean score, 0 to 1; a failed execution scores 0."""
    mean_cost_usd: float
    p95_cost_usd: float
    p50_latency_ms: float
    p95_latency_ms: float
    cache_hit_rate: float
    """Steps answered from the step cache / steps."""
    cached_input_rate: float
    """Prompt tokens read from reused prefix states / prompt tokens, every model call."""
    escalation_rate: float
    """Answers passed on to a higher tier / steps answered."""
    judge_cost_usd: float
    """What judging cost (not part of the workflow's cost)."""

    def as_dict(self) -> dict[str, Any]:
        """The JSON shape of ``tierwise eval run --json``."""
        return asdict(self)


async def evaluate_config(
    config: TierwiseConfig,
    workflow: str,
    items: list[EvalItem],
    *,
    scorer: Scorer,
    judge_tier: str | None = None,
    judge_fields: list[str] | None = None,
    on_item: Callable[[], None] | None = None,
    ablated: frozenset[tuple[str, str]] = frozenset(),
    use_cache: bool = True,
    label: str | None = None,
    prefix_states: Path | None = None,
) -> ConfigResult:
    """Run every item through ``workflow`` on ``config`` and score the outputs.

    ``ablated`` (node, segment) pairs are left out of the prompts (an ablation study, run
    with ``use_cache=False`` so every answer comes from the model). Given ``prefix_states``
    (a folder other configurations use too), the embedded engine keeps its prefix states
    there and the workflow's prefixes are warmed up before the first item: every
    configuration is then measured from warm prefixes, as on a server that warmed up at
    start, whichever ran before it, and none pays the cold prefills again.
    """
    if scorer == "judge" and judge_tier is None:
        raise InputError("the judge scorer needs --judge-tier")
    with tempfile.TemporaryDirectory() as state:
        runtime = Runtime(config.isolated(Path(state), prefix_states=prefix_states))
        try:
            if prefix_states is not None:
                await runtime.warm_up(workflow, ablated=ablated)  # a server does it at start
            records: list[ExecutionRecord] = []
            scores: list[float] = []
            judge_cost = 0.0
            failures = 0
            pushed: list[Score] = []
            for item in items:
                try:
                    record = await runtime.run(
                        workflow, item.input, use_cache=use_cache, ablated=ablated
                    )
                except TierwiseError:
                    failures += 1
                    scores.append(0.0)
                else:
                    records.append(record)
                    score, cost = await _score(
                        runtime, record, item, scorer, judge_tier, judge_fields
                    )
                    scores.append(score)
                    judge_cost += cost
                    if record.trace_id is not None:
                        name = f"tierwise.eval.{scorer}"
                        comment = label or Path(config.source).name
                        pushed.append(Score(record.trace_id, name, score, comment))
                if on_item is not None:
                    on_item()
            # each execution's trace in Langfuse gets its score (when Langfuse is set up)
            await asyncio.to_thread(runtime.telemetry.push_scores, pushed)
        finally:
            await runtime.aclose()
    return _summarise(label or config.source, records, scores, failures, judge_cost)


async def _score(
    runtime: Runtime,
    record: ExecutionRecord,
    item: EvalItem,
    scorer: Scorer,
    judge_tier: str | None,
    judge_fields: list[str] | None,
) -> tuple[float, float]:
    """(score, what judging cost)."""
    if scorer in ("field", "exact"):
        if item.expect is None:
            raise InputError(f"the {scorer} scorer needs 'expect' on every item")
        match = field_match if scorer == "field" else exact_match
        return match(record.output, item.expect), 0.0
    if item.rubric is None or judge_tier is None:
        raise InputError("the judge scorer needs 'rubric' on every item and --judge-tier")
    with runtime.execution("eval-judge", use_cache=False) as judging:
        verdict, _ = await call_model(
            node="judge",
            tier=judge_tier,
            messages=(
                Message("system", JUDGE_INSTRUCTIONS),
                Message("user", judge_prompt(item.rubric, record.output, judge_fields)),
            ),
            output=JudgeScore,
            max_tokens=16,
        )
    assert isinstance(verdict, JudgeScore)
    return verdict.score / 10, sum(step.cost_usd for step in judging.steps)


def _summarise(
    config: str,
    records: list[ExecutionRecord],
    scores: list[float],
    failures: int,
    judge_cost: float,
) -> ConfigResult:
    costs = sorted(record.cost_usd for record in records) or [0.0]
    latencies = sorted(record.latency_ms for record in records) or [0.0]
    steps = [step for record in records for step in record.steps]
    answered = [step for step in steps if step.escalation is None]
    hits = sum(step.from_cache for step in steps)
    prompt = sum(step.usage.input_tokens for step in steps)
    escalated = sum(step.escalation is not None for step in steps)
    return ConfigResult(
        config=config,
        executions=len(scores),
        failures=failures,
        quality=statistics.fmean(scores) if scores else 0.0,
        mean_cost_usd=statistics.fmean(costs),
        p95_cost_usd=nearest_rank(costs, 0.95),
        p50_latency_ms=nearest_rank(latencies, 0.50),
        p95_latency_ms=nearest_rank(latencies, 0.95),
        cache_hit_rate=hits / len(steps) if steps else 0.0,
        cached_input_rate=sum(s.usage.cached_input_tokens for s in steps) / prompt
        if prompt
        else 0.0,
        escalation_rate=escalated / len(answered) if answered else 0.0,
        judge_cost_usd=judge_cost,
    )


def write_report(
    results: list[ConfigResult], *, workflow: str, dataset: Path, scorer: str, report: Path
) -> Path:
    """A Markdown table and, next to it, a PNG of the cost/quality frontier; the chart path."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    chart = report.with_suffix(".png")
    lines = [
        f"# {workflow} on {dataset.name} ({scorer} scorer)",
        "",
        "Measured by `tierwise eval run`; every configuration starts with empty step caches "
        "and warm prefix states.",
        "",
        "| config | executions | failed | quality | mean cost USD | p95 cost USD | p50 ms | p95 ms "
        "| cache hits | escalations | cached input |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {Path(r.config).name} | {r.executions} | {r.failures} | {r.quality:.3f} | "
            f"{r.mean_cost_usd:.6f} | {r.p95_cost_usd:.6f} | {r.p50_latency_ms:.0f} | "
            f"{r.p95_latency_ms:.0f} | {r.cache_hit_rate:.0%} | {r.escalation_rate:.0%} | "
            f"{r.cached_input_rate:.0%} |"
        )
    lines += ["", f"![cost and quality per configuration]({chart.name})", ""]
    report.parent.mkdir(parents=True, exist_ok=True)
    report.write_text("\n".join(lines))
    figure, axes = pyplot.subplots(figsize=(6, 4))
    per_thousand = 1000  # executions cost fractions of a cent: ticks in dollars would collide
    for r in results:
        axes.scatter(r.mean_cost_usd * per_thousand, r.quality)
        axes.annotate(Path(r.config).stem, (r.mean_cost_usd * per_thousand, r.quality))
    frontier = _frontier(results)
    axes.plot(
        [r.mean_cost_usd * per_thousand for r in frontier],
        [r.quality for r in frontier],
        linestyle="--",
    )
    axes.set_xlim(left=0)  # from zero, so the distance between costs reads as their ratio
    axes.set_xlabel("mean cost per 1,000 executions (USD)")
    axes.set_ylabel("quality")
    axes.set_title(f"{workflow}: cost / quality")
    figure.tight_layout()
    figure.savefig(chart, dpi=100)
    pyplot.close(figure)
    return chart


def _frontier(results: list[ConfigResult]) -> list[ConfigResult]:
    """Configurations no other beats on both cost and quality, cheapest first."""
    ordered = sorted(results, key=lambda r: (r.mean_cost_usd, -r.quality))
    frontier: list[ConfigResult] = []
    for result in ordered:
        if not frontier or result.quality > frontier[-1].quality:
            frontier.append(result)
    return frontier
