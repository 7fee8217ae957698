"""The shape of ``tierwise.toml``: tiers, the embedded engine and the workflow registry."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    HttpUrl,
    PrivateAttr,
    StringConstraints,
    ValidationInfo,
    field_validator,
    model_validator,
)

from runtime.cache._exact import DEFAULT_MEMORY_ENTRIES
from runtime.errors import WorkflowError

WorkflowTarget = Annotated[str, StringConstraints(pattern=r"^[\w.]+:\w+$")]
"""``package.module:factory``."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TierPrice(_Strict):
    """What a tier costs, in USD per million tokens."""

    input: float = Field(ge=0)
    """Uncached input (prompt) tokens."""
    cached_input: float = Field(ge=0)
    """Input tokens served from the prefix cache."""
    output: float = Field(ge=0)
    """Generated tokens."""


class Speculative(_Strict):
    """Speculative decoding for an output-heavy tier (SGLang's ``--speculative-*`` flags)."""

    algorithm: Literal["EAGLE", "EAGLE3", "NGRAM"] = "EAGLE"
    draft_model_path: str | None = None
    """The draft model (EAGLE heads); none for NGRAM."""
    num_steps: int = Field(default=3, ge=1)
    eagle_topk: int = Field(default=1, ge=1)
    num_draft_tokens: int = Field(default=4, ge=1)


class SGLangDeploy(_Strict):
    """How production serves a tier on SGLang (``tierwise deploy render``)."""

    model_path: str
    """The checkpoint SGLang loads (a Hugging Face id or a path)."""
    quantization: Literal["fp8", "awq_marlin", "awq", "gptq_marlin"] | None = None
    """``fp8`` for the large tier on H100-class GPUs; ``awq_marlin`` with an AWQ checkpoint
    for the small tier."""
    kv_cache_dtype: Literal["auto", "fp8_e5m2", "fp8_e4m3"] = "auto"
    """``fp8_e5m2`` halves KV memory, so more prefixes stay cached."""
    tp: int = Field(default=1, ge=1)
    """GPUs per replica (tensor parallel)."""
    replicas: int = Field(default=1, ge=1)
    """Replicas; more than one puts an sglang-router (cache_aware) in front."""
    mem_fraction_static: float | None = Field(default=None, gt=0, lt=1)
    """GPU memory share for weights and KV cache."""
    speculative: Speculative | None = None
    """Speculative decoding, for tiers whose cost is mostly output."""


class TierSpec(_Strict):
    """One model tier: where its steps run and what they cost."""

    engine: Literal["embedded", "openai"]
    """``embedded``: llama.cpp in-process; ``openai``: SGLang or any OpenAI-compatible server."""
    model: str = Field(min_length=1)
    """Packaged model name (embedded) or the model name the server serves (openai)."""
    model_path: Path | None = None
    """A GGUF file to load instead of a packaged model (embedded only)."""
    urls: tuple[HttpUrl, ...] = ()
    """Base URLs of the server(s), such as ``http://gpu-1:30000/v1`` (openai only)."""
    router: bool = False
    """The URL is an sglang-router, which routes by prefix itself (no client-side affinity)."""
    stream: bool = True
    """Stream completions, measuring time to first token (openai only; the server must
    honour ``stream_options.include_usage``, as SGLang does)."""
    response_format: Literal["json_schema", "json_object"] = "json_schema"
    """How structured outputs are asked for: ``json_schema`` (OpenAI, SGLang) or
    ``json_object`` with a ``schema`` (llama.cpp's server)."""
    api_key_env: str | None = None
    """Name of the environment variable that holds the server's API key, if it needs one."""
    price: TierPrice
    """Prices per million tokens."""
    timeout_s: float = Field(default=120.0, gt=0)
    """Longest a single model call may take."""
    max_concurrency: int = Field(default=4, ge=1)
    """Model calls in flight at once on this tier (the embedded engine runs one at a time)."""
    max_output_tokens: int = Field(default=512, ge=1)
    """Default cap on generated tokens when a step sets none."""
    frequency_penalty: float = Field(default=0.0, ge=-2.0, le=2.0)
    """OpenAI's ``frequency_penalty`` on free-text calls: a token is the less likely the
    more often the answer has used it. Small models decoding greedily repeat sentences
    until ``max_tokens``; a penalty ends their answers sooner. Calls with an output model
    are sent without it (their JSON is constrained, and a penalty would skew its values)."""
    context_tokens: int | None = Field(default=None, ge=1)
    """The server's context window (openai only; embedded tiers use ``embedded.n_ctx``):
    a step whose prompt and output cap exceed it fails before the call, naming the segment."""
    deploy: SGLangDeploy | None = None
    """Production serving of this tier on SGLang (rendered into deploy/)."""
    max_queue: int = Field(default=64, ge=0)
    """Calls that may wait for a free slot; one more is refused (HTTP 503, Retry-After)."""
    max_wait_s: float = Field(default=20.0, gt=0)
    """Longest a call waits for a slot; one expected to wait longer, at the measured call
    time, is refused at once (HTTP 503, Retry-After) instead of hanging in the queue."""
    priority: dict[Literal["interactive", "batch"], int] | None = None
    """The ``priority`` sent with each call, per lane, for a server that schedules by it
    (SGLang with ``--enable-priority-scheduling``; mind its polarity); None sends none."""
    fallback: str | None = None
    """Another tier that answers when this tier's server cannot (unreachable, timing out or
    failing after its retries); the step records why and is priced at the fallback's prices."""

    @model_validator(mode="after")
    def _engine_fields_agree(self) -> TierSpec:
        if self.engine == "openai" and not self.urls:
            raise ValueError("engine 'openai' needs at least one entry in 'urls'")
        if self.engine == "embedded" and self.urls:
            raise ValueError("engine 'embedded' runs in-process and takes no 'urls'")
        if self.engine == "openai" and self.model_path is not None:
            raise ValueError("'model_path' is for the embedded engine only")
        return self


class EmbeddedEngineSettings(_Strict):
    """Settings of the in-process llama.cpp engine."""

    n_ctx: int = Field(default=4096, ge=512)
    """Context window in tokens."""
    n_threads: int | None = Field(default=None, ge=1)
    """CPU threads; ``None`` uses every core."""
    prefix_cache_ram_mb: int = Field(default=1024, ge=0)
    """RAM kept for prefix KV states, so several prompt prefixes stay warm at once."""
    prefix_cache_disk_mb: int = Field(default=4096, ge=0)
    """Disk kept for prefix KV states, shared by processes; 0 keeps them in RAM only."""
    prefix_cache_dir: Path = Path(".tierwise/prefix-cache")
    """Where prefix states are kept on disk (relative paths are from the config file)."""
    model_dir: Path = Path(".tierwise/models")
    """Where assembled model files are kept (relative paths are from the config file)."""


class CacheSettings(_Strict):
    """The step cache's backends. ``REDIS_URL`` / ``QDRANT_URL`` select servers."""

    enabled: bool = True
    """False bypasses every step cache (as ``--no-cache`` does for one run)."""
    timeout_ms: float = Field(default=50.0, gt=0)
    """Longest one cache operation may take before the step runs uncached."""
    semantic_timeout_ms: float = Field(default=500.0, gt=0)
    """The same for semantic lookups, which embed the key first."""
    memory_max_entries: int = Field(default=DEFAULT_MEMORY_ENTRIES, ge=1)
    """Exact entries the in-process store (no ``REDIS_URL``) keeps over all steps and
    tenants; past it the least recently used go (each step's policy bounds its own too)."""
    embeddings_url: HttpUrl | None = None
    """An OpenAI-compatible base URL (``http://host:30000/v1``) to embed with, instead of the
    packaged all-MiniLM-L6-v2 in-process."""
    embeddings_model: str = "all-MiniLM-L6-v2"
    """The model name sent to ``embeddings_url``."""
    embeddings_dimension: int = Field(default=384, ge=1)
    """Length of the vectors ``embeddings_url`` returns."""


class TracingSettings(_Strict):
    """Spans of every execution: kept locally, exported when a collector is configured.

    Langfuse when ``LANGFUSE_HOST``, ``LANGFUSE_PUBLIC_KEY`` and ``LANGFUSE_SECRET_KEY`` are
    set; otherwise any OTLP/HTTP collector named by ``OTEL_EXPORTER_OTLP_ENDPOINT``.
    """

    local: bool = True
    """Keep spans in ``state_dir/traces.sqlite`` for ``tierwise traces``."""
    capture_content: bool = False
    """Put prompts and completions on the model-call spans (off: they may hold user data)."""
    redact: list[str] = Field(default_factory=list)
    """State fields whose values are replaced by ``[redacted]`` in captured content."""
    export_timeout_s: float = Field(default=5.0, gt=0)
    """Longest one export may take; a slow or absent collector never slows a run."""


class BudgetSpec(_Strict):
    """The most one execution may spend; it stops at the step that crosses it."""

    max_cost_usd: float | None = Field(default=None, gt=0)
    """Priced cost, in USD."""
    max_tokens: int | None = Field(default=None, ge=1)
    """Input plus output tokens over all model calls."""

    def within(self, ceiling: BudgetSpec | None) -> bool:
        """Whether this budget asks for no more than ``ceiling`` allows.

        An unset limit inherits the ceiling's.
        """
        if ceiling is None:
            return True
        return all(
            limit is None or mine is None or mine <= limit
            for mine, limit in (
                (self.max_cost_usd, ceiling.max_cost_usd),
                (self.max_tokens, ceiling.max_tokens),
            )
        )

    def merged(self, ceiling: BudgetSpec | None) -> BudgetSpec:
        """The budget, with the ceiling's limits where it sets none."""
        if ceiling is None:
            return self
        return BudgetSpec(
            max_cost_usd=self.max_cost_usd or ceiling.max_cost_usd,
            max_tokens=self.max_tokens or ceiling.max_tokens,
        )


class ServerSettings(_Strict):
    """``tierwise serve``: where it listens, who may call it, and how much it takes on."""

    host: str = "127.0.0.1"
    """Address to bind; a public one needs API keys."""
    port: int = Field(default=8000, ge=0, le=65535)
    """Port to listen on."""
    api_keys: dict[str, list[str]] = Field(default_factory=dict)
    """Tenant -> hashes of its API keys (``sha256:<hex>``; ``tierwise keys hash`` makes
    one). ``TIERWISE_API_KEYS=tenant:key,...`` adds keys from the environment."""
    open_health: bool = True
    """Serve ``/healthz``, ``/readyz`` and ``/metrics`` without a key."""
    max_body_bytes: int = Field(default=1_048_576, ge=1_024)
    """Largest request body accepted (HTTP 413 beyond)."""
    max_inflight: int = Field(default=32, ge=1)
    """Executions running at once; more get HTTP 429 with Retry-After."""
    max_batch: int = Field(default=64, ge=1)
    """Inputs one batch request may carry."""
    shutdown_grace_s: float = Field(default=30.0, ge=0)
    """How long a stopping server lets requests in flight finish; background runs are
    checkpointed and resume at the next start."""
    keep_alive_s: float = Field(default=75.0, gt=0)
    """How long an idle client connection stays open: longer than the idle timeout of the
    clients and load balancers in front (60 s is common), so the server never closes a
    connection a client is about to reuse."""


class DeploySettings(_Strict):
    """Images and autoscaling for ``tierwise deploy render``."""

    tierwise_image: str = "ghcr.io/tierwise/tierwise:latest"
    sglang_image: str = "lmsysorg/sglang:latest"
    router_image: str = "lmsysorg/sglang-router:latest"
    namespace: str = "tierwise"
    prometheus_url: str = "http://prometheus.monitoring.svc:9090"
    """Where KEDA reads tierwise's queue depth."""
    queue_depth_per_replica: int = Field(default=8, ge=1)
    """Calls waiting or running per SGLang replica before KEDA adds one."""
    max_replicas: int = Field(default=4, ge=1)
    """Most replicas KEDA scales a tier to."""


class LaneSettings(_Strict):
    """Traffic lanes: interactive calls go first at every tier; batch calls use the rest."""

    workflows: dict[str, Literal["interactive", "batch"]] = Field(default_factory=dict)
    """Workflow name -> its default lane (``interactive`` when absent); a request may say
    otherwise, and background runs are ``batch`` unless they say so."""
    batch_share: float = Field(default=0.5, gt=0, le=1)
    """Most of a tier's ``max_concurrency`` batch calls may hold at once (at least one)."""
    batch_max_wait_s: float = Field(default=600.0, gt=0)
    """Longest a batch call waits for a slot (interactive calls wait ``max_wait_s``)."""
    interactive_deadline_s: float = Field(default=50.0, gt=0)
    """Seconds from its start by which an interactive execution should have answered: a
    model call that would have to queue for a tier past that point (at the tier's measured
    call time) is refused at once with a 503 instead. Below the 60 s at which many clients
    and load balancers give up, with room for a call that runs long. A call that can start
    at once always runs; a call under way is never cut."""


def _registered(names: Iterable[str], info: ValidationInfo, *, what: str) -> None:
    """Refuse settings for workflows the file does not register (a typo would be ignored)."""
    workflows = info.data.get("workflows") or {}
    unknown = sorted(set(names) - set(workflows))
    if unknown:
        raise ValueError(
            f"{what.replace('_', ' ')} for unregistered workflow {', '.join(unknown)} "
            f"(registered: {', '.join(workflows) or 'none'})"
        )


class TierwiseConfig(_Strict):
    """The whole configuration file."""

    tiers: dict[str, TierSpec] = Field(min_length=1)
    """Tiers from cheapest to most capable; escalation follows this order."""
    embedded: EmbeddedEngineSettings = EmbeddedEngineSettings()
    """The embedded engine, used by tiers with ``engine = "embedded"``."""
    cache: CacheSettings = CacheSettings()
    """The step cache."""
    tracing: TracingSettings = TracingSettings()
    """Spans, Langfuse export and content capture."""
    server: ServerSettings = ServerSettings()
    """The HTTP server."""
    deploy: DeploySettings = DeploySettings()
    """Images and autoscaling of the rendered deployment."""
    state_dir: Path = Path(".tierwise")
    """Where run records are kept (relative paths are from the config file)."""
    thread_switch_interval_s: float | None = Field(default=0.0001, gt=0, le=0.1)
    """How long a Python thread may hold the GIL while another waits for it, set for the
    whole process when a runtime is built (``sys.setswitchinterval``); ``None`` leaves the
    interpreter's own. Model calls, embeddings and the stores' writes run on threads that
    need the GIL between calls into C. At CPython's 5 ms, an event loop busy with other
    requests (cached executions answered back to back) gives it up and takes it back on
    every turn, before a waiting thread wakes, and such a thread can wait for seconds. With
    8 cached executions at a time in one process, a fresh execution took 49 and 87 s at
    5 ms and 6.8 and 7.5 s at 0.1 ms; behind a server with 24 cached clients, medians of
    15.2 and 14.1 s against 9.6 and 10.1 (``evals/mixed_load.py``, 2026-12-03)."""
    workflows: dict[str, WorkflowTarget] = Field(default_factory=dict)
    """Workflow name -> ``module:factory`` that returns an uncompiled ``StateGraph``."""
    budgets: dict[str, BudgetSpec] = Field(default_factory=dict)
    """Workflow name -> the most one execution may spend (requests may ask for less)."""
    lanes: LaneSettings = LaneSettings()
    """Traffic lanes: which workflows are batch, and how much of a tier batch may use."""
    routes: dict[str, dict[str, str]] = Field(default_factory=dict)
    """Workflow -> node -> tier: run a node on another tier than it declares (what
    ``tierwise eval calibrate`` writes)."""
    cache_thresholds: dict[str, dict[str, Annotated[float, Field(gt=0, le=1)]]] = Field(
        default_factory=dict
    )
    """Workflow -> node -> the similarity its semantic cache hits need, overriding the
    node's ``CachePolicy.threshold`` (what ``tierwise eval calibrate --cache-thresholds``
    writes)."""
    min_confidence: dict[str, dict[str, Annotated[float, Field(gt=0, lt=1)]]] = Field(
        default_factory=dict
    )
    """Workflow -> node -> the confidence its answer needs: under it, the answer escalates
    to the tiers above (the step's ``Cascade.escalate_to`` when it has one, else every
    configured tier after its own). What ``tierwise eval calibrate --min-confidence``
    writes."""
    _source: str = PrivateAttr(default="<in memory>")

    @field_validator("cache_thresholds", "min_confidence", "budgets")
    @classmethod
    def _keys_name_workflows(cls, per_workflow: dict[str, Any], info: ValidationInfo) -> Any:
        _registered(per_workflow, info, what=str(info.field_name).removesuffix("s"))
        return per_workflow

    @field_validator("lanes")
    @classmethod
    def _lanes_name_workflows(cls, lanes: LaneSettings, info: ValidationInfo) -> LaneSettings:
        _registered(lanes.workflows, info, what="lane")
        return lanes

    @field_validator("routes")
    @classmethod
    def _routes_name_workflows_and_tiers(
        cls, routes: dict[str, dict[str, str]], info: ValidationInfo
    ) -> dict[str, dict[str, str]]:
        workflows, tiers = info.data.get("workflows") or {}, info.data.get("tiers") or {}
        for workflow, nodes in routes.items():
            if workflow not in workflows:
                raise ValueError(
                    f"route for unregistered workflow {workflow} "
                    f"(registered: {', '.join(workflows) or 'none'})"
                )
            for node, tier in nodes.items():
                if tier not in tiers:
                    raise ValueError(
                        f"{workflow}.{node} routes to no tier: {tier!r} (tiers: {', '.join(tiers)})"
                    )
        return routes

    @field_validator("tiers")
    @classmethod
    def _fallbacks_name_tiers(cls, tiers: dict[str, TierSpec]) -> dict[str, TierSpec]:
        for name in tiers:
            seen = [name]
            while (target := tiers[seen[-1]].fallback) is not None:
                if target not in tiers:
                    raise ValueError(
                        f"{name}.fallback names no tier: {target!r} (tiers: {', '.join(tiers)})"
                    )
                if target in seen:
                    raise ValueError(f"fallbacks form a loop: {' -> '.join([*seen, target])}")
                seen.append(target)
        return tiers

    @property
    def source(self) -> str:
        """The file this configuration was read from."""
        return self._source

    def with_source(self, source: str) -> TierwiseConfig:
        """Remember which file this configuration came from, for error messages."""
        self._source = source
        return self

    def isolated(self, state: Path, *, prefix_states: Path | None = None) -> TierwiseConfig:
        """A copy keeping all its state under ``state``, prefix KV states included.

        Run records, traces, step caches and the embedded engine's prefix states: a
        measurement run on it starts cold and shares nothing with other runs. Given
        ``prefix_states``, the prefix states go there instead, to be shared: they hold the
        KV of prompt prefixes, never an answer.
        """
        prefixes = prefix_states or state / "prefix-cache"
        embedded = self.embedded.model_copy(update={"prefix_cache_dir": prefixes})
        return self.model_copy(update={"state_dir": state, "embedded": embedded})

    def tier(self, name: str) -> TierSpec:
        """The tier called ``name``; a clear error lists the tiers that exist."""
        try:
            return self.tiers[name]
        except KeyError:
            known = ", ".join(self.tiers)
            raise WorkflowError(f"no tier {name!r} in {self.source} (tiers: {known})") from None
