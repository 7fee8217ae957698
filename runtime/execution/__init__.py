"""Executing workflows: the runtime, the execution context and the records it keeps."""

from runtime.execution._context import (
    ExecutionContext,
    TierResolver,
    activate,
    current_execution,
    current_execution_or_none,
)
from runtime.execution._records import ExecutionRecord, StepRecord
from runtime.execution._store import RunStore

__all__ = [
    "ExecutionContext",
    "ExecutionRecord",
    "RunStore",
    "StepRecord",
    "TierResolver",
    "activate",
    "current_execution",
    "current_execution_or_none",
]
