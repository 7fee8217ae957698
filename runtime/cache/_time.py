"""Time in two questions: the days they name, limits, and what a "how ..." asks for.

"On Mondays" / "every Monday" name one day; "within 30 days" / "after 30 days" stand on
either side of one limit; "how often" / "how long" ask for different measures.
"""

from __future__ import annotations

import re

_MONTHS_AND_DAYS = frozenset(
    "january february march april may june july august september october november december "
    "jan feb mar apr jun jul aug sep sept oct nov dec monday tuesday wednesday thursday friday "
    "saturday sunday today yesterday tomorrow tonight weekend".split()
)


def dates(words: set[str]) -> set[str]:
    """The months and days ``words`` name, plurals as one.

    "On Mondays" names what "every Monday" does, "on weekends" what "at the weekend" does,
    and "Saturdays and Sundays" what both do.
    """
    singular = {w.removesuffix("s") for w in words}
    named = {"today" if w == "tonight" else w for w in (words | singular) & _MONTHS_AND_DAYS}
    return (named - _WEEKEND) | {"weekend"} if named >= _WEEKEND else named


_WEEKEND = frozenset({"saturday", "sunday"})
_NOW = frozenset("now currently".split())


def dates_differ(ours: set[str], theirs: set[str]) -> bool:
    """The two sides name other days; "today" is what the other side calls "now".

    "Why is the delivery fee higher today?" / "Delivery costs more than usual right now" name
    one day, as do "today" and "tonight".
    """
    mine, their = dates(ours), dates(theirs)
    if mine == {"today"} and not their and theirs & _NOW:
        return False
    if their == {"today"} and not mine and ours & _NOW:
        return False
    return mine != their


_TIME_UNITS = "(?:seconds?|minutes?|hours?|days?|weeks?|months?|years?)"
_MEASURES = (
    ("frequency", re.compile(r"\bhow (?:often|frequently|many times)\b")),
    ("duration", re.compile(rf"\bhow (?:long|many {_TIME_UNITS})\b")),
    ("quantity", re.compile(r"\bhow (?:much|many)\b")),
)
"""What a "how ..." question asks for, first match wins: "how often are backups made" and
"how long are backups kept" ask about the same backups and want different answers."""


def measure(text: str) -> str | None:
    """What a "how ..." in ``text`` asks for: "frequency", "duration" or "quantity"."""
    return next((name for name, pattern in _MEASURES if pattern.search(text)), None)


_WINDOW = re.compile(
    r"\b(within|inside|before|after|past|beyond|outside)(?: of)? (?:the |a |an |my |your )?([\w-]+)"
)
_INSIDE = frozenset({"within", "inside", "before"})


def inside_and_outside(ours: str, theirs: str) -> str | None:
    """The same limit, with one side inside it and the other past it.

    "a refund within the 30-day window" / "after the 30-day window", "return within 30
    days" / "after 30 days"; "a 14-day window after cancelling" / "cancel within 14 days"
    names two limits and is left alone.
    """
    mine = {limit: side in _INSIDE for side, limit in _WINDOW.findall(ours)}
    other = {limit: side in _INSIDE for side, limit in _WINDOW.findall(theirs)}
    return next(
        (limit for limit in mine.keys() & other.keys() if mine[limit] != other[limit]), None
    )
