"""``tierwise traces`` and ``tierwise costs``: the local span and run stores, read back."""

from __future__ import annotations

import json
import re
import time
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.tree import Tree

from runtime.cli._errors import ConfigOption, console, fail
from runtime.config import TierwiseConfig, load_config
from runtime.costs import summarise
from runtime.errors import ConfigError, InputError
from runtime.execution import RunStore
from runtime.tracing import StoredSpan, TraceStore
from runtime.tracing import attributes as a

traces_app = typer.Typer(help="Executions and their step trees, from the local store.")

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd])\s*$")
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


@traces_app.command("list")
def traces_list(
    workflow: Annotated[str | None, typer.Option(help="Only this workflow")] = None,
    limit: Annotated[int, typer.Option(min=1, help="How many, newest first")] = 20,
    config: ConfigOption = None,
) -> None:
    """The newest executions: run id, workflow, tenant, cost and latency."""
    runs = RunStore(_config(config).state_dir / "runs.sqlite").recent(
        limit=limit, workflow=workflow
    )
    table = Table("run id", "workflow", "tenant", "finished", "cost USD", "ms")
    for run in runs:
        finished = datetime.fromtimestamp(run["finished_at"]).strftime("%Y-%m-%d %H:%M:%S")
        table.add_row(
            run["run_id"],
            run["workflow"],
            run["tenant"],
            finished,
            f"{run['cost_usd']:.6f}",
            f"{run['latency_ms']:.0f}",
        )
    console().print(table)


@traces_app.command("show")
def traces_show(
    run_id: Annotated[str, typer.Argument(help="A run id from `tierwise traces list`")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the span tree as JSON")] = False,
    config: ConfigOption = None,
) -> None:
    """The step tree of one execution: tier, tokens, cost, saved cost, cache and latency."""
    root = TraceStore(_config(config).state_dir / "traces.sqlite").tree(run_id)
    if root is None:
        raise fail(InputError(f"no trace stored for run {run_id!r} (tracing.local off?)"))
    if as_json:
        typer.echo(json.dumps(_as_dict(root), indent=2))
        return
    tree = Tree(_label(root))
    _grow(tree, root)
    console().print(tree)


def costs(
    workflow: Annotated[str | None, typer.Option(help="Only this workflow")] = None,
    since: Annotated[
        str | None, typer.Option(help="Only executions this recent: 90s, 30m, 24h, 7d")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object")] = False,
    config: ConfigOption = None,
) -> None:
    """Cost per execution (mean, p50, p95), spend by tier and by node, cache savings."""
    cutoff = 0.0 if since is None else time.time() - _seconds(since)
    records = RunStore(_config(config).state_dir / "runs.sqlite").records(
        workflow=workflow, since=cutoff
    )
    summary = summarise(records)
    if as_json:
        typer.echo(json.dumps(summary.as_dict(), indent=2))
        return
    out = console()
    scope = f"{workflow or 'all workflows'}" + (f", last {since}" if since else "")
    head = Table("executions", "total USD", "mean USD", "p50 USD", "p95 USD", "saved USD")
    head.title = f"cost per execution ({scope})"
    head.add_row(
        str(summary.executions),
        f"{summary.total_usd:.6f}",
        f"{summary.mean_usd:.6f}",
        f"{summary.p50_usd:.6f}",
        f"{summary.p95_usd:.6f}",
        f"{summary.saved_usd:.6f}",
    )
    out.print(head)
    for title, spend in (("tier", summary.by_tier), ("node", summary.by_node)):
        table = Table(title, "USD", "share", title=f"spend by {title}")
        for name, usd in spend.items():
            share = usd / summary.total_usd if summary.total_usd else 0.0
            table.add_row(name, f"{usd:.6f}", f"{share:.0%}")
        out.print(table)
    hit_rate = summary.cache_hits / summary.steps if summary.steps else 0.0
    out.print(f"cache: {summary.cache_hits} of {summary.steps} steps answered ({hit_rate:.0%})")


def _seconds(since: str) -> float:
    match = _DURATION.match(since)
    if match is None:
        raise fail(InputError(f"--since {since!r}: expected a number and s, m, h or d (24h)"))
    return float(match.group(1)) * _SECONDS[match.group(2)]


def _config(path: Path | None) -> TierwiseConfig:
    try:
        return load_config(path)
    except ConfigError as exc:
        raise fail(exc) from exc


def _label(span: StoredSpan) -> str:
    attrs = span.attributes
    parts = [f"[bold]{span.name}[/]"]
    if a.TIER in attrs and not span.name.startswith("step"):
        parts.append(f"tier {attrs[a.TIER]}")
    if a.GEN_AI_INPUT_TOKENS in attrs:
        parts.append(
            f"tokens {attrs[a.GEN_AI_INPUT_TOKENS]} in ({attrs[a.GEN_AI_CACHE_READ_TOKENS]} "
            f"cached) / {attrs[a.GEN_AI_OUTPUT_TOKENS]} out"
        )
    if a.CACHE_OUTCOME in attrs:
        similarity = attrs.get(a.CACHE_SIMILARITY)
        parts.append(
            f"cache {attrs[a.CACHE_OUTCOME]}" + (f" {similarity:.2f}" if similarity else "")
        )
    if a.COST_USD in attrs:
        parts.append(f"${attrs[a.COST_USD]:.6f}")
    if attrs.get(a.SAVED_COST_USD):
        parts.append(f"saved ${attrs[a.SAVED_COST_USD]:.6f}")
    if a.TTFT_MS in attrs:
        parts.append(f"ttft {attrs[a.TTFT_MS]:.0f} ms")
    parts.append(f"{span.duration_ms:.0f} ms")
    if span.status == "ERROR":
        parts.append("[red]error[/]")
    return "  ".join(parts)


def _grow(tree: Tree, span: StoredSpan) -> None:
    for child in span.children:
        _grow(tree.add(_label(child)), child)


def _as_dict(span: StoredSpan) -> dict[str, Any]:
    return {
        "name": span.name,
        "span_id": span.span_id,
        "duration_ms": round(span.duration_ms, 2),
        "status": span.status,
        "attributes": span.attributes,
        "children": [_as_dict(child) for child in span.children],
    }
