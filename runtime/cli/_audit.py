"""``tierwise audit``: where a workflow's prompt tokens and spend go, and ``--ablate``."""

from __future__ import annotations

import asyncio
import json
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from runtime.cli._errors import ConfigOption, console, fail, runtime_for
from runtime.errors import InputError, TierwiseError


def audit(
    workflow: Annotated[str, typer.Argument(help="The workflow to audit")],
    runs: Annotated[int, typer.Option(min=0, help="Recorded executions to take spend from")] = 200,
    ablate: Annotated[
        bool, typer.Option(help="Re-run --dataset with each instruction segment left out")
    ] = False,
    dataset: Annotated[Path | None, typer.Option(help="Eval set for --ablate")] = None,
    limit: Annotated[int | None, typer.Option(min=1, help="First N items only")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object")] = False,
    config: ConfigOption = None,
) -> None:
    """Tokens per prompt segment, text repeated across segments and nodes, spend by segment.

    Segments are rendered from the latest recorded execution (placeholders when there is
    none); spend comes from the last ``--runs`` recorded executions. ``--ablate`` re-runs
    the eval set once per instruction segment with that segment left out (step cache
    off, every run from warm prefix states) and reports the change in quality and cost, so
    a team sees which instructions earn their tokens.
    """
    from runtime.lint import audit_workflow

    if ablate:
        _ablate(workflow, dataset, limit, as_json, config)
        return
    runtime = runtime_for(config)
    try:
        records = [
            record
            for row in runtime.runs.recent(limit=runs, workflow=workflow)
            if (record := runtime.runs.get(row["run_id"])) is not None
        ]
        report = audit_workflow(
            runtime.workflows.get(workflow),
            runtime.count_tokens,
            records,
            lambda tier: runtime.tier_spec(tier).price,
        )
    except TierwiseError as exc:
        raise fail(exc) from exc
    finally:
        asyncio.run(runtime.aclose())
    if as_json:
        typer.echo(json.dumps(asdict(report), indent=2))
        return
    out = console()
    table = Table(
        "node",
        "segment",
        "stability",
        "tokens",
        "share of prompt",
        "input spend USD",
        title=f"{report.workflow}: prompt tokens by segment (state from {report.state_source}; "
        f"spend over {report.executions} executions, ${report.spend_usd:.6f} in all)",
    )
    for row in report.segments:
        table.add_row(
            row.node,
            row.segment,
            row.stability,
            str(row.tokens),
            f"{row.share_of_prompt:.0%}",
            f"{row.spend_usd:.6f}",
        )
    out.print(table)
    for duplicate in report.duplicates:
        where = "twice in one prompt" if duplicate.within_one_prompt else "in several prompts"
        out.print(
            f"[yellow]repeated {where}:[/] {duplicate.sentence!r} ({', '.join(duplicate.places)})",
            highlight=False,
        )


def _ablate(
    workflow: str, dataset: Path | None, limit: int | None, as_json: bool, config: Path | None
) -> None:
    """``tierwise audit --ablate``: quality and cost with each instruction segment removed."""
    from runtime.evaluation import evaluate_config, load_dataset
    from runtime.prompts import Stability
    from runtime.steps import steps_of

    if dataset is None:
        raise fail(InputError("--ablate needs --dataset FILE.jsonl (an eval set)"))
    runtime = runtime_for(config)
    loaded = runtime.config
    try:
        steps = steps_of(runtime.workflows.get(workflow).graph.builder)
        items = load_dataset(dataset)[:limit]
    except TierwiseError as exc:
        raise fail(exc) from exc
    finally:
        asyncio.run(runtime.aclose())
    removable = [
        (node, segment.name)
        for node, step in steps.items()
        for segment in step.prompt
        if segment.stability < Stability.VOLATILE
    ]
    results = []
    with tempfile.TemporaryDirectory() as shared:  # prefix states, warm for every ablation
        for removed in [None, *removable]:
            ablated = frozenset() if removed is None else frozenset({removed})
            label = "(nothing removed)" if removed is None else f"{removed[0]}/{removed[1]}"
            results.append(
                asyncio.run(
                    evaluate_config(
                        loaded,
                        workflow,
                        items,
                        scorer="field",
                        ablated=ablated,
                        use_cache=False,
                        label=label,
                        prefix_states=Path(shared),
                    )
                )
            )
    baseline = results[0]
    rows: list[dict[str, Any]] = [
        {
            "removed": result.config,
            "quality": result.quality,
            "quality_change": result.quality - baseline.quality,
            "mean_cost_usd": result.mean_cost_usd,
            "cost_change": result.mean_cost_usd - baseline.mean_cost_usd,
            "cached_input_rate": result.cached_input_rate,
        }
        for result in results
    ]
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    table = Table(
        "removed segment",
        "quality",
        "change",
        "mean cost USD",
        "change",
        title=f"{workflow}: each instruction segment left out, {len(items)} items",
    )
    for row in rows:
        table.add_row(
            str(row["removed"]),
            f"{row['quality']:.3f}",
            f"{row['quality_change']:+.3f}",
            f"{row['mean_cost_usd']:.6f}",
            f"{row['cost_change']:+.6f}",
        )
    console().print(table)
