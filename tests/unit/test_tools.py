"""The reference tools: what they find, and the arguments they refuse (models write them)."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from tools import search_faq


def test_search_ranks_entries_sharing_the_querys_terms() -> None:
    (best, *_) = search_faq("I was charged twice for my subscription")
    assert best.category == "billing"


@pytest.mark.parametrize(
    ("arguments", "named"),
    [
        ({"query": "   "}, "query"),
        ({"query": "x" * 2_001}, "query"),
        ({"query": "refund", "limit": 0}, "limit"),
        ({"query": "refund", "limit": 10_000}, "limit"),
        ({"query": {"$ne": None}}, "query"),
    ],
)
def test_invalid_arguments_are_refused_naming_the_argument(
    arguments: dict[str, Any], named: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        search_faq(**arguments)
    assert caught.value.errors()[0]["loc"][0] == named
