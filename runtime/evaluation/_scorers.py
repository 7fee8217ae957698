"""Scorers: how good one execution's output is, from 0 to 1."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from runtime.errors import InputError


def lookup(output: Mapping[str, Any], path: str) -> Any:
    """``output["a"]["b"]`` for ``"a.b"``, ``output["a"][0]`` for ``"a.0"``; None when absent."""
    value: Any = output
    for part in path.split("."):
        if isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        elif isinstance(value, Mapping) and part in value:
            value = value[part]
        else:
            return None
    return value


def _same(found: Any, expected: Any) -> bool:
    if isinstance(found, str) and isinstance(expected, str):
        return found.strip().casefold() == expected.strip().casefold()
    return bool(found == expected)


def field_match(output: Mapping[str, Any], expected: Mapping[str, Any]) -> float:
    """The share of expected fields (dotted paths) whose values the output has."""
    if not expected:
        raise InputError("field_match needs at least one expected field")
    hits = sum(_same(lookup(output, path), value) for path, value in expected.items())
    return hits / len(expected)


def exact_match(output: Mapping[str, Any], expected: Mapping[str, Any]) -> float:
    """1 when every expected field matches, else 0."""
    return 1.0 if field_match(output, expected) == 1.0 else 0.0


def judge_prompt(rubric: str, output: Mapping[str, Any], fields: list[str] | None) -> str:
    """The user message the judge grades: the rubric and the (selected) output."""
    shown = {f: lookup(output, f) for f in fields} if fields else dict(output)
    return f"Rubric: {rubric}\n\nOutput: {shown}"
