"""Configuration: tiers, prices and the workflow registry, read from ``tierwise.toml``."""

from runtime.config._load import CONFIG_ENV_VAR, config_path, load_config, parse_config
from runtime.config._model import (
    BudgetSpec,
    CacheSettings,
    DeploySettings,
    EmbeddedEngineSettings,
    LaneSettings,
    ServerSettings,
    SGLangDeploy,
    Speculative,
    TierPrice,
    TierSpec,
    TierwiseConfig,
    TracingSettings,
)

__all__ = [
    "CONFIG_ENV_VAR",
    "BudgetSpec",
    "CacheSettings",
    "DeploySettings",
    "EmbeddedEngineSettings",
    "LaneSettings",
    "SGLangDeploy",
    "ServerSettings",
    "Speculative",
    "TierPrice",
    "TierSpec",
    "TierwiseConfig",
    "TracingSettings",
    "config_path",
    "load_config",
    "parse_config",
]
