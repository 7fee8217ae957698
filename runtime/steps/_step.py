"""``Step``: a declarative model-calling node that holds its tier, prompt and output model."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from langchain_core.runnables import RunnableConfig, RunnableLambda
from langgraph.graph import StateGraph
from pydantic import BaseModel

from runtime.prompts import Message, Segment, Stability, render_messages
from runtime.steps._call import as_state_value, call_model
from runtime.steps._chat import TIER_KEY, running_node

_EMPTY_INPUT = Segment.volatile("input", "")


@dataclass(frozen=True, slots=True, kw_only=True)
class Step:
    """A node that lays out its prompt, calls its tier and writes the result to the state."""

    tier: str
    """The tier the step runs on."""
    prompt: tuple[Segment, ...]
    """Prompt segments; laid out stable-first whatever their order here."""
    writes: str
    """The state key the result is written to."""
    output: type[BaseModel] | None = None
    """A Pydantic model: the output is JSON-schema constrained and validated."""
    max_tokens: int | None = None
    """Cap on generated tokens; the tier's default when unset."""
    collect: bool = False
    """Write ``[result]`` for a list reducer (parallel branches gathering their results)."""

    async def arun(self, state: Any, config: RunnableConfig) -> dict[str, Any]:
        """Run the step as a LangGraph node."""
        node = running_node(config)
        messages = render_messages(self.prompt, _as_mapping(state), node=node)
        result = await call_model(
            node=node,
            tier=self.tier,
            messages=messages,
            output=self.output,
            max_tokens=self.max_tokens,
        )
        value = as_state_value(result)
        return {self.writes: [value] if self.collect else value}

    def static_prefix(self) -> tuple[Message, ...]:
        """The part of the prompt that never changes between executions, as messages.

        Prefilling it (``Runtime.warm_up``) leaves its KV state cached for the first caller.
        """
        stable = tuple(s for s in self.prompt if s.stability <= Stability.NODE)
        return render_messages((*stable, _EMPTY_INPUT), {}, node="(warm-up)")

    def run(self, state: Any, config: RunnableConfig) -> dict[str, Any]:
        """The synchronous entry (``graph.invoke``), wrapping the async one once at the edge."""
        return asyncio.run(self.arun(state, config))


class _StepNode(RunnableLambda[Any, dict[str, Any]]):
    """The runnable ``add_step`` adds; it keeps its Step so the runtime can find it later."""

    def __init__(self, step: Step, name: str) -> None:
        super().__init__(step.run, afunc=step.arun, name=name)
        self.step = step


def steps_of(builder: StateGraph[Any, Any, Any, Any]) -> dict[str, Step]:
    """The Steps of a graph, by node name (nodes added with ``add_step``)."""
    return {
        name: spec.runnable.step
        for name, spec in builder.nodes.items()
        if isinstance(spec.runnable, _StepNode)
    }


def add_step(
    builder: StateGraph[Any, Any, Any, Any], name: str, step: Step, **add_node_kwargs: Any
) -> None:
    """``builder.add_node`` for a Step: its tier goes into the node metadata too."""
    metadata = {**add_node_kwargs.pop("metadata", {}), TIER_KEY: step.tier}
    builder.add_node(
        name,
        _StepNode(step, name),
        metadata=metadata,
        **add_node_kwargs,
    )


def _as_mapping(state: Any) -> Mapping[str, Any]:
    if isinstance(state, Mapping):
        return state
    if isinstance(state, BaseModel):
        return dict(state)
    raise TypeError(f"a Step reads a dict or Pydantic state, got {type(state).__name__}")
