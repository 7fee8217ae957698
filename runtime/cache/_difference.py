"""What two key texts say differently, word by word, and how much similarity that costs.

An embedding scores "How do I change my billing address?" and "... my shipping address?"
as close as two real paraphrases, because one word of eight differs. Word by word the two
are far apart: each names something the other does not. This module lines the content
words of a lookup up against those of a cached entry (same stem, same word family, or
WordNet synonyms in their commonest senses) and classifies what is left over:

- nothing: the texts say the same in other function words ("How can I" / "How do I");
  the hit may score a little lower than the threshold.
- words on one side only: one text elaborates; the threshold applies as it is, unless a
  verb is among them ("restore my deleted workspace" / "delete my workspace"): an action
  added is penalised like an action rephrased.
- words on both sides, all verbs: the action is phrased differently ("update" / "change",
  "enable" / "turn on"), which paraphrases do all the time; the hit must score higher.
- words on both sides, not all verbs, in one slot: a thing, a quality or an amount was
  swapped in an otherwise identical question ("billing" / "shipping", "daily" / "weekly",
  "the side letter" / "this contract"), the shape of a minimal pair, which an embedding
  scores as close as a paraphrase; refused. A slot is one word for one word, or the one
  stretch of words the texts differ in when what comes before and after it is the same and
  holds a content word, and the stretch holds no content word the other text also has.
- words on both sides, not all verbs, anywhere else: the question was reworded ("delivery
  time" / "how long ... shipping", "go back to an older" / "restore a previous"), the shape
  of a paraphrase; the threshold applies as it is.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from enum import StrEnum

from runtime._sequences import common_prefix_length
from runtime.cache._lexicon import lexicon, stem

SAME_WORDS_BONUS = 0.1
"""Similarity added when every content word is matched: the texts differ only in framing."""
VERB_SWAP_PENALTY = 0.05
"""Similarity taken off when the texts phrase their action with different verbs."""

_WORD = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
_ACRONYM = re.compile(r"\b[A-Z]{2,}\b")
_LABEL = re.compile(r"^\w[\w.-]*: ", re.MULTILINE)
"""The name ``key_text`` puts before each key input ("question: ..."): not the question's
words, so not context two questions share."""
_CONTRACTIONS = (
    (re.compile(r"\bcan(?:no|')t\b"), "can not"),
    (re.compile(r"\bwon't\b"), "will not"),
    (re.compile(r"n't\b"), " not"),
    (re.compile(r"'(?:s|re|ve|ll|d|m)\b"), ""),
)
_FUNCTION_WORDS = frozenset(
    """a an the i me my mine we us our ours you your yours he she it its they them their this
    that these those is are was were be been being am do does did done doing have has had
    having can could would should will shall may might must how what why where when which who
    whom whose there here to of for with at by from as about into onto than then so if or and
    but please possible way ways steps step want need like tell let get got getting gets
    anyone someone something any some just also still really very already on in out off up
    down over under not no never across between within through via per because every each
    all another other else make makes made take takes took go goes going""".split()
)
"""Words that frame a question rather than say what it is about: pronouns, auxiliaries,
prepositions, quantifiers and light verbs ("make", "take", "get"). Negations, particles
and numbers are here too: the guards compare those, exactly, before this module is asked."""
_SHARED_PREFIX = 4
"""Letters two stems must share at least to count as one word family ("liability" and
"liable"), and at least 60% of the shorter stem."""


class Change(StrEnum):
    """How the content words of two texts differ."""

    NONE = "none"
    ADDED = "added"
    VERB_ADDED = "verb_added"
    VERBS_SWAPPED = "verbs_swapped"
    SWAPPED = "swapped"
    REWORDED = "reworded"


@dataclass(frozen=True, slots=True)
class Difference:
    """Content words of each text that nothing in the other matches."""

    query_only: tuple[str, ...]
    cached_only: tuple[str, ...]
    in_one_slot: bool
    """The texts differ in one stretch of words only, which no matched word is part of, and
    the words around it hold a content word: one slot of one question, filled differently."""

    @property
    def change(self) -> Change:
        """The kind of difference, from which ``adjusted`` derives its correction."""
        if not self.query_only and not self.cached_only:
            return Change.NONE
        words = lexicon()
        verbs = [words.is_mostly_verb(w) for w in (*self.query_only, *self.cached_only)]
        if not self.query_only or not self.cached_only:
            return Change.VERB_ADDED if any(verbs) else Change.ADDED
        if all(verbs):
            return Change.VERBS_SWAPPED
        one_for_one = len(self.query_only) == len(self.cached_only) == 1
        return Change.SWAPPED if one_for_one or self.in_one_slot else Change.REWORDED

    def adjusted(self, similarity: float) -> float | None:
        """The similarity a threshold is compared with, or None when the hit is refused."""
        change = self.change
        if change is Change.SWAPPED:
            return None
        if change is Change.NONE:
            return similarity + SAME_WORDS_BONUS
        if change in (Change.VERBS_SWAPPED, Change.VERB_ADDED):
            return similarity - VERB_SWAP_PENALTY
        return similarity


@dataclass(frozen=True, slots=True)
class _Word:
    text: str
    stem: str
    phrase: str | None  # the word with the one after it, when WordNet knows the pair


@functools.lru_cache(maxsize=16_384)
def _tokens(text: str) -> tuple[tuple[str, bool], ...]:
    """Every word (lowercased, contractions spelled out) and whether it is a content word.

    Cached, as entries' texts meet many lookups.
    """
    text = _LABEL.sub("", text)
    acronyms = {a.lower() for a in _ACRONYM.findall(text)}  # "US" is not "us"
    lowered = text.lower().replace("\u2019", "'")
    for pattern, replacement in _CONTRACTIONS:
        lowered = pattern.sub(replacement, lowered)
    return tuple(
        (word, not ((word in _FUNCTION_WORDS and word not in acronyms) or word.isdigit()))
        for word in _WORD.findall(lowered)
    )


@functools.lru_cache(maxsize=16_384)
def _words(text: str) -> tuple[_Word, ...]:
    """Content words with their stems."""
    raw = _tokens(text)
    words = []
    for i, (word, content) in enumerate(raw):
        if not content:
            continue
        pair = f"{word} {raw[i + 1][0]}" if i + 1 < len(raw) else None
        phrase = pair if pair and any(lexicon().base_forms(pair)) else None
        words.append(_Word(word, stem(word), phrase))
    return tuple(words)


def _slot(query: str, cached: str) -> tuple[set[str], set[str]] | None:
    """The content words of the one stretch of each text where the two differ.

    That is what is left once the words both start and end with are taken off; None when
    those hold no content word: then the whole question was reworded, not one slot of it.
    """
    left, right = _tokens(query), _tokens(cached)
    before = common_prefix_length(left, right)
    after = common_prefix_length(left[before:][::-1], right[before:][::-1])
    if not any(content for _, content in (*left[:before], *left[len(left) - after :])):
        return None
    return (
        {w for w, content in left[before : len(left) - after] if content},
        {w for w, content in right[before : len(right) - after] if content},
    )


def _same_family(a: str, b: str) -> bool:
    shared = common_prefix_length(a, b)
    return shared >= _SHARED_PREFIX and shared >= 0.6 * min(len(a), len(b))


def _readings(word: _Word) -> set[str]:
    return {word.text} if word.phrase is None else {word.text, word.phrase}


def _synonymous(a: _Word, b: _Word) -> bool:
    words = lexicon()
    for reading in _readings(a):
        synonyms = words.synonyms(reading)
        stems = {stem(s) for s in synonyms if " " not in s}
        if b.stem in stems or (b.phrase is not None and b.phrase in synonyms):
            return True
    return False


def _family_members(a: _Word, b: _Word) -> bool:
    return _same_family(a.stem, b.stem)


def _synonyms_either_way(a: _Word, b: _Word) -> bool:
    return _synonymous(a, b) or _synonymous(b, a)


def difference(query: str, cached: str) -> Difference:
    """Line the content words up: same stem first, then word family, then synonyms."""
    left, right = list(_words(query)), list(_words(cached))
    right_stems = {w.stem for w in right}
    left_stems = {w.stem for w in left}
    left = [w for w in left if w.stem not in right_stems]
    right = [w for w in right if w.stem not in left_stems]
    for matches in (_family_members, _synonyms_either_way):
        unmatched = []
        for word in left:
            partner = next((other for other in right if matches(word, other)), None)
            if partner is None:
                unmatched.append(word)
            else:
                right.remove(partner)
        left = unmatched
    query_only, cached_only = tuple(w.text for w in left), tuple(w.text for w in right)
    slot = _slot(query, cached)
    in_one_slot = slot is not None and slot[0] <= set(query_only) and slot[1] <= set(cached_only)
    return Difference(query_only, cached_only, in_one_slot)
