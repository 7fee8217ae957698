"""Amounts two questions name, compared as amounts: written out or not, in any unit.

"six months" and "two months" differ; "charged twice" and "a double payment", "60
minutes" and "an hour", "two people" and "more than one person", "my 12 MB file" and
"files larger than 10 MB" do not.
"""

from __future__ import annotations

import re

_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_NUMBER_WORDS = {
    word: str(value)
    for value, word in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
        "fifteen sixteen seventeen eighteen nineteen twenty".split()
    )
} | {"thirty": "30", "forty": "40", "fifty": "50", "hundred": "100"}
_NUMBER_WORDS |= {"twice": "2", "double": "2", "thrice": "3", "triple": "3"}  # how many times
"""Amounts written out count as numbers: "six months" and "two months" differ, "charged
twice" and "a double payment" do not."""
_NUMBER_WORD = re.compile(
    rf"\b({'|'.join(_NUMBER_WORDS)})\b(?!-(?!(?:minute|hour|day|week|month|year)s?\b)[a-z])"
)
"""A number word, unless it begins a compound: "two-factor" and "one-time" count nothing, a
"three-hour delay" counts three as "three hours" does."""


def amounts_differ(query: str, cached: str) -> bool:
    """Whether the two texts name different amounts, once read as amounts."""
    return _numbers(query) != _numbers(cached) and not (
        _inside_bound(query, cached)
        or _inside_bound(cached, query)
        or _two_as_several(query, cached)
        or _two_as_several(cached, query)
    )


def _numbers(text: str) -> set[str]:
    """The amounts in ``text``, but for one: "one project" is "a project", "a different one".

    A duration is counted in the largest unit it fills whole: "60 minutes" is "an hour",
    "14 days" is "two weeks".
    """
    text = _DURATION.sub(_in_largest_unit, text)
    spelled = {_NUMBER_WORDS[w] for w in _NUMBER_WORD.findall(text.lower())}
    return (set(_NUMBER.findall(text)) | spelled) - {"1"}


_ABOVE = frozenset("larger bigger more greater longer over above".split())
_BOUND = re.compile(
    r"\b(larger|bigger|more|greater|longer|over|above|smaller|less|fewer|shorter|under|below)"
    r"(?: than)? (\d+(?:\.\d+)?) ?([a-z]+)",
    re.IGNORECASE,
)
_MEASURED = re.compile(r"\b(\d+(?:\.\d+)?) ?([a-z]+)", re.IGNORECASE)


def _inside_bound(bounded: str, measured: str) -> bool:
    """One side's only amount lies within the other side's only bound, in the same unit.

    "Why can't I upload files larger than 10 MB?" / "My 12 MB file won't upload": the file
    is one of those the bound speaks of.
    """
    bounds, amounts = _BOUND.findall(bounded), _MEASURED.findall(measured)
    if len(bounds) != 1 or len(amounts) != 1 or len(_NUMBER.findall(bounded)) != 1:
        return False
    if _BOUND.search(measured):  # two bounds: "over 100 MB" is not "over 10 MB"
        return False
    (side, limit, unit), (amount, measured_unit) = bounds[0], amounts[0]
    if unit.lower() != measured_unit.lower() or _numbers(measured) != {amount}:
        return False
    above = side.lower() in _ABOVE
    return float(amount) > float(limit) if above else float(amount) < float(limit)


_SEVERAL = re.compile(r"\b(?:multiple|several|more than one)\b", re.IGNORECASE)


def _two_as_several(counted: str, vague: str) -> bool:
    """Two of something on one side, "multiple" or "more than one" on the other.

    "Can two people edit a document at once?" / "Can more than one person edit a document
    at once?": asking about two is asking whether more than one works.
    """
    return _numbers(counted) == {"2"} and not _numbers(vague) and bool(_SEVERAL.search(vague))


_DURATION = re.compile(r"\b(\d+)[ -](minute|hour|day|month)s?\b", re.IGNORECASE)
_LARGER_UNIT = {
    "minute": (60, "hour"),
    "hour": (24, "day"),
    "day": (7, "week"),
    "month": (12, "year"),
}


def _in_largest_unit(match: re.Match[str]) -> str:
    amount, unit = int(match.group(1)), match.group(2).lower()
    while unit in _LARGER_UNIT and amount % _LARGER_UNIT[unit][0] == 0:
        amount, unit = amount // _LARGER_UNIT[unit][0], _LARGER_UNIT[unit][1]
    return f"{amount} {unit}s"
