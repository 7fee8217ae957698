"""``Runtime``: the entry point that owns tier clients and executes registered workflows."""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import AsyncExitStack, contextmanager
from pathlib import Path
from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

from runtime.cache import (
    CacheMode,
    Embedder,
    HTTPEmbedder,
    KeyValueStore,
    LocalEmbedder,
    MemoryStore,
    QdrantSemanticCache,
    RedisStore,
    SemanticLookup,
    StepCache,
)
from runtime.config import BudgetSpec, TierSpec, TierwiseConfig, load_config
from runtime.costs import price_step
from runtime.engines import (
    ChatRequest,
    EmbeddedEngine,
    EmbeddedTierClient,
    GatedTierClient,
    Lane,
    OpenAITierClient,
    TierClient,
)
from runtime.errors import InputError
from runtime.execution import ExecutionContext, ExecutionRecord, RunStore, StepRecord, activate
from runtime.prompts import Message
from runtime.registry import WorkflowRegistry
from runtime.steps import steps_of
from runtime.tracing import Telemetry
from runtime.tracing import attributes as a

log = logging.getLogger(__name__)

DEFAULT_TENANT = "default"
CHECKPOINT_TIMEOUT_S = 5.0
"""Longest a run waits for a checkpoint-store connection before it fails (and is retried)."""


def step_cache(config: TierwiseConfig) -> StepCache:
    """The step cache: exact entries in Redis or in-process, semantic ones in Qdrant.

    ``REDIS_URL`` selects Redis (else an in-process LRU); ``QDRANT_URL`` a Qdrant server
    (else local mode under the state folder).
    """
    timeout_s = config.cache.timeout_ms / 1000
    redis_url = os.environ.get("REDIS_URL")
    store: KeyValueStore = (
        RedisStore(redis_url, timeout_s=timeout_s)
        if redis_url
        else MemoryStore(max_entries=config.cache.memory_max_entries)
    )
    qdrant_url = os.environ.get("QDRANT_URL")

    settings = config.cache

    def open_semantic() -> SemanticLookup:
        embedder: Embedder = (
            HTTPEmbedder(
                str(settings.embeddings_url),
                model=settings.embeddings_model,
                dimension=settings.embeddings_dimension,
                timeout_s=settings.semantic_timeout_ms / 1000,
            )
            if settings.embeddings_url is not None
            else LocalEmbedder(config.embedded.model_dir)
        )
        return QdrantSemanticCache.open(embedder, path=config.state_dir / "qdrant", url=qdrant_url)

    return StepCache(
        store,
        semantic=open_semantic,
        timeout_s=timeout_s,
        semantic_timeout_s=config.cache.semantic_timeout_ms / 1000,
    )


class Runtime:
    """Executes workflows on their tiers and records what every execution cost."""

    def __init__(
        self,
        config: TierwiseConfig,
        *,
        clients: Mapping[str, TierClient] | None = None,
        cache: StepCache | None = None,
        telemetry: Telemetry | None = None,
    ) -> None:
        """Build a runtime; ``clients``, ``cache``, ``telemetry`` replace the configured ones."""
        self.config = config
        if config.thread_switch_interval_s is not None:
            sys.setswitchinterval(config.thread_switch_interval_s)
        self.workflows = WorkflowRegistry(config.workflows, config)
        self.runs = RunStore(config.state_dir / "runs.sqlite")
        self._engine = EmbeddedEngine(config.embedded)
        self._clients: dict[str, TierClient] = dict(clients or {})
        self._gated: dict[str, TierClient] = {}
        self._checkpoints = AsyncExitStack()
        self._checkpointer: BaseCheckpointSaver[Any] | None = None
        self._checkpointer_lock = asyncio.Lock()
        if cache is None and config.cache.enabled:
            cache = step_cache(config)
        self.cache = cache
        self.telemetry = telemetry or Telemetry.open(config.tracing, state_dir=config.state_dir)
        if cache is not None:
            errors = self.telemetry.metrics.cache_errors
            cache.on_error = lambda operation: errors.labels(operation).inc()

    @classmethod
    def from_config_file(cls, path: str | Path | None = None) -> Runtime:
        """A runtime for the config at ``path``, ``$TIERWISE_CONFIG`` or ./tierwise.toml."""
        return cls(load_config(path))

    def tier_spec(self, tier: str) -> TierSpec:
        """The configured tier called ``tier``."""
        return self.config.tier(tier)

    def tier_client(self, tier: str) -> TierClient:
        """The client of ``tier``, created on first use, behind the tier's gate."""
        if tier not in self._gated:
            spec = self.tier_spec(tier)
            client = self._clients.get(tier) or (
                EmbeddedTierClient(self._engine, tier, spec)
                if spec.engine == "embedded"
                else OpenAITierClient(tier, spec)
            )
            self._gated[tier] = GatedTierClient(
                client,
                tier,
                concurrency=spec.max_concurrency,
                max_queue=spec.max_queue,
                max_wait_s=spec.max_wait_s,
                batch_share=self.config.lanes.batch_share,
                batch_max_wait_s=self.config.lanes.batch_max_wait_s,
            )
        return self._gated[tier]

    def count_tokens(self, tier: str, text: str) -> int:
        """Tokens ``text`` takes on ``tier``.

        Exact for embedded tiers; estimated (4 characters a token) for servers, whose
        tokenizer is not at hand.
        """
        spec = self.tier_spec(tier)
        if spec.engine == "embedded":
            return self._engine.count_tokens(tier, spec, text)
        return -(-len(text) // 4)

    def context_tokens(self, tier: str) -> int | None:
        """The tier's context window: the embedded engine's, or the tier's declared one."""
        spec = self.tier_spec(tier)
        return self.config.embedded.n_ctx if spec.engine == "embedded" else spec.context_tokens

    def budget_for(self, workflow: str, requested: BudgetSpec | None = None) -> BudgetSpec | None:
        """The budget of one execution: the request's, within the workflow's configured one.

        A request may ask for less than the configured budget, never for more.
        """
        configured = self.config.budgets.get(workflow)
        if requested is None:
            return configured
        if not requested.within(configured):
            allowed = configured.model_dump(exclude_none=True) if configured else {}
            raise InputError(
                f"budget {requested.model_dump(exclude_none=True)} exceeds what workflow "
                f"{workflow!r} allows: {allowed}"
            )
        return requested.merged(configured)

    @contextmanager
    def execution(
        self,
        workflow: str,
        *,
        tenant: str = DEFAULT_TENANT,
        run_id: str | None = None,
        use_cache: bool = True,
        budget: BudgetSpec | None = None,
        on_step: Callable[[StepRecord], None] | None = None,
        volatile_header: bool = False,
        lane: Lane | None = None,
        ablated: frozenset[tuple[str, str]] = frozenset(),
    ) -> Iterator[ExecutionContext]:
        """Make model calls inside the block count towards one execution of ``workflow``.

        A plain (not async) context manager, so ``graph.invoke`` and ``graph.ainvoke`` both
        run inside it. ``lane`` defaults to the workflow's configured one.
        """
        run_id = run_id or str(uuid.uuid4())
        lane = lane or self.config.lanes.workflows.get(workflow, "interactive")
        telemetry = self.telemetry
        context = ExecutionContext(
            run_id=run_id,
            workflow=workflow,
            tenant=tenant,
            tiers=self,
            cache=self.cache if use_cache else None,
            telemetry=telemetry,
            budget=budget,
            on_step=on_step,
            volatile_header=volatile_header,
            lane=lane,
            deadline=(
                time.monotonic() + self.config.lanes.interactive_deadline_s
                if lane == "interactive"
                else None
            ),
            routes=self.config.routes.get(workflow, {}),
            cache_thresholds=self.config.cache_thresholds.get(workflow, {}),
            min_confidence=self.config.min_confidence.get(workflow, {}),
            tier_order=tuple(self.config.tiers),
            ablated=ablated,
        )
        identity = {"run_id": run_id, "workflow": workflow, "tenant": tenant, "lane": lane}
        with telemetry.tracer.start_as_current_span(
            f"workflow {workflow}",
            attributes={
                a.RUN_ID: run_id,
                a.WORKFLOW: workflow,
                a.TENANT: tenant,
                a.LANE: lane,
                a.LF_TRACE_NAME: workflow,
                a.LF_TRACE_TAGS: (workflow, f"tenant:{tenant}"),
                **a.metadata(a.LF_TRACE_METADATA, identity),
            },
        ) as span:
            if span.is_recording():
                context.trace_id = f"{span.get_span_context().trace_id:032x}"
            outcome, started = "error", time.perf_counter()
            try:
                with activate(context):
                    yield context
                outcome = "ok"
            finally:
                telemetry.metrics.executions.labels(workflow, outcome).inc()
                telemetry.metrics.execution_seconds.labels(workflow, lane).observe(
                    time.perf_counter() - started
                )
                cost = sum(step.cost_usd for step in context.steps)
                saved = sum(step.saved_cost_usd for step in context.steps)
                totals = {"cost_usd": cost, "saved_cost_usd": saved}
                span.set_attributes(
                    {
                        a.COST_USD: cost,
                        a.SAVED_COST_USD: saved,
                        **a.metadata(a.LF_TRACE_METADATA, totals),
                    }
                )

    async def run(
        self,
        workflow: str,
        raw_input: Any,
        *,
        tenant: str = DEFAULT_TENANT,
        use_cache: bool = True,
        budget: BudgetSpec | None = None,
        run_id: str | None = None,
        thread_id: str | None = None,
        on_step: Callable[[StepRecord], None] | None = None,
        on_chunk: Callable[[str, Any], None] | None = None,
        volatile_header: bool = False,
        node_cache: bool = False,
        lane: Lane | None = None,
        ablated: frozenset[tuple[str, str]] = frozenset(),
    ) -> ExecutionRecord:
        """Validate the input, execute the workflow and store its execution record.

        ``budget`` may only lower the workflow's configured one. With ``thread_id`` the graph
        runs on the checkpointer: its state persists in that thread, and ``raw_input=None``
        resumes the thread from its last checkpoint. ``on_step`` hears of every finished
        step, ``on_chunk`` of every LangGraph ``values`` and ``updates`` chunk (streaming).
        ``volatile_header`` makes it the benchmark's naive baseline (no prefix reuse);
        ``node_cache`` runs the graph with LangGraph's own exact-match node cache on its
        Steps instead (the benchmark's peer baseline; not with ``thread_id``);
        ``lane`` overrides the workflow's traffic lane; ``ablated`` leaves (node, segment)
        pairs out of the prompts (an ablation study; do not cache what it answers).
        """
        registered = self.workflows.get(workflow)
        resuming = thread_id is not None and raw_input is None
        graph_input = None if resuming else registered.validate_input(raw_input)
        limits = self.budget_for(workflow, budget)
        graph: Any = registered.node_cached if node_cache else registered.graph
        config: dict[str, Any] | None = None
        if thread_id is not None:
            graph = registered.with_checkpointer(await self.checkpointer())
            config = {"configurable": {"thread_id": thread_id}}
        started = time.perf_counter()
        output: dict[str, Any] = {}
        with self.execution(
            workflow,
            tenant=tenant,
            run_id=run_id,
            use_cache=use_cache,
            budget=limits,
            on_step=on_step,
            volatile_header=volatile_header,
            lane=lane,
            ablated=ablated,
        ) as context:
            finished = None
            if resuming:  # a thread that already reached its end is not run again
                state = await graph.aget_state(config)
                finished = None if state.next else dict(state.values)
            if finished is not None:
                output = finished
            else:
                # updates only for a listener: each stream mode costs every superstep
                modes = ["updates", "values"] if on_chunk is not None else ["values"]
                async for mode, chunk in graph.astream(graph_input, config, stream_mode=modes):
                    if mode == "values":
                        output = dict(chunk)
                    if on_chunk is not None:
                        on_chunk(mode, chunk)
        record = ExecutionRecord(
            run_id=context.run_id,
            workflow=workflow,
            tenant=tenant,
            output=output,
            steps=tuple(context.steps),
            latency_ms=(time.perf_counter() - started) * 1000,
            tool_ms=context.tool_ms,
            trace_id=context.trace_id,
            trace_url=await self._trace_url(context.trace_id),
        )
        # the run store's thread writes it; the answer waits neither for it nor for its lock
        self.runs.keep(record, on_lost=self._lost)
        return record

    def _lost(self, record: ExecutionRecord, exc: BaseException) -> None:
        """A record the run store could not take: the answer stands, the loss is counted."""
        log.error("run %s: its record was not stored (%s)", record.run_id, exc)
        self.telemetry.metrics.run_records_lost.labels(record.workflow).inc()

    async def checkpointer(self) -> BaseCheckpointSaver[Any]:
        """LangGraph's checkpointer: Postgres when ``DATABASE_URL`` is set, else SQLite."""
        async with self._checkpointer_lock:  # concurrent first runs share one saver
            if self._checkpointer is not None:
                return self._checkpointer
            saver: BaseCheckpointSaver[Any]
            url = os.environ.get("DATABASE_URL")
            if url:
                saver = await self._postgres_checkpointer(url)
            else:
                path = self.config.state_dir / "checkpoints.sqlite"
                path.parent.mkdir(parents=True, exist_ok=True)
                saver = await self._checkpoints.enter_async_context(
                    AsyncSqliteSaver.from_conn_string(str(path))
                )
            self._checkpointer = saver
            return saver

    async def _postgres_checkpointer(self, url: str) -> BaseCheckpointSaver[Any]:
        """A saver on a pool that checks each connection before lending it.

        So a restarted PostgreSQL costs the calls made while it is down, not the process.
        """
        from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
        from psycopg.rows import dict_row
        from psycopg_pool import AsyncConnectionPool

        pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
            url,
            min_size=1,
            max_size=16,
            timeout=CHECKPOINT_TIMEOUT_S,
            check=AsyncConnectionPool.check_connection,
            kwargs={"autocommit": True, "prepare_threshold": 0, "row_factory": dict_row},
            open=False,
        )
        await pool.open()
        self._checkpoints.push_async_callback(pool.close)
        saver = AsyncPostgresSaver(pool)
        await saver.setup()
        return saver

    async def _trace_url(self, trace_id: str | None) -> str | None:
        if self.telemetry.langfuse is None:
            return None
        return await asyncio.to_thread(self.trace_url, trace_id)  # may look the project up

    def trace_url(self, trace_id: str | None) -> str | None:
        """The Langfuse page of a trace when Langfuse is configured."""
        return None if trace_id is None else self.telemetry.trace_url(trace_id)

    async def cache_feedback(self, run_id: str, node: str, *, correct: bool) -> float:
        """Report the semantic hit of ``node`` in run ``run_id`` right or wrong.

        The entry that answered re-derives its own threshold from every report so far
        (``CachePolicy.max_wrong_hit_rate``); returns that threshold.
        """
        record = self.runs.get(run_id)
        if record is None:
            raise InputError(f"no run {run_id!r} in {self.runs.path}")
        hits = [s for s in record["steps"] if s["node"] == node and s["cache"] == "semantic"]
        if not hits:
            nodes = sorted({s["node"] for s in record["steps"] if s["cache"] == "semantic"})
            raise InputError(
                f"run {run_id}: node {node!r} was not answered by the semantic cache "
                f"(semantic hits: {', '.join(nodes) or 'none'})"
            )
        if self.cache is None:
            raise InputError("the step cache is disabled in this config")
        threshold = None
        for hit in hits:  # a node inside a fan-out can hit more than once
            threshold = await self.cache.feedback(
                hit["cache_entry"], hit["similarity"], correct=correct
            )
        if threshold is None:
            raise InputError(f"run {run_id}: the entry that answered {node!r} is gone")
        return threshold

    async def warm_up(
        self, workflow: str, *, ablated: frozenset[tuple[str, str]] = frozenset()
    ) -> tuple[StepRecord, ...]:
        """Prefill the static prefix of every Step of ``workflow`` on its tier (or route).

        One ``max_tokens=1`` call per distinct (tier, prefix), so the first execution finds
        the prefixes cached, as it would on a server that warmed up at start. Prefixes that
        are already cached cost only their last token. ``ablated`` (node, segment) pairs
        are left out, as ``run`` leaves them out.
        """
        records = []
        seen: set[tuple[str, tuple[Message, ...]]] = set()
        steps = steps_of(self.workflows.get(workflow).graph.builder)
        if self.cache is not None and any(
            s.cache is not None and s.cache.mode is CacheMode.SEMANTIC for s in steps.values()
        ):
            await self.cache.prepare_semantic()  # loads the embedding model
        routes = self.config.routes.get(workflow, {})
        for node, step in steps.items():
            removed = frozenset(segment for (at, segment) in ablated if at == node)
            prefix, tier = step.static_prefix(removed), routes.get(node, step.tier)
            if (tier, prefix) in seen:
                continue
            seen.add((tier, prefix))
            started = time.perf_counter()
            result = await self.tier_client(tier).chat(ChatRequest(messages=prefix, max_tokens=1))
            records.append(
                StepRecord(
                    node=node,
                    tier=tier,
                    model=result.model,
                    usage=result.usage,
                    cost_usd=price_step(result.usage, self.tier_spec(tier).price),
                    latency_ms=(time.perf_counter() - started) * 1000,
                )
            )
        return tuple(records)

    async def aclose(self) -> None:
        """Close every tier client, free the embedded models and close the local stores."""
        for client in self._gated.values():
            await client.aclose()
        await self._checkpoints.aclose()
        if self.cache is not None:
            await self.cache.aclose()
        self._engine.close()
        self.telemetry.shutdown()  # flushes batched spans, then closes the span store
        self.runs.close()
