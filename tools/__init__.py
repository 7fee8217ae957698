"""Agent tools that the reference workflows call."""

from tools.faq import FaqEntry, load_faq, render_faq, search_faq

__all__ = ["FaqEntry", "load_faq", "render_faq", "search_faq"]
