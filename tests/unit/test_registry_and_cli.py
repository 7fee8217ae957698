from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from runtime.cli import app
from runtime.errors import InputError, UnknownWorkflowError, WorkflowError
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
