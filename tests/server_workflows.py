"""Workflows the server tests register (``tests.server_workflows:...``)."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import threading
from pathlib import Path
from typing import Any

from langgraph.graph import START, StateGraph
from typing_extensions import TypedDict

from runtime import CacheMode, CachePolicy, Segment, Step, add_step, chat
from tests.fakes import Label

PAUSE = threading.Event()
"""Set to let ``slow`` finish its middle node (the server runs in another thread)."""


class Question(TypedDict):
    question: str


class State(TypedDict, total=False):
    question: str
    label: dict[str, Any]
    reply: str
    history: list[str]


def _label() -> Step:
    return Step(
        tier="small",
        prompt=(Segment.node("task", "Label it."), Segment.volatile("question", "{question}")),
        output=Label,
        writes="label",
    )


async def _reply(state: State) -> dict[str, Any]:
    answer = await chat(f"Reply to: {state['question']}")
    return {"reply": answer, "history": [*state.get("history", []), state["question"]]}


def answer() -> Any:
    """Label a question, then reply to it."""
    builder = StateGraph(State, input_schema=Question)
    add_step(builder, "label", _label())
    builder.add_node("reply", _reply, metadata={"tier": "large"})
    builder.add_edge(START, "label")
    builder.add_edge("label", "reply")
    return builder


async def _hold(state: State) -> dict[str, Any]:
    while not PAUSE.is_set():
        await asyncio.sleep(0.02)
    return {}


def _held(hold: Any) -> Any:
    builder = StateGraph(State, input_schema=Question)
    add_step(builder, "label", _label())
    builder.add_node("hold", hold)
    builder.add_node("reply", _reply, metadata={"tier": "large"})
    builder.add_edge(START, "label")
    builder.add_edge("label", "hold")
    builder.add_edge("hold", "reply")
    return builder


def slow() -> Any:
    """Label, wait until released, then reply: for background runs and restarts."""
    return _held(_hold)


GATE_ENV = "TIERWISE_TEST_GATE"
"""A file whose existence lets ``gated`` go on: it releases a server in another process."""


async def _wait_for_gate(state: State) -> dict[str, Any]:
    gate = Path(os.environ[GATE_ENV])
    while not gate.exists():
        await asyncio.sleep(0.05)
    return {}


def gated() -> Any:
    """``slow`` for a server process: held until the file named by ``$TIERWISE_TEST_GATE``."""
    return _held(_wait_for_gate)


def cached() -> Any:
    """``answer`` whose label is cached exactly on the question."""
    builder = StateGraph(State, input_schema=Question)
    policy = CachePolicy(mode=CacheMode.EXACT, key=("question",), ttl_s=600)
    add_step(builder, "label", dataclasses.replace(_label(), cache=policy))
    builder.add_edge(START, "label")
    return builder
