"""tierwise's errors as HTTP responses: a status, a reason, never a bare 500."""

from __future__ import annotations

import logging
from typing import Any

from fastapi.responses import JSONResponse

from runtime.errors import (
    BudgetExceededError,
    ConflictError,
    InputError,
    ModelError,
    ModelTimeoutError,
    NotFoundError,
    OverloadedError,
    TierwiseError,
    TooManyExecutionsError,
    WorkflowError,
)

log = logging.getLogger(__name__)


def problem(exc: Exception) -> tuple[int, dict[str, Any], dict[str, str]]:
    """(status, JSON body, headers) for an error raised while serving a request."""
    body: dict[str, Any] = {"error": type(exc).__name__, "detail": str(exc)}
    headers: dict[str, str] = {}
    status = 500
    if isinstance(exc, NotFoundError):
        status = 404
    elif isinstance(exc, ConflictError):
        status = 409
    elif isinstance(exc, InputError):
        status = 422
    elif isinstance(exc, BudgetExceededError):
        status = 402
        body.update(cost_usd=exc.cost_usd, tokens=exc.tokens)
    elif isinstance(exc, OverloadedError):
        status = 429 if isinstance(exc, TooManyExecutionsError) else 503
        headers["Retry-After"] = str(max(1, round(exc.retry_after_s)))
    elif isinstance(exc, ModelTimeoutError):
        status = 504
    elif isinstance(exc, ModelError):
        status = 502
    elif isinstance(exc, WorkflowError | TierwiseError):
        status = 500  # the workflow or the deployment is wrong, not the request
    else:
        log.exception("unexpected error while serving a request", exc_info=exc)
        body = {"error": "InternalError", "detail": "unexpected error; see the server log"}
    return status, body, headers


def problem_response(exc: Exception) -> JSONResponse:
    """``problem`` as a response."""
    status, body, headers = problem(exc)
    return JSONResponse(body, status_code=status, headers=headers)
