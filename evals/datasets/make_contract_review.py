"""Build evals/datasets/contract_review.jsonl: 100 contracts, one aspect each, and the
clause a correct review relies on.

Each contract is seven clauses drawn from variants (different notice periods, caps,
rates, laws), in a shuffled order, so the clause number of an aspect differs from item to
item and cannot be guessed. Seeded: the same file every time.

    python -m evals.datasets.make_contract_review
"""

from __future__ import annotations

import json
import random
from pathlib import Path

CLAUSES = {
    "renewal and term": [
        "Term. The initial term is {months} months and renews automatically for successive "
        "{months}-month terms unless either party gives notice at least {days} days before "
        "the end of the current term.",
        "Term. This agreement runs for {months} months from the Effective Date and ends "
        "then unless both parties sign a renewal.",
    ],
    "fees and price changes": [
        "Fees. Fees are invoiced {period} in advance and are due within {days} days. Supplier "
        "may increase fees on renewal by up to {percent}% with {days} days' written notice.",
        "Fees. Fees are fixed for the whole term and invoiced {period}; late payments accrue "
        "interest at {rate}% per month.",
    ],
    "termination": [
        "Termination. Either party may terminate for material breach not cured within {days} "
        "days of written notice. Customer may not terminate for convenience.",
        "Termination. Customer may terminate for convenience on {days} days' notice; prepaid "
        "fees for the remaining term are refunded pro rata.",
    ],
    "liability": [
        "Liability. Each party's total liability is capped at the fees paid in the {months} "
        "months before the claim.",
        "Liability. Supplier's liability is unlimited for data breaches and otherwise capped "
        "at {multiple} times the annual fees.",
    ],
    "data protection": [
        "Data. Supplier processes Customer Data only to provide the service, stores it in the "
        "{region} and deletes it within {days} days after termination.",
        "Data. Supplier may transfer Customer Data to subprocessors in any country and keeps "
        "it for {months} months after termination.",
    ],
    "acceptable use": [
        "Acceptable use. Customer shall not reverse engineer the service, exceed the licensed "
        "user count of {users} or resell access.",
    ],
    "governing law": [
        "Governing law. This agreement is governed by the laws of {law}.",
    ],
}
PARTIES = ["Northwind Analytics Ltd", "Contoso Cloud GmbH", "Fabrikam Data BV", "Tailspin SaaS Inc"]


def contract(rng: random.Random) -> tuple[str, dict[str, str]]:
    """A contract and the clause number of each aspect in it."""
    values = {
        "months": rng.choice([12, 24, 36]),
        "days": rng.choice([14, 30, 60, 90]),
        "percent": rng.choice([5, 10, 15, 20]),
        "rate": rng.choice([1, 1.5, 2]),
        "period": rng.choice(["annually", "quarterly", "monthly"]),
        "multiple": rng.choice([1, 2, 3]),
        "region": rng.choice(["EU", "UK", "US"]),
        "users": rng.choice([10, 50, 250]),
        "law": rng.choice(["England and Wales", "Germany", "the Netherlands", "New York"]),
    }
    aspects = list(CLAUSES)
    rng.shuffle(aspects)
    lines, numbers = [], {}
    for number, aspect in enumerate(aspects, start=1):
        lines.append(f"{number}. " + rng.choice(CLAUSES[aspect]).format(**values))
        numbers[aspect] = str(number)
    party = rng.choice(PARTIES)
    head = f"MASTER SUBSCRIPTION AGREEMENT between {party} (Supplier) and the Customer."
    return "\n".join([head, *lines]), numbers


def main() -> None:
    rng = random.Random(7)
    items = []
    for index in range(100):
        text, numbers = contract(rng)
        aspect = list(CLAUSES)[index % len(CLAUSES)]
        items.append(
            {
                "input": {"contract": text, "aspects": [aspect]},
                "expect": {"findings.0.clause": numbers[aspect]},
                "rubric": f"The finding relies on clause {numbers[aspect]} (the {aspect} "
                "clause), summarises what it means for the customer in one sentence and rates "
                "its risk plausibly.",
            }
        )
    path = Path(__file__).with_name("contract_review.jsonl")
    path.write_text("".join(json.dumps(item) + "\n" for item in items))
    print(f"wrote {len(items)} items to {path}")


if __name__ == "__main__":
    main()
