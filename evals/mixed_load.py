"""Mixed load: how long a request that calls a model takes while cached requests keep the
server busy, at CPython's thread switch interval (5 ms) and at tierwise's (0.1 ms).

A model call runs on a worker thread that needs the GIL between its calls into llama.cpp.
An event loop with requests always ready gives the GIL up and takes it back on every turn
(polling its sockets), before a waiting thread wakes; at 5 ms such a thread is not owed a
turn and waits until the loop falls idle. For each interval, a tierwise server of its own
(as `tierwise serve` runs it) is primed with a few questions, answers fresh questions
alone, then fresh questions again while cached clients send the primed ones back to back.
Reports each fresh request's latency, alone and under the cached load, and the cached
throughput. With ``--in-process`` there is no server: one runtime per interval in this
process, the cached load as tasks on its event loop (as concurrent executions of an
application that embeds tierwise are). Writes evals/reports/mixed_load.md
(mixed_load_in_process.md with ``--in-process``).

    python -m evals.mixed_load [--cached-clients 8] [--fresh 3] [--timeout 180] [--in-process]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from evals.serve_load import PATHS, QUESTIONS, REPO, WORKFLOW, free_port, wait_up
from runtime import Runtime, load_config
from runtime.evaluation import load_dataset

INTERVALS = {"CPython's 5 ms": 0.005, "tierwise's 0.1 ms": 0.0001}
PATH = PATHS["tierwise"]


async def fresh_under_load(
    base: str, fresh: list[str], cached_clients: int, timeout_s: float
) -> tuple[list[float | None], int, float]:
    """(latency of each fresh request in ms, None past the timeout; cached answers while
    they ran; how long they ran in s) with ``cached_clients`` sending primed questions
    until the fresh ones are answered."""
    done = asyncio.Event()
    answered = 0

    async def cached(index: int, http: httpx.AsyncClient) -> None:
        nonlocal answered
        i = index
        while not done.is_set():
            question = QUESTIONS[i % len(QUESTIONS)]
            i += 1
            response = await http.post(base + PATH, json={"input": {"question": question}})
            answered += response.status_code == 200

    limits = httpx.Limits(max_connections=cached_clients + 1)
    async with httpx.AsyncClient(timeout=timeout_s, limits=limits) as http:
        load = [asyncio.create_task(cached(i, http)) for i in range(cached_clients)]
        await asyncio.sleep(1.0)  # the load is under way
        started_load, before = time.perf_counter(), answered
        latencies = [await _timed(http, base, question) for question in fresh]
        done.set()
        seconds, during = time.perf_counter() - started_load, answered - before
        await asyncio.gather(*load, return_exceptions=True)
    return latencies, during, seconds


async def fresh_alone(base: str, fresh: list[str], timeout_s: float) -> list[float | None]:
    async with httpx.AsyncClient(timeout=timeout_s) as http:
        return [await _timed(http, base, question) for question in fresh]


async def _timed(http: httpx.AsyncClient, base: str, question: str) -> float | None:
    started = time.perf_counter()
    try:
        response = await http.post(base + PATH, json={"input": {"question": question}})
    except httpx.TimeoutException:
        return None
    response.raise_for_status()
    return (time.perf_counter() - started) * 1000


def measure(
    interval_s: float, folder: Path, fresh: list[str], cached_clients: int, timeout_s: float
) -> tuple[list[float | None], list[float | None], int, float]:
    """Start a server with this switch interval, prime it, and measure."""
    config = folder / "tierwise.toml"
    config.write_text(
        f"thread_switch_interval_s = {interval_s}\n"
        + (REPO / "tierwise.toml")
        .read_text()
        .replace('model_dir = ".tierwise/models"', f'model_dir = "{REPO}/.tierwise/models"')
    )
    port = free_port()
    command = [sys.executable, "-m", "evals.serve_load", "--serve", "tierwise"]
    command += ["--port", str(port), "--config", str(config)]
    env = {**os.environ, "REDIS_URL": "", "TIERWISE_API_KEYS": ""}
    process = subprocess.Popen(command, cwd=REPO, env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_up(base, process)
        for question in QUESTIONS:  # prime: each runs once, for real
            body = {"input": {"question": question}}
            httpx.post(base + PATH, json=body, timeout=600).raise_for_status()
        half = len(fresh) // 2
        alone = asyncio.run(fresh_alone(base, fresh[:half], timeout_s))
        loaded, answered, seconds = asyncio.run(
            fresh_under_load(base, fresh[half:], cached_clients, timeout_s)
        )
    finally:
        process.terminate()
        process.wait(timeout=60)
    return alone, loaded, answered, seconds


async def measure_in_process(
    interval_s: float, folder: Path, fresh: list[str], cached_tasks: int
) -> tuple[list[float | None], list[float | None], int, float]:
    """The same on one runtime in this process: ``cached_tasks`` executions at a time on its
    event loop instead of clients (no sockets, so the loop is never idle while they run)."""
    config = load_config(REPO / "tierwise.toml").isolated(folder)
    runtime = Runtime(config.model_copy(update={"thread_switch_interval_s": interval_s}))
    try:
        await runtime.warm_up(WORKFLOW)
        for question in QUESTIONS:
            await runtime.run(WORKFLOW, {"question": question})
        half = len(fresh) // 2
        alone: list[float | None] = [
            (await runtime.run(WORKFLOW, {"question": q})).latency_ms for q in fresh[:half]
        ]
        done, answered = asyncio.Event(), 0

        async def cached(index: int) -> None:
            nonlocal answered
            while not done.is_set():
                await runtime.run(WORKFLOW, {"question": QUESTIONS[index % len(QUESTIONS)]})
                answered, index = answered + 1, index + 1

        load = [asyncio.create_task(cached(i)) for i in range(cached_tasks)]
        await asyncio.sleep(0.2)  # the load is under way
        started, before = time.perf_counter(), answered
        loaded: list[float | None] = [
            (await runtime.run(WORKFLOW, {"question": q})).latency_ms for q in fresh[half:]
        ]
        done.set()
        seconds, during = time.perf_counter() - started, answered - before
        await asyncio.gather(*load)
    finally:
        await runtime.aclose()
    return alone, loaded, during, seconds


def _ms(values: list[float | None]) -> str:
    return ", ".join("timed out" if v is None else f"{v / 1000:.1f}" for v in values)


def _median(values: list[float | None]) -> str:
    kept = [v for v in values if v is not None]
    return f"{statistics.median(kept) / 1000:.1f}" if kept else "-"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cached-clients", type=int, default=8)
    parser.add_argument("--fresh", type=int, default=3, help="fresh requests, alone and loaded")
    parser.add_argument("--timeout", type=float, default=180.0, help="per fresh request, s")
    parser.add_argument(
        "--in-process",
        action="store_true",
        help="one runtime in this process, the cached load as tasks on its loop (no server)",
    )
    parser.add_argument(
        "--report",
        type=Path,
        help="default evals/reports/mixed_load.md, or mixed_load_in_process.md with --in-process",
    )
    args = parser.parse_args()
    if args.report is None:
        name = "mixed_load_in_process.md" if args.in_process else "mixed_load.md"
        args.report = REPO / "evals/reports" / name
    items = load_dataset(REPO / "evals/datasets/support_triage.jsonl")
    questions = [str(item.input["question"]) for item in items if item.input["question"]]
    fresh = questions[10 : 10 + 2 * args.fresh]  # not among the primed ones
    rows = []
    for name, interval in INTERVALS.items():  # each server its own state: all cold alike
        with tempfile.TemporaryDirectory() as folder:
            if args.in_process:
                alone, loaded, answered, seconds = asyncio.run(
                    measure_in_process(interval, Path(folder), fresh, args.cached_clients)
                )
            else:
                alone, loaded, answered, seconds = measure(
                    interval, Path(folder), fresh, args.cached_clients, args.timeout
                )
        rows.append((name, alone, loaded, answered / seconds))
        print(name, _ms(alone), "|", _ms(loaded), f"| {answered / seconds:.0f} cached/s")
    table = "\n".join(
        [
            "| switch interval | fresh alone, s | fresh under cached load, s | median alone "
            "| median loaded | cached answers/s meanwhile |",
            "|---|---|---|---:|---:|---:|",
        ]
        + [
            f"| {name} | {_ms(alone)} | {_ms(loaded)} | {_median(alone)} | {_median(loaded)} "
            f"| {rate:.0f} |"
            for name, alone, loaded, rate in rows
        ]
    )
    where = (
        f"one runtime per row in the measuring process, {args.cached_clients} cached "
        "executions at a time as tasks on its event loop"
        if args.in_process
        else f"a tierwise server per row, {args.cached_clients} clients sending cached "
        f"questions back to back; a request past {args.timeout:.0f} s timed out"
    )
    command = "python -m evals.mixed_load" + (" --in-process" if args.in_process else "")
    args.report.write_text(
        "# A model call under cached load\n\n"
        f"Measured by `{command} --cached-clients {args.cached_clients} --fresh {args.fresh}` "
        f"on this machine: {WORKFLOW}, {args.fresh} fresh questions (a model call per step) "
        f"alone, then {args.fresh} more under the cached load of the primed questions: "
        f"{where}.\n\n" + table + "\n"
    )
    print(table)


if __name__ == "__main__":
    main()
