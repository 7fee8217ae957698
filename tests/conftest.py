from __future__ import annotations

from pathlib import Path

import pytest

from runtime import TierwiseConfig, load_config

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def repo_config() -> TierwiseConfig:
    """The repository's own tierwise.toml."""
    return load_config(REPO / "tierwise.toml")


def repo_config_file(folder: Path, name: str = "tierwise.toml") -> Path:
    """A copy of the repository's config in ``folder`` (state there, models shared)."""
    path = folder / name
    path.write_text(
        (REPO / "tierwise.toml")
        .read_text()
        .replace('model_dir = ".tierwise/models"', f'model_dir = "{REPO}/.tierwise/models"')
    )
    return path
