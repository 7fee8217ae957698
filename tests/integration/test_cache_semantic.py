"""The semantic step cache with the real embedding model and Qdrant local mode."""

from __future__ import annotations

import gc
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from langgraph.graph import START, StateGraph
from qdrant_client import QdrantClient
from typer.testing import CliRunner
from typing_extensions import TypedDict

from runtime import CacheMode, CachePolicy, Runtime, Segment, Step, add_step
from runtime.cache import (
    CachedAnswer,
    CacheScope,
    LocalEmbedder,
    MemoryStore,
    QdrantSemanticCache,
    StepCache,
)
from runtime.cli import app
from runtime.config import BudgetSpec
from runtime.engines import ChatRequest
from runtime.errors import InputError
from runtime.execution import StepRecord
from tests.fakes import FakeTierClient, Label, answer_billing, fake_config
from tests.services import free_port

pytestmark = pytest.mark.integration


class State(TypedDict, total=False):
    question: str
    label: dict[str, Any]


@pytest.fixture(scope="module")
def embedder() -> LocalEmbedder:
    return LocalEmbedder()


def local_cache(folder: Path, embedder: LocalEmbedder) -> StepCache:
    """A step cache whose semantic half is Qdrant local mode in ``folder``."""
    return StepCache(
        MemoryStore(),
        semantic=lambda: QdrantSemanticCache.open(embedder, path=folder / "qdrant", url=None),
        timeout_s=0.05,
        semantic_timeout_s=2.0,
    )


@pytest.fixture
def runtime(tmp_path: Path, embedder: LocalEmbedder) -> Iterator[Runtime]:
    config = fake_config(tmp_path)
    cache = local_cache(tmp_path, embedder)
    client = FakeTierClient(answer_billing)
    yield Runtime(config, clients={"small": client}, cache=cache)
    assert cache.errors == 0  # the semantic half really ran


def graph(ttl_s: float = 3600.0, check_rate: float = 0.0) -> Any:
    policy = CachePolicy(
        mode=CacheMode.SEMANTIC, key=("question",), ttl_s=ttl_s, check_rate=check_rate
    )
    step = Step(
        tier="small",
        prompt=(Segment.node("task", "Label it."), Segment.volatile("question", "{question}")),
        output=Label,
        writes="label",
        cache=policy,
    )
    builder = StateGraph(State)
    add_step(builder, "label", step)
    builder.add_edge(START, "label")
    return builder.compile()


async def outcomes(
    runtime: Runtime, questions: list[tuple[str, str]], ttl_s: float = 3600.0
) -> list[tuple[str, float | None]]:
    compiled = graph(ttl_s)
    found = []
    for tenant, question in questions:
        with runtime.execution("semantic", tenant=tenant) as execution:
            await compiled.ainvoke({"question": question})
        found.append((execution.steps[-1].cache, execution.steps[-1].similarity))
    return found


async def test_a_paraphrase_is_a_semantic_hit_with_its_similarity(runtime: Runtime) -> None:
    (first, _), (second, similarity) = await outcomes(
        runtime,
        [("t", "How do I reset my password?"), ("t", "I forgot my password, how can I reset it?")],
    )
    assert (first, second) == ("miss", "semantic")
    assert similarity is not None and 0.8 <= similarity < 1.0


async def test_a_text_is_embedded_once_for_its_lookups_and_its_write(
    tmp_path: Path, embedder: LocalEmbedder
) -> None:
    embedded: list[str] = []

    class Counting:
        dimension = embedder.dimension

        def embed(self, texts: list[str]) -> list[list[float]]:
            embedded.extend(texts)
            return embedder.embed(texts)

    index = QdrantSemanticCache.open(Counting(), path=tmp_path / "qdrant", url=None)
    scope = CacheScope(workflow="w", node="n", prompt="p", model="m", tenant="t")
    policy = CachePolicy(mode=CacheMode.SEMANTIC, key=("question",))
    question = "How do I download my invoices?"
    assert await index.search(scope, policy, question) is None
    await index.add(
        scope, policy, CachedAnswer(value="PDF", model="m", cost_usd=0.1, key_text=question)
    )
    assert len(embedded) == 1  # the write reused the lookup's vector
    hit = await index.search(scope, policy, "How can I download my invoices?")
    assert hit is not None and hit.answer.value == "PDF" and len(embedded) == 2
    await index.add(
        scope, policy, CachedAnswer(value="CSV", model="m", cost_usd=0.1, key_text="Export CSV")
    )
    assert len(embedded) == 3  # a text never looked up is embedded for its write
    again = await index.search(scope, policy, "How can I download my invoices?")
    assert again is not None and again.entry == hit.entry
    assert len(embedded) == 3  # asked again: its vector was kept


async def test_a_negation_pair_misses_although_it_embeds_closely(runtime: Runtime) -> None:
    found = await outcomes(
        runtime, [("t", "Can I get a refund?"), ("t", "Can I not get a refund?")]
    )
    assert [kind for kind, _ in found] == ["miss", "miss"]


async def test_an_entry_ranked_below_one_the_guards_refuse_is_no_hit(
    tmp_path: Path, embedder: LocalEmbedder
) -> None:
    scope = CacheScope(workflow="w", node="n", prompt="p", model="m", tenant="t")
    policy = CachePolicy(mode=CacheMode.SEMANTIC, key=("question",), threshold=0.6, ttl_s=None)
    nearest = "question: Why can't I buy games in the store?"
    farther = "question: Why was I charged for a game I didn't buy?"
    asked = "question: The store won't let me pay for a game"

    async def lookup(entries: list[str], folder: str) -> str | None:
        index = QdrantSemanticCache.open(embedder, path=tmp_path / folder, url=None)
        answers = [CachedAnswer(value=t, model="m", cost_usd=0.0, key_text=t) for t in entries]
        index.add_many(scope, policy, answers)
        assert index.similarity(asked, nearest) > index.similarity(asked, farther) > 0.6
        hit = index.search_blocking(scope, policy, asked)
        await index.aclose()
        return None if hit is None else hit.answer.key_text

    assert await lookup([farther], "alone") == farther  # it passes the guards on its own
    # behind the nearest, which the guards refuse ("pay" for "buy" in one slot), it is one
    # more near miss: the lookup names something none of the entries answers
    assert await lookup([nearest, farther], "both") is None


async def test_the_same_question_from_another_tenant_is_never_a_hit(runtime: Runtime) -> None:
    found = await outcomes(
        runtime,
        [
            ("acme", "Where are my invoices?"),
            ("globex", "Where are my invoices?"),
            ("globex", "Where can I find my invoices?"),
        ],
    )
    assert [kind for kind, _ in found] == ["miss", "miss", "semantic"]


async def test_expired_entries_are_not_served(runtime: Runtime) -> None:
    compiled_ttl = 0.5
    await outcomes(runtime, [("t", "Where is my hardware order?")], ttl_s=compiled_ttl)
    time.sleep(0.6)
    # a paraphrase: the exact entry expired too, so only an expired vector could answer
    found = await outcomes(runtime, [("t", "Where's my hardware order?")], ttl_s=compiled_ttl)
    assert found[0][0] == "miss"


def build() -> Any:
    """The graph above, as a registered workflow (``module:factory``)."""
    return graph()


async def test_a_hit_reported_wrong_raises_only_that_entrys_threshold(
    tmp_path: Path, embedder: LocalEmbedder
) -> None:
    config = fake_config(tmp_path, workflows={"labels": f"{__name__}:build"})
    cache = local_cache(tmp_path, embedder)
    rt = Runtime(config, clients={"small": FakeTierClient(answer_billing)}, cache=cache)
    question = {"question": "How do I export my invoices?"}
    other = {"question": "Where do I change my email address?"}
    await rt.run("labels", question)
    await rt.run("labels", other)
    hit = await rt.run("labels", {"question": "How can I export my invoices?"})
    (step,) = hit.steps
    assert step.cache == "semantic" and step.similarity is not None

    threshold = await rt.cache_feedback(hit.run_id, "label", correct=False)

    assert threshold > step.similarity
    again = await rt.run("labels", {"question": "How can I export my invoices?"})
    assert again.steps[0].cache == "miss"  # the entry now asks for more than that
    elsewhere = await rt.run("labels", {"question": "How can I change my email address?"})
    assert elsewhere.steps[0].cache == "semantic"  # other entries keep the policy's threshold
    assert (await rt.cache_feedback(elsewhere.run_id, "label", correct=True)) == 0.0
    with pytest.raises(InputError, match="not answered by the semantic cache"):
        await rt.cache_feedback(again.run_id, "label", correct=False)
    await rt.aclose()


def by_topic(request: ChatRequest) -> str:
    """A model that labels invoice exports by where they go."""
    asked = request.messages[-1].content
    return json.dumps({"label": "spreadsheet" if "spreadsheet" in asked else "invoices"})


async def test_spot_checked_hits_are_answered_anyway_and_a_wrong_one_is_corrected(
    tmp_path: Path, embedder: LocalEmbedder
) -> None:
    cache = local_cache(tmp_path, embedder)
    client = FakeTierClient(by_topic)
    rt = Runtime(fake_config(tmp_path), clients={"small": client}, cache=cache)
    compiled = graph(check_rate=1.0)  # every semantic hit is checked

    async def ask(question: str) -> tuple[str, StepRecord]:
        with rt.execution("checked") as execution:
            out = await compiled.ainvoke({"question": question})
        (record,) = execution.steps
        return out["label"]["label"], record

    await ask("How do I export my invoices?")
    right = await ask("How can I export my invoices?")
    wrong = await ask("Can I export my invoices to a spreadsheet?")
    repeat = await ask("Can I export my invoices to a spreadsheet?")

    assert right[0] == "invoices" and right[1].cache == "semantic"
    assert right[1].checked == "right" and right[1].cost_usd > 0 and right[1].saved_cost_usd == 0
    # the entry said "invoices"; the model, asked anyway, says otherwise, and the step
    # returns the model's answer, which is then cached under its own text
    assert wrong[0] == "spreadsheet" and wrong[1].cache == "semantic"
    assert wrong[1].checked == "wrong" and wrong[1].cache_entry is not None
    assert repeat[0] == "spreadsheet" and repeat[1].cache == "exact"
    assert len(client.requests) == 3
    # a checked hit made a model call: the bench and the eval harness count it as one
    assert [r[1].from_cache for r in (right, wrong, repeat)] == [False, False, True]
    registry = rt.telemetry.metrics.registry
    for outcome in ("right", "wrong"):
        labels = {"workflow": "checked", "node": "label", "outcome": outcome}
        assert registry.get_sample_value("tierwise_cache_checks_total", labels) == 1
    await rt.aclose()


async def test_a_check_the_model_cannot_make_leaves_the_hit_standing(
    tmp_path: Path, embedder: LocalEmbedder
) -> None:
    answers = [json.dumps({"label": "invoices"})]
    client = FakeTierClient(lambda _: answers[-1])
    rt = Runtime(
        fake_config(tmp_path), clients={"small": client}, cache=local_cache(tmp_path, embedder)
    )
    compiled = graph(check_rate=1.0)
    with rt.execution("checked"):
        await compiled.ainvoke({"question": "How do I export my invoices?"})
    answers.append("not JSON at all")  # the model breaks down before the check
    with rt.execution("checked") as execution:
        out = await compiled.ainvoke({"question": "How can I export my invoices?"})
    *failed_check, answered = execution.steps
    assert out["label"] == {"label": "invoices"}
    assert answered.cache == "semantic" and answered.checked is None and answered.from_cache
    assert len(failed_check) == 1 and failed_check[0].cost_usd > 0  # paid, on the bill
    await rt.aclose()


async def test_a_run_whose_budget_cannot_pay_for_a_check_keeps_its_hit(
    tmp_path: Path, embedder: LocalEmbedder
) -> None:
    client = FakeTierClient(by_topic)
    rt = Runtime(
        fake_config(tmp_path), clients={"small": client}, cache=local_cache(tmp_path, embedder)
    )
    compiled = graph(check_rate=1.0)
    with rt.execution("checked") as first:
        await compiled.ainvoke({"question": "How do I export my invoices?"})
    cost = first.steps[0].cost_usd
    for budget in (BudgetSpec(max_cost_usd=cost / 2), BudgetSpec(max_tokens=10_000)):
        with rt.execution("checked", budget=budget) as execution:
            out = await compiled.ainvoke({"question": "How can I export my invoices?"})
        (hit,) = execution.steps
        assert out["label"] == {"label": "invoices"}
        assert hit.from_cache and hit.cache == "semantic"  # answered, not checked
    assert len(client.requests) == 1
    with rt.execution("checked", budget=BudgetSpec(max_cost_usd=cost * 2)) as execution:
        await compiled.ainvoke({"question": "How can I export my invoices?"})
    assert execution.steps[0].checked == "right"  # the check owed falls on this one
    await rt.aclose()


def test_a_check_rate_needs_an_output_model() -> None:
    with pytest.raises(ValueError, match="needs an output model"):
        Step(
            tier="small",
            prompt=(Segment.volatile("question", "{question}"),),
            writes="reply",
            cache=CachePolicy(mode=CacheMode.SEMANTIC, key=("question",), check_rate=0.1),
        )


async def test_a_scope_keeps_at_most_max_entries_newest_first(
    tmp_path: Path, embedder: LocalEmbedder
) -> None:
    index = QdrantSemanticCache.open(embedder, path=tmp_path / "qdrant", url=None)
    policy = CachePolicy(mode=CacheMode.SEMANTIC, key=("question",), max_entries=2)
    scope = CacheScope(workflow="w", node="n", prompt="p", model="m", tenant="t")
    texts = ["How do I export my invoices?", "Where is my order?", "How do I delete my account?"]
    for text in texts:
        answer = CachedAnswer(value=text, model="m", cost_usd=0.0, key_text=text)
        await index.add(scope, policy, answer)
    found = [index.search_blocking(scope, policy, text) for text in texts]
    assert [hit is not None for hit in found] == [False, True, True]
    await index.aclose()
    reopened = QdrantSemanticCache.open(embedder, path=tmp_path / "qdrant", url=None)
    assert reopened.search_blocking(scope, policy, texts[0]) is None  # deleted, not hidden
    await reopened.aclose()


# qdrant-client leaves the lock file of a failed open to the garbage collector
@pytest.mark.filterwarnings("ignore::ResourceWarning")
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
async def test_a_locked_qdrant_folder_degrades_to_exact_matches(
    tmp_path: Path, embedder: LocalEmbedder
) -> None:
    holder = QdrantClient(path=str(tmp_path / "qdrant"))  # another process holds the folder
    config = fake_config(tmp_path)
    cache = StepCache(
        MemoryStore(),
        semantic=lambda: QdrantSemanticCache.open(embedder, path=tmp_path / "qdrant", url=None),
        timeout_s=0.05,
    )
    client = FakeTierClient(answer_billing)
    rt = Runtime(config, clients={"small": client}, cache=cache)
    found = await outcomes(
        rt,
        [
            ("t", "Where are my invoices?"),
            ("t", "Where are my invoices?"),
            ("t", "Where can I find my invoices?"),
        ],
    )
    holder.close()
    gc.collect()  # collect the failed client here, where the warning filters apply
    assert [kind for kind, _ in found] == ["miss", "exact", "miss"]
    assert cache.errors == 1


def test_eval_cache_json_reports_the_required_keys_for_both_configurations(
    tmp_path: Path,
) -> None:
    pairs = tmp_path / "pairs.jsonl"
    lines = [
        {
            "query": "How can I reset my password?",
            "cached": "How do I reset my password?",
            "same": True,
        },
        {
            "query": "How do I disable two-factor login?",
            "cached": "How do I enable two-factor login?",
            "same": False,
        },
    ]
    pairs.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    result = CliRunner().invoke(
        app, ["eval", "cache", "--pairs", str(pairs), "--json", "--feedback"]
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    for section in (report, report["baseline"]):
        assert {"hit_rate", "wrong_hit_rate", "p50_ms", "p95_ms"} <= set(section)
    assert report["guards"] is True and report["baseline"]["guards"] is False
    assert report["hit_rate"] == 1.0  # the paraphrase found its own entry
    assert report["wrong_hit_rate"] == 0.0  # the guard refused enable/disable
    assert report["baseline"]["wrong_hit_rate"] > 0  # the static threshold did not
    assert report["with_feedback"]["feedback"] is True
    assert report["with_feedback"]["hit_rate"] == 1.0


def test_eval_cache_explains_each_pair_with_the_guard_that_judged_it(tmp_path: Path) -> None:
    pairs, explained = tmp_path / "pairs.jsonl", tmp_path / "explained.jsonl"
    lines = [
        ("How can I reset my password?", "How do I reset my password?", True),
        ("How do I disable two-factor login?", "How do I enable two-factor login?", False),
        ("How do I change my shipping address?", "How do I change my billing address?", False),
        ("Can my team set a limit for me?", "Can I set a limit for my team?", False),
    ]
    pairs.write_text(
        "".join(json.dumps({"query": q, "cached": c, "same": same}) + "\n" for q, c, same in lines)
    )
    result = CliRunner().invoke(
        app, ["eval", "cache", "--pairs", str(pairs), "--explain", str(explained)]
    )
    assert result.exit_code == 0, result.output
    paraphrase, negation, swap, roles = (
        json.loads(line) for line in explained.read_text().splitlines()
    )
    assert paraphrase["outcome"] == "hit" and paraphrase["found"] == "How do I reset my password?"
    assert paraphrase["verdict"].startswith("none (- / -)")  # only the framing differs
    assert negation["outcome"] == "no hit" and negation["static_outcome"] == "wrong hit"
    assert negation["verdict"].startswith("refused: antonyms")
    assert negation["similarity"] > 0.8  # close enough for the static threshold
    assert swap["verdict"] == "refused: 'shipping' / 'billing' swapped in one slot"
    assert roles["verdict"].startswith("refused: roles reversed")


async def test_an_unreachable_qdrant_server_degrades_to_exact_matches(
    tmp_path: Path, embedder: LocalEmbedder
) -> None:
    nobody = f"http://127.0.0.1:{free_port()}"  # QDRANT_URL of a server that is down
    cache = StepCache(
        MemoryStore(),
        semantic=lambda: QdrantSemanticCache.open(embedder, path=None, url=nobody),
        timeout_s=0.05,
    )
    rt = Runtime(
        fake_config(tmp_path), clients={"small": FakeTierClient(answer_billing)}, cache=cache
    )
    found = await outcomes(
        rt,
        [
            ("t", "Where are my invoices?"),
            ("t", "Where are my invoices?"),
            ("t", "Where can I find my invoices?"),
        ],
    )
    assert [kind for kind, _ in found] == ["miss", "exact", "miss"]
    assert cache.errors >= 1
