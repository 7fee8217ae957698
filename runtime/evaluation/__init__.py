"""Measuring workflows: datasets, scorers, per-configuration results and reports."""

from runtime.evaluation._bench import SIDES, BenchResult, Request, Side, bench, workload
from runtime.evaluation._calibrate import (
    Calibration,
    Routing,
    calibrate,
)
from runtime.evaluation._harness import (
    ConfigResult,
    EvalItem,
    Scorer,
    evaluate_config,
    load_dataset,
    write_report,
)
from runtime.evaluation._scorers import exact_match, field_match, lookup

__all__ = [
    "SIDES",
    "BenchResult",
    "Calibration",
    "ConfigResult",
    "EvalItem",
    "Request",
    "Routing",
    "Scorer",
    "Side",
    "bench",
    "calibrate",
    "evaluate_config",
    "exact_match",
    "field_match",
    "load_dataset",
    "lookup",
    "workload",
    "write_report",
]
