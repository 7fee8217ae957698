"""Per-entry thresholds learned from hits reported right or wrong."""

from __future__ import annotations

from collections.abc import Sequence

OBSERVATIONS_KEPT = 64
"""Reported hits an entry remembers (the most recent)."""
_ABOVE = 1e-4
"""How far above a wrong hit's similarity the entry's threshold moves."""


def entry_threshold(
    observations: Sequence[tuple[float, bool]], *, max_wrong_hit_rate: float
) -> float:
    """The lowest threshold at which the entry's reported hits stay within the rate.

    0.0 when none were wrong: the policy's threshold applies.

    ``observations`` are (similarity, correct) pairs. Only thresholds just above a wrong
    hit can change the rate, so those are the candidates; above the highest wrong hit no
    reported hit is wrong, so one always qualifies (possibly above 1: exact matches only).
    Lookups use the higher of this and the policy's threshold.
    """
    candidates = sorted({0.0, *(s + _ABOVE for s, ok in observations if not ok)})
    for threshold in candidates:
        above = [ok for s, ok in observations if s >= threshold]
        if above.count(False) <= max_wrong_hit_rate * len(above):
            return threshold
    return candidates[-1]
