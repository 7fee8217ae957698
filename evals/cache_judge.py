"""Measurement: can the packaged large model tell a semantic cache's right hits from its wrong ones?

Every shipped pair set is looked up at a low threshold (0.6) with the guards on; each hit
(the query and the cached text it found) is put to Qwen2.5-Coder-0.5B, the packaged large
tier, as a yes/no question ("same request?"), and scored by log p(yes) - log p(no) of its
first answer token. If that score separated right hits from wrong ones, a cheap model call
could verify the hits a threshold alone cannot. Reports the AUC over all hits and per set,
and what each score cut keeps against the default threshold (0.8) alone. Writes
evals/reports/cache_judge.md.

    python -m evals.cache_judge
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

import llama_cpp
import numpy as np

from evals.cache_eval import DEVELOPMENT, FRESH, HELD_OUT, REPO
from runtime import load_config
from runtime.engines._packaged import QWEN25_CODER_05B, packaged_model_file

SYSTEM = (
    "You check a support answer cache. Two customer messages are the same request only if "
    "one answer would be correct for both. Different products, numbers, dates, actions or "
    "opposite meanings make them different requests. Reply with yes or no."
)
LOW, DEFAULT = 0.6, 0.8
CUTS = (-0.3, -0.2, -0.1, 0.0, 0.1, 0.2, 0.3)


@dataclass(frozen=True, slots=True)
class Hit:
    pairs: str
    query: str
    found: str
    right: bool
    over_default: bool
    score: float = 0.0


def hits(pairs: Path, work: Path) -> list[Hit]:
    """The set's hits at LOW, each marked right or wrong and whether DEFAULT keeps it."""
    found: dict[float, list[dict[str, str]]] = {}
    for threshold in (LOW, DEFAULT):
        explain = work / f"{pairs.stem}-{threshold}.jsonl"
        command = [sys.executable, "-m", "runtime.cli", "eval", "cache", "--pairs", str(pairs)]
        command += ["--threshold", str(threshold), "--json", "--explain", str(explain)]
        subprocess.run(command, capture_output=True, check=True)
        lines = [json.loads(line) for line in explain.read_text().splitlines()]
        found[threshold] = [e for e in lines if e["outcome"] in ("hit", "wrong hit")]
    kept = {(e["query"], e["found"]) for e in found[DEFAULT]}
    return [
        Hit(pairs.stem, q, f, e["outcome"] == "hit", (q, f) in kept)
        for e in found[LOW]
        for q, f in [(e["query"], e["found"])]
    ]


class Judge:
    """The yes/no question on the large model, its instructions evaluated once and kept."""

    def __init__(self, model: Path) -> None:
        self._llm = llama_cpp.Llama(model_path=str(model), n_ctx=512, n_threads=2, verbose=False)
        head = f"<|im_start|>system\n{SYSTEM}<|im_end|>\n<|im_start|>user\n"
        self._head = self._tokens(head)
        self._llm.reset()  # type: ignore[no-untyped-call]
        self._llm.eval(self._head)
        self._yes = self._single(("yes", "Yes", " yes", " Yes", "YES"))
        self._no = self._single(("no", "No", " no", " No", "NO"))

    def score(self, query: str, cached: str) -> float:
        """log p(yes) - log p(no) for the first token of the answer."""
        ask = f"Message 1: {query}\nMessage 2: {cached}\nSame request?<|im_end|>\n"
        self._llm.n_tokens = len(self._head)
        self._llm.eval(self._tokens(ask + "<|im_start|>assistant\n"))
        logits = np.ctypeslib.as_array(
            llama_cpp.llama_get_logits(self._llm.ctx), shape=(self._llm.n_vocab(),)
        )
        odds = np.exp(logits.astype(np.float64) - logits.max())
        return float(np.log(odds[self._yes].sum()) - np.log(odds[self._no].sum()))

    def _tokens(self, text: str) -> list[int]:
        return list(self._llm.tokenize(text.encode(), add_bos=False, special=True))

    def _single(self, words: tuple[str, ...]) -> list[int]:
        ids = (self._llm.tokenize(w.encode(), add_bos=False, special=False) for w in words)
        return sorted({t[0] for t in ids if len(t) == 1})


def auc(judged: list[Hit]) -> float:
    right = [h.score for h in judged if h.right]
    wrong = [h.score for h in judged if not h.right]
    if not right or not wrong:
        return float("nan")
    wins = sum((r > w) + 0.5 * (r == w) for r in right for w in wrong)
    return wins / (len(right) * len(wrong))


def counts(judged: list[Hit]) -> str:
    right = sum(h.right for h in judged)
    wrong = len(judged) - right
    return f"{right} | {wrong} | {wrong / max(1, len(judged)):.1%}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--report", type=Path, default=REPO / "evals/reports/cache_judge.md")
    args = parser.parse_args()
    config = load_config(REPO / "tierwise.toml")
    judge = Judge(packaged_model_file(QWEN25_CODER_05B.name, config.embedded.model_dir))
    judged: list[Hit] = []
    with tempfile.TemporaryDirectory() as work:
        for pairs in (DEVELOPMENT, HELD_OUT, *FRESH):
            for hit in hits(pairs, Path(work)):
                judged.append(replace(hit, score=judge.score(hit.query, hit.found)))
    lines = [
        f"All {len(judged)} hits at {LOW}: AUC {auc(judged):.3f} (0.5 is chance).\n",
        "| kept | right hits | wrong hits | wrong / hits |",
        "|---|---:|---:|---:|",
        f"| every hit at {LOW} | {counts(judged)} |",
        f"| hits at {DEFAULT} | {counts([h for h in judged if h.over_default])} |",
    ]
    for cut in CUTS:
        kept = [h for h in judged if h.score >= cut]
        lines.append(f"| hits at {LOW}, score >= {cut} | {counts(kept)} |")
    for cut in CUTS:
        kept = [h for h in judged if h.over_default and h.score >= cut]
        lines.append(f"| hits at {DEFAULT}, score >= {cut} | {counts(kept)} |")
    lines += ["", "| pairs | right hits | wrong hits | AUC |", "|---|---:|---:|---:|"]
    for name in dict.fromkeys(h.pairs for h in judged):
        mine = [h for h in judged if h.pairs == name]
        right = sum(h.right for h in mine)
        score = auc(mine)
        shown = "-" if score != score else f"{score:.2f}"  # NaN: no wrong hit to rank against
        lines.append(f"| {name} | {right} | {len(mine) - right} | {shown} |")
    text = "\n".join(lines) + "\n"
    args.report.write_text(
        "# Verifying semantic hits with the packaged large model\n\n"
        "Measured by `python -m evals.cache_judge`: each hit's score is log p(yes) - log "
        'p(no) of Qwen2.5-Coder-0.5B\'s first answer token to "same request?".\n\n' + text
    )
    print(text)


if __name__ == "__main__":
    main()
