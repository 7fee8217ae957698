"""`tierwise bench` in a smoke size, on the real embedded models."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from runtime.cli import app
from runtime.evaluation import load_dataset, workload
from tests.conftest import REPO, repo_config_file

pytestmark = pytest.mark.integration

KEYS = {
    "cost_per_execution",
    "p50_latency_ms",
    "p95_latency_ms",
    "quality",
    "prefix_reuse",
    "cache_hit_rate",
    "overhead_ms_per_step",
    "executions_per_s",
    "model_seconds_per_execution",
    "output_tokens_per_execution",
}
RATIOS = {"cost_per_execution", "model_seconds_per_execution", "p95_latency_ms", "quality"}


def test_the_workload_mixes_fresh_repeated_and_paraphrased_inputs() -> None:
    items = load_dataset(REPO / "evals/datasets/support_triage.jsonl")
    kinds = [request.kind for request in workload(items, 30)]
    assert kinds.count("fresh") == 10 and kinds.count("repeat") == 10
    assert kinds.count("paraphrase") == 10


def test_bench_writes_three_sides_and_tierwises_ratios_under_stable_keys(tmp_path: Path) -> None:
    result_file = tmp_path / "bench.json"
    config = repo_config_file(tmp_path)  # its prefix states would go to tmp_path/.tierwise
    done = CliRunner().invoke(
        app,
        [
            "bench", "--executions", "3", "--json", str(result_file), "--config", str(config),
            "--dataset", str(REPO / "evals/datasets/support_triage.jsonl"),
            "--naive-config", str(REPO / "evals/configs/all_large.toml"),
        ],
    )  # fmt: skip
    assert done.exit_code == 0, done.output
    result = json.loads(result_file.read_text())
    assert all(set(result[side]) >= KEYS for side in ("naive", "peer", "tierwise"))
    assert set(result["ratios"]) == set(result["ratios_to_peer"]) == RATIOS
    assert result["naive"]["prefix_reuse"] < 0.05  # a fresh header before every prompt
    assert result["naive"]["cache_hit_rate"] == 0.0
    assert all(
        result[side]["output_tokens_per_execution"] > 0 for side in ("naive", "peer", "tierwise")
    )
    assert result["naive"]["fully_cached_executions"] == 0
    assert result["naive"]["fully_cached_p95_latency_ms"] is None
    assert result["tierwise"]["fully_cached_executions"] == 1  # the exact repeat
    cached_p95 = result["tierwise"]["fully_cached_p95_latency_ms"]
    assert 0 < cached_p95 < result["tierwise"]["p95_latency_ms"]
    assert result["tierwise"]["cost_per_execution"] < result["naive"]["cost_per_execution"]
    # peer: the prompts as written reuse their prefixes, and LangGraph's node cache
    # answers the exact repeat's three model steps (of nine) without a step record
    assert result["peer"]["prefix_reuse"] > 0.5
    assert result["peer"]["cache_hit_rate"] == pytest.approx(1 / 3)
    assert result["peer"]["fully_cached_executions"] == 1
    assert result["peer"]["fully_cached_p95_latency_ms"] is not None
    assert result["peer"]["cost_per_execution"] < result["naive"]["cost_per_execution"]
    # every side kept its state, prefix KV states included, in a folder of its own
    assert not (tmp_path / ".tierwise").exists()
