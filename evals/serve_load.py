"""Load check: tierwise's HTTP server against a bare FastAPI endpoint, same graph.

Both servers run as their own processes on the repository's tiers (the embedded models).
Each is primed with a few support questions, so every later execution is answered from
the step cache: what remains is serving overhead (validation, admission, records, spans,
metrics). Then many concurrent clients send those questions, in rounds that alternate
which server goes first. Reports throughput, p50 / p95 latency and failures per server,
their ratio, and checks that tierwise stored every run it answered (none lost).

    python -m evals.serve_load [--clients 16] [--requests 25] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parent.parent
WORKFLOW = "support_triage"
QUESTIONS = [
    "I was charged twice this month",
    "How do I download my invoices?",
    "I lost my phone and can't get past two-factor login",
    "The API keeps returning 429 errors",
]
PATHS = {"tierwise": f"/workflows/{WORKFLOW}/invoke", "bare": f"/invoke/{WORKFLOW}"}


def bare_app(config: Path) -> Any:
    """The baseline: one FastAPI route that runs the same compiled graph, nothing else."""
    from fastapi import FastAPI

    from runtime import Runtime, load_config
    from runtime.tracing import Telemetry

    runtime = Runtime(load_config(config), telemetry=Telemetry())
    app = FastAPI()

    @app.post("/invoke/{name}")
    async def invoke(name: str, body: dict[str, Any]) -> dict[str, Any]:
        graph = runtime.workflows.get(name).graph
        with runtime.execution(name):  # the steps need an execution to find their tiers
            output: dict[str, Any] = await graph.ainvoke(body["input"])
        return output

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app


def serve(variant: str, config: Path, port: int) -> None:
    """Run one server in this process (the parent starts two of these)."""
    import uvicorn

    if variant == "tierwise":
        from runtime import Runtime, load_config
        from runtime.server import create_app

        app = create_app(Runtime(load_config(config)), warm_up=False)
    else:
        app = bare_app(config)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")


@dataclass
class Tally:
    """What one server did under load."""

    latencies_ms: list[float] = field(default_factory=list)
    failures: int = 0
    run_ids: set[str] = field(default_factory=set)
    seconds: float = 0.0

    @property
    def requests(self) -> int:
        return len(self.latencies_ms) + self.failures


async def load(base: str, path: str, clients: int, requests: int, tally: Tally) -> None:
    """``clients`` concurrent clients, each sending ``requests`` questions in turn."""

    async def client(index: int, http: httpx.AsyncClient) -> None:
        for i in range(requests):
            question = QUESTIONS[(index + i) % len(QUESTIONS)]
            started = time.perf_counter()
            try:
                response = await http.post(base + path, json={"input": {"question": question}})
            except httpx.HTTPError:
                tally.failures += 1
                continue
            if response.status_code != 200:
                tally.failures += 1
                continue
            tally.latencies_ms.append((time.perf_counter() - started) * 1000)
            if "run_id" in response.json():
                tally.run_ids.add(response.json()["run_id"])

    limits = httpx.Limits(max_connections=clients)
    async with httpx.AsyncClient(timeout=120, limits=limits) as http:
        started = time.perf_counter()
        await asyncio.gather(*(client(i, http) for i in range(clients)))
        tally.seconds += time.perf_counter() - started


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_up(base: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server at {base} exited with {process.returncode}")
        try:
            if httpx.get(f"{base}/healthz").status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"server at {base} never came up")


def quantile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[round(q * 100) - 1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--requests", type=int, default=25, help="per client per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--report", type=Path, default=REPO / "evals/reports/serve_load.md")
    parser.add_argument("--serve", choices=sorted(PATHS), help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--config", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.config, args.port)
        return

    with tempfile.TemporaryDirectory() as folder:
        configs = {}
        for variant in PATHS:  # each server its own state (runs, caches, spans); models shared
            configs[variant] = Path(folder) / variant / "tierwise.toml"
            configs[variant].parent.mkdir()
            configs[variant].write_text(
                (REPO / "tierwise.toml")
                .read_text()
                .replace('model_dir = ".tierwise/models"', f'model_dir = "{REPO}/.tierwise/models"')
            )
        bases: dict[str, str] = {}
        processes = []
        try:
            for variant in PATHS:
                port = free_port()
                command = [sys.executable, "-m", "evals.serve_load", "--serve", variant]
                command += ["--port", str(port), "--config", str(configs[variant])]
                env = {**os.environ, "REDIS_URL": "", "TIERWISE_API_KEYS": ""}
                processes.append(subprocess.Popen(command, cwd=REPO, env=env))
                bases[variant] = f"http://127.0.0.1:{port}"
                wait_up(bases[variant], processes[-1])
            for variant, base in bases.items():  # prime: each question runs once, for real
                for question in QUESTIONS:
                    response = httpx.post(
                        base + PATHS[variant], json={"input": {"question": question}}, timeout=600
                    )
                    response.raise_for_status()
            tallies = {variant: Tally() for variant in PATHS}
            order = list(PATHS)
            for _ in range(args.rounds):
                for variant in order:
                    asyncio.run(
                        load(
                            bases[variant],
                            PATHS[variant],
                            args.clients,
                            args.requests,
                            tallies[variant],
                        )
                    )
                order.reverse()
        finally:
            for process in processes:
                process.terminate()
                process.wait(timeout=60)
        stored = _stored_runs(Path(folder) / "tierwise", tallies["tierwise"].run_ids)
    _report(args, tallies, stored)


def _stored_runs(folder: Path, run_ids: set[str]) -> int:
    from runtime.execution import RunStore

    store = RunStore(folder / ".tierwise" / "runs.sqlite")
    return sum(store.get(run_id) is not None for run_id in run_ids)


def _report(args: argparse.Namespace, tallies: dict[str, Tally], stored: int) -> None:
    rows = []
    for variant, tally in tallies.items():
        throughput = len(tally.latencies_ms) / tally.seconds
        rows.append(
            (
                variant,
                tally.requests,
                tally.failures,
                throughput,
                statistics.median(tally.latencies_ms),
                quantile(tally.latencies_ms, 0.95),
            )
        )
    (_, _, _, t_tp, t_p50, t_p95), (_, _, _, b_tp, b_p50, b_p95) = rows
    lines = [
        "| server | requests | failed | throughput req/s | p50 ms | p95 ms |",
        "|---|---:|---:|---:|---:|---:|",
        *(
            f"| {v} | {n} | {f} | {tp:.1f} | {p50:.1f} | {p95:.1f} |"
            for v, n, f, tp, p50, p95 in rows
        ),
        f"| tierwise / bare | | | {t_tp / b_tp:.2f}x | {t_p50 / b_p50:.2f}x "
        f"| {t_p95 / b_p95:.2f}x |",
    ]
    tierwise = tallies["tierwise"]
    lost = len(tierwise.latencies_ms) - stored
    summary = (
        f"{args.clients} concurrent clients x {args.requests} requests x {args.rounds} rounds per "
        f"server, every execution answered from the step cache after priming. tierwise stored "
        f"{stored} of the {len(tierwise.latencies_ms)} runs it answered ({lost} lost)."
    )
    table = "\n".join(lines) + "\n"
    args.report.write_text(
        "# Serving overhead under load\n\nMeasured by `python -m evals.serve_load` on this "
        f"machine.\n\n{summary}\n\n{table}"
    )
    print(summary)
    print(table)


if __name__ == "__main__":
    main()
