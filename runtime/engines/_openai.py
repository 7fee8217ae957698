"""The tier client for SGLang and any OpenAI-compatible server.

SGLang started with ``--enable-cache-report`` reports reused prefix tokens in
``usage.prompt_tokens_details.cached_tokens``; servers that do not report it count as 0.
"""

from __future__ import annotations

import hashlib
import os
import time
from typing import Any

import httpx
from tenacity import (
    AsyncRetrying,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential_jitter,
)

from runtime.config import TierSpec
from runtime.costs import Usage
from runtime.engines._protocol import ChatRequest, ChatResult
from runtime.errors import ModelError, ModelTimeoutError, ModelUnavailableError

_RETRIED_STATUS = frozenset({429, 500, 502, 503, 504})
_ATTEMPTS = 3


class OpenAITierClient:
    """Chat completions over HTTP, retried on connection errors, 429 and 5xx (never on 4xx)."""

    def __init__(
        self, tier_name: str, tier: TierSpec, *, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self._tier_name = tier_name
        self._tier = tier
        headers = {}
        if tier.api_key_env:
            key = os.environ.get(tier.api_key_env)
            if not key:
                raise ModelUnavailableError(
                    f"tier {tier_name!r}: environment variable {tier.api_key_env} is not set"
                )
            headers["Authorization"] = f"Bearer {key}"
        self._http = httpx.AsyncClient(
            headers=headers,
            timeout=httpx.Timeout(tier.timeout_s, connect=min(5.0, tier.timeout_s)),
            limits=httpx.Limits(max_connections=tier.max_concurrency),
            transport=transport,
        )

    @property
    def model(self) -> str:
        """The model name the server serves."""
        return self._tier.model

    async def chat(self, request: ChatRequest) -> ChatResult:
        """POST /chat/completions to the replica that already holds this prompt's prefix."""
        url = f"{self._base_url(request).rstrip('/')}/chat/completions"
        started = time.monotonic()
        try:
            async for attempt in AsyncRetrying(
                stop=stop_after_attempt(_ATTEMPTS),
                wait=wait_exponential_jitter(multiplier=0.2, max=3.0, jitter=0.2),
                retry=retry_if_exception(_is_transient),
                reraise=True,
            ):
                with attempt:
                    response = await self._http.post(url, json=self._body(request))
                    response.raise_for_status()
        except httpx.TimeoutException as exc:
            raise ModelTimeoutError(
                f"tier {self._tier_name!r}: no answer from {url} in {self._tier.timeout_s}s"
            ) from exc
        except httpx.TransportError as exc:
            raise ModelUnavailableError(f"tier {self._tier_name!r}: {url}: {exc}") from exc
        except httpx.HTTPStatusError as exc:
            raise ModelError(
                f"tier {self._tier_name!r}: {url} answered {exc.response.status_code} after "
                f"{time.monotonic() - started:.1f}s: {exc.response.text[:300]}"
            ) from exc
        return parse_chat_response(response.json(), fallback_model=self._tier.model)

    def _base_url(self, request: ChatRequest) -> str:
        # Prefix affinity: the same leading message goes to the same replica, whose radix
        # cache already holds it.
        urls = self._tier.urls
        first = request.messages[0].content.encode() if request.messages else b""
        index = int.from_bytes(hashlib.blake2b(first, digest_size=4).digest()) % len(urls)
        return str(urls[index])

    def _body(self, request: ChatRequest) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self._tier.model,
            "messages": [{"role": m.role, "content": m.content} for m in request.messages],
            "max_tokens": request.max_tokens,
            "temperature": request.temperature,
        }
        if request.json_schema is not None:
            body["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "output", "schema": request.json_schema},
            }
        return body

    async def aclose(self) -> None:
        """Close pooled connections."""
        await self._http.aclose()


def _is_transient(exc: BaseException) -> bool:
    if isinstance(exc, httpx.HTTPStatusError):
        return exc.response.status_code in _RETRIED_STATUS
    return isinstance(exc, httpx.TransportError)


def parse_chat_response(body: dict[str, Any], *, fallback_model: str) -> ChatResult:
    """Read text and usage, cached tokens included, from an OpenAI-shaped response."""
    try:
        choice = body["choices"][0]
        text = choice["message"].get("content") or ""
        usage = body.get("usage") or {}
        details = usage.get("prompt_tokens_details") or {}
        return ChatResult(
            text=text,
            usage=Usage(
                input_tokens=int(usage.get("prompt_tokens") or 0),
                cached_input_tokens=int(details.get("cached_tokens") or 0),
                output_tokens=int(usage.get("completion_tokens") or 0),
            ),
            model=str(body.get("model") or fallback_model),
            truncated=choice.get("finish_reason") == "length",
        )
    except (KeyError, IndexError, TypeError, ValueError) as exc:
        raise ModelError(f"malformed chat completion response: {exc}") from exc
