"""The ``tierwise`` command."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import tempfile
from collections.abc import Coroutine, Sequence
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.table import Table

from runtime._runtime import DEFAULT_TENANT, Runtime
from runtime.cli._audit import audit
from runtime.cli._errors import ConfigOption, console, fail, runtime_for, writable
from runtime.cli._eval import eval_app
from runtime.cli._traces import costs, traces_app
from runtime.config import load_config
from runtime.errors import ConfigError, InputError, TierwiseError
from runtime.execution import ExecutionRecord, StepRecord

T = TypeVar("T")

app = typer.Typer(
    help="Run tiered LangGraph workflows and see what each step cost.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)

app.add_typer(eval_app, name="eval")
app.add_typer(traces_app, name="traces")
app.command()(costs)
app.command()(audit)


@app.command()
def workflows(config: ConfigOption = None) -> None:
    """List the registered workflows."""
    runtime = runtime_for(config)
    table = Table("workflow", "description")
    for name in runtime.workflows.names():
        table.add_row(name, runtime.workflows.get(name).description)
    console().print(table)


@app.command()
def run(
    workflow: Annotated[str, typer.Argument(help="A registered workflow name")],
    input_json: Annotated[
        str | None, typer.Option("--input", "-i", help="The input as a JSON object")
    ] = None,
    input_file: Annotated[
        Path | None, typer.Option("--input-file", help="A file holding the input JSON")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object")] = False,
    tenant: Annotated[str, typer.Option(help="Tenant the run is for")] = DEFAULT_TENANT,
    warm_up: Annotated[
        bool, typer.Option(help="Prefill the steps' static prefixes first, as a server does")
    ] = True,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Bypass the step cache")] = False,
    config: ConfigOption = None,
) -> None:
    """Execute a workflow once and print its output and per-step cost."""
    raw_input = _read_input(input_json, input_file)
    runtime = runtime_for(config)
    try:
        warm, record = asyncio.run(
            _run_once(runtime, workflow, raw_input, tenant, warm_up, not no_cache)
        )
    except TierwiseError as exc:
        raise fail(exc) from exc
    if as_json:
        result = {**record.as_dict(), "warm_up": [step.as_dict() for step in warm]}
        typer.echo(json.dumps(result, indent=2, default=str))
    else:
        out = console()
        out.print_json(json.dumps(record.output, default=str))
        if warm:
            out.print(_steps_table(warm, title="warm-up (not part of the execution)"))
        out.print(
            _steps_table(
                record.steps,
                title=f"{record.workflow} run {record.run_id}",
                total=(record.cost_usd, record.saved_cost_usd, record.latency_ms),
            )
        )
        if record.trace_url:
            out.print(f"trace: {record.trace_url}")


cache_app = typer.Typer(help="Inspect and tune the step cache.", no_args_is_help=True)
app.add_typer(cache_app, name="cache")


@cache_app.command("feedback")
def cache_feedback(
    run_id: Annotated[str, typer.Argument(help="The run whose step hit the semantic cache")],
    node: Annotated[str, typer.Argument(help="The node that was answered from the cache")],
    correct: Annotated[
        bool, typer.Option("--correct/--wrong", help="Was the reused answer right?")
    ],
    config: ConfigOption = None,
) -> None:
    """Report a semantic hit right or wrong: its entry re-derives its own threshold."""
    runtime = runtime_for(config)
    threshold = _run_then_close(runtime, runtime.cache_feedback(run_id, node, correct=correct))
    console().print(f"entry threshold now {threshold:.4f} (hits below it miss)")


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to bind (default: server.host)")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default: server.port)")] = None,
    warm_up: Annotated[
        bool, typer.Option(help="Prefill every step's prefix at start (/readyz waits for it)")
    ] = True,
    config: ConfigOption = None,
) -> None:
    """Serve every registered workflow over HTTP (and the LangGraph Platform API)."""
    import uvicorn

    from runtime.server import ApiKeys, create_app

    runtime = runtime_for(config)
    settings = runtime.config.server
    bind_host = host or settings.host
    bind_port = settings.port if port is None else port
    try:
        keys = ApiKeys.load(settings.api_keys, os.environ, source=runtime.config.source)
        for name in runtime.workflows.names():  # loading checks their per-node settings
            runtime.workflows.get(name)
    except ConfigError as exc:
        raise fail(exc) from exc
    if not keys and not _is_loopback(bind_host):
        raise fail(
            InputError(
                f"refusing to serve on {bind_host} without API keys: set server.api_keys or "
                "TIERWISE_API_KEYS, or bind to 127.0.0.1"
            )
        )
    out = console()
    url = f"http://{bind_host}:{bind_port}"
    if not keys:
        out.print(f"no API keys configured: serving tenant 'default' on loopback only ({url})")
    names = runtime.workflows.names()
    out.print(f"tierwise serving {', '.join(names) or 'no workflows'} at {url} (docs: {url}/docs)")
    if names:
        schema = runtime.workflows.get(names[0]).input_schema()
        example = json.dumps({"input": {field: "..." for field in schema.get("required", [])}})
        out.print(
            f"try: curl -s {url}/workflows/{names[0]}/invoke "
            f"-H 'content-type: application/json' -d '{example}'",
            markup=False,
            highlight=False,
        )
    uvicorn.run(
        create_app(runtime, warm_up=warm_up),
        host=bind_host,
        port=bind_port,
        timeout_graceful_shutdown=int(settings.shutdown_grace_s),
        timeout_keep_alive=int(settings.keep_alive_s),
        log_level="info",
    )


deploy_app = typer.Typer(help="The production deployment on SGLang.", no_args_is_help=True)
app.add_typer(deploy_app, name="deploy")


@deploy_app.command("render")
def deploy_render(
    target: Annotated[str, typer.Option(help="compose or k8s")],
    out: Annotated[Path | None, typer.Option(help="Write here (default: print)")] = None,
    config: Annotated[Path, typer.Option("--config", "-c", help="The production config")] = Path(
        "deploy/tierwise.production.toml"
    ),
) -> None:
    """Render compose or Kubernetes files from the tiers' deploy tables (one source of truth)."""
    from runtime.deploy import render_compose, render_kubernetes

    try:
        settings = load_config(config)
        if target == "compose":
            where = out.parent if out else Path.cwd()
            relative = os.path.relpath(config.resolve(), where.resolve())
            rendered = render_compose(settings, config_file=relative)
        elif target == "k8s":
            rendered = render_kubernetes(settings, config_text=config.read_text())
        else:
            raise InputError(f"--target {target!r}: expected compose or k8s")
    except TierwiseError as exc:
        raise fail(exc) from exc
    if out is None:
        typer.echo(rendered, nl=False)
    else:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(rendered)
        console().print(f"wrote {out}")


keys_app = typer.Typer(help="API keys for `tierwise serve`.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")


@keys_app.command("hash")
def keys_hash(key: Annotated[str, typer.Argument(help="The API key to store")]) -> None:
    """Print the form a key is stored in under server.api_keys (never store the key)."""
    from runtime.server import hash_key

    typer.echo(hash_key(key))


def _is_loopback(host: str) -> bool:
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@app.command()
def lint(
    workflow: Annotated[list[str] | None, typer.Argument(help="Workflows (default: all)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object")] = False,
    config: ConfigOption = None,
) -> None:
    """Check prefix discipline: shared prefix per step, volatile text before stable text.

    Exits 1 when a finding is reported, so CI can hold a prompt change back.
    """
    from dataclasses import asdict

    from runtime.lint import lint_workflow

    runtime = runtime_for(config)
    try:
        reports = [
            lint_workflow(
                runtime.workflows.get(name),
                runtime.count_tokens,
                runtime.config.routes.get(name),
            )
            for name in workflow or runtime.workflows.names()
        ]
    except TierwiseError as exc:
        raise fail(exc) from exc
    finally:
        asyncio.run(runtime.aclose())
    if as_json:
        typer.echo(json.dumps([asdict(report) for report in reports], indent=2))
    else:
        out = console()
        for report in reports:
            table = Table(
                "node",
                "tier",
                "prompt tokens",
                "shared across executions",
                "shared with previous step",
                title=f"{report.workflow}: prefix discipline",
            )
            for step in report.steps:
                previous = "-" if step.shared_with_previous is None else step.shared_with_previous
                table.add_row(
                    step.node,
                    step.tier,
                    str(step.prompt_tokens),
                    f"{step.shared_across_executions} "
                    f"({step.shared_across_executions / max(step.prompt_tokens, 1):.0%})",
                    str(previous),
                )
            out.print(table)
            for finding in report.findings:
                out.print(f"[yellow]{finding.node} / {finding.segment}:[/] {finding.problem}")
            if report.unlinted:
                out.print(f"not linted (hand-written nodes): {', '.join(report.unlinted)}")
    if any(report.findings for report in reports):
        raise typer.Exit(code=1)


@app.command()
def bench(
    workflow: Annotated[str, typer.Option(help="The workflow to replay")] = "support_triage",
    executions: Annotated[int, typer.Option(min=1, help="Executions per side")] = 30,
    concurrency: Annotated[int, typer.Option(min=1, help="Executions at once per side")] = 1,
    dataset: Annotated[Path, typer.Option(help="Labelled inputs to draw the workload from")] = Path(
        "evals/datasets/support_triage.jsonl"
    ),
    naive_config: Annotated[
        Path,
        typer.Option(help="The naive and peer baselines' tiers (every step on the large model)"),
    ] = Path("evals/configs/all_large.toml"),
    json_file: Annotated[
        Path | None, typer.Option("--json", help="Write the results here as JSON")
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Replay a workload on the naive and peer baselines and on tierwise; report all three.

    Also tierwise's ratios to each baseline.
    """
    from runtime.evaluation import SIDES, load_dataset, workload
    from runtime.evaluation import bench as run_bench

    # every side starts with empty step caches and prefix states of its own (the sides
    # run interleaved): a bench run never reuses what an earlier run, or another side,
    # left behind; each warms its prefixes up below, as a server would at start
    states = contextlib.ExitStack()
    try:
        if json_file is not None:
            writable(json_file, "--json")
        requests = workload(load_dataset(dataset), executions)
        runtimes = {
            side: Runtime(
                load_config(path).isolated(
                    Path(states.enter_context(tempfile.TemporaryDirectory()))
                )
            )
            for side, path in zip(SIDES, (naive_config, naive_config, config), strict=True)
        }
    except TierwiseError as exc:
        states.close()
        raise fail(exc) from exc

    async def all_sides() -> Any:
        try:
            for runtime in runtimes.values():  # as a server would at start
                await runtime.warm_up(workflow)
            return await run_bench(workflow, requests, concurrency=concurrency, **runtimes)
        finally:
            for runtime in runtimes.values():
                await runtime.aclose()

    try:
        with states:
            result = asyncio.run(all_sides()).as_dict()
    except TierwiseError as exc:
        raise fail(exc) from exc
    if json_file is not None:
        json_file.parent.mkdir(parents=True, exist_ok=True)
        json_file.write_text(json.dumps(result, indent=2))
    console().print(_bench_table(result, title=f"bench: {workflow}"))


def _bench_table(result: dict[str, Any], *, title: str) -> Table:
    """Each measure on each side, and tierwise's ratios to the two baselines."""

    def ratio(value: float | None, base: float | None) -> str:
        return f"{value / base:.3f}x" if base and value is not None else "-"

    from runtime.evaluation import SIDES

    table = Table("measure", *SIDES, "/ naive", "/ peer", title=title)
    for key in result["tierwise"]:
        naive, peer, value = (result[side][key] for side in SIDES)
        table.add_row(
            key,
            *("-" if v is None else f"{v:.6g}" for v in (naive, peer, value)),
            ratio(value, naive),
            ratio(value, peer),
        )
    return table


@app.command()
def warmup(
    workflow: Annotated[list[str] | None, typer.Argument(help="Workflows (default: all)")] = None,
    config: ConfigOption = None,
) -> None:
    """Prefill every step's static prompt prefix on its tier, so first calls find it cached."""
    runtime = runtime_for(config)

    async def warm_all() -> list[StepRecord]:
        names = workflow or runtime.workflows.names()
        return [step for name in names for step in await runtime.warm_up(name)]

    records = _run_then_close(runtime, warm_all())
    console().print(_steps_table(records, title="warm-up"))


def _run_then_close(runtime: Runtime, work: Coroutine[Any, Any, T]) -> T:
    """Run ``work`` to its end, close the runtime, and turn tierwise errors into exits."""

    async def run_and_close() -> T:
        try:
            return await work
        finally:
            await runtime.aclose()

    try:
        return asyncio.run(run_and_close())
    except TierwiseError as exc:
        raise fail(exc) from exc


def _read_input(input_json: str | None, input_file: Path | None) -> Any:
    if (input_json is None) == (input_file is None):
        raise fail(InputError("give the input with exactly one of --input or --input-file"))
    try:
        text = input_json if input_json is not None else Path(str(input_file)).read_text()
        return json.loads(text)
    except OSError as exc:
        raise fail(InputError(f"cannot read --input-file: {exc}")) from exc
    except json.JSONDecodeError as exc:
        raise fail(InputError(f"the input is not valid JSON: {exc}")) from exc


async def _run_once(
    runtime: Runtime,
    workflow: str,
    raw_input: Any,
    tenant: str,
    warm_up: bool,
    use_cache: bool,
) -> tuple[tuple[StepRecord, ...], ExecutionRecord]:
    try:
        runtime.workflows.get(workflow).validate_input(raw_input)  # fail before warming up
        warm = await runtime.warm_up(workflow) if warm_up else ()
        return warm, await runtime.run(workflow, raw_input, tenant=tenant, use_cache=use_cache)
    finally:
        await runtime.aclose()


def _steps_table(
    steps: Sequence[StepRecord], *, title: str, total: tuple[float, float, float] | None = None
) -> Table:
    """Per-step rows; ``total`` is (cost, saved cost, latency) of the execution."""
    table = Table(
        "node",
        "tier",
        "model",
        "input",
        "cached",
        "output",
        "cache",
        "cost USD",
        "saved USD",
        "ms",
        title=title,
    )
    for step in steps:
        similarity = f" {step.similarity:.2f}" if step.cache == "semantic" else ""
        if step.checked:
            similarity += f", checked: {step.checked}"
        table.add_row(
            step.node,
            step.tier,
            step.model,
            str(step.usage.input_tokens),
            str(step.usage.cached_input_tokens),
            str(step.usage.output_tokens),
            step.cache + similarity,
            f"{step.cost_usd:.6f}",
            f"{step.saved_cost_usd:.6f}",
            f"{step.latency_ms:.0f}",
        )
    if total is not None:
        cost, saved, latency = total
        table.add_section()
        table.add_row(
            "total", "", "", "", "", "", "", f"{cost:.6f}", f"{saved:.6f}", f"{latency:.0f}"
        )
    return table


def main() -> None:
    """Entry point of the ``tierwise`` console script."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        app()
    except ConfigError as exc:  # found late: a workflow's nodes are known once it loads
        raise SystemExit(fail(exc).exit_code) from exc
