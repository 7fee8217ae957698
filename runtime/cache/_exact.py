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


class MemoryStore:
    """An in-process LRU per namespace, with per-entry expiry."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._namespaces: dict[str, OrderedDict[str, tuple[bytes, float | None]]] = {}
        self._namespace_of: dict[str, str] = {}

    async def get(self, key: str) -> bytes | None:
        """The value, or None when absent or expired."""
        namespace = self._namespace_of.get(key)
        if namespace is None:
            return None
        entries = self._namespaces[namespace]
        value, expires = entries[key]
        if expires is not None and self._clock() >= expires:
            self._drop(namespace, key)
            return None
        entries.move_to_end(key)
        return value

    async def set(
        self, key: str, value: bytes, *, ttl_s: float | None, namespace: str, max_entries: int
    ) -> None:
        """Store a value, evicting the namespace's least recently used past ``max_entries``."""
        entries = self._namespaces.setdefault(namespace, OrderedDict())
        entries[key] = (value, None if ttl_s is None else self._clock() + ttl_s)
        entries.move_to_end(key)
        self._namespace_of[key] = namespace
        while len(entries) > max_entries:
            oldest = next(iter(entries))
            self._drop(namespace, oldest)

    def _drop(self, namespace: str, key: str) -> None:
        del self._namespaces[namespace][key]
        del self._namespace_of[key]

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
