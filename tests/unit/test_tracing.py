"""Spans of an execution, exported as OTLP/HTTP to a Langfuse-shaped receiver on loopback."""

from __future__ import annotations

import asyncio
import base64
import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from langgraph.graph import START, StateGraph
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client.parser import text_string_to_metric_families
from typing_extensions import TypedDict

from runtime import CacheMode, CachePolicy, Runtime, Segment, Step, add_step, chat, traced_tool
from runtime.config import TracingSettings
from runtime.execution import ExecutionRecord, RunStore
from runtime.tracing import Metrics, Score, Telemetry, TraceStore
from tests.fakes import TIERS, FakeTierClient, Label, answer_billing, fake_config
from tests.otlp_receiver import Receiver, otlp_receiver


class State(TypedDict, total=False):
    question: str
    email: str
    label: dict[str, Any]
    notes: str
    reply: str


@traced_tool("notes_search")
def search_notes(question: str) -> str:
    return f"notes about {question}"


def lookup(state: State) -> dict[str, str]:
    return {"notes": search_notes(state["question"])}


async def reply(state: State) -> dict[str, str]:
    return {"reply": await chat(f"Reply to {state['question']} using {state['notes']}")}


def build() -> Any:
    """Label, look up notes, reply."""
    builder = StateGraph(State)
    label = Step(
        tier="small",
        prompt=(
            Segment.node("task", "Label it."),
            Segment.volatile("question", "Q: {question} from {email}"),
        ),
        output=Label,
        writes="label",
        cache=CachePolicy(mode=CacheMode.EXACT, key=("question",)),
    )
    add_step(builder, "label", label)
    builder.add_node("lookup", lookup)
    builder.add_node("reply", reply, metadata={"tier": "large"})
    builder.add_edge(START, "label")
    builder.add_edge("label", "lookup")
    builder.add_edge("lookup", "reply")
    return builder


LANGFUSE = {"LANGFUSE_PUBLIC_KEY": "pk-lf-test", "LANGFUSE_SECRET_KEY": "sk-lf-test"}
QUESTION = {"question": "Where is my invoice?", "email": "ada@example.com"}


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with otlp_receiver() as received:
        yield received


def runtime_for(tmp_path: Path, telemetry: Telemetry, **sections: Any) -> Runtime:
    config = fake_config(tmp_path, workflows={"traced": f"{__name__}:build"}, **sections)
    clients = {"small": FakeTierClient(answer_billing), "large": FakeTierClient(lambda _: "Hi")}
    return Runtime(config, clients=clients, telemetry=telemetry)


async def traced_runs(
    tmp_path: Path, receiver: Receiver, settings: TracingSettings, runs: int = 1, **sections: Any
) -> tuple[list[ExecutionRecord], Runtime]:
    environ = {"LANGFUSE_HOST": receiver.url, "LANGFUSE_PROJECT_ID": "proj-1", **LANGFUSE}
    telemetry = Telemetry.open(settings, state_dir=tmp_path, environ=environ)
    runtime = runtime_for(tmp_path, telemetry, **sections)
    records = [await runtime.run("traced", QUESTION, tenant="acme") for _ in range(runs)]
    await runtime.aclose()  # flushes the batched spans
    return records, runtime


async def test_one_execution_is_one_trace_with_a_span_per_step_call_and_tool(
    tmp_path: Path, receiver: Receiver
) -> None:
    (record,), _ = await traced_runs(tmp_path, receiver, TracingSettings())

    spans = {span.name: span for span in receiver.spans}
    assert set(spans) == {
        "workflow traced",
        "step label",
        "chat smollm2-135m-instruct",
        "execute_tool notes_search",
        "chat qwen2.5-coder-0.5b-instruct",
    }
    root = spans["workflow traced"]
    assert root.parent_id is None and root.trace_id == record.trace_id
    assert {span.trace_id for span in receiver.spans} == {record.trace_id}
    step = spans["step label"]
    assert step.parent_id == root.span_id
    assert spans["chat smollm2-135m-instruct"].parent_id == step.span_id
    assert spans["execute_tool notes_search"].parent_id == root.span_id
    assert spans["chat qwen2.5-coder-0.5b-instruct"].parent_id == root.span_id
    assert receiver.paths == ["/api/public/otel/v1/traces"] * len(receiver.paths)


async def test_span_attributes_follow_the_genai_conventions_and_langfuses_mapping(
    tmp_path: Path, receiver: Receiver
) -> None:
    (record,), _ = await traced_runs(tmp_path, receiver, TracingSettings())
    spans = {span.name: span.attributes for span in receiver.spans}

    root = spans["workflow traced"]
    assert root["tierwise.run_id"] == record.run_id
    assert root["tierwise.tenant"] == "acme"
    assert root["langfuse.trace.name"] == "traced"
    assert root["langfuse.trace.tags"] == ["traced", "tenant:acme"]
    assert root["langfuse.trace.metadata.tenant"] == "acme"
    call = spans["chat smollm2-135m-instruct"]
    small = record.steps[0]
    assert call["gen_ai.operation.name"] == "chat"
    assert call["gen_ai.request.model"] == "smollm2-135m-instruct"
    assert call["gen_ai.response.model"] == "fake-model"
    assert call["gen_ai.usage.input_tokens"] == small.usage.input_tokens
    assert call["gen_ai.usage.cache_read.input_tokens"] == small.usage.cached_input_tokens
    assert call["gen_ai.usage.output_tokens"] == small.usage.output_tokens
    assert call["langfuse.observation.type"] == "generation"
    usage = json.loads(call["langfuse.observation.usage_details"])
    assert usage == {
        "input": small.usage.uncached_input_tokens,
        "input_cached_tokens": small.usage.cached_input_tokens,
        "output": small.usage.output_tokens,
    }
    assert call["tierwise.ttft_ms"] == 5.0
    assert "langfuse.observation.completion_start_time" in call
    assert "gen_ai.input.messages" not in call  # content is off by default
    tool = spans["execute_tool notes_search"]
    assert tool["gen_ai.tool.name"] == "notes_search"
    assert tool["langfuse.observation.type"] == "tool"
    step = spans["step label"]
    assert step["tierwise.cache.outcome"] == "miss"
    assert step["tierwise.cache.lookup_ms"] == pytest.approx(record.steps[0].lookup_ms, abs=1e-3)


async def test_a_chat_span_carries_the_frequency_penalty_its_call_sent(
    tmp_path: Path, receiver: Receiver
) -> None:
    tiers = {name: {**spec, "frequency_penalty": 0.5} for name, spec in TIERS.items()}
    await traced_runs(tmp_path, receiver, TracingSettings(), tiers=tiers)
    spans = {span.name: span.attributes for span in receiver.spans}

    assert spans["chat qwen2.5-coder-0.5b-instruct"]["gen_ai.request.frequency_penalty"] == 0.5
    # the label step's output model keeps it from being sent, so the span does not claim it
    assert "gen_ai.request.frequency_penalty" not in spans["chat smollm2-135m-instruct"]


async def test_costs_in_the_spans_equal_the_costs_in_the_execution_record(
    tmp_path: Path, receiver: Receiver
) -> None:
    (first, second), _ = await traced_runs(tmp_path, receiver, TracingSettings(), runs=2)

    for record in (first, second):
        spans = [s for s in receiver.spans if s.trace_id == record.trace_id]
        root = next(s for s in spans if s.parent_id is None)
        assert root.attributes["tierwise.cost_usd"] == pytest.approx(record.cost_usd)
        assert root.attributes["langfuse.trace.metadata.cost_usd"] == pytest.approx(record.cost_usd)
        assert root.attributes["tierwise.saved_cost_usd"] == pytest.approx(record.saved_cost_usd)
        calls = [s for s in spans if s.name.startswith("chat ")]
        assert sorted(c.attributes["tierwise.cost_usd"] for c in calls) == pytest.approx(
            sorted(s.cost_usd for s in record.steps if s.cache in ("off", "miss"))
        )
        for call in calls:
            details = json.loads(call.attributes["langfuse.observation.cost_details"])
            assert details["total"] == pytest.approx(call.attributes["tierwise.cost_usd"])
            parts = details["input"] + details["input_cached_tokens"] + details["output"]
            assert parts == pytest.approx(details["total"])
    # the second run's label step was an exact cache hit: no model call, its cost saved
    step = next(
        s for s in receiver.spans if s.trace_id == second.trace_id and s.name == "step label"
    )
    assert step.attributes["tierwise.cache.outcome"] == "exact"
    assert step.attributes["tierwise.cache.similarity"] == 1.0
    lookup_ms = step.attributes["tierwise.cache.lookup_ms"]
    assert lookup_ms == pytest.approx(second.steps[0].latency_ms, abs=1e-3)
    assert step.attributes["tierwise.cost_usd"] == 0.0
    assert step.attributes["tierwise.saved_cost_usd"] == pytest.approx(first.steps[0].cost_usd)
    assert second.saved_cost_usd == pytest.approx(first.steps[0].cost_usd)


async def test_the_export_carries_langfuses_basic_auth_and_the_record_links_the_trace(
    tmp_path: Path, receiver: Receiver
) -> None:
    (record,), _ = await traced_runs(tmp_path, receiver, TracingSettings())

    expected = "Basic " + base64.b64encode(b"pk-lf-test:sk-lf-test").decode()
    assert receiver.headers and all(h["authorization"] == expected for h in receiver.headers)
    assert all(h["x-langfuse-ingestion-version"] == "4" for h in receiver.headers)
    assert record.trace_url == f"{receiver.url}/project/proj-1/traces/{record.trace_id}"


async def test_eval_scores_are_pushed_to_the_traces_they_score(
    tmp_path: Path, receiver: Receiver
) -> None:
    (record,), runtime = await traced_runs(tmp_path, receiver, TracingSettings())
    assert record.trace_id is not None
    score = Score(record.trace_id, "tierwise.eval.field", 0.5, "tierwise.toml")
    assert runtime.telemetry.push_scores([score]) == 1
    (sent,) = receiver.scores
    assert sent == {
        "traceId": record.trace_id,
        "name": "tierwise.eval.field",
        "value": 0.5,
        "dataType": "NUMERIC",
        "comment": "tierwise.toml",
    }
    assert Telemetry().push_scores([score]) == 0  # no Langfuse configured: nothing sent


async def test_captured_content_hides_redacted_fields(tmp_path: Path, receiver: Receiver) -> None:
    settings = TracingSettings(capture_content=True, redact=["email"])
    await traced_runs(tmp_path, receiver, settings)
    spans = {span.name: span.attributes for span in receiver.spans}

    prompt = spans["chat smollm2-135m-instruct"]["gen_ai.input.messages"]
    assert "Where is my invoice?" in prompt
    assert "ada@example.com" not in prompt and "[redacted]" in prompt
    # a chat() node has no state to redact from: its content is withheld, not leaked
    assert "gen_ai.input.messages" not in spans["chat qwen2.5-coder-0.5b-instruct"]


async def test_an_unreachable_collector_never_fails_or_holds_up_a_run(tmp_path: Path) -> None:
    environ = {"LANGFUSE_HOST": "http://127.0.0.1:9", **LANGFUSE}  # nothing listens on 9
    settings = TracingSettings(export_timeout_s=1.0)
    runtime = runtime_for(tmp_path, Telemetry.open(settings, state_dir=tmp_path, environ=environ))

    record = await runtime.run("traced", QUESTION)
    await runtime.aclose()  # flushes: the export gives up after its timeout, no hang

    assert record.output["reply"] == "Hi"
    local = runtime.telemetry.store
    assert local is not None and TraceStore(local.path).tree(record.run_id) is not None  # kept


async def test_closing_the_runtime_closes_its_stores_after_their_last_write(
    tmp_path: Path,
) -> None:
    runtime = runtime_for(
        tmp_path, Telemetry.open(TracingSettings(), state_dir=tmp_path, environ={})
    )
    record = await runtime.run("traced", QUESTION)
    await runtime.aclose()

    local = runtime.telemetry.store
    assert local is not None
    for closed in (lambda: runtime.runs.recent(), lambda: local.tree(record.run_id)):
        with pytest.raises(sqlite3.ProgrammingError, match="closed"):
            closed()
    assert RunStore(runtime.runs.path).get(record.run_id) is not None  # written before closing
    assert TraceStore(local.path).tree(record.run_id) is not None  # flushed before closing


async def test_a_locked_run_store_loses_the_record_not_the_answer(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    runtime = runtime_for(tmp_path, Telemetry())
    runtime.runs = RunStore(runtime.runs.path, busy_timeout_s=0.3)
    holder = sqlite3.connect(runtime.runs.path)
    holder.execute("BEGIN EXCLUSIVE")  # another process writing, for longer than the timeout
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    ticker = asyncio.create_task(tick())
    try:
        started = time.perf_counter()
        lost = await runtime.run("traced", QUESTION)
        answered_s = time.perf_counter() - started
        await asyncio.to_thread(runtime.runs.settle)  # the write gives up after 0.3 s
    finally:
        ticker.cancel()
        holder.rollback()
        holder.close()

    assert lost.output["reply"] == "Hi"
    assert answered_s < 0.3  # the answer did not wait for the record's write
    assert ticks >= 10  # the event loop went on while the write waited 0.3 s for the lock
    assert f"run {lost.run_id}: its record was not stored" in caplog.text
    registry = runtime.telemetry.metrics.registry
    assert registry.get_sample_value("tierwise_run_records_lost_total", {"workflow": "traced"}) == 1
    assert runtime.runs.get(lost.run_id) is None
    await runtime.run("traced", QUESTION)  # the lock released: records are kept again
    assert len(runtime.runs.recent()) == 1


def test_the_run_store_writes_on_its_own_thread_and_reads_wait_for_what_was_queued(
    tmp_path: Path,
) -> None:
    store = RunStore(tmp_path / "runs.sqlite", busy_timeout_s=10.0)
    record = ExecutionRecord(
        run_id="r1",
        workflow="traced",
        tenant="default",
        output={"reply": "Hi"},
        steps=(),
        latency_ms=1.0,
    )
    holder = sqlite3.connect(store.path, check_same_thread=False)
    holder.execute("BEGIN EXCLUSIVE")  # the write has to wait for this lock
    lost: list[BaseException] = []
    try:
        started = time.perf_counter()
        store.keep(record, on_lost=lambda _, exc: lost.append(exc))
        kept_s = time.perf_counter() - started
        release = threading.Timer(0.3, holder.rollback)
        release.start()
        found = store.get("r1")  # waits for the queued write, which waits for the lock
        release.join()
    finally:
        holder.close()
        store.close()

    assert kept_s < 0.1  # keep returned without waiting for the lock
    assert found is not None and found["output"] == {"reply": "Hi"} and not lost


def test_records_queued_behind_a_lock_are_written_together_by_one_statement(
    tmp_path: Path,
) -> None:
    store = RunStore(tmp_path / "runs.sqlite", busy_timeout_s=10.0)
    statements: list[str] = []
    store._file._db.set_trace_callback(statements.append)  # what reaches SQLite
    holder = sqlite3.connect(store.path, check_same_thread=False)
    holder.execute("BEGIN EXCLUSIVE")  # the first write waits; the rest queue behind it
    lost: list[BaseException] = []
    try:
        store.keep(_record("r0", reply="first"), on_lost=lambda _, exc: lost.append(exc))
        time.sleep(0.1)  # the thread takes the first, which waits for the lock
        for n in range(1, 50):
            store.keep(_record(f"r{n}"), on_lost=lambda _, exc: lost.append(exc))
        store.keep(_record("r0", reply="again"), on_lost=lambda _, exc: lost.append(exc))
        holder.rollback()
        stored = store.recent(limit=100)
        again = store.get("r0")
    finally:
        holder.close()
        store.close()

    assert not lost and len(stored) == 50
    assert again is not None and again["output"] == {"reply": "again"}  # the last one stands
    inserts = [s for s in statements if s.lstrip().startswith("INSERT")]
    # the first record (unless the thread took it late), then all queued behind it at once
    assert 1 <= len(inserts) <= 2


def test_a_record_that_cannot_be_written_is_lost_alone_not_with_its_batch(
    tmp_path: Path,
) -> None:
    store = RunStore(tmp_path / "runs.sqlite", busy_timeout_s=10.0)
    circular: dict[str, Any] = {}
    circular["itself"] = circular  # json.dumps refuses it
    lost: dict[str, BaseException] = {}
    holder = sqlite3.connect(store.path, check_same_thread=False)
    holder.execute("BEGIN EXCLUSIVE")  # the records queue into one batch behind this lock
    try:
        for record in (
            _record("r1"),
            replace(_record("r2"), output=circular),
            _record("r3"),
            replace(_record("r4"), latency_ms=float("nan")),  # JSON cannot hold it
        ):
            store.keep(record, on_lost=lambda r, exc: lost.__setitem__(r.run_id, exc))
        holder.rollback()
        kept = {row["run_id"] for row in store.recent()}
    finally:
        holder.close()
        store.close()

    assert kept == {"r1", "r3"}
    assert list(lost) == ["r2", "r4"] and "Circular reference" in str(lost["r2"])


def _record(run_id: str, reply: str = "Hi") -> ExecutionRecord:
    return ExecutionRecord(
        run_id=run_id,
        workflow="traced",
        tenant="default",
        output={"reply": reply},
        steps=(),
        latency_ms=1.0,
    )


def test_a_batch_of_spans_is_stored_by_one_statement_and_read_back_as_a_tree(
    tmp_path: Path,
) -> None:
    finished = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(finished))
    tracer = provider.get_tracer("test")
    with tracer.start_as_current_span("execution", attributes={"tierwise.run_id": "r1"}):
        for n in range(100):
            with tracer.start_as_current_span(f"step {n}") as span:
                span.set_attributes({"tierwise.tiers_tried": ["small", "large"], "n": n})
    store = TraceStore(tmp_path / "traces.sqlite")
    statements: list[str] = []
    store._file._db.set_trace_callback(statements.append)  # what reaches SQLite
    try:
        store.write(finished.get_finished_spans())
        root = store.tree("r1")
    finally:
        store.close()

    assert root is not None and root.name == "execution" and len(root.children) == 100
    last = root.children[-1]
    assert last.name == "step 99" and last.duration_ms >= 0
    assert last.attributes == {"tierwise.tiers_tried": ["small", "large"], "n": 99}
    assert len([s for s in statements if s.lstrip().startswith("INSERT")]) == 1


async def test_metrics_count_calls_cost_cache_outcomes_and_queue_depth(tmp_path: Path) -> None:
    runtime = runtime_for(tmp_path, Telemetry())
    first = await runtime.run("traced", QUESTION)
    second = await runtime.run("traced", QUESTION)
    text = runtime.telemetry.metrics.exposition().decode()

    def sample(name: str, **labels: str) -> float:
        for family in text_string_to_metric_families(text):
            for found in family.samples:
                if found.name == name and found.labels == labels:
                    return float(found.value)
        raise AssertionError(f"no sample {name}{labels}")

    assert sample("tierwise_model_requests_total", tier="small", model="fake-model", outcome="ok")
    assert (
        sample("tierwise_model_requests_total", tier="large", model="fake-model", outcome="ok") == 2
    )
    assert sample("tierwise_cache_hit_ratio", workflow="traced", node="label") == 0.5
    assert sample("tierwise_cache_saved_usd_total", workflow="traced", node="label") == (
        pytest.approx(first.steps[0].cost_usd)
    )
    assert sample("tierwise_queue_depth", tier="small") == 0
    assert sample("tierwise_time_to_first_token_seconds_count", tier="large") == 2
    assert sample("tierwise_executions_total", workflow="traced", outcome="ok") == 2
    total = sample("tierwise_cost_usd_total", workflow="traced", tier="large")
    steps = [*first.steps, *second.steps]
    assert total == pytest.approx(sum(s.cost_usd for s in steps if s.tier == "large"))


def test_a_labelled_metric_counts_every_call_however_its_child_is_found() -> None:
    metrics = Metrics()  # children found by position are remembered; by name they are not
    metrics.tokens.labels("small", "input").inc(2)
    metrics.tokens.labels(tier="small", kind="input").inc(3)  # by name: prometheus' own path
    metrics.tokens.labels("small", "output").inc(1)
    families = text_string_to_metric_families(metrics.exposition().decode())
    counted = {
        s.labels["kind"]: s.value
        for family in families
        for s in family.samples
        if s.name == "tierwise_tokens_total"
    }
    assert counted == {"input": 5.0, "output": 1.0}
