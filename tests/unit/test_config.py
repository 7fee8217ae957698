from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from runtime import Runtime
from runtime.config import TierwiseConfig, load_config, parse_config
from runtime.errors import ConfigError, WorkflowError
from tests.fakes import TIERS, fake_config

VALID = """
[tiers.small]
engine = "embedded"
model = "smollm2-135m-instruct"
price = { input = 0.15, cached_input = 0.015, output = 0.60 }

[tiers.large]
engine = "openai"
model = "Qwen/Qwen2.5-7B-Instruct"
urls = ["http://127.0.0.1:30000/v1"]
price = { input = 3.0, cached_input = 0.3, output = 15.0 }

[embedded]
model_dir = "models"

[workflows]
triage = "graphs.support_triage:build"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "tierwise.toml"
    path.write_text(text)
    return path


def test_valid_file_loads_with_tiers_in_order_and_paths_resolved(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, VALID))
    assert list(config.tiers) == ["small", "large"]
    assert config.tier("large").price.output == 15.0
    assert config.embedded.model_dir == tmp_path / "models"
    assert config.state_dir == tmp_path / ".tierwise"
    assert config.source == str(tmp_path / "tierwise.toml")


def test_an_isolated_copy_keeps_every_state_apart_but_shares_the_models(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, VALID))
    scratch = tmp_path / "scratch"
    isolated = config.isolated(scratch)
    assert isolated.state_dir == scratch
    assert isolated.embedded.prefix_cache_dir == scratch / "prefix-cache"
    assert isolated.embedded.model_dir == config.embedded.model_dir
    assert isolated.source == config.source
    assert config.embedded.prefix_cache_dir == tmp_path / ".tierwise/prefix-cache"  # unchanged


def test_env_var_names_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TIERWISE_CONFIG", str(write(tmp_path, VALID)))
    assert load_config().workflows == {"triage": "graphs.support_triage:build"}


@pytest.mark.parametrize(
    ("text", "key", "problem"),
    [
        (
            VALID.replace("output = 0.60", "output = -1"),
            "tiers.small.price.output",
            "greater than or equal to 0",
        ),
        (
            VALID.replace('engine = "embedded"', 'engine = "vllm"'),
            "tiers.small.engine",
            "'embedded' or 'openai'",
        ),
        (
            VALID.replace('urls = ["http://127.0.0.1:30000/v1"]\n', ""),
            "tiers.large",
            "needs at least one entry in 'urls'",
        ),
        (
            VALID.replace("[embedded]", "[embedded]\nn_ctxx = 4"),
            "embedded.n_ctxx",
            "Extra inputs are not permitted",
        ),
        (
            VALID.replace('"graphs.support_triage:build"', '"graphs.support_triage"'),
            "workflows.triage",
            "should match pattern",
        ),
        (
            VALID.replace("price = { input = 0.15, cached_input = 0.015, output = 0.60 }", ""),
            "tiers.small.price",
            "Field required",
        ),
    ],
)
def test_invalid_file_names_file_key_and_problem(
    tmp_path: Path, text: str, key: str, problem: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert caught.value.source == str(path)
    assert caught.value.key == key
    assert problem in caught.value.problem
    assert str(path) in str(caught.value)


def test_toml_syntax_error_names_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "[tiers.small\n")
    with pytest.raises(ConfigError, match=r"tierwise.toml: \(syntax\)"):
        load_config(path)


def test_missing_file_says_how_to_point_at_one(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found; pass --config or set TIERWISE_CONFIG"):
        load_config(tmp_path / "nope.toml")


def test_unknown_tier_lists_the_configured_ones(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, VALID))
    with pytest.raises(WorkflowError, match=r"no tier 'medium' .* \(tiers: small, large\)"):
        config.tier("medium")


def test_a_budget_for_an_unregistered_workflow_names_the_key(tmp_path: Path) -> None:
    raw = {
        "tiers": TIERS,
        "workflows": {"triage": "graphs.support_triage:build"},
        "budgets": {"triag": {"max_cost_usd": 0.01}},
    }
    with pytest.raises(ConfigError, match=r"x.toml: budgets: .*triag .*registered: triage"):
        parse_config(raw, source="x.toml", base_dir=tmp_path)


@pytest.mark.parametrize(
    ("fallbacks", "problem"),
    [
        ({"small": "medium"}, r"small.fallback names no tier: 'medium'"),
        ({"small": "large", "large": "small"}, r"loop: small -> large -> small"),
    ],
)
def test_fallbacks_name_tiers_and_never_loop(
    tmp_path: Path, fallbacks: dict[str, str], problem: str
) -> None:
    tiers = {name: {**spec, "fallback": fallbacks.get(name)} for name, spec in TIERS.items()}
    with pytest.raises(ConfigError, match=rf"x.toml: tiers: .*{problem}"):
        parse_config({"tiers": tiers}, source="x.toml", base_dir=tmp_path)


def test_routes_name_registered_workflows_and_configured_tiers(tmp_path: Path) -> None:
    workflows = {"triage": "graphs.support_triage:build"}
    with pytest.raises(ConfigError, match=r"routes: .*triage.classify routes to no tier: 'xl'"):
        parse_config(
            {"tiers": TIERS, "workflows": workflows, "routes": {"triage": {"classify": "xl"}}},
            source="x.toml",
            base_dir=tmp_path,
        )
    with pytest.raises(ConfigError, match=r"routes: .*unregistered workflow nope"):
        parse_config(
            {"tiers": TIERS, "workflows": workflows, "routes": {"nope": {"a": "small"}}},
            source="x.toml",
            base_dir=tmp_path,
        )


@pytest.mark.parametrize(("key", "most"), [("cache_thresholds", 1.5), ("min_confidence", 1.0)])
def test_per_node_thresholds_name_registered_workflows_and_are_probabilities(
    tmp_path: Path, key: str, most: float
) -> None:
    workflows = {"triage": "graphs.support_triage:build"}

    def parse(thresholds: dict[str, Any]) -> TierwiseConfig:
        raw = {"tiers": TIERS, "workflows": workflows, key: thresholds}
        return parse_config(raw, source="x.toml", base_dir=tmp_path)

    assert getattr(parse({"triage": {"classify": 0.85}}), key) == {"triage": {"classify": 0.85}}
    with pytest.raises(ConfigError, match=rf"{key}: .*unregistered workflow nope"):
        parse({"nope": {"classify": 0.85}})
    with pytest.raises(ConfigError, match=rf"x.toml: {key}.triage.classify: .*1"):
        parse({"triage": {"classify": most}})


@pytest.fixture
def switch_interval() -> Any:
    """The interpreter's thread switch interval, put back after the test."""
    before = sys.getswitchinterval()
    yield
    sys.setswitchinterval(before)


@pytest.mark.usefixtures("switch_interval")
async def test_a_runtime_sets_the_threads_switch_interval_unless_told_to_leave_it(
    tmp_path: Path,
) -> None:
    sys.setswitchinterval(0.005)  # CPython's own
    await Runtime(fake_config(tmp_path / "a")).aclose()
    assert sys.getswitchinterval() == pytest.approx(0.0001)
    sys.setswitchinterval(0.002)
    await Runtime(fake_config(tmp_path / "b", thread_switch_interval_s=None)).aclose()
    assert sys.getswitchinterval() == pytest.approx(0.002)
