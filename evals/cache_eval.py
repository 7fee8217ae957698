"""Benchmark: the semantic cache (guards) against a single static threshold, same run.

Runs `tierwise eval cache` on the shipped pair sets (the set the guards were developed
on, and a held-out set they never saw) and, for latency at scale, on the development set
with the cache grown to 10,000 entries. Writes evals/reports/cache_eval.md.

    python -m evals.cache_eval [--threshold 0.8] [--fill 10000]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
SETS = {
    "development": REPO / "evals/cache/support_paraphrases.jsonl",
    "held-out": REPO / "evals/cache/support_paraphrases_heldout.jsonl",
}


def run(pairs: Path, threshold: float, fill: int) -> dict[str, Any]:
    command = [
        sys.executable,
        "-m",
        "runtime.cli",
        "eval",
        "cache",
        "--pairs",
        str(pairs),
        "--threshold",
        str(threshold),
        "--fill",
        str(fill),
        "--json",
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    return dict(json.loads(done.stdout))


def rows(name: str, report: dict[str, Any]) -> list[str]:
    out = []
    for label, r in (
        ("tierwise (threshold + guards)", report),
        ("static threshold", report["baseline"]),
    ):
        out.append(
            f"| {name} | {label} | {r['entries']} | {r['hit_rate']:.1%} | "
            f"{r['wrong_hit_rate']:.1%} ({r['wrong_hits']}/{r['hits']}) | "
            f"{r['p50_ms']:.1f} | {r['p95_ms']:.1f} |"
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threshold", type=float, default=0.8)
    parser.add_argument("--fill", type=int, default=10_000)
    parser.add_argument("--report", type=Path, default=REPO / "evals/reports/cache_eval.md")
    args = parser.parse_args()
    lines = [
        "| pairs | cache | entries | hit rate | wrong hits / hits | p50 ms | p95 ms |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for name, path in SETS.items():
        lines += rows(name, run(path, args.threshold, 0))
    lines += rows(
        f"development, {args.fill:,} entries", run(SETS["development"], args.threshold, args.fill)
    )
    table = "\n".join(lines) + "\n"
    args.report.write_text(
        "# Semantic cache evaluation\n\n"
        f"Measured by `python -m evals.cache_eval` (threshold {args.threshold}; latency is "
        "per lookup, embedding included, on this machine).\n\n" + table
    )
    print(table)


if __name__ == "__main__":
    main()
