"""`tierwise lint` on a graph with a deliberately volatile prefix."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from langgraph.graph import START, StateGraph
from typer.testing import CliRunner
from typing_extensions import TypedDict

from runtime import Segment, Step, add_step
from runtime.cli import app
from runtime.lint import lint_workflow
from runtime.registry import WorkflowRegistry
from tests.fakes import Label

POLICY = Segment.global_("policy", "You label support questions for Acme. " * 8)


class State(TypedDict, total=False):
    question: str
    user_name: str
    label: dict[str, Any]
    check: dict[str, Any]


def build(volatile: bool) -> Any:
    greeting = (
        Segment.global_("greeting", "Today is 2026-11-22 12:00. You serve {user_name}.")
        if volatile
        else Segment.execution("greeting", "You serve {user_name}.")
    )
    builder = StateGraph(State)
    for node in ("label", "check"):
        step = Step(
            tier="small",
            prompt=(
                greeting,
                POLICY,
                Segment.node("task", f"Task: {node} it."),
                Segment.volatile("question", "{question}"),
            ),
            output=Label,
            writes=node,
        )
        add_step(builder, node, step)
    builder.add_edge(START, "label")
    builder.add_edge("label", "check")
    return builder


def volatile_graph() -> Any:
    """A timestamp and a user's name at the very start of every prompt."""
    return build(volatile=True)


def disciplined_graph() -> Any:
    """The same prompts, laid out stable-first."""
    return build(volatile=False)


def words(_tier: str, text: str) -> int:
    return len(text.split())


def lint(target: str) -> Any:
    registry = WorkflowRegistry({"w": f"{__name__}:{target}"})
    return lint_workflow(registry.get("w"), words)


def test_volatile_text_before_stable_text_is_named_by_node_and_segment() -> None:
    report = lint("volatile_graph")
    greeting = " ".join(
        f.problem for f in report.findings if (f.node, f.segment) == ("label", "greeting")
    )

    assert "interpolates {user_name}" in greeting
    assert "a timestamp ('2026-11-22 12:00')" in greeting
    assert {f.node for f in report.findings} == {"label", "check"}
    label, check = report.steps
    assert label.shared_across_executions < 10  # diverges at the user's name
    assert check.shared_with_previous is not None


def test_a_disciplined_layout_shares_its_stable_prefix_and_has_no_findings() -> None:
    report = lint("disciplined_graph")
    label, check = report.steps

    assert report.findings == []
    assert label.shared_across_executions >= 40  # policy and task come first now
    assert check.shared_with_previous is not None and check.shared_with_previous >= 40
    assert check.shared_with_previous < check.prompt_tokens  # the tasks differ


def test_the_cli_exits_1_on_findings(tmp_path: Path) -> None:
    config = tmp_path / "tierwise.toml"
    config.write_text(
        '[tiers.small]\nengine = "openai"\nmodel = "m"\nurls = ["http://127.0.0.1:1/v1"]\n'
        "price = { input = 1, cached_input = 0.1, output = 2 }\n"
        f'[workflows]\nbad = "{__name__}:volatile_graph"\ngood = "{__name__}:disciplined_graph"\n'
    )
    runner = CliRunner()
    bad = runner.invoke(app, ["lint", "bad", "--config", str(config)])
    good = runner.invoke(app, ["lint", "good", "--config", str(config)])
    assert bad.exit_code == 1 and "label / greeting" in bad.output
    assert good.exit_code == 0, good.output
