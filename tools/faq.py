"""A small FAQ knowledge base and a keyword search over it (the support_triage lookup tool)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Annotated

from pydantic import Field, StringConstraints, validate_call

_WORD = re.compile(r"[a-z0-9]+")
_STOPWORDS = frozenset(
    "a an and are as at be by can do does for from how i if in is it my me of on or our "
    "the this to was we what when where why with you your".split()
)


@dataclass(frozen=True, slots=True)
class FaqEntry:
    """One answered question."""

    id: str
    category: str
    question: str
    answer: str


FAQ_VERSION = "2026-11"
"""Bump with every change to ``data/faq.json``: cached search results are then not reused."""


@cache
def load_faq() -> tuple[FaqEntry, ...]:
    """The packaged FAQ entries."""
    raw = json.loads(resources.files("tools").joinpath("data/faq.json").read_text("utf-8"))
    return tuple(FaqEntry(**entry) for entry in raw)


def _terms(text: str) -> frozenset[str]:
    words = {w for w in _WORD.findall(text.lower()) if w not in _STOPWORDS}
    # A crude stemmer: "charged" and "charges" should meet "charge".
    return frozenset(words | {w.rstrip("s").removesuffix("ed").removesuffix("ing") for w in words})


@cache
def _indexed() -> tuple[tuple[frozenset[str], FaqEntry], ...]:
    """Each entry with its terms, computed once rather than on every search."""
    return tuple((_terms(f"{e.question} {e.answer}"), e) for e in load_faq())


Query = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2_000)]
"""What a model may pass as a query: text, bounded, never empty."""


@validate_call
def search_faq(
    query: Query,
    *,
    category: Annotated[str, StringConstraints(max_length=64)] | None = None,
    limit: Annotated[int, Field(ge=1, le=10)] = 2,
) -> list[FaqEntry]:
    """Entries ranked by shared terms with the query; the category breaks ties upward.

    Arguments are validated (a model writes them): pydantic's ``ValidationError`` names
    the argument that is wrong.
    """
    wanted = _terms(query)
    scored = []
    for terms, entry in _indexed():
        overlap = len(wanted & terms)
        bonus = 0.5 if category is not None and entry.category == category else 0.0
        if overlap:
            scored.append((overlap + bonus, entry))
    scored.sort(key=lambda pair: pair[0], reverse=True)
    return [entry for _, entry in scored[:limit]]


def render_faq(entries: list[FaqEntry]) -> str:
    """Entries as the prompt shows them, byte-identical for the same entries."""
    if not entries:
        return "No matching FAQ entry."
    return "\n".join(f"[{e.id}] Q: {e.question}\nA: {e.answer}" for e in entries)


def cite_faq(entries: list[FaqEntry]) -> str:
    """Search results for a prompt that already holds the whole FAQ.

    The best entry in full, the others by id and question: pointers into the FAQ.
    """
    if not entries:
        return "No matching FAQ entry."
    best, *others = entries
    return "\n".join([render_faq([best]), *(f"[{e.id}] Q: {e.question}" for e in others)])
