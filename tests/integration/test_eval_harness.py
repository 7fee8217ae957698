"""`tierwise eval run` end to end on a tiny dataset and the real embedded models."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest
from typer.testing import CliRunner

from runtime.cli import app
from runtime.config import parse_config
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
    assert measured["cached_input_rate"] > 0.8  # from warm prefix states (cold: 0.69 here)
    text = report.read_text()
    assert f"{measured['quality']:.3f}" in text
    assert f"{measured['mean_cost_usd']:.6f}" in text
    assert f"| {measured['cached_input_rate']:.0%} |" in text
    chart = Path(body["chart"])
    assert chart.exists() and chart.read_bytes().startswith(b"\x89PNG")


def test_calibrate_chooses_the_cheapest_good_routing_and_proves_it_on_held_out_items(
    tmp_path: Path,
) -> None:
    dataset = tmp_path / "tiny.jsonl"
    lines = (REPO / "evals/datasets/support_triage.jsonl").read_text().splitlines()
    dataset.write_text("\n".join(lines[:2] + lines[20:22]) + "\n")  # billing and account
    routes = tmp_path / "routes.toml"

    result = CliRunner().invoke(
        app,
        [
            "eval", "calibrate", "support_triage", "--dataset", str(dataset), "--json",
            "--config", str(REPO / "tierwise.toml"), "--holdout", "0.5", "--target", "0.9",
            "--out", str(routes), "--cache-threshold", "0.7", "--cache-threshold", "0.95",
            "--min-confidence", "0.5",
        ],
    )  # fmt: skip

    assert result.exit_code == 0, result.output
    body = json.loads(result.output)
    calibration = body["calibration"]
    assert calibration["items"] == 2 and body["holdout"]["items"] == 2
    assert len(calibration["routings"]) == 2**3  # three model nodes, two tiers
    chosen, baseline = calibration["chosen"], calibration["baseline"]
    held = body["holdout"]
    assert chosen["quality"] >= 0.9 * baseline["quality"]
    # then each cache threshold on the chosen routing's one semantic step (classify)
    assert len(calibration["threshold_trials"]) == 2
    assert body["cache_thresholds"] in ({}, {"classify": 0.7}, {"classify": 0.95})
    # then the confidence on each routing cheaper than that choice, below-large nodes only
    cascades = calibration["confidence_trials"]
    cheaper = [r for r in calibration["routings"] if r["mean_cost_usd"] < chosen["mean_cost_usd"]]
    assert len(cascades) >= len(cheaper)
    for trial in cascades:
        parts = trial["config"].split(", ")
        tried = dict(part.split("=") for part in parts if "=" in part and ">=" not in part)
        floors = [part.removesuffix(">=0.5") for part in parts if part.endswith(">=0.5")]
        assert floors == [node for node, tier in tried.items() if tier == "small"]
    tried = calibration["routings"] + calibration["threshold_trials"] + cascades
    # every configuration measured from warm prefix states, whatever ran before it (each
    # starting cold, two items read 0.69 of their prompt tokens from prefix states here)
    assert all(r["cached_input_rate"] > 0.8 for r in [*tried, held["chosen"], held["baseline"]])
    more_hits = [
        r for r in calibration["threshold_trials"]
        if r["cache_hit_rate"] > chosen["cache_hit_rate"]
    ]  # fmt: skip
    cheaper_and_good = [
        r for r in calibration["routings"] + more_hits + cascades
        if r["quality"] >= 0.9 * baseline["quality"]
        and r["mean_cost_usd"] < chosen["mean_cost_usd"]
    ]  # fmt: skip
    assert cheaper_and_good == []
    assert set(body["routes"]) == {"classify", "answer", "policy_check"}
    assert body["holds"] == (held["chosen"]["quality"] >= 0.9 * held["baseline"]["quality"])
    written = tomllib.loads(routes.read_text())
    raw = {**tomllib.loads((REPO / "tierwise.toml").read_text()), **written}
    config = parse_config(raw, source="routes.toml", base_dir=tmp_path)  # a valid config
    assert config.routes["support_triage"] == body["routes"]
    assert config.cache_thresholds.get("support_triage", {}) == body["cache_thresholds"]
    assert config.min_confidence.get("support_triage", {}) == body["min_confidence"]
