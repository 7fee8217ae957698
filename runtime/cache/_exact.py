"""The exact cache: a key/value seam with an in-process LRU and Redis behind it."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Protocol

import redis.asyncio as aioredis
from redis.exceptions import RedisError


class CacheStoreError(Exception):
    """A cache backend failed; the caller degrades to running the step uncached."""


class KeyValueStore(Protocol):
    """Bytes by key, with a time to live."""

    async def get(self, key: str) -> bytes | None:
        """The value, or None when absent or expired."""
        ...

    async def set(
        self, key: str, value: bytes, *, ttl_s: float | None, namespace: str, max_entries: int
    ) -> None:
        """Store a value; ``namespace`` and ``max_entries`` bound stores that count entries."""
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...


DEFAULT_MEMORY_ENTRIES = 100_000
"""Entries the in-process store holds over all namespaces before the least recently used go."""


class MemoryStore:
    """An in-process LRU per namespace and over all of them, with per-entry expiry.

    Each namespace (a step's scope: workflow, node, prompt, model, tenant) keeps at most its
    own ``max_entries``; all together keep at most ``max_entries`` given here, so a stream
    of new tenants or prompt versions cannot grow the process without bound. An expired
    entry goes when it is read or when it is the least recently used.
    """

    def __init__(
        self,
        *,
        max_entries: int = DEFAULT_MEMORY_ENTRIES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._max_entries = max_entries
        self._clock = clock
        self._entries: OrderedDict[str, tuple[bytes, float | None, str]] = OrderedDict()
        """Value, expiry and namespace by key, least recently used first."""
        self._namespaces: dict[str, OrderedDict[str, None]] = {}

    async def get(self, key: str) -> bytes | None:
        """The value, or None when absent or expired."""
        found = self._entries.get(key)
        if found is None:
            return None
        value, expires, namespace = found
        if expires is not None and self._clock() >= expires:
            self._drop(key)
            return None
        self._entries.move_to_end(key)
        self._namespaces[namespace].move_to_end(key)
        return value

    async def set(
        self, key: str, value: bytes, *, ttl_s: float | None, namespace: str, max_entries: int
    ) -> None:
        """Store a value; evict the namespace's oldest past ``max_entries``, then the store's."""
        if key in self._entries:
            self._drop(key)
        self._entries[key] = (value, None if ttl_s is None else self._clock() + ttl_s, namespace)
        entries = self._namespaces.setdefault(namespace, OrderedDict())
        entries[key] = None
        while len(entries) > max_entries:
            self._drop(next(iter(entries)))
        while len(self._entries) > self._max_entries:
            self._drop(next(iter(self._entries)))

    def _drop(self, key: str) -> None:
        namespace = self._entries.pop(key)[2]
        entries = self._namespaces[namespace]
        del entries[key]
        if not entries:
            del self._namespaces[namespace]

    async def aclose(self) -> None:
        """Nothing to release."""


class RedisStore:
    """Redis with tight timeouts: a slow or absent Redis costs milliseconds, not the run."""

    def __init__(self, url: str, *, timeout_s: float) -> None:
        self._redis = aioredis.Redis.from_url(
            url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s, retry_on_timeout=False
        )

    async def get(self, key: str) -> bytes | None:
        """The value, or None when absent (Redis expires entries itself)."""
        try:
            value = await self._redis.get(key)
        except (RedisError, OSError) as exc:
            raise CacheStoreError(f"redis get failed: {exc}") from exc
        if value is None:
            return None
        return value.encode() if isinstance(value, str) else value

    async def set(
        self, key: str, value: bytes, *, ttl_s: float | None, namespace: str, max_entries: int
    ) -> None:
        """Store with a TTL; Redis bounds memory with its own eviction policy."""
        try:
            await self._redis.set(key, value, px=None if ttl_s is None else int(ttl_s * 1000))
        except (RedisError, OSError) as exc:
            raise CacheStoreError(f"redis set failed: {exc}") from exc

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._redis.aclose()
