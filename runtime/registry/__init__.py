"""The workflow registry."""

from runtime.registry._registry import Workflow, WorkflowRegistry

__all__ = ["Workflow", "WorkflowRegistry"]
