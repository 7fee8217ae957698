"""Token budgets per segment: what a context segment may cost, and what happens past it.

Retrieved documents and histories grow until they dominate the bill. A segment that
declares ``max_tokens`` is fitted to it by its ``overflow`` policy, and the step records
what was dropped; a segment that may not be cut (instructions, or ``overflow="error"``)
fails with an error naming the node and the segment instead of being cut silently.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from runtime.errors import PromptTooLongError

Overflow = Literal["error", "truncate", "relevant", "summarise"]
"""``error``: refuse; ``truncate``: keep the head; ``relevant``: keep the chunks (blank-line
separated, else lines) that share most words with the step's input, in their order;
``summarise``: replace it with a summary written on a (small) tier, within the budget."""

_WORD = re.compile(r"\w+")
_ELISION = "\n[...]"


@dataclass(frozen=True, slots=True)
class Trim:
    """What fitting one segment to its budget dropped."""

    segment: str
    policy: Overflow
    tokens_before: int
    tokens_after: int
    kept: str
    """What survived, in words: ``3 of 7 chunks``, ``the first 812 characters``."""

    def describe(self) -> str:
        """One line for the step record and the trace."""
        return (
            f"{self.segment}: {self.policy} kept {self.kept} "
            f"({self.tokens_before} -> {self.tokens_after} tokens)"
        )


def fit_segment(
    name: str,
    text: str,
    *,
    max_tokens: int,
    overflow: Overflow,
    query: str,
    count: Callable[[str], int],
    node: str,
    summary: str | None = None,
) -> tuple[str, Trim | None]:
    """``text`` within ``max_tokens`` by ``overflow``, and what was dropped (None: nothing).

    ``summarise`` needs the ``summary``, written beforehand by the step (a model call).
    """
    tokens = count(text)
    if tokens <= max_tokens:
        return text, None
    if overflow == "summarise":
        if summary is None:
            raise PromptTooLongError(
                f"node {node!r}, segment {name!r}: {tokens} tokens, over its budget of "
                f"{max_tokens}, and no summary was written for it"
            )
        return summary, Trim(name, overflow, tokens, count(summary), "a summary")
    if overflow == "error":
        raise PromptTooLongError(
            f"node {node!r}, segment {name!r}: {tokens} tokens, over its budget of "
            f"{max_tokens} (declare overflow='truncate' or 'relevant' to cut it)"
        )
    if overflow == "truncate":
        fitted = _head(text, max_tokens, count)
        kept = f"the first {len(fitted) - len(_ELISION)} of {len(text)} characters"
    else:
        fitted, kept = _most_relevant(text, max_tokens, query, count)
    return fitted, Trim(name, overflow, tokens, count(fitted), kept)


def _head(text: str, max_tokens: int, count: Callable[[str], int]) -> str:
    """The longest prefix (cut at a word boundary) that fits with the elision mark."""
    low, high = 0, len(text)
    while low < high:  # binary search on characters: O(log n) token counts
        middle = (low + high + 1) // 2
        if count(text[:middle] + _ELISION) <= max_tokens:
            low = middle
        else:
            high = middle - 1
    cut = text[:low]
    boundary = cut.rfind(" ")
    if boundary > len(cut) // 2:
        cut = cut[:boundary]
    return cut + _ELISION


def _most_relevant(
    text: str, max_tokens: int, query: str, count: Callable[[str], int]
) -> tuple[str, str]:
    separator = "\n\n" if "\n\n" in text else "\n"
    chunks = [chunk for chunk in text.split(separator) if chunk.strip()]
    wanted = {word.lower() for word in _WORD.findall(query)}

    def overlap(index: int) -> tuple[int, int]:
        words = {word.lower() for word in _WORD.findall(chunks[index])}
        return len(words & wanted), -index  # ties: the earlier chunk

    chosen: list[int] = []
    used = 0
    for index in sorted(range(len(chunks)), key=overlap, reverse=True):
        cost = count(chunks[index] + separator)
        if used + cost <= max_tokens:
            chosen.append(index)
            used += cost
    kept = separator.join(chunks[index] for index in sorted(chosen))
    return kept, f"{len(chosen)} of {len(chunks)} chunks"


def check_fits(
    parts: list[tuple[str, int]], *, context_tokens: int, output_tokens: int, node: str
) -> None:
    """Raise when the segments' tokens and the output cap exceed the tier's context."""
    total = sum(tokens for _, tokens in parts)
    if total + output_tokens <= context_tokens:
        return
    largest, tokens = max(parts, key=lambda part: part[1])
    raise PromptTooLongError(
        f"node {node!r}: the prompt takes {total} tokens and the output up to {output_tokens}, "
        f"over the tier's context of {context_tokens}; the largest segment is {largest!r} "
        f"({tokens} tokens): give it a max_tokens budget"
    )
