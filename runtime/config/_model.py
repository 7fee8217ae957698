"""The shape of ``tierwise.toml``: tiers, the embedded engine and the workflow registry."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    HttpUrl,
    PrivateAttr,
    StringConstraints,
    model_validator,
)

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
    state_dir: Path = Path(".tierwise")
    """Where run records are kept (relative paths are from the config file)."""
    workflows: dict[str, WorkflowTarget] = Field(default_factory=dict)
    """Workflow name -> ``module:factory`` that returns an uncompiled ``StateGraph``."""
    _source: str = PrivateAttr(default="<in memory>")

    @property
    def source(self) -> str:
        """The file this configuration was read from."""
        return self._source

    def with_source(self, source: str) -> TierwiseConfig:
        """Remember which file this configuration came from, for error messages."""
        self._source = source
        return self

    def tier(self, name: str) -> TierSpec:
        """The tier called ``name``; a clear error lists the tiers that exist."""
        try:
            return self.tiers[name]
        except KeyError:
            known = ", ".join(self.tiers)
            raise WorkflowError(f"no tier {name!r} in {self.source} (tiers: {known})") from None
