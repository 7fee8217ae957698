"""The embedded engine: llama.cpp in-process, with prefix KV states kept warm.

llama.cpp reuses the KV state of the longest common token prefix with the previous call,
and a ``LlamaRAMCache`` keeps the states of several earlier prompts, so steps that share a
stable prefix skip most of their prefill. The engine counts the prompt tokens it actually
evaluated, so the cached-input count it reports is measured, not estimated. Asked for
log-probabilities, it reads each sampled token's from the candidates it was picked from,
after the output schema's grammar narrowed them (llama.cpp keeps no logits rows to read
afterwards without ``logits_all``).
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from runtime.config import EmbeddedEngineSettings, TierSpec
from runtime.costs import Usage
from runtime.engines._packaged import SMOLLM2_135M, packaged_model_file
from runtime.engines._prefix_cache import PrefixStateCache
from runtime.engines._protocol import ChatRequest, ChatResult, confidence
from runtime.errors import ModelError, ModelTimeoutError, ModelUnavailableError

log = logging.getLogger(__name__)

_SEED = 1234
_NO_CHOICES = (np.empty(0, dtype=np.int32), np.empty(0))
_MB = 1 << 20


class EmbeddedModel:
    """One loaded GGUF model; calls are serialised because a llama.cpp context is not shared."""

    def __init__(self, path: Path, name: str, settings: EmbeddedEngineSettings) -> None:
        self.path = path
        self.name = name
        self._lock = threading.Lock()
        self._llama = _load_llama(path, name, settings)

    def complete(self, request: ChatRequest) -> ChatResult:
        """Run one chat completion (blocking; generation is bounded by ``max_tokens``)."""
        started = time.perf_counter()
        with self._lock:
            self._llama.prompt_tokens_evaluated = None
            self._llama.prefill_done_at = None
            self._llama.sampled_logprobs = [] if request.logprobs else None
            try:
                response = self._llama.create_chat_completion(
                    messages=[{"role": m.role, "content": m.content} for m in request.messages],
                    response_format=_response_format(request.json_schema),
                    max_tokens=request.max_tokens,
                    temperature=request.temperature,
                    frequency_penalty=request.frequency_penalty,
                    seed=_SEED,
                )
            except ValueError as exc:  # llama.cpp raises ValueError when the prompt is too long
                raise ModelError(f"{self.name}: {exc}") from exc
            evaluated = self._llama.prompt_tokens_evaluated
            prefilled = self._llama.prefill_done_at
            logprobs = self._llama.sampled_logprobs
        usage = response["usage"]
        choice = response["choices"][0]
        prompt_tokens = int(usage["prompt_tokens"])
        cached = prompt_tokens - evaluated if evaluated is not None else 0
        return ChatResult(
            text=choice["message"]["content"] or "",
            usage=Usage(
                input_tokens=prompt_tokens,
                cached_input_tokens=max(0, cached),
                output_tokens=int(usage["completion_tokens"]),
            ),
            model=self.name,
            truncated=choice.get("finish_reason") == "length",
            ttft_ms=None if prefilled is None else (prefilled - started) * 1000,
            confidence=None if logprobs is None else confidence(logprobs),
        )

    def close(self) -> None:
        """Free the model and its context, and close the prefix state store."""
        with self._lock:
            self._llama.cache.close()
            self._llama.close()


def _response_format(schema: dict[str, Any] | None) -> dict[str, Any] | None:
    return None if schema is None else {"type": "json_object", "schema": schema}


def _load_llama(path: Path, name: str, settings: EmbeddedEngineSettings) -> Any:
    try:
        import llama_cpp
        from llama_cpp import Llama
    except ImportError as exc:  # pragma: no cover - the install always has it
        raise ModelUnavailableError("llama-cpp-python is not installed") from exc

    class _PrefixCountingLlama(Llama):
        """Counts the prompt tokens that were evaluated rather than restored.

        ``generate`` evaluates the part of the prompt after the reused prefix in its first
        ``eval`` call; every later call feeds one sampled token.
        """

        prompt_tokens_evaluated: int | None = None
        prefill_done_at: float | None = None
        """When the prompt was evaluated: the first token is sampled right after."""
        sampled_logprobs: list[float] | None = None
        """The sampled tokens' log-probabilities, collected when this is a list."""
        _choices: tuple[Any, Any] = ((), ())
        """The position being sampled: its allowed token ids and their log-probabilities."""

        def eval(self, tokens: Any) -> None:
            if self.prompt_tokens_evaluated is None:
                self.prompt_tokens_evaluated = len(tokens)
                super().eval(tokens)
                self.prefill_done_at = time.perf_counter()
                return
            super().eval(tokens)

        def _init_sampler(self, *args: Any, **kwargs: Any) -> Any:
            """The library's sampler chain, with an observer before its final pick.

            The observer sees the candidates after the output schema's grammar has ruled
            tokens out, so a token the grammar forces counts as certain and only the
            model's real choices lower the confidence.
            """
            sampler = super()._init_sampler(*args, **kwargs)
            if self.sampled_logprobs is not None:
                chain = sampler.sampler
                final = llama_cpp.llama_sampler_chain_remove(
                    chain, llama_cpp.llama_sampler_chain_n(chain) - 1
                )
                sampler.add_custom(self._observe)  # the library removes it before freeing
                llama_cpp.llama_sampler_chain_add(chain, final)
            return sampler

        def _observe(self, candidates: Any) -> None:
            array = candidates.contents
            if not array.size:
                return  # nothing to pick from: the pick fails and is not scored
            data = np.ctypeslib.as_array(array.data, shape=(array.size,))
            allowed = np.isfinite(data["logit"])
            if not allowed.any():
                return
            logits = data["logit"][allowed].astype(np.float64)
            top = logits.max()
            self._choices = (data["id"][allowed], logits - top - np.log(np.exp(logits - top).sum()))

        def sample(self, *args: Any, **kwargs: Any) -> Any:
            self._choices = _NO_CHOICES
            token = super().sample(*args, **kwargs)
            if self.sampled_logprobs is not None:
                ids, logprobs = self._choices
                found = np.flatnonzero(ids == token)
                if found.size:  # a token the observer did not see is left out, not guessed
                    self.sampled_logprobs.append(float(logprobs[found[0]]))
            return token

        def save_state(self) -> Any:
            # With logits_all=False the logits rows are never read after a restore (the
            # next generate re-evaluates at least one token), yet the library copies all
            # n_batch x n_vocab of them (311 MB for Qwen) into every cached state.
            state = super().save_state()
            state.scores = state.scores[-1:].copy()
            return state

    try:
        with _without_amx_buffers(llama_cpp.llama_cpp, name):
            llama = _PrefixCountingLlama(
                model_path=str(path),
                n_ctx=settings.n_ctx,
                n_threads=settings.n_threads or os.cpu_count(),
                seed=_SEED,
                verbose=False,
            )
    except ValueError as exc:
        raise ModelUnavailableError(f"cannot load {path}: {exc}") from exc
    disk_dir = settings.prefix_cache_dir / f"{name}-ctx{settings.n_ctx}"
    llama.set_cache(
        PrefixStateCache(  # type: ignore[arg-type]  # duck-typed: the lookups Llama makes
            ram_bytes=settings.prefix_cache_ram_mb * _MB,
            disk_dir=disk_dir if settings.prefix_cache_disk_mb else None,
            disk_bytes=settings.prefix_cache_disk_mb * _MB,
        )
    )
    return llama


@contextmanager
def _without_amx_buffers(bindings: Any, name: str) -> Iterator[None]:
    """Load a model without llama.cpp's extra buffer types when the build has AMX kernels.

    Those kernels segfault on the first prompt on some CPUs (ggml-org/llama.cpp#20824; seen
    here on a Xeon with AMX-INT8, in a wheel built with -march=native). Without extra
    buffers the weights stay in plain CPU buffers (no repacking) and inference runs.
    llama-cpp-python takes model parameters only from ``llama_model_default_params``, so
    ``bindings`` (its ``llama_cpp.llama_cpp`` module) has that function wrapped while the
    model loads. The Makefile's AVX2 build has no AMX kernels and is left alone.
    """
    if b"AMX_INT8 = 1" not in bindings.llama_print_system_info():
        yield
        return
    log.warning(
        "%s: this llama.cpp build has AMX kernels, which crash on some CPUs; loading "
        "without them (slower: `make setup` builds for AVX2 instead)",
        name,
    )
    defaults = bindings.llama_model_default_params

    def without_extra_buffers() -> Any:
        params = defaults()
        params.use_extra_bufts = False
        return params

    with _PATCHING:
        bindings.llama_model_default_params = without_extra_buffers
        try:
            yield
        finally:
            bindings.llama_model_default_params = defaults


_PATCHING = threading.Lock()
"""One model load at a time wraps the library's defaults."""


@dataclass(slots=True)
class EmbeddedEngine:
    """Loads each model file once and shares it between the tiers that use it."""

    settings: EmbeddedEngineSettings
    _models: dict[Path, EmbeddedModel] = field(default_factory=dict)
    _vocabularies: dict[Path, Any] = field(default_factory=dict)
    _loading: threading.Lock = field(default_factory=threading.Lock)

    def model_for(self, tier_name: str, tier: TierSpec) -> EmbeddedModel:
        """The loaded model of a tier, falling back loudly to the small packaged model."""
        name, path = self._resolve(tier_name, tier)
        with self._loading:
            if path not in self._models:
                self._models[path] = EmbeddedModel(path, name, self.settings)
            return self._models[path]

    def count_tokens(self, tier_name: str, tier: TierSpec, text: str) -> int:
        """Tokens ``text`` takes in the tier's model (its vocabulary only is loaded)."""
        from llama_cpp import Llama
        from llama_cpp._utils import suppress_stdout_stderr

        _, path = self._resolve(tier_name, tier)
        with self._loading:
            if path not in self._vocabularies:
                with suppress_stdout_stderr(disable=False):  # llama.cpp logs to stderr
                    self._vocabularies[path] = Llama(str(path), vocab_only=True, verbose=False)
            vocabulary = self._vocabularies[path]
        return len(vocabulary.tokenize(text.encode(), add_bos=False, special=True))

    def close(self) -> None:
        """Free every loaded model."""
        with self._loading:
            for vocabulary in self._vocabularies.values():
                vocabulary.close()
            self._vocabularies.clear()
            for model in self._models.values():
                model.close()
            self._models.clear()

    def _resolve(self, tier_name: str, tier: TierSpec) -> tuple[str, Path]:
        if tier.model_path is not None:
            if not tier.model_path.is_file():
                raise ModelUnavailableError(f"tier {tier_name!r}: no file at {tier.model_path}")
            return tier.model, tier.model_path
        try:
            return tier.model, packaged_model_file(tier.model, self.settings.model_dir)
        except ModelUnavailableError as exc:
            if tier.model == SMOLLM2_135M.name:
                raise
            log.error(
                "!!! tier %r: model %r is unavailable (%s). FALLING BACK to %r: answers will be "
                "worse and costs are still priced as tier %r.",
                tier_name,
                tier.model,
                exc,
                SMOLLM2_135M.name,
                tier_name,
            )
            return SMOLLM2_135M.name, packaged_model_file(
                SMOLLM2_135M.name, self.settings.model_dir
            )


class EmbeddedTierClient:
    """The tier client for ``engine = "embedded"``; the model loads on the first call."""

    def __init__(self, engine: EmbeddedEngine, tier_name: str, tier: TierSpec) -> None:
        self._engine = engine
        self._tier_name = tier_name
        self._tier = tier

    @property
    def model(self) -> str:
        """The model configured for this tier."""
        return self._tier.model

    async def chat(self, request: ChatRequest) -> ChatResult:
        """Run the completion on a worker thread so the event loop stays free.

        A llama.cpp call cannot be interrupted, so on timeout the caller gets its error at
        once while the thread finishes its (``max_tokens``-bounded) generation.
        """
        try:
            return await asyncio.wait_for(
                asyncio.to_thread(self._complete, request), timeout=self._tier.timeout_s
            )
        except TimeoutError as exc:
            raise ModelTimeoutError(
                f"tier {self._tier_name!r}: no answer within {self._tier.timeout_s}s"
            ) from exc

    def _complete(self, request: ChatRequest) -> ChatResult:
        return self._engine.model_for(self._tier_name, self._tier).complete(request)

    async def aclose(self) -> None:
        """Nothing to release per tier: the engine owns the loaded models."""
