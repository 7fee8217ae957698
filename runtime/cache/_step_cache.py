"""``StepCache``: per-step lookups and writes that degrade instead of failing the run."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal, Protocol, TypeVar

from runtime.cache._exact import KeyValueStore
from runtime.cache._keys import CacheScope, exact_key
from runtime.cache._policy import CacheMode, CachePolicy

log = logging.getLogger(__name__)

T = TypeVar("T")

CHECK_SCOPES = 10_000
"""Scopes whose spot-check tally a cache keeps (the most recently hit)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class CachedAnswer:
    """A validated step output and what producing it cost."""

    value: Any
    """The output as the state holds it (JSON-compatible)."""
    model: str
    """The model that produced it."""
    cost_usd: float
    """What the model call cost: what a hit saves."""
    key_text: str
    """The normalised key inputs it answered."""

    def to_bytes(self) -> bytes:
        """JSON encoding for the stores."""
        fields = ("value", "model", "cost_usd", "key_text")  # not asdict: it deep-copies
        return json.dumps({name: getattr(self, name) for name in fields}).encode()

    @classmethod
    def from_bytes(cls, raw: bytes) -> CachedAnswer:
        """Decode what ``to_bytes`` wrote."""
        return cls(**json.loads(raw))


@dataclass(frozen=True, slots=True, kw_only=True)
class CacheHit:
    """A reused answer and how it was found."""

    answer: CachedAnswer
    """The reused answer."""
    kind: Literal["exact", "semantic"]
    """Which lookup found it."""
    similarity: float
    """1.0 for exact hits; the cosine similarity for semantic ones."""
    entry: str | None = None
    """Id of the semantic entry that answered, for reporting the hit right or wrong."""


class SemanticLookup(Protocol):
    """The semantic half of the cache (embeddings + vector index)."""

    async def search(self, scope: CacheScope, policy: CachePolicy, text: str) -> CacheHit | None:
        """The most similar guarded entry at or above the policy's threshold."""
        ...

    async def add(self, scope: CacheScope, policy: CachePolicy, answer: CachedAnswer) -> None:
        """Index an answer under its key text."""
        ...

    async def feedback(self, entry: str, similarity: float, *, correct: bool) -> float | None:
        """Record a hit on ``entry`` as right or wrong; the entry's new threshold.

        None when the entry is gone (expired or evicted).
        """
        ...

    async def aclose(self) -> None:
        """Release the index."""
        ...


async def _discard_result(operation: Awaitable[object]) -> None:
    await operation


class StepCache:
    """Exact lookups, then semantic ones; any backend failure means "run uncached"."""

    def __init__(
        self,
        store: KeyValueStore,
        semantic: Callable[[], SemanticLookup] | None,
        *,
        timeout_s: float,
        semantic_timeout_s: float | None = None,
    ) -> None:
        """``semantic`` opens the semantic half on first use (it loads an embedding model)."""
        self._store = store
        self._open_semantic = semantic
        self._semantic: SemanticLookup | None = None
        self._semantic_failed = False
        self._opening = asyncio.Lock()
        self._timeout_s = timeout_s
        self.on_error: Callable[[str], None] = lambda operation: None
        """Told of every failed cache operation (the runtime counts them as a metric)."""
        self._semantic_timeout_s = semantic_timeout_s or timeout_s
        self.errors = 0
        """Failed cache operations since start (``on_error`` hears of each as it happens)."""
        self._checks_owed: OrderedDict[str, float] = OrderedDict()
        """Per scope, the checks its hits have earned so far (``check_rate`` per hit); the
        ``CHECK_SCOPES`` most recently hit, so a server with many tenants does not grow."""
        self._indexing: dict[str, set[asyncio.Task[None]]] = {}
        """Semantic writes still under way, by scope: a step does not wait for its answer
        to be embedded and indexed, but a lookup in the same scope does (read your writes)."""

    async def prepare_semantic(self) -> SemanticLookup | None:
        """Open the semantic cache now (warm-up), or return it; None when unavailable."""
        if self._semantic is not None or self._semantic_failed or self._open_semantic is None:
            return self._semantic
        async with self._opening:
            if self._semantic is None and not self._semantic_failed:
                try:
                    self._semantic = await asyncio.to_thread(self._open_semantic)
                except Exception as exc:  # any failure to open means: exact only
                    self._semantic_failed = True
                    self.errors += 1
                    self.on_error("open semantic")
                    log.warning("semantic cache unavailable, using exact matches only: %s", exc)
        return self._semantic

    async def lookup(self, scope: CacheScope, policy: CachePolicy, text: str) -> CacheHit | None:
        """A reusable answer for ``text`` in ``scope``, or None."""
        if policy.mode is CacheMode.OFF:
            return None
        raw = await self._guarded("lookup", self._store.get(exact_key(scope, text)))
        if raw is not None:
            return CacheHit(answer=CachedAnswer.from_bytes(raw), kind="exact", similarity=1.0)
        semantic = await self.prepare_semantic() if policy.mode is CacheMode.SEMANTIC else None
        if semantic is None:
            return None
        if pending := self._indexing.get(scope.id):
            await asyncio.wait(set(pending))
        return await self._guarded(
            "semantic lookup", semantic.search(scope, policy, text), self._semantic_timeout_s
        )

    def due_for_check(self, scope: CacheScope, policy: CachePolicy) -> bool:
        """Whether this semantic hit is one ``policy.check_rate`` spot-checks.

        Each hit earns ``check_rate`` of a check; a hit that completes one is checked, so
        the checks fall evenly (a rate of 0.25 checks every fourth hit in a scope).
        """
        if not policy.check_rate:
            return False
        owed = self._checks_owed.pop(scope.id, 0.0) + policy.check_rate
        due = owed >= 1.0 - 1e-9
        self._checks_owed[scope.id] = owed - 1.0 if due else owed  # now the most recent
        if len(self._checks_owed) > CHECK_SCOPES:  # a forgotten scope starts its count again
            self._checks_owed.popitem(last=False)
        return due

    async def write(self, scope: CacheScope, policy: CachePolicy, answer: CachedAnswer) -> None:
        """Store a validated answer under its exact key, and index it when semantic.

        The exact write is awaited (a repeat right after must hit); embedding and indexing
        run in the background, so the step returns its answer without waiting for them.
        """
        if policy.mode is CacheMode.OFF:
            return
        await self._guarded(
            "write",
            self._store.set(
                exact_key(scope, answer.key_text),
                answer.to_bytes(),
                ttl_s=policy.ttl_s,
                namespace=scope.id,
                max_entries=policy.max_entries,
            ),
        )
        semantic = await self.prepare_semantic() if policy.mode is CacheMode.SEMANTIC else None
        if semantic is None:
            return
        write = self._guarded(
            "semantic write", semantic.add(scope, policy, answer), self._semantic_timeout_s
        )
        task: asyncio.Task[None] = asyncio.create_task(_discard_result(write))
        pending = self._indexing.setdefault(scope.id, set())
        pending.add(task)
        task.add_done_callback(lambda done: self._forget(scope.id, done))

    def _forget(self, scope: str, task: asyncio.Task[None]) -> None:
        pending = self._indexing.get(scope)
        if pending is not None:
            pending.discard(task)
            if not pending:
                del self._indexing[scope]

    async def settle(self) -> None:
        """Wait for the semantic writes under way (before closing, or to measure the index)."""
        while self._indexing:
            await asyncio.wait({t for tasks in self._indexing.values() for t in tasks})

    async def get_value(self, key: str) -> bytes | None:
        """A raw value from the exact store (tool results); None when absent or failing."""
        return await self._guarded("lookup", self._store.get(key))

    async def set_value(
        self, key: str, value: bytes, *, ttl_s: float | None, namespace: str, max_entries: int
    ) -> None:
        """Store a raw value in the exact store; a failure is logged, never raised."""
        await self._guarded(
            "write",
            self._store.set(key, value, ttl_s=ttl_s, namespace=namespace, max_entries=max_entries),
        )

    async def feedback(self, entry: str, similarity: float, *, correct: bool) -> float | None:
        """Report a semantic hit right or wrong; the entry's new threshold.

        None when the semantic cache is unavailable or the entry is gone.
        """
        semantic = await self.prepare_semantic()
        if semantic is None:
            return None
        return await self._guarded(
            "feedback",
            semantic.feedback(entry, similarity, correct=correct),
            self._semantic_timeout_s,
        )

    async def _guarded(
        self, what: str, operation: Awaitable[T], timeout_s: float | None = None
    ) -> T | None:
        started = time.perf_counter()
        try:
            async with asyncio.timeout(timeout_s or self._timeout_s):  # no task of its own
                return await operation
        except Exception as exc:  # a cache must never fail the step: degrade, loudly
            self.errors += 1
            self.on_error(what)
            log.warning(
                "cache %s failed after %.0f ms, running uncached: %s: %s",
                what,
                (time.perf_counter() - started) * 1000,
                type(exc).__name__,
                exc,
            )
            return None

    async def aclose(self) -> None:
        """Finish the writes under way, then close the backends."""
        await self.settle()
        await self._store.aclose()
        if self._semantic is not None:
            await self._semantic.aclose()
