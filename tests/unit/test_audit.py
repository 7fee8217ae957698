"""``tierwise audit``: tokens per segment, repeated instructions, spend by segment."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from langgraph.graph import START, StateGraph
from typer.testing import CliRunner
from typing_extensions import TypedDict

from runtime import Runtime, Segment, Step, add_step
from runtime.cli import app
from runtime.config import TierPrice
from runtime.lint import audit_workflow
from tests.fakes import FakeTierClient, fake_config

POLICY = Segment.global_("policy", "You are a support agent for Acme. Be polite and brief.")
REPEATED = "Never promise a refund before the billing team has confirmed it."


class State(TypedDict, total=False):
    question: str
    draft: str
    reply: str


def build() -> StateGraph[Any, Any, Any, Any]:
    """Two steps; the second repeats one instruction twice in its own prompt."""
    builder = StateGraph(State)
    add_step(
        builder,
        "draft",
        Step(
            tier="small",
            prompt=(
                POLICY,
                Segment.node("task", f"Draft a reply. {REPEATED}"),
                Segment.volatile("question", "{question}"),
            ),
            writes="draft",
        ),
    )
    add_step(
        builder,
        "review",
        Step(
            tier="large",
            prompt=(
                POLICY,
                Segment.node("task", f"Review the draft. {REPEATED}"),
                Segment.node("rules", f"Rules: {REPEATED}"),
                Segment.volatile("draft", "{draft}"),
            ),
            writes="reply",
        ),
    )
    builder.add_edge(START, "draft")
    builder.add_edge("draft", "review")
    return builder


def words(tier: str, text: str) -> int:
    return len(text.split())


def record(cost_scale: int) -> dict[str, Any]:
    step = {"cached_input_tokens": 0, "output_tokens": 10, "cost_usd": 0.0}
    return {
        "run_id": f"run-{cost_scale}",
        "cost_usd": 0.01,
        "output": {"question": "Where is my refund?", "draft": "We are on it."},
        "steps": [
            {**step, "node": "draft", "tier": "small", "input_tokens": 1000 * cost_scale},
            {**step, "node": "review", "tier": "large", "input_tokens": 2000 * cost_scale},
        ],
    }


def test_audit_counts_segments_finds_the_repeat_and_splits_spend(tmp_path: Path) -> None:
    runtime = Runtime(fake_config(tmp_path, workflows={"dup": f"{__name__}:build"}), clients={})
    price = TierPrice(input=1.0, cached_input=0.1, output=2.0)
    report = audit_workflow(
        runtime.workflows.get("dup"), words, [record(1), record(2)], lambda _: price
    )

    assert report.state_source == "run-1" and report.executions == 2
    rows = {(r.node, r.segment): r for r in report.segments}
    assert rows[("review", "draft")].tokens == 4  # "We are on it." from the recorded state
    review = [r for r in report.segments if r.node == "review"]
    assert sum(r.share_of_prompt for r in review) == pytest.approx(1.0)
    # review's input: 2,000 + 4,000 tokens at $1 per million
    assert sum(r.spend_usd for r in review) == pytest.approx(0.006)
    (duplicate,) = report.duplicates  # the shared global policy is not a duplicate
    assert duplicate.sentence == REPEATED
    assert duplicate.places == ("draft/task", "review/task", "review/rules")
    assert duplicate.within_one_prompt


def test_audit_command_prints_json_with_placeholders_when_nothing_ran(tmp_path: Path) -> None:
    config = tmp_path / "tierwise.toml"
    config.write_text(
        '[tiers.small]\nengine = "openai"\nmodel = "s"\nurls = ["http://x/v1"]\n'
        "price = { input = 0.15, cached_input = 0.015, output = 0.6 }\n"
        '[tiers.large]\nengine = "openai"\nmodel = "m"\nurls = ["http://x/v1"]\n'
        "price = { input = 3, cached_input = 0.3, output = 15 }\n"
        f'[workflows]\ndup = "{__name__}:build"\n'
    )
    result = CliRunner().invoke(app, ["audit", "dup", "--json", "--config", str(config)])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["state_source"] == "placeholders" and report["executions"] == 0
    assert len(report["duplicates"]) == 1


async def test_warm_up_leaves_out_the_segments_an_ablation_removes(tmp_path: Path) -> None:
    clients = {tier: FakeTierClient(answer=lambda _: "ok") for tier in ("small", "large")}
    runtime = Runtime(
        fake_config(tmp_path, workflows={"dup": f"{__name__}:build"}), clients=clients
    )
    try:
        await runtime.warm_up("dup", ablated=frozenset({("review", "rules")}))
    finally:
        await runtime.aclose()

    (review,) = clients["large"].requests
    sent = " ".join(message.content for message in review.messages)
    assert "Review the draft." in sent and "Rules:" not in sent  # left out as the run leaves it
    (draft,) = clients["small"].requests
    assert "Draft a reply." in " ".join(message.content for message in draft.messages)
