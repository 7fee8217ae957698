"""``tierwise eval ...``: measuring the caches and workflows, and calibrating routes."""

from __future__ import annotations

import asyncio
import functools
import json
import tempfile
from pathlib import Path
from typing import Annotated, Any, cast

import typer
from rich.console import Console
from rich.table import Table

from runtime.cache import CachePolicy, LocalEmbedder, QdrantSemanticCache
from runtime.cache._evaluation import (
    EVAL_SCOPE,
    CacheEvalReport,
    ParaphrasePair,
    calibrate,
    distractors,
    evaluate,
    explain,
    fill,
    load_pairs,
    outcome,
    sweep,
)
from runtime.cli._errors import console, fail, writable
from runtime.errors import InputError, TierwiseError

eval_app = typer.Typer(help="Measure quality, cost and latency.", no_args_is_help=True)


@eval_app.command("cache")
def eval_cache(
    pairs: Annotated[Path, typer.Option(help="JSONL lines: query, cached, same")],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object")] = False,
    threshold: Annotated[float, typer.Option(help="Similarity a hit needs")] = CachePolicy(
        key=("q",)
    ).threshold,
    fill_to: Annotated[
        int, typer.Option("--fill", help="Grow the cache to this many entries first")
    ] = 0,
    max_wrong_hit_rate: Annotated[
        float | None,
        typer.Option(help="Calibrate: use the best threshold whose wrong-hit rate stays within"),
    ] = None,
    feedback: Annotated[
        bool,
        typer.Option(
            "--feedback",
            help="Also report each hit right or wrong as it happens (per-entry thresholds)",
        ),
    ] = False,
    explained: Annotated[
        Path | None,
        typer.Option(
            "--explain",
            help="Write a JSONL file: each pair's outcome, similarity and the guards' verdict",
        ),
    ] = None,
) -> None:
    """Fill a fresh semantic cache with the pairs' cached texts and score every lookup.

    Reports tierwise's cache (threshold + guards) and, from the same index in the same
    run, the single-static-threshold baseline (threshold only). With ``--feedback``, a
    third run reports every hit right or wrong as it happens and meets the per-entry
    thresholds learned so far. ``--explain`` writes, pair by pair, what tierwise's cache
    found, the static threshold's outcome, and why a pair's own entry was or was not
    returned (the guard that refused it, or its corrected similarity).
    """
    try:
        labelled = load_pairs(pairs)
        if explained is not None:
            writable(explained, "--explain")
    except InputError as exc:
        raise fail(exc) from exc
    try:
        guarded, baseline, learned, lines = _evaluate_all(
            labelled, threshold, fill_to, max_wrong_hit_rate, feedback, explained is not None
        )
    except InputError as exc:
        raise fail(exc) from exc
    if explained is not None:
        explained.write_text("".join(json.dumps(line) + "\n" for line in lines))
    if as_json:
        result = {**guarded.as_dict(), "baseline": baseline.as_dict()}
        if learned is not None:
            result["with_feedback"] = learned.as_dict()
        typer.echo(json.dumps(result, indent=2))
        return
    table = Table(
        "cache",
        "hit rate",
        "wrong hits / hits",
        "p50 ms",
        "p95 ms",
        "entries",
        title=f"{pairs} ({len(labelled)} pairs, threshold {guarded.threshold})",
    )
    rows = [("tierwise (guards)", guarded), ("static threshold", baseline)]
    if learned is not None:
        rows.append(("tierwise + feedback", learned))
    for name, report in rows:
        table.add_row(
            name,
            f"{report.hit_rate:.1%}",
            f"{report.wrong_hit_rate:.1%}",
            f"{report.p50_ms:.1f}",
            f"{report.p95_ms:.1f}",
            str(report.entries),
        )
    console().print(table)


@eval_app.command("run")
def eval_run(
    workflow: Annotated[str, typer.Argument(help="A registered workflow")],
    dataset: Annotated[Path, typer.Option(help="JSONL lines: input, expect and/or rubric")],
    configs: Annotated[
        list[Path] | None,
        typer.Option("--config", "-c", help="A configuration to compare (repeatable)"),
    ] = None,
    scorer: Annotated[str, typer.Option(help="field, exact or judge")] = "field",
    judge_tier: Annotated[str | None, typer.Option(help="The judge's tier")] = None,
    limit: Annotated[int | None, typer.Option(min=1, help="Only the first N items")] = None,
    report: Annotated[
        Path | None, typer.Option(help="Markdown report (a PNG chart goes next to it)")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object")] = False,
) -> None:
    """Quality, cost per execution, latency, cache hits and escalations, per configuration.

    Each configuration starts with empty step caches and warm prefix states.
    """
    from rich.progress import Progress

    from runtime.config import load_config
    from runtime.errors import ConfigError
    from runtime.evaluation import Scorer, evaluate_config, load_dataset, write_report

    if scorer not in ("field", "exact", "judge"):
        raise fail(InputError(f"--scorer {scorer!r}: expected field, exact or judge"))
    target = report or Path("evals/reports") / f"eval_{workflow}.md"
    try:
        writable(target, "--report")
        items = load_dataset(dataset)[:limit]
        paths: list[Path | None] = list(configs) if configs else [None]
        loaded = [load_config(path) for path in paths]
    except (InputError, ConfigError) as exc:
        raise fail(exc) from exc
    results = []
    with (
        Progress(console=Console(stderr=True), transient=as_json) as progress,
        tempfile.TemporaryDirectory() as prefix_states,  # shared: each configuration warm
    ):
        for config in loaded:
            task = progress.add_task(Path(config.source).name, total=len(items))
            try:
                results.append(
                    asyncio.run(
                        evaluate_config(
                            config,
                            workflow,
                            items,
                            scorer=cast(Scorer, scorer),
                            judge_tier=judge_tier,
                            on_item=functools.partial(progress.advance, task),
                            prefix_states=Path(prefix_states),
                        )
                    )
                )
            except TierwiseError as exc:
                raise fail(exc) from exc
    chart = write_report(results, workflow=workflow, dataset=dataset, scorer=scorer, report=target)
    if as_json:
        body = {
            "results": [r.as_dict() for r in results],
            "report": str(target),
            "chart": str(chart),
        }
        typer.echo(json.dumps(body, indent=2))
        return
    console().print(target.read_text())
    console().print(f"wrote {target} and {chart}")


def _evaluate_all(
    labelled: list[ParaphrasePair],
    threshold: float,
    fill_to: int,
    max_wrong_hit_rate: float | None,
    feedback: bool,
    explaining: bool,
) -> tuple[CacheEvalReport, CacheEvalReport, CacheEvalReport | None, list[dict[str, Any]]]:
    """Tierwise, the static-threshold baseline and tierwise with feedback, on one index.

    And, when ``explaining``, each pair explained (``--explain``; none otherwise).
    """
    with tempfile.TemporaryDirectory() as folder:
        index = QdrantSemanticCache.open(LocalEmbedder(), path=Path(folder), url=None)
        try:
            texts = [pair.cached for pair in labelled]
            entries = fill(index, texts + distractors(max(0, fill_to - len(set(texts)))))
            index.search_blocking(EVAL_SCOPE, CachePolicy(key=("q",)), "warm the model up")
            if max_wrong_hit_rate is not None:
                points = sweep(index, labelled, guards=True)
                threshold = calibrate(points, max_wrong_hit_rate=max_wrong_hit_rate).threshold
            guarded = evaluate(index, labelled, threshold=threshold, guards=True, entries=entries)
            baseline = evaluate(index, labelled, threshold=threshold, guards=False, entries=entries)
            lines = (
                [
                    {**line, "static_outcome": outcome(pair, found)}
                    for line, pair, found in zip(
                        explain(index, labelled, guarded), labelled, baseline.found, strict=True
                    )
                ]
                if explaining
                else []
            )
            learned = None
            if feedback:
                learned = evaluate(
                    index,
                    labelled,
                    threshold=threshold,
                    guards=True,
                    entries=entries,
                    feedback=True,
                )
        finally:
            asyncio.run(index.aclose())
    return guarded, baseline, learned, lines


@eval_app.command("calibrate")
def eval_calibrate(
    workflow: Annotated[str, typer.Argument(help="A registered workflow")],
    dataset: Annotated[Path, typer.Option(help="JSONL lines: input and expect")],
    target: Annotated[
        float, typer.Option(min=0.01, max=1.0, help="Quality to keep, as a share of all-large")
    ] = 0.99,
    holdout: Annotated[float, typer.Option(help="Share of the items held out for proof")] = 0.3,
    limit: Annotated[int | None, typer.Option(min=2, help="Only the first N items")] = None,
    out: Annotated[
        Path | None,
        typer.Option(help="Write the chosen [routes.<workflow>] (and threshold) tables here"),
    ] = None,
    cache_threshold: Annotated[
        list[float] | None,
        typer.Option(
            min=0.01,
            max=1.0,
            help="A semantic cache threshold to try on the chosen routing (repeatable)",
        ),
    ] = None,
    min_confidence: Annotated[
        list[float] | None,
        typer.Option(
            min=0.01,
            max=0.99,
            help="A confidence under which cheaper routings escalate, to try (repeatable)",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object")] = False,
    config: Annotated[
        Path | None, typer.Option("--config", "-c", help="The configuration to calibrate")
    ] = None,
) -> None:
    """The cheapest routing of nodes to tiers that keeps ``--target`` of all-large quality.

    Every routing is tried on part of the set, then each ``--cache-threshold`` on the
    chosen routing's semantic steps, then each ``--min-confidence`` as a cascade on the
    routings cheaper than the choice; the choice is proved on the held-out rest.
    """
    from rich.progress import Progress

    from runtime._runtime import Runtime
    from runtime.config import load_config
    from runtime.errors import ConfigError
    from runtime.evaluation import calibrate, load_dataset

    try:
        if out is not None:
            writable(out, "--out")
        items = load_dataset(dataset)[:limit]
        loaded = load_config(config)
        runtime = Runtime(loaded)
        found = runtime.workflows.get(workflow)
    except (InputError, ConfigError) as exc:
        raise fail(exc) from exc
    asyncio.run(runtime.aclose())
    thresholds = cache_threshold or []
    if thresholds and not found.semantic_nodes():
        raise fail(InputError(f"workflow {workflow!r} has no semantic cache to calibrate"))
    routings = len(loaded.tiers) ** len(found.routable_nodes())
    floors = min_confidence or []
    # at most: cascades are tried only on the routings cheaper than the choice
    runs = (routings + len(thresholds) + (routings - 1) * len(floors)) * len(items)
    runs += len(items)
    with (
        Progress(console=Console(stderr=True), transient=True) as progress,
        tempfile.TemporaryDirectory() as prefix_states,  # shared: each configuration warm
    ):
        task = progress.add_task("routings", total=runs)
        try:
            result = asyncio.run(
                calibrate(
                    loaded,
                    found,
                    items,
                    target=target,
                    holdout=holdout,
                    cache_thresholds=thresholds,
                    min_confidences=floors,
                    on_item=functools.partial(progress.advance, task),
                    prefix_states=Path(prefix_states),
                )
            )
        except TierwiseError as exc:
            raise fail(exc) from exc
    if out is not None:
        out.write_text(result.as_toml())
    if as_json:
        body = {
            "routes": result.chosen.routes,
            "cache_thresholds": result.chosen.cache_thresholds,
            "min_confidence": result.chosen.min_confidence,
            "holds": result.holds,
            "calibration": {
                "items": result.calibration_items,
                "chosen": result.chosen.result.as_dict(),
                "baseline": result.baseline.result.as_dict(),
                "routings": [r.result.as_dict() for r in result.routings],
                "threshold_trials": [r.result.as_dict() for r in result.threshold_trials],
                "confidence_trials": [r.result.as_dict() for r in result.confidence_trials],
            },
            "holdout": {
                "items": result.holdout_items,
                "chosen": result.holdout_chosen.as_dict(),
                "baseline": result.holdout_baseline.as_dict(),
            },
        }
        typer.echo(json.dumps(body, indent=2))
        return
    table = Table(
        "routing",
        "quality",
        "mean cost USD",
        title=f"{workflow}: routings on {result.calibration_items} calibration items",
    )
    tried = [*result.routings, *result.threshold_trials, *result.confidence_trials]
    for routing in sorted(tried, key=lambda r: r.result.mean_cost_usd):
        mark = " (chosen)" if routing is result.chosen else ""
        table.add_row(
            routing.result.config + mark,
            f"{routing.result.quality:.3f}",
            f"{routing.result.mean_cost_usd:.6f}",
        )
    out_console = console()
    out_console.print(table)
    verdict = "holds" if result.holds else "does NOT hold"
    out_console.print(
        f"held out ({result.holdout_items} items): chosen quality "
        f"{result.holdout_chosen.quality:.3f} at ${result.holdout_chosen.mean_cost_usd:.6f}, "
        f"all-large {result.holdout_baseline.quality:.3f} at "
        f"${result.holdout_baseline.mean_cost_usd:.6f}: the target {verdict}",
        highlight=False,
    )
