"""``tierwise lint``: prefix discipline of every Step's prompt."""

from runtime.lint._lint import Finding, LintReport, StepReport, lint_workflow

__all__ = ["Finding", "LintReport", "StepReport", "lint_workflow"]
