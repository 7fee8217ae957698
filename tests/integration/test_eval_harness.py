"""`tierwise eval run` end to end on a tiny dataset and the real embedded models."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from runtime.cli import app
from tests.conftest import REPO

pytestmark = pytest.mark.integration


def test_eval_run_writes_a_report_and_chart_holding_the_measured_numbers(
    tmp_path: Path,
) -> None:
    dataset = tmp_path / "tiny.jsonl"
    lines = (REPO / "evals/datasets/support_triage.jsonl").read_text().splitlines()[:2]
    dataset.write_text("\n".join(lines) + "\n")
    report = tmp_path / "report.md"

    result = CliRunner().invoke(
        app,
        [
            "eval", "run", "support_triage", "--dataset", str(dataset), "--json",
            "--config", str(REPO / "tierwise.toml"), "--report", str(report),
        ],
    )  # fmt: skip

    assert result.exit_code == 0, result.output
    body = json.loads(result.output)
    (measured,) = body["results"]
    assert measured["executions"] == 2 and measured["failures"] == 0
    assert 0.0 <= measured["quality"] <= 1.0
    assert measured["mean_cost_usd"] > 0 and measured["p95_latency_ms"] > 0
    text = report.read_text()
    assert f"{measured['quality']:.3f}" in text
    assert f"{measured['mean_cost_usd']:.6f}" in text
    chart = Path(body["chart"])
    assert chart.exists() and chart.read_bytes().startswith(b"\x89PNG")
