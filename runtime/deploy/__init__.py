"""Rendering the production deployment (compose, Kubernetes) from the tier config."""

from runtime.deploy._render import render_compose, render_kubernetes, sglang_command, tier_url

__all__ = ["render_compose", "render_kubernetes", "sglang_command", "tier_url"]
