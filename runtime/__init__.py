"""tierwise: run tiered LangGraph workflows cheaply and measurably.

A workflow is an ordinary ``StateGraph`` whose model-calling nodes carry a tier, either as
a declarative ``Step`` (added with ``add_step``) or as node metadata for hand-written nodes
that call ``chat``. ``Runtime.run`` executes it and returns what every step cost.
"""

from runtime._runtime import DEFAULT_TENANT, Runtime
from runtime.cache import CacheMode, CachePolicy
from runtime.config import TierPrice, TierSpec, TierwiseConfig, load_config
from runtime.costs import Usage, price_step
from runtime.execution import ExecutionRecord, StepRecord
from runtime.prompts import Message, Segment, Stability
from runtime.steps import (
    Cascade,
    ConversationMemory,
    Judge,
    Step,
    ToolCache,
    add_step,
    chat,
    traced_tool,
)

__all__ = [
    "DEFAULT_TENANT",
    "CacheMode",
    "CachePolicy",
    "Cascade",
    "ConversationMemory",
    "ExecutionRecord",
    "Judge",
    "Message",
    "Runtime",
    "Segment",
    "Stability",
    "Step",
    "StepRecord",
    "TierPrice",
    "TierSpec",
    "TierwiseConfig",
    "ToolCache",
    "Usage",
    "add_step",
    "chat",
    "load_config",
    "price_step",
    "traced_tool",
]
