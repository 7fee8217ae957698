"""Prompt segments and the prefix-friendly layout."""

from runtime.prompts._layout import Message, Segment, Stability, prefix_layout, render_messages

__all__ = ["Message", "Segment", "Stability", "prefix_layout", "render_messages"]
