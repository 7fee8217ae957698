"""Prompt segments, the prefix-friendly layout, and token budgets per segment."""

from runtime.prompts._budget import Overflow, Trim
from runtime.prompts._layout import (
    Message,
    Segment,
    Stability,
    TokenBudget,
    prefix_layout,
    render_messages,
    render_prompt,
    render_segment,
)

__all__ = [
    "Message",
    "Overflow",
    "Segment",
    "Stability",
    "TokenBudget",
    "Trim",
    "prefix_layout",
    "render_messages",
    "render_prompt",
    "render_segment",
]
