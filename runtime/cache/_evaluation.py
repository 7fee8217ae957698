"""Evaluating the semantic cache on labelled pairs: hit rate, wrong-hit rate, latency.

Each pair is ``{"query": ..., "cached": ..., "same": true|false}``. The cache is filled
with every ``cached`` text, then every ``query`` is looked up. ``hit_rate`` counts
lookups on ``same: true`` pairs that returned their own entry; ``wrong_hit_rate`` counts,
among all hits, those on ``same: false`` pairs or returning another pair's entry.
"""

from __future__ import annotations

import itertools
import statistics
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from runtime._jsonl import read_jsonl
from runtime.cache._difference import Change, difference
from runtime.cache._guards import conflict
from runtime.cache._keys import CacheScope, key_text, normalise
from runtime.cache._policy import CacheMode, CachePolicy
from runtime.cache._semantic import QdrantSemanticCache
from runtime.cache._step_cache import CachedAnswer
from runtime.errors import InputError

EVAL_SCOPE = CacheScope(workflow="eval", node="cache", prompt="-", model="-", tenant="-")
_FIELD = "question"


class ParaphrasePair(BaseModel):
    """One labelled lookup."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    query: str
    cached: str
    same: bool


def load_pairs(path: Path) -> list[ParaphrasePair]:
    """Read a JSONL file of pairs; a bad line is an error naming the file and line."""
    return read_jsonl(path, ParaphrasePair, what="a pair")


@dataclass(frozen=True, slots=True, kw_only=True)
class CacheEvalReport:
    """How one cache configuration did on the pairs."""

    hit_rate: float
    wrong_hit_rate: float
    p50_ms: float
    p95_ms: float
    hits: int
    wrong_hits: int
    lookups: int
    entries: int
    threshold: float
    guards: bool
    feedback: bool = False
    found: tuple[str | None, ...] = field(repr=False)
    """The cached text each lookup returned, pair by pair (None: no hit)."""

    def as_dict(self) -> dict[str, Any]:
        """The JSON shape of ``tierwise eval cache --json`` (the rates, not ``found``)."""
        shape = asdict(self)
        del shape["found"]
        return shape


def explain(
    index: QdrantSemanticCache, pairs: Sequence[ParaphrasePair], report: CacheEvalReport
) -> list[dict[str, Any]]:
    """Pair by pair: what the lookup found, and how the pair's own entry was judged.

    ``outcome`` is ``hit`` (a paraphrase found its own entry), ``miss``, ``wrong hit`` (a
    negative found anything, or a paraphrase another entry) or ``no hit`` (a negative found
    nothing). ``verdict`` says what the lookup made of the pair's own cached text: refused
    by a guard, or its similarity as corrected against the threshold.
    """
    lines = []
    for pair, found in zip(pairs, report.found, strict=True):
        query, cached = _as_key(pair.query), _as_key(pair.cached)
        similarity = index.similarity(query, cached)
        lines.append(
            {
                **pair.model_dump(),
                "outcome": outcome(pair, found),
                "found": None if found is None else found.removeprefix(f"{_FIELD}: "),
                "similarity": round(similarity, 4),
                "verdict": _verdict(query, cached, similarity, report),
            }
        )
    return lines


def outcome(pair: ParaphrasePair, found: str | None) -> str:
    """``hit``, ``miss``, ``wrong hit`` or ``no hit``: see ``explain``."""
    if found is None:
        return "miss" if pair.same else "no hit"
    return "hit" if _is_right(pair, found) else "wrong hit"


def _verdict(query: str, cached: str, similarity: float, report: CacheEvalReport) -> str:
    against = f"against the threshold {report.threshold}"
    if not report.guards:
        return f"similarity {similarity:.3f} {against}"
    clash = conflict(query, cached)
    if clash is not None:
        return f"refused: {clash}"
    words = difference(query, cached)
    judged = words.adjusted(similarity)
    differing = f"{', '.join(words.query_only) or '-'} / {', '.join(words.cached_only) or '-'}"
    if words.change is Change.REVERSED:
        return "refused: roles reversed (who does what, or to whom)"
    if judged is None:
        sides = words.slot or (" ".join(words.query_only), " ".join(words.cached_only))
        if not all(sides):
            return f"refused: {next(side for side in sides if side)!r} inserted in one text only"
        differing = " / ".join(repr(side) for side in sides)
        return f"refused: {differing} swapped in one slot"
    return f"{words.change} ({differing}): {similarity:.3f} counts as {judged:.3f} {against}"


def score(pairs: Sequence[ParaphrasePair], found: Sequence[str | None]) -> tuple[int, int, int]:
    """(correct hits on same pairs, wrong hits, all hits) for the texts each lookup found."""
    correct = wrong = hits = 0
    for pair, text in zip(pairs, found, strict=True):
        if text is None:
            continue
        hits += 1
        if _is_right(pair, text):
            correct += 1
        else:
            wrong += 1
    return correct, wrong, hits


def _is_right(pair: ParaphrasePair, found: str) -> bool:
    return pair.same and normalise(found) == normalise(_as_key(pair.cached))


def _as_key(text: str) -> str:
    return key_text([(_FIELD, text)])


def fill(index: QdrantSemanticCache, texts: Sequence[str], *, batch: int = 256) -> int:
    """Add each distinct text as an entry; returns how many entries there are."""
    policy = CachePolicy(mode=CacheMode.SEMANTIC, key=(_FIELD,), ttl_s=None)
    distinct = list(dict.fromkeys(texts))
    for start in range(0, len(distinct), batch):
        answers = [
            CachedAnswer(value=t, model="-", cost_usd=0.0, key_text=_as_key(t))
            for t in distinct[start : start + batch]
        ]
        index.add_many(EVAL_SCOPE, policy, answers)
    return len(distinct)


def evaluate(
    index: QdrantSemanticCache,
    pairs: Sequence[ParaphrasePair],
    *,
    threshold: float,
    guards: bool,
    entries: int,
    feedback: bool = False,
) -> CacheEvalReport:
    """Look every query up in a filled index and score the answers.

    With ``feedback``, every hit is reported right or wrong right after it is scored, as a
    user of ``tierwise cache feedback`` would, so later lookups meet the per-entry
    thresholds learned from earlier ones (prequential: no lookup is scored after its own
    report). Reports change the index: evaluate with feedback last.
    """
    policy = CachePolicy(
        mode=CacheMode.SEMANTIC, key=(_FIELD,), threshold=threshold, guards=guards, ttl_s=None
    )
    found: list[str | None] = []
    latencies = []
    index.forget_embeddings()  # each lookup embeds its query, as a first asking does
    for pair in pairs:
        started = time.perf_counter()
        hit = index.search_blocking(EVAL_SCOPE, policy, _as_key(pair.query))
        latencies.append((time.perf_counter() - started) * 1000)
        found.append(None if hit is None else hit.answer.key_text)
        if feedback and hit is not None and hit.entry is not None:
            right = _is_right(pair, hit.answer.key_text)
            index.feedback_blocking(hit.entry, hit.similarity, correct=right)
    correct, wrong, hits = score(pairs, found)
    same = sum(pair.same for pair in pairs)
    quantiles = statistics.quantiles(latencies, n=20, method="inclusive")
    return CacheEvalReport(
        hit_rate=correct / same if same else 0.0,
        wrong_hit_rate=wrong / hits if hits else 0.0,
        p50_ms=statistics.median(latencies),
        p95_ms=quantiles[18],
        hits=hits,
        wrong_hits=wrong,
        lookups=len(pairs),
        entries=entries,
        threshold=threshold,
        guards=guards,
        feedback=feedback,
        found=tuple(found),
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class ThresholdPoint:
    """Hit and wrong-hit rates at one threshold."""

    threshold: float
    hit_rate: float
    wrong_hit_rate: float
    hits: int


def sweep(
    index: QdrantSemanticCache,
    pairs: Sequence[ParaphrasePair],
    *,
    guards: bool,
    floor: float = 0.5,
    step: float = 0.01,
) -> list[ThresholdPoint]:
    """Hit and wrong-hit rates at every threshold from ``floor`` to 1, from one search each."""
    policy = CachePolicy(
        mode=CacheMode.SEMANTIC, key=(_FIELD,), threshold=floor, guards=guards, ttl_s=None
    )
    first = [index.first_acceptable(EVAL_SCOPE, policy, _as_key(p.query)) for p in pairs]
    same = sum(pair.same for pair in pairs)
    points = []
    for i in range(round((1 - floor) / step) + 1):
        threshold = round(floor + i * step, 4)
        found = [None if f is None or f[0] < threshold else f[1] for f in first]
        correct, wrong, hits = score(pairs, found)
        points.append(
            ThresholdPoint(
                threshold=threshold,
                hit_rate=correct / same if same else 0.0,
                wrong_hit_rate=wrong / hits if hits else 0.0,
                hits=hits,
            )
        )
    return points


def calibrate(points: Sequence[ThresholdPoint], *, max_wrong_hit_rate: float) -> ThresholdPoint:
    """The threshold with the best hit rate whose wrong-hit rate stays within the target."""
    within = [p for p in points if p.wrong_hit_rate <= max_wrong_hit_rate and p.hits > 0]
    if not within:
        raise InputError(f"no threshold keeps wrong hits within {max_wrong_hit_rate:.1%}")
    return max(within, key=lambda p: (p.hit_rate, p.threshold))  # ties: the safer one


_FILL_SUBJECTS = (
    "invoice",
    "password",
    "workspace",
    "seat",
    "display",
    "export",
    "API key",
    "webhook",
    "report",
    "dashboard",
    "folder",
    "calendar",
    "integration",
    "plan",
    "receipt",
    "team",
)
_FILL_ACTIONS = (
    "rename",
    "archive",
    "share",
    "print",
    "duplicate",
    "translate",
    "schedule",
    "merge",
    "tag",
    "filter",
    "sort",
    "pin",
    "star",
    "comment on",
    "assign",
    "move",
)
_FILL_FRAMES = (
    "How do I {a} a {s} in the {c} app?",
    "Can I {a} my {s} from the {c} view?",
    "Why can't I {a} the {s} on {c}?",
    "Is it possible to {a} every {s} in {c}?",
)
_FILL_CONTEXTS = ("mobile", "desktop", "web", "admin", "reports", "billing", "settings", "team")


def distractors(count: int) -> list[str]:
    """Support-like questions that answer none of the pairs, to grow the index to scale."""
    combos = itertools.product(_FILL_FRAMES, _FILL_ACTIONS, _FILL_SUBJECTS, _FILL_CONTEXTS)
    texts = [frame.format(a=a, s=s, c=c) for frame, a, s, c in combos]
    if count > len(texts):
        texts += [f"{t} (case {i})" for i, t in enumerate(texts * (count // len(texts)))]
    return texts[:count]
