"""Cache keys and scopes: pure functions, no I/O.

A scope namespaces every entry by workflow, node, the fingerprint of the node's prompt and
output schema, the tier's model, the call's decoding settings and the tenant: a changed
prompt, model or setting never serves an old answer, and one tenant never sees another's.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

_SPACES = re.compile(r"\s+")


def normalise(text: str) -> str:
    """Unicode-normalised, case-folded, whitespace-collapsed text."""
    return _SPACES.sub(" ", unicodedata.normalize("NFKC", text).casefold()).strip()


def _digest(*parts: str) -> str:
    hasher = hashlib.sha256()
    for part in parts:
        hasher.update(part.encode())
        hasher.update(b"\x1f")  # unit separator: ("ab", "c") != ("a", "bc")
    return hasher.hexdigest()


def prompt_fingerprint(templates: Sequence[tuple[str, str, int]], schema: Any) -> str:
    """Hash of a step's segments (name, template, stability) and its output schema."""
    return _digest(json.dumps([list(t) for t in templates]), json.dumps(schema, sort_keys=True))


@dataclass(frozen=True, slots=True)
class CacheScope:
    """Everything an entry is namespaced by."""

    workflow: str
    node: str
    prompt: str
    model: str
    tenant: str
    decoding: str = ""
    """Call settings besides the prompt that shape an answer (maximum tokens, penalties)."""

    @property
    def id(self) -> str:
        """A stable hash of the whole scope."""
        return _scope_id(self)


def key_text(inputs: Sequence[tuple[str, str]]) -> str:
    """The named key inputs as one text, as written (the guards need case and punctuation)."""
    return "\n".join(f"{name}: {value}" for name, value in inputs)


@functools.lru_cache(maxsize=1024)
def _scope_id(scope: CacheScope) -> str:
    return _digest(
        scope.workflow, scope.node, scope.prompt, scope.model, scope.tenant, scope.decoding
    )


@functools.lru_cache(maxsize=1024)  # a step's lookup and its write ask for the same key
def exact_key(scope: CacheScope, text: str) -> str:
    """The exact-match key of ``text`` within ``scope``: equal after normalisation."""
    return f"tierwise:step:{scope.id}:{_digest(normalise(text))}"
