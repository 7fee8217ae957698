"""Per-entry thresholds from hits reported right or wrong."""

from __future__ import annotations

import pytest

from runtime.cache._adaptive import entry_threshold


def test_no_reports_or_only_right_ones_leave_the_policys_threshold() -> None:
    assert entry_threshold([], max_wrong_hit_rate=0.01) == 0.0
    assert entry_threshold([(0.82, True), (0.9, True)], max_wrong_hit_rate=0.01) == 0.0


def test_a_wrong_hit_moves_the_threshold_just_above_it() -> None:
    threshold = entry_threshold([(0.84, False), (0.9, True)], max_wrong_hit_rate=0.01)
    assert 0.84 < threshold <= 0.8401 + 1e-9


def test_the_tolerated_rate_keeps_the_lowest_threshold_within_it() -> None:
    reports = [(0.81, False), *[(0.9 + i / 1000, True) for i in range(9)]]
    assert entry_threshold(reports, max_wrong_hit_rate=0.1) == 0.0  # 1 wrong in 10: within
    assert entry_threshold(reports, max_wrong_hit_rate=0.05) == pytest.approx(0.8101)


def test_a_wrong_hit_at_the_top_leaves_only_exact_matches() -> None:
    assert entry_threshold([(1.0, False)], max_wrong_hit_rate=0.0) > 1.0
