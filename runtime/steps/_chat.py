"""``chat``: the model client for hand-written nodes, which declare their tier as metadata."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar, overload

from langchain_core.runnables import RunnableConfig
from langgraph.config import get_config
from pydantic import BaseModel

from runtime.errors import MissingTierError, WorkflowError
from runtime.execution import current_execution
from runtime.prompts import Message
from runtime.steps._call import call_model

OutputT = TypeVar("OutputT", bound=BaseModel)

TIER_KEY = "tier"
"""The node metadata key that holds its tier: ``add_node(name, fn, metadata={"tier": ...})``."""


@overload
async def chat(
    messages: str | Sequence[Message],
    *,
    output: type[OutputT],
    max_tokens: int | None = None,
) -> OutputT: ...


@overload
async def chat(
    messages: str | Sequence[Message],
    *,
    output: None = None,
    max_tokens: int | None = None,
) -> str: ...


async def chat(
    messages: str | Sequence[Message],
    *,
    output: type[BaseModel] | None = None,
    max_tokens: int | None = None,
) -> BaseModel | str:
    """Call the model of the running node's tier; a string is sent as one user message."""
    node, declared = running_node_tier(get_config())
    tier = current_execution().tier_of(node, declared)
    laid_out = (Message("user", messages),) if isinstance(messages, str) else tuple(messages)
    value, _ = await call_model(
        node=node, tier=tier, messages=laid_out, output=output, max_tokens=max_tokens
    )
    return value


def running_node(config: RunnableConfig) -> str:
    """The running node's name, which LangGraph puts in its config's metadata."""
    node = (config.get("metadata") or {}).get("langgraph_node")
    if not isinstance(node, str):
        raise WorkflowError("a model can only be called from inside a LangGraph node")
    return node


def running_node_tier(config: RunnableConfig) -> tuple[str, str]:
    """The running node's name and the tier declared in its metadata."""
    node = running_node(config)
    metadata: dict[str, Any] = dict(config.get("metadata") or {})
    tier = metadata.get(TIER_KEY)
    if not isinstance(tier, str):
        raise MissingTierError(
            f"node {node!r} calls a model but has no tier: declare it with "
            f"add_node({node!r}, fn, metadata={{'tier': 'small'}}) or use a Step"
        )
    return node, tier
