from __future__ import annotations

import asyncio
import logging

import pytest

from runtime.cache import (
    CachedAnswer,
    CacheMode,
    CachePolicy,
    CacheScope,
    CacheStoreError,
    MemoryStore,
    StepCache,
    exact_key,
    key_text,
    normalise,
)

SCOPE = CacheScope(workflow="w", node="n", prompt="p", model="m", tenant="t")
EXACT = CachePolicy(mode=CacheMode.EXACT, key=("question",), ttl_s=10)


def test_normalise_folds_case_width_and_whitespace() -> None:
    assert normalise("  I was\tCHARGED  twice\n") == "i was charged twice"
    assert normalise("\uff46\uff55\uff4c\uff4c width") == "full width"


@pytest.mark.parametrize("field", ["workflow", "node", "prompt", "model", "tenant"])
def test_every_part_of_the_scope_changes_the_key(field: str) -> None:
    values = {f: getattr(SCOPE, f) for f in ("workflow", "node", "prompt", "model", "tenant")}
    other = CacheScope(**{**values, field: "other"})
    text = key_text([("question", "hi")])
    assert exact_key(other, text) != exact_key(SCOPE, text)


def test_key_inputs_are_named_so_fields_cannot_collide() -> None:
    assert key_text([("a", "x y")]) != key_text([("a", "x"), ("b", "y")])
    assert exact_key(SCOPE, key_text([("q", "Hi  there")])) == exact_key(
        SCOPE, key_text([("q", "hi there")])
    )


def test_policy_validation_and_defaults_per_kind_of_step() -> None:
    with pytest.raises(ValueError, match="at least one key input"):
        CachePolicy(key=())
    assert CachePolicy.classification("q").ttl_s > CachePolicy.conversation("q").ttl_s
    assert CachePolicy.conversation("q").mode is CacheMode.EXACT
    with pytest.raises(ValueError, match="check_rate must be in"):
        CachePolicy(mode=CacheMode.SEMANTIC, key=("q",), check_rate=1.5)
    with pytest.raises(ValueError, match="needs mode=SEMANTIC"):
        CachePolicy(key=("q",), check_rate=0.1)  # exact hits have nothing to check


def test_spot_checks_fall_evenly_at_the_policys_rate_per_scope() -> None:
    cache = StepCache(MemoryStore(), semantic=None, timeout_s=0.05)
    quarter = CachePolicy(mode=CacheMode.SEMANTIC, key=("q",), check_rate=0.25)
    other = CacheScope(workflow="w", node="other", prompt="p", model="m", tenant="t")
    due = [cache.due_for_check(SCOPE, quarter) for _ in range(8)]
    assert due == [False, False, False, True] * 2
    assert [cache.due_for_check(other, quarter) for _ in range(4)][-1]  # its own count
    never = CachePolicy(mode=CacheMode.SEMANTIC, key=("q",))
    always = CachePolicy(mode=CacheMode.SEMANTIC, key=("q",), check_rate=1.0)
    assert not any(cache.due_for_check(SCOPE, never) for _ in range(10))
    assert all(cache.due_for_check(SCOPE, always) for _ in range(10))


def test_the_spot_check_tally_keeps_only_the_most_recently_hit_scopes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("runtime.cache._step_cache.CHECK_SCOPES", 2)
    cache = StepCache(MemoryStore(), semantic=None, timeout_s=0.05)
    half = CachePolicy(mode=CacheMode.SEMANTIC, key=("q",), check_rate=0.5)
    a, b, c = (
        CacheScope(workflow="w", node=node, prompt="p", model="m", tenant="t")
        for node in ("a", "b", "c")
    )
    assert not cache.due_for_check(a, half)  # a owes half a check
    assert not cache.due_for_check(b, half)
    assert cache.due_for_check(a, half)  # a's second hit completes its check, a is recent
    assert not cache.due_for_check(c, half)  # a third scope pushes out b, the oldest
    assert not cache.due_for_check(b, half)  # b starts over: half a check again
    assert cache.due_for_check(b, half)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def test_memory_store_expires_entries_and_bounds_each_namespace() -> None:
    clock = Clock()
    store = MemoryStore(clock=clock)
    await store.set("a", b"1", ttl_s=5, namespace="s", max_entries=2)
    await store.set("b", b"2", ttl_s=None, namespace="s", max_entries=2)
    await store.set("x", b"9", ttl_s=None, namespace="other", max_entries=2)
    assert await store.get("a") == b"1"  # a is now the most recently used
    await store.set("c", b"3", ttl_s=None, namespace="s", max_entries=2)  # evicts b
    assert await store.get("b") is None
    assert await store.get("x") == b"9"  # other namespaces are untouched
    clock.now = 5.0
    assert await store.get("a") is None  # expired
    assert await store.get("c") == b"3"


async def test_memory_store_bounds_all_namespaces_together() -> None:
    store = MemoryStore(max_entries=3)
    for tenant in ("t1", "t2", "t3"):
        await store.set(tenant, tenant.encode(), ttl_s=None, namespace=tenant, max_entries=10)
    assert await store.get("t1") == b"t1"  # t2 is now the least recently used
    await store.set("t4", b"t4", ttl_s=None, namespace="t4", max_entries=10)
    assert await store.get("t2") is None
    assert [await store.get(k) for k in ("t1", "t3", "t4")] == [b"t1", b"t3", b"t4"]
    await store.set("t1", b"new", ttl_s=None, namespace="t1", max_entries=10)  # replaced
    assert [await store.get(k) for k in ("t1", "t3", "t4")] == [b"new", b"t3", b"t4"]


class BrokenStore:
    def __init__(self, *, delay: float = 0.0) -> None:
        self.delay = delay

    async def get(self, key: str) -> bytes | None:
        await asyncio.sleep(self.delay)
        raise CacheStoreError("connection refused")

    async def set(self, key: str, value: bytes, **_: object) -> None:
        await asyncio.sleep(self.delay)
        raise CacheStoreError("connection refused")

    async def aclose(self) -> None:
        return None


@pytest.mark.parametrize("delay", [0.0, 5.0])
async def test_a_failing_or_slow_store_degrades_to_a_miss_with_a_warning(
    delay: float, caplog: pytest.LogCaptureFixture
) -> None:
    cache = StepCache(BrokenStore(delay=delay), semantic=None, timeout_s=0.05)
    answer = CachedAnswer(value="v", model="m", cost_usd=0.1, key_text="k")
    with caplog.at_level(logging.WARNING):
        assert await cache.lookup(SCOPE, EXACT, "k") is None
        await cache.write(SCOPE, EXACT, answer)
    assert cache.errors == 2
    assert "running uncached" in caplog.text


async def test_an_exact_hit_returns_the_stored_answer() -> None:
    cache = StepCache(MemoryStore(), semantic=None, timeout_s=0.05)
    answer = CachedAnswer(value={"a": 1}, model="m", cost_usd=0.25, key_text="question: hi")
    await cache.write(SCOPE, EXACT, answer)
    hit = await cache.lookup(SCOPE, EXACT, "question: hi")
    assert hit is not None and hit.kind == "exact" and hit.answer == answer
    assert await cache.lookup(SCOPE, EXACT, "question: bye") is None
    off = CachePolicy(mode=CacheMode.OFF, key=("question",))
    assert await cache.lookup(SCOPE, off, "question: hi") is None
