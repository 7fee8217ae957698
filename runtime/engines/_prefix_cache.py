"""Prefix KV states kept in RAM and on disk, looked up by longest common token prefix.

llama-cpp-python asks its cache for the state whose tokens share the longest prefix with a
new prompt, and stores the state after every completion. This cache answers from RAM first
and from disk next, so separate processes (CLI calls, test workers, server restarts) reuse
each other's prefixes too.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import diskcache

from runtime._sequences import common_prefix_length

Tokens = tuple[int, ...]


def best_prefix_key(keys: Iterable[Tokens], tokens: Sequence[int]) -> tuple[Tokens | None, int]:
    """The key sharing the longest prefix with ``tokens``, and that length (0: none)."""
    best: Tokens | None = None
    best_len = 0
    for key in keys:
        shared = common_prefix_length(key, tokens)
        if shared > best_len:
            best, best_len = key, shared
    return best, best_len


class PrefixStateCache:
    """A two-level (RAM, then disk) cache of llama.cpp states keyed by their tokens."""

    def __init__(self, *, ram_bytes: int, disk_dir: Path | None, disk_bytes: int) -> None:
        self._ram: OrderedDict[Tokens, Any] = OrderedDict()
        self._ram_bytes = ram_bytes
        self._disk = (
            diskcache.Cache(
                str(disk_dir), size_limit=disk_bytes, eviction_policy="least-recently-used"
            )
            if disk_dir is not None
            else None
        )

    def __bool__(self) -> bool:  # llama-cpp-python tests `if self.cache:`
        return True

    def __getitem__(self, tokens: Sequence[int]) -> Any:
        ram_key, ram_len = best_prefix_key(self._ram, tokens)
        disk_key, disk_len = (
            best_prefix_key(self._disk.iterkeys(), tokens) if self._disk is not None else (None, 0)
        )
        if ram_key is not None and ram_len >= disk_len:
            self._ram.move_to_end(ram_key)
            return self._ram[ram_key]
        if disk_key is not None and self._disk is not None:
            state = self._disk.get(disk_key)
            if state is not None:
                self._remember(disk_key, state)
                return state
        raise KeyError("no cached prefix")

    def __contains__(self, tokens: Sequence[int]) -> bool:
        try:
            self[tokens]
        except KeyError:
            return False
        return True

    def __setitem__(self, tokens: Sequence[int], state: Any) -> None:
        key = tuple(tokens)
        self._remember(key, state)
        if self._disk is not None:
            self._disk.set(key, state)

    def _remember(self, key: Tokens, state: Any) -> None:
        self._ram[key] = state
        self._ram.move_to_end(key)
        while len(self._ram) > 1 and self._ram_size() > self._ram_bytes:
            self._ram.popitem(last=False)

    def _ram_size(self) -> int:
        return sum(int(state.llama_state_size) for state in self._ram.values())

    def close(self) -> None:
        """Close the disk store."""
        if self._disk is not None:
            self._disk.close()
