"""Every error tierwise raises, in one short hierarchy.

::

    TierwiseError
    ├── ConfigError            bad configuration; names the file and the key (raised at load)
    ├── InputError             bad input from a caller; becomes an HTTP 4xx with its message
    │   ├── NotFoundError      no such workflow, run, thread or assistant (HTTP 404)
    │   │   └── UnknownWorkflowError
    │   ├── ConflictError      what the caller would create exists already (HTTP 409)
    │   └── PromptTooLongError a segment or prompt over its token budget that may not be cut
    ├── BudgetExceededError    an execution crossed its budget; carries the cost so far
    ├── OverloadedError        no capacity now; carries when to retry (HTTP 503)
    │   ├── TooManyExecutionsError  the server runs all the executions it may (HTTP 429)
    │   └── StoreUnavailableError   run state cannot be stored now (database down, disk full)
    ├── WorkflowError          a workflow is declared wrongly (a node without a tier, ...)
    │   └── MissingTierError
    ├── ModelError             a model server or engine failed (mapped at the tier seam)
    │   ├── ModelUnavailableError   the model cannot be loaded or reached
    │   ├── ModelTimeoutError       the call took longer than the tier allows
    │   ├── ModelRequestError       the server refused the request as invalid (4xx)
    │   ├── ModelResponseError      the server answered something that is no chat completion
    │   └── ModelOutputError        the output does not validate against the step's schema

A cache miss or a fallback is a result, not an exception. Every ``ModelError`` but the
request and output errors is the server's fault: retried, then sent to the tier's fallback.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "BudgetExceededError",
    "ConfigError",
    "ConflictError",
    "InputError",
    "MissingTierError",
    "ModelError",
    "ModelOutputError",
    "ModelRequestError",
    "ModelResponseError",
    "ModelTimeoutError",
    "ModelUnavailableError",
    "NotFoundError",
    "OverloadedError",
    "PromptTooLongError",
    "StoreUnavailableError",
    "TierwiseError",
    "TooManyExecutionsError",
    "UnknownWorkflowError",
    "WorkflowError",
]


class TierwiseError(Exception):
    """The root of every error tierwise raises on purpose."""


class ConfigError(TierwiseError):
    """A configuration file or value is invalid."""

    def __init__(self, source: str, key: str, problem: str) -> None:
        self.source = source
        self.key = key
        self.problem = problem
        super().__init__(f"{source}: {key}: {problem}")


class InputError(TierwiseError):
    """Input from a caller (CLI, HTTP, Python) is invalid."""


class NotFoundError(InputError):
    """The named workflow, run, thread or assistant does not exist."""


class ConflictError(InputError):
    """What the caller asked to create exists already (a thread under the same id)."""


class UnknownWorkflowError(NotFoundError):
    """No workflow is registered under the requested name."""


class PromptTooLongError(InputError):
    """A segment or a whole prompt does not fit its token budget and may not be cut."""


class BudgetExceededError(TierwiseError):
    """An execution spent more than its budget allows; it stopped at that step."""

    def __init__(self, message: str, *, cost_usd: float, tokens: int) -> None:
        self.cost_usd = cost_usd
        self.tokens = tokens
        super().__init__(message)


class OverloadedError(TierwiseError):
    """No capacity now (a full tier queue, ...); retry later."""

    def __init__(self, message: str, *, retry_after_s: float) -> None:
        self.retry_after_s = retry_after_s
        super().__init__(message)


class WorkflowError(TierwiseError):
    """A workflow is declared in a way the runtime cannot execute."""


class MissingTierError(WorkflowError):
    """A node called a model but declares no tier."""


class ModelError(TierwiseError):
    """A model server or the embedded engine failed."""


class ModelUnavailableError(ModelError):
    """The model cannot be loaded (embedded) or reached (server)."""


class ModelTimeoutError(ModelError):
    """A model call took longer than its tier allows."""


class ModelRequestError(ModelError):
    """The server refused the request itself (HTTP 4xx): another try or server won't help."""


class ModelResponseError(ModelError):
    """The server answered, but not with a chat completion (garbage, cut-off stream)."""


class ModelOutputError(ModelError):
    """A model's output does not validate against the step's output schema."""

    def __init__(self, message: str, *, raw_output: str) -> None:
        self.raw_output = raw_output
        self.record: Any = None
        """The recorded (and paid-for) call whose output this was, when there is one."""
        super().__init__(message)


class TooManyExecutionsError(OverloadedError):
    """The server already runs as many executions as it may; retry later."""


class StoreUnavailableError(OverloadedError):
    """Run state (checkpoints, background runs) cannot be stored now; nothing was lost."""
