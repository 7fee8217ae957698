"""Soak: hundreds of concurrent clients against `tierwise serve` for minutes.

The server runs as a user starts it (`tierwise serve`, the repository's tiers on the
embedded models), in its own process. After priming, clients loop until the time is up,
each request drawn from a seeded mix: a cached question (answered from the step cache),
a fresh question (every step runs on the models; most are refused with a designed 503
while the tiers' queues are full), or a background run. Every two seconds the server's
resident memory is sampled. At the end every accepted background run is followed to its
end, the server is stopped with SIGTERM, and every answered execution is looked up in
the run records.

Pass: no lost run (accepted but never finished or never recorded), no 5xx but the
designed 503/429, no hung request (the client's timeout), memory flat (the last third of
the soak within 10% of the middle third, once the caches have filled to their caps).
Writes a Markdown report and a PNG figure.

    python -m evals.soak [--clients 200] [--seconds 180]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from evals.serve_load import QUESTIONS, REPO, WORKFLOW, free_port, wait_up
from runtime.costs import nearest_rank

INVOKE = f"/workflows/{WORKFLOW}/invoke"
RUNS = f"/workflows/{WORKFLOW}/runs"
DESIGNED = {200, 202, 429, 503}
"""Answers the server is designed to give under load; anything else is a failure."""
FINISHED = {"succeeded", "failed", "cancelled"}


@dataclass
class Soak:
    """What the clients saw, and the server's memory over time."""

    statuses: Counter[tuple[str, int]] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    latencies_ms: dict[str, list[float]] = field(default_factory=dict)
    answered: set[str] = field(default_factory=set)
    accepted: set[str] = field(default_factory=set)
    memory: list[tuple[float, float]] = field(default_factory=list)
    timeline: list[tuple[float, str, int]] = field(default_factory=list)


async def client(
    index: int,
    http: httpx.AsyncClient,
    base: str,
    deadline: float,
    soak: Soak,
    args: argparse.Namespace,
) -> None:
    rng = random.Random(index)
    started = time.monotonic()
    n = 0
    while time.monotonic() < deadline:
        n += 1
        draw = rng.random()
        if draw < args.background:
            kind, path = "background", RUNS
            question = rng.choice(QUESTIONS)
        elif draw < args.background + args.fresh:
            kind, path = "fresh", INVOKE
            question = f"Customer {index}-{n} asks: where is order #{rng.randrange(10**6)}?"
        else:
            kind, path = "cached", INVOKE
            question = rng.choice(QUESTIONS)
        sent = time.perf_counter()
        try:
            response = await http.post(base + path, json={"input": {"question": question}})
        except httpx.HTTPError as exc:
            soak.errors[f"{kind}: {type(exc).__name__}"] += 1
            continue
        soak.statuses[(kind, response.status_code)] += 1
        soak.timeline.append((time.monotonic() - started, kind, response.status_code))
        if response.status_code == 200:
            soak.latencies_ms.setdefault(kind, []).append((time.perf_counter() - sent) * 1000)
            soak.answered.add(response.json()["run_id"])
        elif response.status_code == 202:
            soak.accepted.add(response.json()["run_id"])
        elif response.status_code in (429, 503):
            await asyncio.sleep(float(response.headers.get("retry-after", "1")))


async def sample_memory(pid: int, deadline: float, soak: Soak) -> None:
    started = time.monotonic()
    while time.monotonic() < deadline:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                soak.memory.append((time.monotonic() - started, int(line.split()[1]) / 1024))
        await asyncio.sleep(2)


async def drive(base: str, pid: int, args: argparse.Namespace) -> tuple[Soak, dict[str, int]]:
    soak = Soak()
    deadline = time.monotonic() + args.seconds
    limits = httpx.Limits(max_connections=args.clients)
    async with httpx.AsyncClient(timeout=args.timeout, limits=limits) as http:
        await asyncio.gather(
            sample_memory(pid, deadline, soak),
            *(client(i, http, base, deadline, soak, args) for i in range(args.clients)),
        )
        outcomes = await follow(http, base, soak.accepted, args.timeout * 10)
    return soak, outcomes


async def follow(
    http: httpx.AsyncClient, base: str, run_ids: set[str], timeout_s: float
) -> dict[str, int]:
    """Every accepted background run's final status ('lost' if it never got one)."""
    pending, outcomes = set(run_ids), Counter[str]()
    deadline = time.monotonic() + timeout_s
    while pending and time.monotonic() < deadline:
        for run_id in list(pending):
            response = await http.get(f"{base}/runs/{run_id}")
            status = response.json().get("status") if response.status_code == 200 else None
            if status in FINISHED:
                outcomes[status] += 1
                pending.discard(run_id)
        await asyncio.sleep(1)
    outcomes["lost"] = len(pending)
    return dict(outcomes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=180)
    parser.add_argument("--fresh", type=float, default=0.02, help="share of fresh questions")
    parser.add_argument("--background", type=float, default=0.02, help="share of background runs")
    parser.add_argument("--timeout", type=float, default=60, help="a request slower is hung")
    parser.add_argument(
        "--prefix-ram-mb",
        type=int,
        default=64,
        help="prefix-state RAM per model: small, so it fills early and growth past it is a leak",
    )
    parser.add_argument("--report", type=Path, default=REPO / "evals/reports/soak.md")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as folder:
        config = Path(folder) / "tierwise.toml"
        text = (
            (REPO / "tierwise.toml")
            .read_text()
            .replace('model_dir = ".tierwise/models"', f'model_dir = "{REPO}/.tierwise/models"')
        )
        capped = re.sub(
            r"(?m)^prefix_cache_ram_mb = \d+$", f"prefix_cache_ram_mb = {args.prefix_ram_mb}", text
        )
        if capped == text:
            raise SystemExit("tierwise.toml sets no embedded.prefix_cache_ram_mb to cap")
        config.write_text(capped)
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        command = [sys.executable, "-m", "runtime.cli", "serve", "--config", str(config)]
        command += ["--port", str(port), "--no-warm-up"]
        env = {**os.environ, "REDIS_URL": "", "TIERWISE_API_KEYS": ""}
        server = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.DEVNULL)
        try:
            wait_up(base, server)
            for question in QUESTIONS:  # prime: each runs once, for real
                httpx.post(
                    base + INVOKE, json={"input": {"question": question}}, timeout=600
                ).raise_for_status()
            soak, outcomes = asyncio.run(drive(base, server.pid, args))
        finally:
            server.send_signal(signal.SIGTERM)
            drained = server.wait(timeout=120)
        from runtime.execution import RunStore

        store = RunStore(Path(folder) / ".tierwise" / "runs.sqlite")
        unrecorded = sum(store.get(run_id) is None for run_id in soak.answered)
    report(args, soak, outcomes, unrecorded, drained)


def report(
    args: argparse.Namespace, soak: Soak, outcomes: dict[str, int], unrecorded: int, exit_code: int
) -> None:
    third = max(1, len(soak.memory) // 3)
    thirds = [soak.memory[:third], soak.memory[third:-third], soak.memory[-third:]]
    first, middle, late = (
        statistics.median(mb for _, mb in part or soak.memory) for part in thirds
    )
    growth = (late - middle) / middle  # the first third fills caches up to their caps
    undesigned = sum(n for (_, status), n in soak.statuses.items() if status not in DESIGNED)
    hung = sum(n for kind, n in soak.errors.items() if "Timeout" in kind)
    lost = outcomes.get("lost", 0) + unrecorded
    verdict = lost == 0 and undesigned == 0 and not soak.errors and growth <= 0.10
    rows = [
        "| request | answered | status counts | p50 ms | p95 ms |",
        "|---|---:|---|---:|---:|",
    ]
    for kind in ("cached", "fresh", "background"):
        counts = {status: n for (k, status), n in sorted(soak.statuses.items()) if k == kind}
        latencies = sorted(soak.latencies_ms.get(kind, []))
        p50 = f"{statistics.median(latencies):.0f}" if latencies else "-"
        p95 = f"{nearest_rank(latencies, 0.95):.0f}" if latencies else "-"
        answered = counts.get(200, 0) + counts.get(202, 0)
        rows.append(f"| {kind} | {answered} | {counts} | {p50} | {p95} |")
    figure = args.report.with_suffix(".png")
    chart(soak, figure)
    total = sum(soak.statuses.values())
    text = f"""# Soak: {args.clients} clients for {args.seconds:.0f} s

Measured by `python -m evals.soak --clients {args.clients} --seconds {args.seconds:.0f}` on this
machine (2 cores, load generator and server side by side): `tierwise serve` on the
repository's tiers (embedded models, prefix-state RAM capped at {args.prefix_ram_mb} MB per model
so that it fills early), primed with {len(QUESTIONS)} questions; each request is a cached
question, a fresh one ({args.fresh:.0%}) or a background run ({args.background:.0%}).

**{"PASS" if verdict else "FAIL"}**: {total} answers, {lost} lost runs, {undesigned} answers outside
200/202/429/503, {len(soak.errors) and sum(soak.errors.values())} transport errors ({hung} hung past
{args.timeout:.0f} s), server memory (median RSS) {first:.0f} MB in the first third, {middle:.0f} MB
in the middle third, {late:.0f} MB in the last ({growth:+.1%} from middle to last; the first third
fills the prefix and step caches up to their configured caps). SIGTERM stopped the server
gracefully (exit status {exit_code}).

{chr(10).join(rows)}

Background runs accepted: {len(soak.accepted)}; their ends: {outcomes}. Executions answered
by `/invoke`: {len(soak.answered)}, of which {unrecorded} missing from the run records.
Transport errors: {dict(soak.errors) or "none"}.

![memory and answers over time]({figure.name})
"""
    args.report.write_text(text)
    print(text)


def chart(soak: Soak, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (memory, answers) = plt.subplots(2, 1, figsize=(8, 6), sharex=True)
    memory.plot([t for t, _ in soak.memory], [mb for _, mb in soak.memory])
    memory.set_ylabel("server RSS (MB)")
    memory.set_ylim(bottom=0)
    seconds = int(max((t for t, _, _ in soak.timeline), default=0)) + 1
    for label, statuses in (("200/202", {200, 202}), ("429/503", {429, 503})):
        per_second = [0] * seconds
        for t, _, status in soak.timeline:
            if status in statuses:
                per_second[int(t)] += 1
        answers.plot(range(seconds), per_second, label=label)
    answers.set_ylabel("answers per second")
    answers.set_xlabel("seconds into the soak")
    answers.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


if __name__ == "__main__":
    main()
