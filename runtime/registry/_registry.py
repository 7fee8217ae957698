"""The workflow registry: names from the config, graphs from ``module:factory`` targets."""

from __future__ import annotations

import copy
import dataclasses
import functools
import importlib
import inspect
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from langgraph.cache.memory import InMemoryCache
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.types import CachePolicy as NodeCachePolicy
from pydantic import PydanticUserError, TypeAdapter, ValidationError

from runtime.cache import CacheMode
from runtime.config import TierwiseConfig
from runtime.errors import ConfigError, InputError, UnknownWorkflowError, WorkflowError
from runtime.steps import TIER_KEY, steps_of


@dataclass(frozen=True, kw_only=True)
class Workflow:
    """A registered, compiled workflow."""

    name: str
    """The name it is served and run under."""
    graph: CompiledStateGraph[Any, Any, Any, Any]
    """The compiled LangGraph graph."""
    description: str
    """First line of the factory's docstring."""
    input_adapter: TypeAdapter[Any]
    """Validates a caller's input against the graph's input schema."""

    @functools.cached_property
    def _checkpointed(self) -> dict[int, CompiledStateGraph[Any, Any, Any, Any]]:
        return {}

    def with_checkpointer(
        self, saver: BaseCheckpointSaver[Any]
    ) -> CompiledStateGraph[Any, Any, Any, Any]:
        """The same graph compiled with ``saver``, so runs in a thread persist their state."""
        key = id(saver)
        if key not in self._checkpointed:
            self._checkpointed[key] = self.graph.builder.compile(checkpointer=saver, name=self.name)
        return self._checkpointed[key]

    @functools.cached_property
    def node_cached(self) -> CompiledStateGraph[Any, Any, Any, Any]:
        """The same graph with LangGraph's own node cache on every Step, in memory.

        A Step whose whole input state was seen before returns its earlier output without
        running: exact-match caching as a team gets it from LangGraph alone (the
        benchmark's peer baseline). The cache lives as long as this workflow.
        """
        builder = copy.copy(self.graph.builder)
        steps = set(self.step_nodes())
        builder.nodes = {
            name: dataclasses.replace(spec, cache_policy=NodeCachePolicy())
            if name in steps
            else spec
            for name, spec in builder.nodes.items()
        }
        return builder.compile(cache=InMemoryCache(), name=self.name)

    def routable_nodes(self) -> list[str]:
        """Nodes that declare a tier (Steps and hand-written model nodes), in graph order."""
        return [
            name
            for name, spec in self.graph.builder.nodes.items()
            if isinstance((spec.metadata or {}).get(TIER_KEY), str)
        ]

    def step_nodes(self) -> list[str]:
        """Nodes that are Steps: the ones a confidence floor (a cascade) applies to."""
        return list(steps_of(self.graph.builder))

    def semantic_nodes(self) -> list[str]:
        """Steps whose answers the semantic cache reuses: the ones a threshold applies to."""
        return [
            name
            for name, step in steps_of(self.graph.builder).items()
            if step.cache is not None and step.cache.mode is CacheMode.SEMANTIC
        ]

    def check_node_settings(self, config: TierwiseConfig) -> None:
        """Refuse per-node settings for nodes of this workflow they cannot apply to.

        A misspelt node in ``[routes]``, ``[cache_thresholds]`` or ``[min_confidence]``
        would otherwise be ignored without a word.
        """
        applicable = {
            "routes": self.routable_nodes(),
            "cache_thresholds": self.semantic_nodes(),
            "min_confidence": self.step_nodes(),
        }
        for table, nodes in applicable.items():
            for node in getattr(config, table).get(self.name, {}):
                if node not in nodes:
                    raise ConfigError(
                        config.source,
                        f"{table}.{self.name}.{node}",
                        f"workflow {self.name!r} has no such node for this setting "
                        f"(it applies to: {', '.join(nodes) or 'none'})",
                    )

    def input_schema(self) -> dict[str, Any]:
        """JSON schema of the input (for the HTTP API's documentation)."""
        return dict(self.input_adapter.json_schema())

    def output_schema(self) -> dict[str, Any]:
        """JSON schema of the final state the workflow returns."""
        return dict(self.graph.get_output_jsonschema())

    def validate_input(self, raw: Any) -> dict[str, Any]:
        """The input as the graph expects it; a clear ``InputError`` otherwise."""
        try:
            value = self.input_adapter.validate_python(raw)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in err['loc']) or 'input'}: {err['msg']}"
                for err in exc.errors()
            )
            raise InputError(f"invalid input for workflow {self.name!r}: {problems}") from exc
        return dict(value)


class WorkflowRegistry:
    """Imports and compiles each workflow once, on first use."""

    def __init__(self, targets: Mapping[str, str], config: TierwiseConfig | None = None) -> None:
        self._targets = dict(targets)
        self._config = config
        """Checked against each workflow as it loads (per-node settings name real nodes)."""
        self._loaded: dict[str, Workflow] = {}

    def names(self) -> list[str]:
        """Registered workflow names, in config order."""
        return list(self._targets)

    def get(self, name: str) -> Workflow:
        """The workflow called ``name``."""
        if name not in self._targets:
            known = ", ".join(self._targets) or "none"
            raise UnknownWorkflowError(f"no workflow {name!r} (registered: {known})")
        if name not in self._loaded:
            loaded = _load(name, self._targets[name])
            if self._config is not None:
                loaded.check_node_settings(self._config)
            self._loaded[name] = loaded
        return self._loaded[name]


def _load(name: str, target: str) -> Workflow:
    module_name, _, attr = target.partition(":")
    try:
        factory = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise WorkflowError(f"workflow {name!r}: cannot import {target!r}: {exc}") from exc
    built = factory()
    if isinstance(built, StateGraph):
        input_schema = built.input_schema
        graph = built.compile(name=name)
    elif isinstance(built, CompiledStateGraph):
        input_schema = built.builder.input_schema
        graph = built
    else:
        raise WorkflowError(
            f"workflow {name!r}: {target} returned {type(built).__name__}, not a StateGraph"
        )
    try:
        input_adapter: TypeAdapter[Any] = TypeAdapter(input_schema)
    except PydanticUserError as exc:
        raise WorkflowError(f"workflow {name!r}: its input schema is unusable: {exc}") from exc
    doc = inspect.getdoc(factory) or ""
    return Workflow(
        name=name,
        graph=graph,
        description=doc.splitlines()[0] if doc else "",
        input_adapter=input_adapter,
    )
