from __future__ import annotations

from pathlib import Path

import pytest

from runtime.cache._evaluation import ParaphrasePair, distractors, load_pairs, score
from runtime.errors import InputError

PAIRS = [
    ParaphrasePair(query="a1", cached="A", same=True),
    ParaphrasePair(query="a2", cached="A", same=True),
    ParaphrasePair(query="b1", cached="B", same=True),
    ParaphrasePair(query="not a", cached="A", same=False),
]


def test_score_counts_own_entries_as_correct_and_everything_else_as_wrong() -> None:
    found = ["question: A", "question: B", None, "question: A"]
    correct, wrong, hits = score(PAIRS, found)
    # a1 -> own entry; a2 -> another line's entry; b1 missed; "not a" hit at all: wrong
    assert (correct, wrong, hits) == (1, 2, 3)


def test_bad_lines_name_the_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "pairs.jsonl"
    path.write_text('{"query": "q", "cached": "c", "same": true}\n{"query": "q"}\n')
    with pytest.raises(InputError, match=r"pairs.jsonl:2: not a pair"):
        load_pairs(path)


def test_distractors_are_distinct_and_as_many_as_asked() -> None:
    texts = distractors(10_000)
    assert len(texts) == 10_000 == len(set(texts))


def test_the_shipped_pair_sets_parse_and_hold_hard_negatives() -> None:
    for name in ("support_paraphrases.jsonl", "support_paraphrases_heldout.jsonl"):
        pairs = load_pairs(Path(__file__).parents[3] / "evals" / "cache" / name)
        assert any(p.same for p in pairs) and any(not p.same for p in pairs)


def test_calibration_takes_the_best_hit_rate_within_the_wrong_hit_target() -> None:
    from runtime.cache._evaluation import ThresholdPoint, calibrate

    points = [
        ThresholdPoint(threshold=0.7, hit_rate=0.95, wrong_hit_rate=0.05, hits=20),
        ThresholdPoint(threshold=0.8, hit_rate=0.90, wrong_hit_rate=0.01, hits=18),
        ThresholdPoint(threshold=0.85, hit_rate=0.90, wrong_hit_rate=0.0, hits=18),
        ThresholdPoint(threshold=0.9, hit_rate=0.70, wrong_hit_rate=0.0, hits=14),
    ]
    assert calibrate(points, max_wrong_hit_rate=0.01).threshold == 0.85  # ties: the safer
    assert calibrate(points, max_wrong_hit_rate=0.05).threshold == 0.7
    with pytest.raises(InputError, match="no threshold"):
        calibrate(points[:1], max_wrong_hit_rate=0.0)


def test_every_evaluation_embeds_its_queries_from_cold(tmp_path: Path) -> None:
    from runtime.cache._evaluation import evaluate, fill
    from runtime.cache._semantic import QdrantSemanticCache

    embedded: list[str] = []

    class Letters:
        """Texts to vectors by the letters they hold: enough to find neighbours."""

        dimension = 26

        def embed(self, texts: list[str]) -> list[list[float]]:
            embedded.extend(texts)
            rows = [[float(text.count(chr(97 + i))) + 0.01 for i in range(26)] for text in texts]
            return [[x / sum(y * y for y in row) ** 0.5 for x in row] for row in rows]

    index = QdrantSemanticCache.open(Letters(), path=tmp_path / "qdrant", url=None)
    fill(index, [pair.cached for pair in PAIRS])
    for _ in range(2):  # a second run meets no embedding the first one made
        before = len(embedded)
        evaluate(index, PAIRS, threshold=0.5, guards=False, entries=2)
        assert len(embedded) - before == len(PAIRS)
