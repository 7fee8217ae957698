"""Whether two questions assert or deny the same thing: negations, failures, "not yet".

"Can I get a refund?" and "Can't I get a refund?" ask opposite things; "uploads over 2 GB
won't work" and "why does the upload fail over 2 GB?" ask the same, one with a negation,
the other with a word of failure. The guards refuse a hit whose two questions differ in
polarity this way.
"""

from __future__ import annotations

import functools
import re

from runtime.cache._actions import action
from runtime.cache._lexicon import has, lexicon, spellings, stem
from runtime.cache._tokens import tokenised

WORD = re.compile(r"[a-z0-9]+(?:['\u2019][a-z]+)?")
"""A word, with its contraction ("can't", "supplier's")."""
_NEGATIONS = frozenset(
    "not no never nothing none nobody cannot cant can't won't wont don't dont doesn't doesnt "
    "didn't didnt isn't isnt aren't arent wasn't wasnt shouldn't shouldnt couldn't couldnt "
    "without unable".split()
)

_FAILURES = (
    "fail",
    "stuck",
    "stop|stopped",
    "miss",
    "empty",
    "blank",
    "broken",
    "ignore",
    "dead",
    "wrong",
    "forget|forgot",
    "wait",
    "grey|gray",
    "lose|lost",
    "crash",
    "silent",
    "expire|expired",
    "disappear|disappeared|vanish|vanished",
)
"""Words that say something does not work, went amiss or should stop: a question with one of
them and a question that negates instead ("never finishes" / "stuck", "never lights up" /
"a dead pixel", "an address that isn't mine" / "the wrong address", "forgets" / "does not
remember", "still waiting for" / "has not arrived", "greyed out" / "can't", "has no power" /
"loses power", "so it doesn't repeat" / "stop a recurring meeting", "won't start" / "crashes
on launch", "voice chat is silent" / "can't hear") ask the same."""


def words(text: str) -> set[str]:
    """The lowercased words of ``text``, contractions whole ("can't")."""
    return set(WORD.findall(text.lower().replace("\u2019", "'")))


def negations(found: set[str]) -> set[str]:
    """The words among ``found`` that deny."""
    return (found & _NEGATIONS) | {w for w in found if w.endswith("n't")}


def _same_polarity(q_words: set[str], c_words: set[str]) -> bool:
    """Both texts assert, or both deny, or one denies what the other calls a failure.

    "Uploads over 2 GB won't work" asks what "Why does the upload fail over 2 GB?" asks; a
    "without" is matched only by "missing" or "excluding" ("arrived without a stand" is not
    "arrived broken"; "prices without VAT" are prices that exclude it). A word denied on one
    side is its opposite by prefix on the other: "no longer connected" / "disconnects".
    """
    q_not, c_not = negations(q_words), negations(c_words)
    if bool(q_not) == bool(c_not):
        return True
    denying, plain = (q_not, c_words) if q_not else (c_not, q_words)
    denier = q_words if q_not else c_words
    if denying == {"without"}:
        return (
            "missing" in plain
            or any(word.startswith("exclud") for word in plain)
            or bool(denier & _GOING_IN and plain & _REMOTE and not denier & _REMOTE)
            or bool(denier & _CONNECTION and "offline" in plain)
            or bool(plain & _NEEDING)
        )
    denied = {stem(word) for word in denier}
    return any(has(word, plain, "") for word in _FAILURES) or any(
        stem(word.removeprefix(prefix)) in denied
        for word in plain
        for prefix in ("dis", "un")
        if word.startswith(prefix) and len(word) > len(prefix) + 3
    )


_NOT_YET = re.compile(r"\b(?:not|never|[a-z]+n't)(?: yet| been)* ([a-z]+)")


def _not_yet_against_still(denying: str, plain: str) -> bool:
    """What has not happened yet is what is still the case: another word for it, not its denial.

    "My payment hasn't cleared yet" / "Why is a payment still pending?"; but "I haven't been
    charged yet" / "Why am I still being charged?" denies on one side what the other says.
    """
    plain_words = words(plain)
    if "still" not in plain_words or negations(plain_words):
        return False
    denied = _NOT_YET.findall(denying)
    plain_stems = {stem(word) for word in plain_words}
    return "yet" in words(denying) and len(denied) == 1 and stem(denied[0]) not in plain_stems


_UNWANTED = re.compile(r"\b(?:don't|do not) want\b")


def _unwanted_against_stopped(denying: str, plain: str) -> bool:
    """Not wanting something is asking to stop it.

    "I don't want to be notified when ..." / "How do I turn off notifications when ...".
    """
    return bool(_UNWANTED.search(denying)) and action(plain) == "stop"


def _negated(text: str) -> set[str]:
    """Lemmas of the verbs each negation denies.

    That is the verb after it, past the subject of a question: "wasn't I charged", "hasn't
    order 88231 been shipped".
    """
    tokens, wordnet = tokenised(text), lexicon()
    found = set()
    for i, (word, _) in enumerate(tokens):
        if word in ("not", "never"):
            following = tokens[i + 1 : i + 6]
            after = next((w for w, c in following if c and wordnet.is_mostly_verb(w)), None)
            if after is not None:
                found.add(_lemma(after))
    return found


def _lemma(word: str) -> str:
    """The verb a form is of, as a stem ("bought": buy), or the word's own stem."""
    verbs = [base for base in lexicon().verb_bases(word) if base != word]
    return stem(verbs[0] if verbs else word)


def _negation_moved(query: str, cached: str) -> str | None:
    """Both sides negate, each a word the other asserts.

    "Why wasn't I charged for a game I bought?" / "Why was I charged for a game I didn't buy?".
    """
    q_not, c_not = _negated(query), _negated(cached)
    if not q_not or not c_not or q_not == c_not:
        return None
    q_all = {_lemma(w) for w, content in tokenised(query) if content}
    c_all = {_lemma(w) for w, content in tokenised(cached) if content}
    ours, theirs = q_not - c_not, c_not - q_not
    if ours & c_all and theirs & q_all:
        return f"{sorted(ours)[0]!r} / {sorted(theirs)[0]!r}"
    return None


_GOING_IN = frozenset("visiting visit going coming".split())
_REMOTE = frozenset("online remotely".split())
_CONNECTION = frozenset("internet connection signal wifi wi-fi network data".split())
_NEEDING = frozenset("need needs needed require requires required".split())
"""Doing without going in is doing it remotely ("renew the card without visiting the branch"
/ "renew the card online"), without a connection is offline, and doing without a thing asks
whether it is needed ("watch live TV without a cable box" / "do I need a cable box to watch
live TV")."""

_NONE_OF = re.compile(r"\b(?:no|any) ([a-z]+)")
_NOT_SHOWN = re.compile(r"\bnot [a-z]+ (?:the |a |an |my |your )?([a-z]+)")
_ABSENT = ("empty", "blank", "miss")
"""Failure words that say a thing is not there: "blank covers" are covers not shown."""


def _none_against_faulty(denying: str, other: str) -> bool:
    """One side has none of a thing, the other a faulty one: a failure, but another.

    "My keyboard types no characters" / "... the wrong characters", "my printer doesn't
    print any pages" / "... prints blank pages"; "does not show the cover" / "shows the
    wrong cover", though a "blank cover" is a cover not shown, and what was lost is none
    ("has no power" / "loses power").
    """
    if not negations(words(denying)) or negations(words(other)):
        return False
    none = {stem(word) for word in _NONE_OF.findall(denying)}
    not_shown = {stem(word) for word in _NOT_SHOWN.findall(denying)}
    faulty = {(stem(thing), failure) for failure, thing in _faulty().findall(other)}
    return any(
        (thing in none and not failure.startswith("los"))
        or (thing in not_shown and not failure.startswith(_ABSENT))
        for thing, failure in faulty
    )


@functools.cache
def _faulty() -> re.Pattern[str]:
    """A failure word (as its terms name it) and the thing after it ("blank pages")."""
    written = sorted({s for terms in _FAILURES for s in spellings(terms)})
    return re.compile(rf"\b({'|'.join(map(re.escape, written))}) ([a-z]+)")


_NOT_FOUND = re.compile(
    r"\b(?:can't|cannot|can not|couldn't|could not|unable to) (?:find|locate)\b"
)
_WHERE = re.compile(r"\bwhere\b")


def _not_found_against_where(denying: str, plain: str) -> bool:
    """What the asker cannot find they ask the place of.

    "I can't find the confirmation for my order" / "Where do I find my order confirmation?".
    """
    return bool(_NOT_FOUND.search(denying) and _WHERE.search(plain))


def polarity_clash(query: str, cached: str) -> str | None:
    """Why the two texts differ in what they assert or deny, or None."""
    q_lower, c_lower = query.lower(), cached.lower()
    if not _same_polarity(words(query), words(cached)) and not (
        _not_yet_against_still(q_lower, c_lower)
        or _not_yet_against_still(c_lower, q_lower)
        or _unwanted_against_stopped(q_lower, c_lower)
        or _unwanted_against_stopped(c_lower, q_lower)
        or _not_found_against_where(q_lower, c_lower)
        or _not_found_against_where(c_lower, q_lower)
    ):
        return "negation differs"
    moved = _negation_moved(query, cached)
    if moved:
        return f"negation moved: {moved}"
    if _none_against_faulty(q_lower, c_lower) or _none_against_faulty(c_lower, q_lower):
        return "negation differs: none of a thing on one side, a faulty one on the other"
    return None
