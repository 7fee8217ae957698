"""`tierwise serve` as a user starts it: the real embedded models behind real HTTP."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import repo_config_file
from tests.services import free_port

pytestmark = pytest.mark.integration


def serve(config: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "runtime.cli", "serve", "--config", str(config), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "TIERWISE_API_KEYS": ""},
    )


@pytest.fixture
def config(tmp_path: Path) -> Path:
    return repo_config_file(tmp_path)


def test_serve_answers_a_reference_workflow_once_ready(config: Path) -> None:
    port = free_port()
    process = serve(config, "--port", str(port))
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 300
        while True:
            assert process.poll() is None, process.stdout.read() if process.stdout else ""
            try:
                if httpx.get(f"{base}/readyz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "never became ready"
            time.sleep(0.5)
        response = httpx.post(
            f"{base}/workflows/support_triage/invoke",
            json={"input": {"question": "I was charged twice this month"}},
            timeout=300,
        )
    finally:
        process.terminate()
        output = process.communicate(timeout=60)[0]
    assert response.status_code == 200, response.text
    body = response.json()
    assert {s["tier"] for s in body["steps"]} == {"small", "large"}
    assert body["cost_usd"] > 0
    assert f"{base}/workflows/support_triage/invoke" in output  # the curl example
    assert "Application shutdown complete" in output  # SIGTERM stops it gracefully


def test_serve_refuses_a_public_address_without_api_keys(config: Path) -> None:
    command = [sys.executable, "-m", "runtime.cli", "serve", "--config", str(config)]
    done = subprocess.run(
        [*command, "--host", "0.0.0.0"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "TIERWISE_API_KEYS": ""},
        check=False,
    )
    assert done.returncode == 2
    assert "without API keys" in done.stderr
