"""deploy/: rendered from the production config, valid, and up to date."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from runtime.config import Speculative, load_config, parse_config
from runtime.deploy import render_compose, render_kubernetes, sglang_command
from runtime.errors import ConfigError
from tests.conftest import REPO

PRODUCTION = REPO / "deploy/tierwise.production.toml"
COMPOSE = REPO / "deploy/compose/compose.yaml"
KUBERNETES = REPO / "deploy/k8s/tierwise.yaml"


def compose_text() -> str:
    return render_compose(load_config(PRODUCTION), config_file="../tierwise.production.toml")


def kubernetes_text() -> str:
    return render_kubernetes(load_config(PRODUCTION), config_text=PRODUCTION.read_text())


def test_the_committed_files_are_what_the_config_renders() -> None:
    assert COMPOSE.read_text() == compose_text(), "run `make deploy` and commit deploy/"
    assert KUBERNETES.read_text() == kubernetes_text(), "run `make deploy` and commit deploy/"


def test_compose_launches_each_tier_as_the_issue_asks() -> None:
    services: dict[str, Any] = yaml.safe_load(compose_text())["services"]
    assert all("image" in service for service in services.values())
    small = services["sglang-small"]["command"]
    assert "awq_marlin" in small and "--enable-cache-report" in small
    for replica in ("sglang-large-0", "sglang-large-1"):
        large = services[replica]["command"]
        assert large[large.index("--quantization") + 1] == "fp8"
        assert large[large.index("--kv-cache-dtype") + 1] == "fp8_e5m2"
        assert large[large.index("--schedule-policy") + 1] == "lpm"
        assert "--enable-metrics" in large
        devices = services[replica]["deploy"]["resources"]["reservations"]["devices"]
        assert devices == [{"driver": "nvidia", "count": 1, "capabilities": ["gpu"]}]
    router = services["sglang-large"]["command"]
    assert router[router.index("--policy") + 1] == "cache_aware"
    assert "http://sglang-large-1:30000" in router
    assert {"redis", "qdrant", "postgres", "langfuse-web", "tierwise"} <= set(services)
    environment = services["tierwise"]["environment"]
    assert environment["LANGFUSE_SECRET_KEY"].startswith("${")  # from the environment only
    assert "sk-" not in compose_text()


def test_kubernetes_manifests_are_consistent() -> None:
    documents = list(yaml.safe_load_all(kubernetes_text()))
    for document in documents:
        assert {"apiVersion", "kind", "metadata"} <= set(document)
        assert document["metadata"]["name"]
    workloads = {
        d["metadata"]["name"]: d for d in documents if d["kind"] in ("Deployment", "StatefulSet")
    }
    for workload in workloads.values():
        spec = workload["spec"]
        assert (
            spec["selector"]["matchLabels"].items()
            <= spec["template"]["metadata"]["labels"].items()
        )
        assert all(c["image"] for c in spec["template"]["spec"]["containers"])
    pod_labels = [w["spec"]["template"]["metadata"]["labels"] for w in workloads.values()]
    for service in (d for d in documents if d["kind"] == "Service"):
        assert any(service["spec"]["selector"].items() <= labels.items() for labels in pod_labels)
    scalers = [d for d in documents if d["kind"] == "ScaledObject"]
    assert {s["spec"]["scaleTargetRef"]["name"] for s in scalers} == {
        "sglang-small-workers",
        "sglang-large-workers",
    }
    for scaler in scalers:
        assert scaler["spec"]["scaleTargetRef"]["name"] in workloads
        (trigger,) = scaler["spec"]["triggers"]
        assert trigger["type"] == "prometheus"
        assert "tierwise_queue_depth" in trigger["metadata"]["query"]
    gpus = workloads["sglang-large-workers"]["spec"]["template"]["spec"]["containers"][0]
    assert gpus["resources"]["limits"]["nvidia.com/gpu"] == 1


def production(tmp_path: Path, **large: Any) -> Any:
    raw = load_config(PRODUCTION).model_dump(mode="json", exclude_none=True)
    raw["tiers"]["large"] |= large
    return parse_config(raw, source="prod.toml", base_dir=tmp_path)


def test_a_tier_url_that_misses_its_rendered_service_is_refused(tmp_path: Path) -> None:
    config = production(tmp_path, urls=["http://elsewhere:30000/v1"])
    with pytest.raises(ConfigError, match=r"prod\.toml: tiers\.large\.urls"):
        render_compose(config, config_file="x")


def test_speculative_decoding_flags_are_rendered(tmp_path: Path) -> None:
    deploy = load_config(PRODUCTION).tiers["large"].deploy
    assert deploy is not None
    spec = Speculative(algorithm="EAGLE", draft_model_path="org/eagle-heads", num_steps=5)
    command = sglang_command(deploy.model_copy(update={"speculative": spec}))
    assert command[command.index("--speculative-algorithm") + 1] == "EAGLE"
    assert command[command.index("--speculative-num-steps") + 1] == "5"
    assert "org/eagle-heads" in command
