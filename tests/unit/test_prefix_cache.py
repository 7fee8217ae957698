from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from runtime.engines._prefix_cache import PrefixStateCache, best_prefix_key


@dataclass
class State:
    name: str
    llama_state_size: int = 10


def test_the_key_with_the_longest_shared_prefix_wins() -> None:
    keys = [(1, 2, 3), (1, 2, 9, 9), (7,)]
    assert best_prefix_key(keys, [1, 2, 9, 4]) == ((1, 2, 9, 9), 3)
    assert best_prefix_key(keys, [5]) == (None, 0)


def test_ram_lookup_and_eviction_of_the_least_recently_used(tmp_path: Path) -> None:
    cache = PrefixStateCache(ram_bytes=20, disk_dir=None, disk_bytes=0)
    cache[(1, 2)] = State("a")
    cache[(3, 4)] = State("b")
    assert cache[(1, 2, 5)].name == "a"  # touches a
    cache[(5, 6)] = State("c")  # over 20 bytes: evicts b
    assert (3, 4) not in cache
    assert cache[(1,)].name == "a"
    with pytest.raises(KeyError):
        cache[(9,)]


def test_states_on_disk_are_found_by_another_cache_instance(tmp_path: Path) -> None:
    writer = PrefixStateCache(ram_bytes=100, disk_dir=tmp_path, disk_bytes=1 << 20)
    writer[(1, 2, 3)] = State("shared")
    writer.close()
    reader = PrefixStateCache(ram_bytes=100, disk_dir=tmp_path, disk_bytes=1 << 20)
    assert reader[(1, 2, 3, 4)].name == "shared"
    reader.close()
