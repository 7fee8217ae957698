"""``CachePolicy``: whether and how a step's answers are reused, declared next to its tier."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

_DAY = 86_400.0


class CacheMode(StrEnum):
    """How a step looks up earlier answers."""

    OFF = "off"
    """Never cached."""
    EXACT = "exact"
    """Reused when the normalised key inputs are identical."""
    SEMANTIC = "semantic"
    """Exact first, then reused when the key inputs mean the same (embedding similarity)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class CachePolicy:
    """What forms a step's cache key and how long its answers live."""

    mode: CacheMode = CacheMode.EXACT
    """Off, exact or semantic."""
    key: tuple[str, ...]
    """Names of prompt segments or state fields whose values form the key; never the whole
    rendered prompt, so shared instructions do not dilute similarity."""
    ttl_s: float | None = _DAY
    """Seconds an answer stays valid; None keeps it until evicted."""
    max_entries: int = 10_000
    """Entries kept per step and tenant (oldest evicted first) in the in-process store
    and the semantic index; Redis evicts by TTL."""
    threshold: float = 0.8
    """Similarity a semantic hit needs at least. With guards, the cosine similarity is first
    corrected for what the texts say differently word by word (+0.1 when only framing
    differs, -0.05 when the verbs differ; a thing or quality swapped in one slot of an
    otherwise identical question is refused, a rewording is taken as it scores). 0.8 suits
    all-MiniLM-L6-v2 (calibrate with `eval cache`)."""
    guards: bool = True
    """Refuse semantic hits whose key inputs differ in negation, antonyms, numbers, ids,
    dates or names, and line their content words up (``runtime.cache._difference``); False
    gives a plain static-threshold cache (the usual baseline)."""
    max_wrong_hit_rate: float = 0.01
    """Wrong-hit rate each semantic entry is held to once hits on it are reported right or
    wrong (``tierwise cache feedback``): an entry raises its own threshold above the
    similarities it answered wrongly at until its observed wrong hits are within this."""
    check_rate: float = 0.0
    """Share of semantic hits spot-checked: the step is answered by its tier(s) anyway, the
    fresh answer is compared with the cached one, the entry learns from the comparison as
    from a feedback report, and the step returns the fresh answer. Each check costs a model
    call and measures the wrong-hit rate on live traffic without anyone reporting hits
    (``tierwise_cache_checks_total``). Needs a step with an output model: free text is
    rarely word for word the same twice, structured fields are. A run whose budget could
    not pay for the check (about what the cached answer cost) is not checked: its hit
    stands, and the check falls on a later hit."""

    def __post_init__(self) -> None:
        if self.mode is not CacheMode.OFF and not self.key:
            raise ValueError("a cache policy needs at least one key input")
        if self.ttl_s is not None and self.ttl_s <= 0:
            raise ValueError("ttl_s must be positive (or None)")
        if self.max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        if not 0.0 < self.threshold <= 1.0:
            raise ValueError("threshold must be in (0, 1]")
        if not 0.0 <= self.max_wrong_hit_rate < 1.0:
            raise ValueError("max_wrong_hit_rate must be in [0, 1)")
        if not 0.0 <= self.check_rate <= 1.0:
            raise ValueError("check_rate must be in [0, 1]")
        if self.check_rate and self.mode is not CacheMode.SEMANTIC:
            raise ValueError("check_rate checks semantic hits: it needs mode=SEMANTIC")

    @classmethod
    def classification(cls, *key: str) -> CachePolicy:
        """Labels depend only on the input and age slowly: semantic, kept for 30 days."""
        return cls(mode=CacheMode.SEMANTIC, key=key, ttl_s=30 * _DAY)

    @classmethod
    def answer(cls, *key: str) -> CachePolicy:
        """Answers from a knowledge base: exact, kept for a day so edits show up.

        Exact rather than semantic until the guards' wrong-hit rate on held-out pairs meets
        the 1% target (see the README's cache evaluation).
        """
        return cls(mode=CacheMode.EXACT, key=key, ttl_s=_DAY)

    @classmethod
    def conversation(cls, *key: str) -> CachePolicy:
        """Turns of a conversation repeat only verbatim and go stale fast: exact, 10 min."""
        return cls(mode=CacheMode.EXACT, key=key, ttl_s=600.0)
