"""Prompt segments and the prefix-friendly layout."""

from runtime.prompts._layout import (
    Message,
    Segment,
    Stability,
    prefix_layout,
    render_messages,
    render_segment,
)

__all__ = ["Message", "Segment", "Stability", "prefix_layout", "render_messages", "render_segment"]
