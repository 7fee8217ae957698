from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest
from typer.testing import CliRunner

from runtime.cli import app, main
from runtime.config import parse_config
from runtime.errors import ConfigError, InputError, UnknownWorkflowError, WorkflowError
from runtime.registry import WorkflowRegistry
from tests.conftest import REPO

runner = CliRunner()


def test_unknown_workflow_lists_the_registered_ones() -> None:
    registry = WorkflowRegistry({"support_triage": "graphs.support_triage:build"})
    with pytest.raises(UnknownWorkflowError, match=r"no workflow 'nope' \(registered: support"):
        registry.get("nope")


def test_input_is_validated_against_the_graph_input_schema() -> None:
    workflow = WorkflowRegistry({"t": "graphs.support_triage:build"}).get("t")
    assert workflow.validate_input({"question": "hi"}) == {"question": "hi"}
    with pytest.raises(
        InputError, match=r"invalid input for workflow 't': question: Field required"
    ):
        workflow.validate_input({"questoin": "hi"})
    assert workflow.description.startswith("Answer a customer support question")


def test_a_target_that_does_not_import_is_a_workflow_error() -> None:
    with pytest.raises(WorkflowError, match=r"cannot import 'graphs.nothing:build'"):
        WorkflowRegistry({"x": "graphs.nothing:build"}).get("x")


def test_only_steps_take_a_confidence_while_every_tiered_node_takes_a_route() -> None:
    workflow = WorkflowRegistry({"answer": "tests.server_workflows:answer"}).get("answer")
    assert workflow.routable_nodes() == ["label", "reply"]  # reply: a hand-written chat node
    assert workflow.step_nodes() == ["label"]
    assert workflow.semantic_nodes() == []


@pytest.mark.parametrize(
    ("table", "node", "applies_to"),
    [
        ("routes", "clasify", "classify, answer, policy_check"),  # a misspelt node
        ("cache_thresholds", "answer", "classify"),  # answer's cache is exact, not semantic
        ("min_confidence", "lookup", "classify, answer, policy_check"),  # a tool, not a Step
    ],
)
def test_per_node_settings_must_name_nodes_they_apply_to(
    table: str, node: str, applies_to: str
) -> None:
    raw = tomllib.loads((REPO / "tierwise.toml").read_text())
    raw[table] = {"support_triage": {node: "large" if table == "routes" else 0.8}}
    config = parse_config(raw, source="tierwise.toml", base_dir=REPO)  # valid as a file
    registry = WorkflowRegistry(config.workflows, config)
    problem = rf"{table}.support_triage.{node}: .*\(it applies to: {applies_to}\)"
    with pytest.raises(ConfigError, match=rf"^tierwise.toml: {problem}"):
        registry.get("support_triage")


def test_cli_lists_workflows() -> None:
    result = runner.invoke(app, ["workflows", "--config", str(REPO / "tierwise.toml")])
    assert result.exit_code == 0, result.output
    assert "support_triage" in result.output and "contract_review" in result.output


def test_cli_rejects_invalid_json_with_exit_code_2() -> None:
    result = runner.invoke(
        app, ["run", "support_triage", "--input", "{nope", "--config", str(REPO / "tierwise.toml")]
    )
    assert result.exit_code == 2
    assert "the input is not valid JSON" in result.output


def test_cli_rejects_input_that_misses_a_field_before_any_model_runs(tmp_path: Path) -> None:
    config = tmp_path / "tierwise.toml"
    config.write_text((REPO / "tierwise.toml").read_text())
    result = runner.invoke(
        app, ["run", "support_triage", "--input", json.dumps({"q": 1}), "--config", str(config)]
    )
    assert result.exit_code == 2
    assert "question: Field required" in result.output


def test_cli_names_the_file_and_key_of_a_bad_config(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text('[tiers.small]\nengine = "embedded"\nmodel = "m"\n')
    result = runner.invoke(app, ["workflows", "--config", str(config)])
    assert result.exit_code == 2
    assert f"{config}: tiers.small.price: Field required" in result.output.replace("\n", "")


def test_the_cli_reports_a_node_setting_found_wrong_when_the_workflow_loads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "tierwise.toml"
    config.write_text((REPO / "tierwise.toml").read_text().replace("\nclassify =", "\nclasify ="))
    monkeypatch.setattr("sys.argv", ["tierwise", "workflows", "--config", str(config)])
    with pytest.raises(SystemExit) as exited:
        main()
    assert exited.value.code == 2
    assert "routes.support_triage.clasify: workflow 'support_triage' has no such node" in (
        capsys.readouterr().err.replace("\n", "")
    )


@pytest.mark.parametrize(
    ("command", "option"),
    [
        (["bench", "--executions", "1"], "--json"),
        (["eval", "run", "support_triage", "--dataset", "DATASET"], "--report"),
        (["eval", "calibrate", "support_triage", "--dataset", "DATASET"], "--out"),
        (["eval", "cache", "--pairs", "PAIRS"], "--explain"),
    ],
)
def test_an_output_file_that_cannot_be_written_is_refused_before_the_work(
    tmp_path: Path, command: list[str], option: str
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text(json.dumps({"query": "a", "cached": "b", "same": True}) + "\n")
    dataset = str(REPO / "evals/datasets/support_triage.jsonl")
    args = [{"DATASET": dataset, "PAIRS": str(pairs)}.get(arg, arg) for arg in command]
    result = runner.invoke(app, [*args, option, str(blocker / "out.json")])
    assert result.exit_code == 2, result.output
    assert f"{option} {blocker / 'out.json'}: {blocker} is a file" in result.output.replace(
        "\n", ""
    )


def test_a_missing_output_folder_is_created(tmp_path: Path) -> None:
    from runtime.cli._errors import writable

    target = tmp_path / "reports" / "new" / "bench.json"
    writable(target, "--json")
    assert target.parent.is_dir() and not target.exists()  # nothing written before the work
