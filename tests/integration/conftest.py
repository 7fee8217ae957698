from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from runtime import Runtime, load_config
from tests.conftest import REPO


@pytest.fixture(scope="module")
def fresh_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Run records and prefix states of this module only: every module starts cold."""
    return tmp_path_factory.mktemp("tierwise")


@pytest.fixture(scope="module")
def runtime(fresh_dir: Path) -> Iterator[Runtime]:
    """The repository's tiers on the real embedded models, with cold prefix caches."""
    runtime = Runtime(load_config(REPO / "tierwise.toml").isolated(fresh_dir))
    yield runtime
    asyncio.run(runtime.aclose())
