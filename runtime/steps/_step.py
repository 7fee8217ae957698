"""``Step``: a declarative model-calling node that holds its tier, prompt and output model."""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import json
import time
import weakref
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph._internal._runnable import RunnableCallable  # langgraph is pinned
from langgraph.graph import StateGraph
from pydantic import BaseModel

from runtime.cache import (
    CachedAnswer,
    CacheHit,
    CacheMode,
    CachePolicy,
    CacheScope,
    StepCache,
    key_text,
    prompt_fingerprint,
)
from runtime.config import TierSpec
from runtime.costs import Usage
from runtime.errors import ModelError, ModelOutputError, WorkflowError
from runtime.execution import ExecutionContext, StepRecord, current_execution
from runtime.prompts import (
    Message,
    Segment,
    Stability,
    TokenBudget,
    render_messages,
    render_prompt,
    render_segment,
)
from runtime.steps._call import as_state_value, call_model, frequency_penalty
from runtime.steps._cascade import Cascade
from runtime.steps._chat import TIER_KEY, running_node
from runtime.steps._judge import judge
from runtime.tracing import attributes as a

_EMPTY_INPUT = Segment.volatile("input", "")


@dataclass(frozen=True, slots=True, kw_only=True)
class _CacheSlot:
    """Where one step's answer for one state is looked up and written."""

    cache: StepCache
    policy: CachePolicy
    scope: CacheScope
    text: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Step:
    """A node that lays out its prompt, calls its tier and writes the result to the state."""

    tier: str
    """The tier the step runs on."""
    prompt: tuple[Segment, ...]
    """Prompt segments; laid out stable-first whatever their order here."""
    writes: str
    """The state key the result is written to."""
    output: type[BaseModel] | None = None
    """A Pydantic model: the output is JSON-schema constrained and validated."""
    max_tokens: int | None = None
    """Cap on generated tokens; the tier's default when unset."""
    collect: bool = False
    """Write ``[result]`` for a list reducer (parallel branches gathering their results)."""
    cache: CachePolicy | None = None
    """Reuse earlier answers (exact or semantic); None never caches."""
    cascade: Cascade | None = None
    """Escalate to higher tiers when this tier's answer is invalid or not accepted."""
    continues: Step | None = None
    """An earlier step whose conversation this one carries on: its prompt, its answer (as
    the assistant's turn) and then this step's segments as the next user turn. On the same
    model the whole earlier exchange is a prefix already in the KV cache, so only the new
    turn is computed, and the step sees everything the earlier one saw."""

    def __post_init__(self) -> None:
        if self.cache is not None and self.cache.check_rate and self.output is None:
            raise ValueError(
                "a cache check_rate compares answers field by field: the step needs an "
                "output model (free text is rarely the same twice)"
            )
        earlier = self.continues
        if earlier is not None and any(seg.max_tokens is not None for seg in earlier.prompt):
            raise ValueError(
                "a step cannot continue one with token budgets: its prompt would have to be "
                "fitted again exactly as it was"
            )

    async def arun(self, state: Any, config: RunnableConfig) -> dict[str, Any]:
        """Run the step as a LangGraph node: answer from the cache, or call the tier(s)."""
        node = running_node(config)
        values = _as_mapping(state)
        execution = current_execution()
        with execution.telemetry.tracer.start_as_current_span(
            f"step {node}",
            attributes={
                a.NODE: node,
                a.TIER: execution.tier_of(node, self.tier),
                a.LF_TYPE: "span",
            },
        ) as span:
            value, attempts = await self._answer(node, values, execution)
            last = attempts[-1]
            reasons = [s.escalation for s in attempts if s.escalation]
            attributes: dict[str, Any] = {
                a.CACHE_OUTCOME: last.cache,
                a.COST_USD: sum(s.cost_usd for s in attempts),
                a.SAVED_COST_USD: last.saved_cost_usd,
                a.ESCALATED: bool(reasons),
                "tierwise.tiers_tried": [s.tier for s in attempts],
            }
            if last.cache != "off":  # the lookup: on the step's span, not a span of its own
                lookup_ms = last.latency_ms if last.from_cache else attempts[0].lookup_ms
                attributes[a.CACHE_LOOKUP_MS] = round(lookup_ms, 3)
            if last.similarity is not None:
                attributes[a.CACHE_SIMILARITY] = last.similarity
            if reasons:
                attributes["tierwise.escalation.reasons"] = reasons
            if last.checked:
                attributes[a.CACHE_CHECKED] = last.checked
            span.set_attributes(attributes)
        return self._update(value)

    async def _answer(
        self, node: str, values: Mapping[str, Any], execution: ExecutionContext
    ) -> tuple[Any, list[StepRecord]]:
        """The step's value, from the cache or the tier(s), and the records of how."""
        slot = self._cache_slot(node, values, execution)
        lookup_ms = 0.0
        hit = None
        started = time.perf_counter()
        if slot is not None:
            hit = await self._lookup(slot, node, execution)
            if hit is not None and not (
                hit.kind == "semantic"
                and execution.affords(hit.answer.cost_usd)  # a check must not break the budget
                and slot.cache.due_for_check(slot.scope, slot.policy)
            ):
                return self._reuse(node, hit, started, execution)
            lookup_ms = (time.perf_counter() - started) * 1000
        try:
            value, attempts = await self._call_tiers(
                node, values, execution, cached=slot is not None, lookup_ms=lookup_ms
            )
        except ModelError:
            if hit is None:
                raise
            return self._reuse(node, hit, started, execution)  # no check: the hit stands
        if slot is not None and hit is not None:
            right = await self._spot_check(slot, node, hit, value, attempts, execution)
            if right:
                return value, attempts  # the entry already answers this
        if slot is not None:
            answer = CachedAnswer(
                value=value,
                model=attempts[-1].model,
                cost_usd=sum(s.cost_usd for s in attempts),  # what a hit will save
                key_text=slot.text,
            )
            await slot.cache.write(slot.scope, slot.policy, answer)
        return value, attempts

    def _reuse(
        self, node: str, hit: CacheHit, started: float, execution: ExecutionContext
    ) -> tuple[Any, list[StepRecord]]:
        """Answer from the cache: the hit is the step's record, and what it saved counts."""
        record = self._hit_record(node, execution.tier_of(node, self.tier), hit, started)
        execution.record(record)
        execution.telemetry.metrics.cache_saved.labels(execution.workflow, node).inc(
            hit.answer.cost_usd
        )
        return hit.answer.value, [record]

    async def _spot_check(
        self,
        slot: _CacheSlot,
        node: str,
        hit: CacheHit,
        value: Any,
        attempts: list[StepRecord],
        execution: ExecutionContext,
    ) -> bool:
        """Whether a semantic hit the tier(s) answered anyway was right; the entry learns.

        The last call's record takes the hit's similarity and entry and the outcome.
        """
        right = _same_answer(value, hit.answer.value)
        outcome = "right" if right else "wrong"
        attempts[-1] = execution.amend(
            attempts[-1],
            cache=hit.kind,
            similarity=round(hit.similarity, 4),
            cache_entry=hit.entry,
            checked=outcome,
        )
        execution.telemetry.metrics.cache_checks.labels(execution.workflow, node, outcome).inc()
        if hit.entry is not None:
            await slot.cache.feedback(hit.entry, hit.similarity, correct=right)
        return right

    async def _call_tiers(
        self,
        node: str,
        values: Mapping[str, Any],
        execution: ExecutionContext,
        *,
        cached: bool,
        lookup_ms: float,
    ) -> tuple[Any, list[StepRecord]]:
        """Call the step's tier, then escalate along the cascade until an answer is accepted."""
        first = execution.tier_of(node, self.tier)
        cascade = self._cascade(node, first, execution)
        tiers = (first, *(t for t in (cascade.escalate_to if cascade else ()) if t != first))
        prompt = self.prompt
        if execution.ablated:  # an ablation study leaves segments out
            prompt = tuple(s for s in prompt if (node, s.name) not in execution.ablated)
        budget = self._token_budget(execution, first)
        if budget is not None and any(s.overflow == "summarise" for s in prompt):
            budget = dataclasses.replace(
                budget, summaries=await _summaries(prompt, values, node, first, budget)
            )
        if self.continues is None:
            messages, trims = render_prompt(prompt, values, node=node, budget=budget)
        else:
            messages, trims = self.messages(values, node=node, prompt=prompt), ()
        trimmed = tuple(trim.describe() for trim in trims)
        attempts: list[StepRecord] = []
        for attempt, tier in enumerate(tiers):
            last = attempt == len(tiers) - 1
            try:
                result, record = await call_model(
                    node=node,
                    tier=tier,
                    messages=messages,
                    output=self.output,
                    max_tokens=self.max_tokens,
                    cache="miss" if cached else "off",
                    state=values,
                    lookup_ms=lookup_ms if attempt == 0 else 0.0,
                    trimmed=trimmed,
                    logprobs=not last
                    and cascade is not None
                    and cascade.min_confidence is not None,
                )
            except ModelOutputError as exc:
                if last or exc.record is None:
                    raise
                attempts.append(execution.escalated(exc.record, f"invalid output: {exc}"))
                continue
            value = as_state_value(result)
            reason = (
                None
                if last or cascade is None
                else cascade.verdict(value, values, confidence=record.confidence)
            )
            if reason is None and not last and cascade and cascade.judge:
                grade = await judge(node, cascade.judge, value, values)
                if grade < cascade.judge.min_score:
                    reason = (
                        f"judge on {cascade.judge.tier} graded it {grade}/10 "
                        f"(needs {cascade.judge.min_score})"
                    )
            if reason is None:
                return value, [*attempts, record]
            attempts.append(execution.escalated(record, reason))
        raise AssertionError("unreachable: the last tier returns or raises")

    def _cascade(self, node: str, first: str, execution: ExecutionContext) -> Cascade | None:
        """The step's cascade, with ``[min_confidence]`` from the config applied.

        A configured confidence gives a step without a cascade one: on to every tier
        configured after ``first``.
        """
        floor = execution.min_confidence.get(node)
        if floor is None:
            return self.cascade
        if self.cascade is not None:
            return dataclasses.replace(self.cascade, min_confidence=floor)
        order = execution.tier_order
        above = order[order.index(first) + 1 :] if first in order else ()
        return Cascade(escalate_to=above, min_confidence=floor) if above else None

    def messages(
        self, values: Mapping[str, Any], *, node: str, prompt: tuple[Segment, ...] | None = None
    ) -> tuple[Message, ...]:
        """The messages the step sends for ``values``, token budgets aside (lint uses this).

        A continuing step sends the earlier step's messages and answer, then its own
        segments (``prompt``, by default all of them) as one user turn.
        """
        prompt = self.prompt if prompt is None else prompt
        earlier = self.continues
        if earlier is None:
            return render_messages(prompt, values, node=node)
        answer = values.get(earlier.writes)
        if answer is None:
            raise WorkflowError(
                f"node {node!r} continues a step that writes {earlier.writes!r}, "
                "which the state does not hold yet"
            )
        before = earlier.messages(values, node=f"{node} (continued)")
        said = answer if isinstance(answer, str) else json.dumps(answer, default=str)
        turn = "\n\n".join(render_segment(segment, values, node=node) for segment in prompt)
        return (*before, Message("assistant", said), Message("user", turn))

    def _token_budget(self, execution: ExecutionContext, tier: str) -> TokenBudget | None:
        """How the prompt is fitted on ``tier``; None when no segment has a budget."""
        if not any(segment.max_tokens is not None for segment in self.prompt):
            return None  # counting tokens costs time: only steps that ask for it pay
        tiers = execution.tiers
        return TokenBudget(
            count=lambda text: tiers.count_tokens(tier, text),
            context_tokens=tiers.context_tokens(tier),
            output_tokens=self.max_tokens or tiers.tier_spec(tier).max_output_tokens,
        )

    async def _lookup(
        self, slot: _CacheSlot, node: str, execution: ExecutionContext
    ) -> CacheHit | None:
        """Look the slot up and count the outcome."""
        hit = await slot.cache.lookup(slot.scope, slot.policy, slot.text)
        outcome = "miss" if hit is None else hit.kind
        execution.telemetry.metrics.cache_lookups.labels(execution.workflow, node, outcome).inc()
        return hit

    def _update(self, value: Any) -> dict[str, Any]:
        return {self.writes: [value] if self.collect else value}

    def _cache_slot(
        self, node: str, state: Mapping[str, Any], execution: ExecutionContext
    ) -> _CacheSlot | None:
        """Where this step's answer is cached for this state, or None when not caching."""
        policy = self.cache
        if policy is None or policy.mode is CacheMode.OFF or execution.cache is None:
            return None
        threshold = execution.cache_thresholds.get(node)
        if threshold is not None and policy.mode is CacheMode.SEMANTIC:
            policy = dataclasses.replace(policy, threshold=threshold)
        spec = execution.tiers.tier_spec(execution.tier_of(node, self.tier))
        scope = CacheScope(
            workflow=execution.workflow,
            node=node,
            prompt=self.fingerprint(),
            model=spec.model,
            tenant=execution.tenant,
            decoding=self._decoding(spec),
        )
        text = key_text(self._key_inputs(policy, node, state))
        return _CacheSlot(cache=execution.cache, policy=policy, scope=scope, text=text)

    def _key_inputs(
        self, policy: CachePolicy, node: str, state: Mapping[str, Any]
    ) -> list[tuple[str, str]]:
        segments = {segment.name: segment for segment in self.prompt}
        inputs = []
        for name in policy.key:
            if name in segments:
                inputs.append((name, render_segment(segments[name], state, node=node)))
            elif name in state:
                value = state[name]
                text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
                inputs.append((name, text))
            else:
                raise WorkflowError(
                    f"node {node!r}: cache key {name!r} is neither a prompt segment nor a "
                    f"state field (segments: {', '.join(segments)}; fields: {', '.join(state)})"
                )
        return inputs

    def _decoding(self, spec: TierSpec) -> str:
        """What this step's calls are sent besides the prompt, as part of its cache scope.

        Answers made with other settings (cut shorter, penalised differently) are not served.
        """
        tokens = self.max_tokens or spec.max_output_tokens
        penalty = frequency_penalty(spec, structured=self.output is not None)
        return f"max_tokens={tokens};frequency_penalty={penalty:g}"

    def fingerprint(self) -> str:
        """Hash of templates, budgets and output schema: a change invalidates the cache."""
        own = _fingerprint(self.prompt, self.output)
        return own if self.continues is None else f"{self.continues.fingerprint()}+{own}"

    def _hit_record(self, node: str, tier: str, hit: CacheHit, started: float) -> StepRecord:
        return StepRecord(
            node=node,
            tier=tier,
            model=hit.answer.model,
            usage=Usage(input_tokens=0, output_tokens=0),
            cost_usd=0.0,
            latency_ms=(time.perf_counter() - started) * 1000,
            cache=hit.kind,
            similarity=round(hit.similarity, 4),
            saved_cost_usd=hit.answer.cost_usd,
            cache_entry=hit.entry,
        )

    def static_prefix(self, leaving_out: frozenset[str] = frozenset()) -> tuple[Message, ...]:
        """The part of the prompt that never changes between executions, as messages.

        Prefilling it (``Runtime.warm_up``) leaves its KV state cached for the first caller.
        ``leaving_out`` names segments an ablation study removes.
        """
        if self.continues is not None:  # its prefix is the earlier step's, never ablated
            return self.continues.static_prefix()
        stable = tuple(
            s for s in self.prompt if s.stability <= Stability.NODE and s.name not in leaving_out
        )
        return render_messages((*stable, _EMPTY_INPUT), {}, node="(warm-up)")

    def run(self, state: Any, config: RunnableConfig) -> dict[str, Any]:
        """The synchronous entry (``graph.invoke``), wrapping the async one once at the edge."""
        return asyncio.run(self.arun(state, config))


_STEPS: weakref.WeakKeyDictionary[StateGraph[Any, Any, Any, Any], dict[str, Step]] = (
    weakref.WeakKeyDictionary()
)
"""The Steps ``add_step`` put in each graph builder, by node name."""


def steps_of(builder: StateGraph[Any, Any, Any, Any]) -> dict[str, Step]:
    """The Steps of a graph, by node name (nodes added with ``add_step``)."""
    return {
        name: step
        for name, step in _STEPS.get(builder, {}).items()
        if name in builder.nodes  # a node replaced by hand afterwards is not a Step
    }


def add_step(
    builder: StateGraph[Any, Any, Any, Any], name: str, step: Step, **add_node_kwargs: Any
) -> None:
    """``builder.add_node`` for a Step: its tier goes into the node metadata too.

    The node is the runnable LangGraph makes of a plain function (signature inspected
    once, no callback run of its own) with both entries, sync and async; a
    ``RunnableLambda`` would start a callback run on every call.
    """
    metadata = {**add_node_kwargs.pop("metadata", {}), TIER_KEY: step.tier}
    node = RunnableCallable(step.run, step.arun, name=name, trace=False)
    builder.add_node(name, node, metadata=metadata, **add_node_kwargs)
    _STEPS.setdefault(builder, {})[name] = step


def _same_answer(fresh: Any, cached: Any) -> bool:
    """Whether a fresh answer says what a cached one does: equal as JSON, key order aside."""
    return json.dumps(fresh, sort_keys=True, default=str) == json.dumps(
        cached, sort_keys=True, default=str
    )


def _as_mapping(state: Any) -> Mapping[str, Any]:
    if isinstance(state, Mapping):
        return state
    if isinstance(state, BaseModel):
        return dict(state)
    raise TypeError(f"a Step reads a dict or Pydantic state, got {type(state).__name__}")


@functools.lru_cache(maxsize=1024)
def _fingerprint(prompt: tuple[Segment, ...], output: type[BaseModel] | None) -> str:
    """A step's fingerprint, computed once: generating a JSON schema is slow."""
    schema = None if output is None else output.model_json_schema()
    templates = [(s.name, s.template + _budget_mark(s), int(s.stability)) for s in prompt]
    return prompt_fingerprint(templates, schema)


def _budget_mark(segment: Segment) -> str:
    """A budgeted segment's budget, as part of its template's identity."""
    if segment.max_tokens is None:
        return ""
    return (
        f"\x00max_tokens={segment.max_tokens},overflow={segment.overflow},"
        f"summary_tier={segment.summary_tier}"
    )


_SUMMARISE = (
    "Summarise the text below for an agent who will answer from it. Keep every fact, number, "
    "name and obligation it states; drop repetition and boilerplate. No preamble."
)


async def _summaries(
    prompt: tuple[Segment, ...],
    values: Mapping[str, Any],
    node: str,
    tier: str,
    budget: TokenBudget,
) -> dict[str, str]:
    """A summary, within its budget, of each ``overflow="summarise"`` segment over it.

    Each is one call on the segment's ``summary_tier`` (the step's tier by default),
    recorded and paid for as part of the step.
    """
    summaries = {}
    for segment in prompt:
        if segment.overflow != "summarise" or segment.max_tokens is None:
            continue
        text = render_segment(segment, values, node=node)
        if budget.count(text) <= segment.max_tokens:
            continue
        summary, _ = await call_model(
            node=node,
            tier=segment.summary_tier or tier,
            messages=(Message("system", _SUMMARISE), Message("user", text)),
            max_tokens=segment.max_tokens,
            state=values,
        )
        summaries[segment.name] = str(summary)
    return summaries
