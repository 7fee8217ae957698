"""Output tokens with and without a schema constraint, on support_triage's classify step.

The same prompt (which already asks for JSON with the two fields) runs on each tier for
every question of the eval set, once constrained by the step's JSON schema (what
tierwise sends) and once free. Reports mean output tokens, output cost, and how many
free answers would not validate (each of those is a retry or an escalation in real use).

    python -m evals.schema_tokens [--items 20]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
from pathlib import Path

from pydantic import ValidationError

from evals.prefix_reuse import REPO
from graphs.support_triage import CLASSIFY, Classification
from runtime import Runtime, load_config
from runtime.engines import ChatRequest
from runtime.evaluation import load_dataset
from runtime.prompts import render_messages


async def measure(items: int, scratch: Path) -> dict[tuple[str, str], dict[str, float]]:
    config = load_config(REPO / "tierwise.toml")
    runtime = Runtime(config.isolated(scratch))
    questions = [item.input for item in load_dataset(REPO / "evals/datasets/support_triage.jsonl")]
    schema = Classification.model_json_schema()
    results = {}
    for tier in config.tiers:
        for constrained in (True, False):
            tokens, costs, invalid = [], [], 0
            for state in questions[:items]:
                request = ChatRequest(
                    messages=render_messages(CLASSIFY.prompt, state, node="classify"),
                    json_schema=schema if constrained else None,
                    max_tokens=CLASSIFY.max_tokens or 40,
                )
                result = await runtime.tier_client(tier).chat(request)
                tokens.append(result.usage.output_tokens)
                costs.append(result.usage.output_tokens * config.tiers[tier].price.output / 1e6)
                try:
                    Classification.model_validate(json.loads(result.text))
                except (ValueError, ValidationError):
                    invalid += 1
            label = "schema-constrained" if constrained else "free"
            results[(tier, label)] = {
                "output_tokens": statistics.mean(tokens),
                "output_cost": statistics.mean(costs),
                "invalid": invalid / len(tokens),
            }
    await runtime.aclose()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=20)
    parser.add_argument("--report", type=Path, default=REPO / "evals/reports/schema_tokens.md")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        results = asyncio.run(measure(args.items, Path(scratch)))
    lines = [
        "| tier | output | mean output tokens | mean output cost USD | invalid answers |",
        "|---|---|---:|---:|---:|",
    ]
    for (tier, label), row in results.items():
        lines.append(
            f"| {tier} | {label} | {row['output_tokens']:.1f} | {row['output_cost']:.8f} "
            f"| {row['invalid']:.0%} |"
        )
    table = "\n".join(lines) + "\n"
    args.report.write_text(
        "# Output tokens with and without schema constraints\n\n"
        f"Measured by `python -m evals.schema_tokens --items {args.items}` on this machine: "
        "support_triage's classify prompt on each tier, the first items of "
        "evals/datasets/support_triage.jsonl, output capped at the step's 40 tokens.\n\n" + table
    )
    print(table)


if __name__ == "__main__":
    main()
