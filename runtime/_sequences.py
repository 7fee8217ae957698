"""One helper several parts need: how long a prefix two sequences share."""

from __future__ import annotations

from collections.abc import Sequence


def common_prefix_length(a: Sequence[object], b: Sequence[object]) -> int:
    """Number of leading items (tokens, characters, words) that ``a`` and ``b`` share."""
    shared = 0
    for left, right in zip(a, b, strict=False):
        if left != right:
            break
        shared += 1
    return shared
