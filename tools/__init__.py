"""Agent tools that the reference workflows call."""

from tools.faq import FAQ_VERSION, FaqEntry, cite_faq, load_faq, render_faq, search_faq

__all__ = [
    "FAQ_VERSION",
    "FaqEntry",
    "cite_faq",
    "load_faq",
    "render_faq",
    "search_faq",
]
