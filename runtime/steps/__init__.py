"""Model-calling nodes: declarative ``Step``s and ``chat`` for hand-written nodes."""

from runtime.steps._call import call_model
from runtime.steps._cascade import Cascade
from runtime.steps._chat import TIER_KEY, chat, running_node, running_node_tier
from runtime.steps._judge import Judge
from runtime.steps._memory import ConversationMemory
from runtime.steps._step import Step, add_step, steps_of
from runtime.steps._tool import ToolCache, traced_tool

__all__ = [
    "TIER_KEY",
    "Cascade",
    "ConversationMemory",
    "Judge",
    "Step",
    "ToolCache",
    "add_step",
    "call_model",
    "chat",
    "running_node",
    "running_node_tier",
    "steps_of",
    "traced_tool",
]
