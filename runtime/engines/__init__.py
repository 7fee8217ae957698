"""Model engines behind the tier client seam: embedded llama.cpp and OpenAI-compatible HTTP."""

from runtime.engines._embedded import EmbeddedEngine, EmbeddedModel, EmbeddedTierClient
from runtime.engines._gate import GatedTierClient
from runtime.engines._openai import OpenAITierClient, parse_chat_response
from runtime.engines._packaged import PACKAGED_MODELS, PackagedModel, packaged_model_file
from runtime.engines._protocol import ChatRequest, ChatResult, Lane, TierClient

__all__ = [
    "PACKAGED_MODELS",
    "ChatRequest",
    "ChatResult",
    "EmbeddedEngine",
    "EmbeddedModel",
    "EmbeddedTierClient",
    "GatedTierClient",
    "Lane",
    "OpenAITierClient",
    "PackagedModel",
    "TierClient",
    "packaged_model_file",
    "parse_chat_response",
]
