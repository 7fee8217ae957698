"""Per-step caching: exact (in-process LRU or Redis) and semantic, scoped and guarded."""

from runtime.cache._exact import CacheStoreError, KeyValueStore, MemoryStore, RedisStore
from runtime.cache._guards import conflict
from runtime.cache._keys import CacheScope, exact_key, key_text, normalise, prompt_fingerprint
from runtime.cache._policy import CacheMode, CachePolicy
from runtime.cache._semantic import Embedder, HTTPEmbedder, LocalEmbedder, QdrantSemanticCache
from runtime.cache._step_cache import (
    CachedAnswer,
    CacheHit,
    SemanticLookup,
    StepCache,
)

__all__ = [
    "CacheHit",
    "CacheMode",
    "CachePolicy",
    "CacheScope",
    "CacheStoreError",
    "CachedAnswer",
    "Embedder",
    "HTTPEmbedder",
    "KeyValueStore",
    "LocalEmbedder",
    "MemoryStore",
    "QdrantSemanticCache",
    "RedisStore",
    "SemanticLookup",
    "StepCache",
    "conflict",
    "exact_key",
    "key_text",
    "normalise",
    "prompt_fingerprint",
]
