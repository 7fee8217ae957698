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
from httpx_sse import aconnect_sse
from tenacity import (
    AsyncRetrying,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential_jitter,
)

from runtime.config import TierSpec
from runtime.costs import Usage
from runtime.engines._protocol import ChatRequest, ChatResult, confidence
from runtime.errors import (
    ModelError,
    ModelRequestError,
    ModelResponseError,
    ModelTimeoutError,
    ModelUnavailableError,
)

_RETRIED_STATUS = frozenset({429, 500, 502, 503, 504})
_ATTEMPTS = 3
AFFINITY_CHARS = 2_000
"""Prompt characters that pick the replica: past the shared instructions and the node's
own, so one node's calls stay together while different nodes spread over replicas."""


class OpenAITierClient:
    """Chat completions over HTTP; each retry goes to the next replica.

    Retried: connection errors, 429, 5xx and malformed answers; never other 4xx.
    """

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
        """POST /chat/completions to the replica that already holds this prompt's prefix.

        Streamed (with ``stream_options.include_usage``) unless the tier sets
        ``stream = false``, so the time to first token is measured. A retry goes to the
        next replica, so one dead server costs one attempt, not the call.
        """
        urls = self._replicas(request)
        started = time.monotonic()
        url = urls[0]
        try:
            async for attempt in AsyncRetrying(
                stop=stop_after_attempt(_ATTEMPTS),
                wait=wait_exponential_jitter(multiplier=0.2, max=3.0, jitter=0.2),
                retry=retry_if_exception(_is_transient),
                reraise=True,
            ):
                with attempt:
                    url = urls[(attempt.retry_state.attempt_number - 1) % len(urls)]
                    return await self._attempt(url, request)
        except httpx.TimeoutException as exc:
            raise ModelTimeoutError(
                f"tier {self._tier_name!r}: no answer from {url} in {self._tier.timeout_s}s"
            ) from exc
        except httpx.TransportError as exc:
            raise ModelUnavailableError(
                f"tier {self._tier_name!r}: {url}: {type(exc).__name__}: {exc}"
            ) from exc
        except ModelResponseError as exc:
            raise ModelResponseError(
                f"tier {self._tier_name!r}: {url} answered with no chat completion: {exc}"
            ) from exc
        except httpx.HTTPStatusError as exc:
            status = exc.response.status_code
            failure = ModelUnavailableError if status in _RETRIED_STATUS else ModelRequestError
            raise failure(
                f"tier {self._tier_name!r}: {url} answered {status} after "
                f"{time.monotonic() - started:.1f}s: {exc.response.text[:300]}"
            ) from exc
        raise AssertionError("unreachable: the retry loop returns or raises")

    async def _attempt(self, url: str, request: ChatRequest) -> ChatResult:
        endpoint = f"{url.rstrip('/')}/chat/completions"
        try:
            if self._tier.stream:
                return await self._streamed(endpoint, request)
            response = await self._http.post(endpoint, json=self._body(request))
            response.raise_for_status()
            return parse_chat_response(response.json(), fallback_model=self._tier.model)
        except ValueError as exc:  # a body or an event that is not JSON
            raise ModelResponseError(f"not JSON: {str(exc)[:200]}") from exc

    async def _streamed(self, url: str, request: ChatRequest) -> ChatResult:
        started = time.perf_counter()
        body = {**self._body(request), "stream": True, "stream_options": {"include_usage": True}}
        stream = StreamedCompletion(fallback_model=self._tier.model)
        async with aconnect_sse(self._http, "POST", url, json=body) as source:
            response = source.response
            if response.is_error:
                await response.aread()
                response.raise_for_status()
            if "text/event-stream" not in response.headers.get("content-type", ""):
                await response.aread()  # a server that ignores `stream` answers in one piece
                return parse_chat_response(response.json(), fallback_model=self._tier.model)
            finished = False
            async for event in source.aiter_sse():
                if event.data.strip() == "[DONE]":
                    finished = True
                    break
                if stream.add(event.json()) and stream.ttft_ms is None:
                    stream.ttft_ms = (time.perf_counter() - started) * 1000
        if not finished:  # the server closed the stream mid-answer
            raise ModelResponseError("the stream ended before [DONE]")
        return stream.result(self._tier_name)

    def _replicas(self, request: ChatRequest) -> list[str]:
        """Replicas in the order to try them: prefix affinity first, unless it is a router.

        Prompts that share their first ``AFFINITY_CHARS`` characters go to the same
        replica, whose radix cache already holds that prefix. An sglang-router does this
        itself, across its workers, so its URL comes first as it is.
        """
        urls = [str(url) for url in self._tier.urls]
        if self._tier.router or len(urls) == 1:
            return urls
        prompt = "".join(f"<{m.role}>{m.content}" for m in request.messages)
        digest = hashlib.blake2b(prompt[:AFFINITY_CHARS].encode(), digest_size=4).digest()
        first = int.from_bytes(digest) % len(urls)
        return urls[first:] + urls[:first]

    def _body(self, request: ChatRequest) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self._tier.model,
            "messages": [{"role": m.role, "content": m.content} for m in request.messages],
            "max_tokens": request.max_tokens,
            "temperature": request.temperature,
        }
        if request.frequency_penalty:
            body["frequency_penalty"] = request.frequency_penalty
        if request.logprobs:  # llama.cpp's server reports them only with top_logprobs set
            body.update(logprobs=True, top_logprobs=1)
        if self._tier.priority is not None and request.lane in self._tier.priority:
            body["priority"] = self._tier.priority[request.lane]
        if request.json_schema is not None:
            body["response_format"] = (
                {"type": "json_object", "schema": request.json_schema}
                if self._tier.response_format == "json_object"
                else {
                    "type": "json_schema",
                    "json_schema": {"name": "output", "schema": request.json_schema},
                }
            )
        return body

    async def aclose(self) -> None:
        """Close pooled connections."""
        await self._http.aclose()


def _is_transient(exc: BaseException) -> bool:
    if isinstance(exc, httpx.HTTPStatusError):
        return exc.response.status_code in _RETRIED_STATUS
    return isinstance(exc, httpx.TransportError | ModelResponseError)


def parse_chat_response(body: dict[str, Any], *, fallback_model: str) -> ChatResult:
    """Read text and usage, cached tokens included, from an OpenAI-shaped response."""
    try:
        choice = body["choices"][0]
        return ChatResult(
            text=choice["message"].get("content") or "",
            usage=_usage(body.get("usage") or {}),
            model=str(body.get("model") or fallback_model),
            truncated=choice.get("finish_reason") == "length",
            confidence=confidence(_token_logprobs(choice)),
        )
    except (KeyError, IndexError, TypeError, ValueError) as exc:
        raise ModelResponseError(f"malformed chat completion response: {exc}") from exc


def _token_logprobs(choice: dict[str, Any]) -> list[float]:
    """The sampled tokens' log-probabilities of a choice (or a streamed chunk's choice)."""
    content = (choice.get("logprobs") or {}).get("content") or []
    return [float(token["logprob"]) for token in content if token.get("logprob") is not None]


def _usage(usage: dict[str, Any]) -> Usage:
    details = usage.get("prompt_tokens_details") or {}  # absent or null: nothing cached
    return Usage(
        input_tokens=int(usage.get("prompt_tokens") or 0),
        cached_input_tokens=int(details.get("cached_tokens") or 0),
        output_tokens=int(usage.get("completion_tokens") or 0),
    )


class StreamedCompletion:
    """A streamed completion put back together: content deltas, finish reason, usage."""

    def __init__(self, *, fallback_model: str) -> None:
        self._parts: list[str] = []
        self._logprobs: list[float] = []
        self._usage: dict[str, Any] | None = None
        self._finish: str | None = None
        self._model = fallback_model
        self.ttft_ms: float | None = None

    def add(self, chunk: dict[str, Any]) -> bool:
        """Take one chunk; True when it carried generated text."""
        try:
            self._model = str(chunk.get("model") or self._model)
            if chunk.get("usage"):
                self._usage = chunk["usage"]
            text = False
            for choice in chunk.get("choices") or []:
                content = (choice.get("delta") or {}).get("content")
                if content:
                    self._parts.append(content)
                    text = True
                self._logprobs.extend(_token_logprobs(choice))
                self._finish = choice.get("finish_reason") or self._finish
            return text
        except (AttributeError, TypeError) as exc:
            raise ModelResponseError(f"malformed chat completion chunk: {exc}") from exc

    def result(self, tier: str) -> ChatResult:
        """The whole completion; a stream without usage is refused, not priced at zero."""
        if self._usage is None:
            raise ModelError(
                f"tier {tier!r}: the server streamed no usage (it ignores "
                "stream_options.include_usage); set `stream = false` on this tier"
            )
        return ChatResult(
            text="".join(self._parts),
            confidence=confidence(self._logprobs),
            usage=_usage(self._usage),
            model=self._model,
            truncated=self._finish == "length",
            ttft_ms=self.ttft_ms,
        )
