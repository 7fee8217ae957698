"""Reading ``tierwise.toml``: every problem names the file and the key."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from runtime.config._model import TierwiseConfig
from runtime.errors import ConfigError

DEFAULT_CONFIG_FILE = "tierwise.toml"
CONFIG_ENV_VAR = "TIERWISE_CONFIG"


def config_path(explicit: str | Path | None = None) -> Path:
    """The config file: ``explicit``, else ``$TIERWISE_CONFIG``, else ./tierwise.toml."""
    if explicit is not None:
        return Path(explicit)
    from_env = os.environ.get(CONFIG_ENV_VAR)
    return Path(from_env) if from_env else Path(DEFAULT_CONFIG_FILE)


def load_config(path: str | Path | None = None) -> TierwiseConfig:
    """Read and validate a config file; relative paths in it are resolved from its folder."""
    file = config_path(path)
    try:
        raw = tomllib.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(
            str(file), "(file)", f"not found; pass --config or set {CONFIG_ENV_VAR}"
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(str(file), "(syntax)", str(exc)) from exc
    return parse_config(raw, source=str(file), base_dir=file.resolve().parent)


def parse_config(raw: dict[str, Any], *, source: str, base_dir: Path) -> TierwiseConfig:
    """Validate an already-parsed TOML document."""
    try:
        config = TierwiseConfig.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        key = ".".join(str(part) for part in first["loc"]) or "(top level)"
        problem = first["msg"]
        if len(exc.errors()) > 1:
            problem += f" (and {len(exc.errors()) - 1} more problem(s))"
        raise ConfigError(source, key, problem) from exc
    return _resolve_paths(config, base_dir).with_source(source)


def _resolve_paths(config: TierwiseConfig, base_dir: Path) -> TierwiseConfig:
    tiers = {
        name: tier.model_copy(update={"model_path": base_dir / tier.model_path})
        if tier.model_path is not None and not tier.model_path.is_absolute()
        else tier
        for name, tier in config.tiers.items()
    }
    embedded = config.embedded.model_copy(
        update={
            "model_dir": base_dir / config.embedded.model_dir,
            "prefix_cache_dir": base_dir / config.embedded.prefix_cache_dir,
        }
    )
    state_dir = base_dir / config.state_dir
    return config.model_copy(update={"tiers": tiers, "embedded": embedded, "state_dir": state_dir})
