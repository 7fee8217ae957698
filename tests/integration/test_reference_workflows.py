"""The reference workflows end to end on the real embedded models."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from runtime import ExecutionRecord, Runtime, load_config, price_step
from tests.conftest import REPO, repo_config_file

pytestmark = pytest.mark.integration

QUESTION = {"question": "I was charged twice this month"}


def assert_costs_add_up(runtime: Runtime, record: ExecutionRecord) -> None:
    for step in record.steps:
        assert step.cost_usd == price_step(step.usage, runtime.tier_spec(step.tier).price)
    assert record.cost_usd == pytest.approx(sum(step.cost_usd for step in record.steps))
    assert record.cost_usd > 0


async def test_support_triage_runs_on_both_tiers_and_reuses_the_policy_prefix(
    runtime: Runtime,
) -> None:
    record = await runtime.run("support_triage", QUESTION)
    # tierwise.toml routes support_triage as `tierwise eval calibrate` chose
    assert [(s.node, s.tier) for s in record.steps] == [
        ("classify", "large"),
        ("answer", "small"),
        ("policy_check", "small"),
    ]
    assert record.output["classification"]["category"] in {
        "billing",
        "account",
        "technical",
        "shipping",
        "other",
    }
    assert "billing-double-charge" in record.output["faq"]
    assert record.output["answer"]
    assert isinstance(record.output["verdict"]["compliant"], bool)
    answer, policy_check = record.steps[1:]
    # policy_check carries on answer's conversation on the same model: the whole answer
    # prompt (and some of the draft) is a cached prefix
    assert policy_check.usage.cached_input_tokens >= answer.usage.input_tokens
    assert_costs_add_up(runtime, record)
    stored = runtime.runs.get(record.run_id)
    assert stored is not None and stored["cost_usd"] == record.cost_usd


async def test_a_repeated_question_is_answered_from_the_step_cache(runtime: Runtime) -> None:
    first = await runtime.run("support_triage", QUESTION)
    again = await runtime.run("support_triage", QUESTION)
    assert [s.cache for s in again.steps] == ["exact", "exact", "exact"]
    assert again.cost_usd == 0
    assert again.output["answer"] == first.output["answer"]
    assert again.saved_cost_usd > 0
    fresh = await runtime.run("support_triage", QUESTION, use_cache=False)
    assert [s.cache for s in fresh.steps] == ["off", "off", "off"]


async def test_a_second_execution_reuses_every_steps_prefix(runtime: Runtime) -> None:
    record = await runtime.run("support_triage", {"question": "My invoice is missing"})
    for step in record.steps:
        assert step.usage.cached_input_tokens > 250, step
    cold_equivalent = sum(
        price_step(
            step.usage.__class__(
                input_tokens=step.usage.input_tokens, output_tokens=step.usage.output_tokens
            ),
            runtime.tier_spec(step.tier).price,
        )
        for step in record.steps
    )
    assert record.cost_usd < cold_equivalent


async def test_contract_review_branches_share_the_contract_prefix(runtime: Runtime) -> None:
    contract = json.loads((REPO / "graphs/examples/contract.json").read_text())
    record = await runtime.run("contract_review", contract)
    reviews = [s for s in record.steps if s.node == "review_aspect"]
    assert len(reviews) == 4 and all(s.tier == "small" for s in reviews)
    assert record.steps[-1].node == "report" and record.steps[-1].tier == "large"
    assert len(record.output["findings"]) == 4
    assert all(f["risk"] in {"low", "medium", "high"} for f in record.output["findings"])
    assert record.output["report"]
    # the first branch prefills [policy][task][contract]; the others reuse all of it
    for later in reviews[1:]:
        assert later.usage.cached_input_tokens > later.usage.input_tokens - 30
    assert_costs_add_up(runtime, record)


def test_cli_run_prints_one_json_object_with_the_cost_of_every_step(fresh_dir: Path) -> None:
    config = repo_config_file(fresh_dir, "cli.toml")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "runtime.cli",
            "run",
            "support_triage",
            "--json",
            "--input",
            json.dumps(QUESTION),
            "--config",
            str(config),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert set(result) >= {"output", "cost_usd", "latency_ms", "steps", "run_id"}
    assert {s["tier"] for s in result["steps"]} == {"small", "large"}
    for step in result["steps"]:
        assert set(step) == {
            "node",
            "tier",
            "model",
            "input_tokens",
            "cached_input_tokens",
            "output_tokens",
            "cost_usd",
            "latency_ms",
            "cache",
            "similarity",
            "saved_cost_usd",
            "cache_entry",
            "escalation",
            "lookup_ms",
            "fallback",
            "trimmed",
            "confidence",
            "checked",
        }
        assert step["cache"] == "miss"
    assert result["steps"][-1]["cached_input_tokens"] > 0
    assert result["cost_usd"] == pytest.approx(sum(s["cost_usd"] for s in result["steps"]))

    def cli(*args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "runtime.cli", *args, "--config", str(config)],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    # the run's spans were flushed to the local store when the command exited
    tree = json.loads(cli("traces", "show", result["run_id"], "--json"))
    assert tree["name"] == "workflow support_triage"
    assert tree["attributes"]["tierwise.cost_usd"] == pytest.approx(result["cost_usd"])
    steps = [c for c in tree["children"] if c["name"].startswith("step ")]
    assert [c["name"] for c in steps] == ["step classify", "step answer", "step policy_check"]
    assert "execute_tool faq_search" in {c["name"] for c in tree["children"]}
    calls = [g for c in steps for g in c["children"] if g["name"].startswith("chat ")]
    assert [g["attributes"]["tierwise.cost_usd"] for g in calls] == pytest.approx(
        [s["cost_usd"] for s in result["steps"]]
    )
    assert all(g["attributes"]["tierwise.ttft_ms"] > 0 for g in calls)
    assert result["run_id"] in cli("traces", "list")
    costs = json.loads(cli("costs", "--workflow", "support_triage", "--since", "1h", "--json"))
    assert costs["executions"] == 1
    assert costs["p95_usd"] == pytest.approx(result["cost_usd"])
    assert set(costs["by_tier"]) == {"small", "large"}


async def test_after_warm_up_the_first_execution_finds_every_prefix_cached(tmp_path: Path) -> None:
    runtime = Runtime(load_config(REPO / "tierwise.toml").isolated(tmp_path))
    warm = await runtime.warm_up("support_triage")
    # policy_check continues answer's conversation: one prefix, warmed once
    assert [(s.node, s.tier) for s in warm] == [("classify", "large"), ("answer", "small")]
    assert all(s.usage.output_tokens <= 1 for s in warm)
    record = await runtime.run("support_triage", QUESTION)
    await runtime.aclose()
    for step in record.steps:
        assert step.usage.cached_input_tokens > 250, step
