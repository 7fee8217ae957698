"""Reading labelled JSONL files (paraphrase pairs, eval datasets) with clear errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from runtime.errors import InputError

M = TypeVar("M", bound=BaseModel)


def read_jsonl(path: Path, model: type[M], *, what: str) -> list[M]:
    """Every non-blank line as ``model``; a bad line is an error naming the file and line."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc}") from exc
    rows = []
    for number, line in enumerate(lines, start=1):
        if line.strip():
            try:
                rows.append(model.model_validate(json.loads(line)))
            except (json.JSONDecodeError, ValidationError) as exc:
                raise InputError(f"{path}:{number}: not {what}: {exc}") from exc
    if not rows:
        raise InputError(f"{path}: empty (expected lines of JSON, one per {what.split()[-1]})")
    return rows
