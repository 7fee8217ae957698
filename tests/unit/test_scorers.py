"""Eval scorers."""

from __future__ import annotations

import pytest

from runtime.errors import InputError
from runtime.evaluation import exact_match, field_match, lookup


def test_field_match_scores_the_share_of_expected_fields() -> None:
    output = {"classification": {"category": "Billing", "urgency": "high"}, "reply": "ok"}
    assert field_match(output, {"classification.category": "billing"}) == 1.0
    both = {"classification.category": "billing", "classification.urgency": "low"}
    assert field_match(output, both) == 0.5
    assert field_match(output, {"classification.missing": "x"}) == 0.0


def test_exact_match_is_all_or_nothing_and_lookup_follows_dotted_paths() -> None:
    output = {"a": {"b": 1, "c": "x"}}
    assert exact_match(output, {"a.b": 1, "a.c": "X"}) == 1.0
    assert exact_match(output, {"a.b": 1, "a.c": "y"}) == 0.0
    assert lookup(output, "a.b") == 1 and lookup(output, "a.z") is None
    with pytest.raises(InputError):
        field_match(output, {})


def test_lookup_indexes_lists_for_parallel_branches_findings() -> None:
    output = {"findings": [{"clause": "4"}, {"clause": "2"}]}
    assert lookup(output, "findings.1.clause") == "2"
    assert lookup(output, "findings.2.clause") is None
    assert lookup(output, "findings.x") is None
    assert field_match(output, {"findings.0.clause": "4"}) == 1.0
