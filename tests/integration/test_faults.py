"""Fault injection with real processes and sockets: model servers that refuse, stall,
fail, answer garbage or die mid-stream; a PostgreSQL restarted under background runs.

Each test names the fault in its title and proves what tierwise does about it (the
README's fault table points here).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from runtime import Runtime
from runtime.errors import ModelOutputError, ModelUnavailableError
from runtime.server import create_app
from runtime.tracing import Telemetry
from tests import server_workflows
from tests.conftest import REPO
from tests.fakes import fake_config
from tests.fault_server import FaultServer, Mode
from tests.server_harness import serving, wait_for
from tests.server_workflows import GATE_ENV
from tests.services import PrivatePostgres, free_port

pytestmark = pytest.mark.integration

WORKFLOWS = {"answer": "tests.server_workflows:answer", "slow": "tests.server_workflows:slow"}
QUESTION = {"question": "Where is my invoice?"}
PRICE = {"input": 1.0, "cached_input": 0.1, "output": 2.0}


def openai_tier(url: str, **extra: Any) -> dict[str, Any]:
    return {
        "engine": "openai",
        "model": "fault-model",
        "urls": [url],
        "price": PRICE,
        "timeout_s": 1.0,
        "stream": False,
        **extra,
    }


@pytest.fixture
def primary() -> Iterator[FaultServer]:
    with FaultServer().running() as server:
        yield server


@pytest.fixture
def backup() -> Iterator[FaultServer]:
    with FaultServer().running() as server:
        yield server


def runtime_on(tmp_path: Path, tiers: dict[str, Any]) -> Runtime:
    config = fake_config(tmp_path, workflows=WORKFLOWS, tiers=tiers)
    return Runtime(config, telemetry=Telemetry())


@pytest.mark.parametrize("mode", ["stall", "500", "garbage", "cut"])
async def test_a_failing_tier_server_is_retried_then_its_fallback_answers(
    tmp_path: Path, primary: FaultServer, backup: FaultServer, mode: Mode
) -> None:
    primary.mode = mode
    tiers = {
        "small": openai_tier(primary.url, fallback="large", stream=mode == "cut"),
        "large": openai_tier(backup.url),
    }
    runtime = runtime_on(tmp_path, tiers)
    record = await runtime.run("answer", QUESTION)
    await runtime.aclose()
    label, reply = record.steps
    assert record.output["label"] == {"label": "billing"}
    assert primary.requests == 3  # bounded: three attempts, then the fallback
    assert (label.tier, label.fallback is not None) == ("large", True)
    assert label.fallback is not None and label.fallback.startswith("small: ")
    assert (reply.tier, reply.fallback) == ("large", None)


async def test_a_refused_connection_falls_back_without_a_fallback_fails_clearly(
    tmp_path: Path, backup: FaultServer
) -> None:
    nobody = f"http://127.0.0.1:{FaultServer().port}/v1"  # a port nothing listens on
    with_fallback = {
        "small": openai_tier(nobody, fallback="large"),
        "large": openai_tier(backup.url),
    }
    runtime = runtime_on(tmp_path / "a", with_fallback)
    record = await runtime.run("answer", QUESTION)
    await runtime.aclose()
    assert "ConnectError" in (record.steps[0].fallback or "")

    alone = runtime_on(tmp_path / "b", {**with_fallback, "small": openai_tier(nobody)})
    with pytest.raises(ModelUnavailableError, match=r"tier 'small': http://127.0.0.1:\d+/v1"):
        await alone.run("answer", QUESTION)
    await alone.aclose()


async def test_schema_violating_output_is_not_a_server_fault(
    tmp_path: Path, primary: FaultServer, backup: FaultServer
) -> None:
    primary.mode = "invalid_output"
    tiers = {"small": openai_tier(primary.url, fallback="large"), "large": openai_tier(backup.url)}
    runtime = runtime_on(tmp_path, tiers)
    with pytest.raises(ModelOutputError, match="does not match Label") as caught:
        await runtime.run("answer", QUESTION)
    await runtime.aclose()
    assert caught.value.raw_output == "I think it is billing"
    assert (primary.requests, backup.requests) == (1, 0)  # a cascade's job, not a retry's


def test_a_run_failed_by_its_model_server_keeps_its_checkpoint_and_resumes(
    tmp_path: Path, primary: FaultServer, backup: FaultServer
) -> None:
    backup.mode = "500"  # `reply` runs on large, after `label` was checkpointed
    tiers = {"small": openai_tier(primary.url), "large": openai_tier(backup.url)}
    with serving(create_app(runtime_on(tmp_path, tiers), warm_up=False)) as base:
        run_id = httpx.post(f"{base}/workflows/answer/runs", json={"input": QUESTION}).json()[
            "run_id"
        ]
        failed = wait_for(base, run_id, lambda r: r["status"] == "failed")
        health = httpx.get(f"{base}/healthz")
        backup.mode = "ok"  # the server recovers
        resumed = httpx.post(f"{base}/runs/{run_id}/resume")
        done = wait_for(base, run_id, lambda r: r["status"] not in ("pending", "running"))
        again = httpx.post(f"{base}/runs/{run_id}/resume")
    assert "ModelUnavailableError" in failed["error"] and "answered 500" in failed["error"]
    assert health.status_code == 200  # the server stays up
    assert resumed.status_code == 202, resumed.text
    assert done["status"] == "succeeded", done
    assert [s["node"] for s in done["steps"]] == ["label", "reply"]  # label ran once
    assert primary.requests == 1
    assert again.status_code == 422 and "only failed or cancelled" in again.json()["detail"]


@pytest.fixture
def private_postgres(monkeypatch: pytest.MonkeyPatch) -> Iterator[PrivatePostgres]:
    postgres = PrivatePostgres().start()
    monkeypatch.setenv("DATABASE_URL", postgres.url)
    yield postgres
    postgres.remove()


def test_postgres_restarted_under_background_runs_loses_none(
    tmp_path: Path, primary: FaultServer, backup: FaultServer, private_postgres: PrivatePostgres
) -> None:
    tiers = {"small": openai_tier(primary.url), "large": openai_tier(backup.url)}
    server_workflows.PAUSE.clear()
    with serving(create_app(runtime_on(tmp_path, tiers), warm_up=False)) as base:
        run_ids = [
            httpx.post(f"{base}/workflows/slow/runs", json={"input": QUESTION}).json()["run_id"]
            for _ in range(3)
        ]
        for run_id in run_ids:  # each is checkpointed after `label`, held in `hold`
            wait_for(base, run_id, lambda r: len(r["steps"]) == 1)
        private_postgres.stop(mode="immediate")  # a crash, as clients see it
        server_workflows.PAUSE.set()  # the runs go on while the database is down
        # each checkpoint write waits out the pool's timeout before the run is interrupted
        interrupted = wait_for(base, run_ids[0], lambda r: r["status"] == "interrupted", 180)
        private_postgres.start()
        runs = [wait_for(base, r, lambda r: r["status"] == "succeeded", 180) for r in run_ids]
    assert "retrying from the checkpoint: couldn't get a connection" in interrupted["error"]
    for run in runs:
        nodes = [s["node"] for s in run["steps"]]
        # `label` was checkpointed before the crash and never runs again; a `reply` whose
        # checkpoint could not be written runs again, and both calls are on the bill
        assert nodes[0] == "label" and nodes.count("label") == 1
        assert set(nodes[1:]) == {"reply"}
        assert run["cost_usd"] == pytest.approx(sum(s["cost_usd"] for s in run["steps"]))
        assert run["output"]["reply"] == '{"label": "billing"}'


class ServeProcess:
    """``tierwise serve`` in a process of its own, which the test kills and restarts."""

    def __init__(self, config: Path, gate: Path) -> None:
        self.config = config
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, "TIERWISE_API_KEYS": "", GATE_ENV: str(gate)}
        self.process: subprocess.Popen[str] | None = None

    def start(self) -> ServeProcess:
        command = [sys.executable, "-m", "runtime.cli", "serve", "--config", str(self.config)]
        self.process = subprocess.Popen(
            [*command, "--port", str(self.port), "--no-warm-up"],
            cwd=REPO,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        deadline = time.monotonic() + 120
        while True:
            assert self.process.poll() is None, self.process.communicate()[0]
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{self.base}/readyz").status_code == 200:
                    return self
            assert time.monotonic() < deadline, "the server never became ready"
            time.sleep(0.2)

    def stop(self, sig: signal.Signals) -> str:
        assert self.process is not None
        self.process.send_signal(sig)
        output = self.process.communicate(timeout=60)[0]
        self.process = None
        return output


def test_a_server_killed_with_runs_in_flight_loses_none_and_sigterm_drains(
    tmp_path: Path, primary: FaultServer
) -> None:
    config = tmp_path / "tierwise.toml"
    tier = f'engine = "openai"\nmodel = "m"\nurls = ["{primary.url}"]\nstream = false\n'
    price = "price = { input = 1.0, cached_input = 0.1, output = 2.0 }\n"
    config.write_text(
        f'state_dir = "{tmp_path / "state"}"\n[tiers.small]\n{tier}{price}'
        f'[tiers.large]\n{tier}{price}[workflows]\ngated = "tests.server_workflows:gated"\n'
    )
    gate = tmp_path / "gate"
    server = ServeProcess(config, gate).start()
    try:
        accepted = [
            httpx.post(f"{server.base}/workflows/gated/runs", json={"input": QUESTION})
            for _ in range(4)
        ]
        run_ids = [response.json()["run_id"] for response in accepted]
        for run_id in run_ids:  # each checkpointed after `label`, held before `reply`
            wait_for(server.base, run_id, lambda r: len(r["steps"]) == 1)
        server.stop(signal.SIGKILL)

        server.start()  # the restart resumes them; they wait at the gate again
        drained = server.stop(signal.SIGTERM)
        gate.touch()
        server.start()
        runs = [wait_for(server.base, r, lambda r: r["status"] == "succeeded") for r in run_ids]
    finally:
        if server.process is not None:
            server.stop(signal.SIGKILL)
    assert all(response.status_code == 202 for response in accepted)
    assert "resuming 4 background runs" in drained
    assert "Application shutdown complete" in drained  # SIGTERM: a graceful stop
    for run in runs:
        assert [s["node"] for s in run["steps"]] == ["label", "reply"]
    assert primary.requests == 8  # one `label` and one `reply` per run, never again
