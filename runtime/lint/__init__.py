"""``tierwise lint`` and ``tierwise audit``: prefix discipline and where prompt tokens go."""

from runtime.lint._audit import AuditReport, Duplicate, SegmentAudit, audit_workflow
from runtime.lint._lint import Finding, LintReport, StepReport, lint_workflow

__all__ = [
    "AuditReport",
    "Duplicate",
    "Finding",
    "LintReport",
    "SegmentAudit",
    "StepReport",
    "audit_workflow",
    "lint_workflow",
]
