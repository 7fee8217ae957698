"""What two key texts say differently, word by word, and how much similarity that costs.

An embedding scores "How do I change my billing address?" and "... my shipping address?"
as close as two real paraphrases, because one word of eight differs. Word by word the two
are far apart: each names something the other does not. This module lines the content
words of a lookup up against those of a cached entry (same stem, same word family, or
WordNet synonyms in their commonest senses) and classifies what is left over:

- nothing: the texts say the same in other function words ("How can I" / "How do I");
  the hit may score a little lower than the threshold.
- nothing, but an action named by a WordNet synonym ("switch" / "change", "edit" /
  "delete") or the content words in another order ("link Outlook to my calendar" /
  "connect my calendar to Outlook"): rephrased, not merely reframed; the threshold applies
  as it is.
- words on one side only: one text elaborates; the threshold applies as it is, unless a
  verb is among them ("restore my deleted workspace" / "delete my workspace"): an action
  added is penalised like an action rephrased.
- words on both sides, all verbs, framed differently: the action is phrased differently
  ("How can I update" / "How do I change", "enable" / "turn on"), which paraphrases do all
  the time; the hit must score higher. A participle right before a thing describes it and
  is no verb here ("broken screens" / "a cracked screen" is a rewording).
- one slot filled differently: refused. The texts differ in one stretch of words, and the
  words before and after it are the same and hold a content word, the shape of a minimal
  pair, which an embedding scores as close as a paraphrase. The stretch swaps a thing, a
  quality or an amount ("billing" / "shipping", "daily" / "weekly", "the side letter" /
  "this contract": no content word in it is matched in the other text), holds the same
  content words in another order ("from yearly to monthly" / "from monthly to yearly"), or
  names the asker on one side and someone else on the other ("a comment I posted" / "a
  comment someone else posted"). A verb for a verb in an otherwise identical question is a
  slot too ("reduce" / "exceed my storage quota"): paraphrases that rephrase an action
  change a particle or the framing as well, as all 480 in the shipped pair sets do.
  A stretch of several words at the very start, before any word both share, is the
  question's opening reworded ("Where can I find my receipt for March?" / "How do I get a
  copy of my receipt for March?"), not a slot: of the pairs in the eleven shipped sets
  that no guard refuses, 35 paraphrases and no negative differed that way, where 108
  negatives and 17 paraphrases differed in a stretch after a shared word.
- the same words in another order with the asker the object on one side only ("Can my
  team set a limit for me?" / "Can I set a limit for my team?"): roles reversed, refused. So
  is a question whose subject is the asker on one side and someone else on the other
  ("Can others share their screen during my call?" / "Can I share my screen ...").
- one thing for another and nothing else ("a tag to a project" / "a tag to a task"):
  refused even when WordNet calls the two synonyms (its commonest senses join "project"
  and "task", "account" and "invoice"). A word after a determiner is a thing, whatever
  WordNet reads it as mostly ("the number of projects per task").
- words inside one text only, with the same words on both sides, that change what it is
  about rather than describe the thing after them ("the font size in the editor" / "the
  font in the editor"): refused. "my hardware order" / "my order" describes; a greeting
  or a sign-off around the question is not inside it.
- words on both sides, not all verbs, anywhere else: the question was reworded ("delivery
  time" / "how long ... shipping", "go back to an older" / "restore a previous"), the shape
  of a paraphrase; the threshold applies as it is. That holds for one word each side too
  ("Is priority support part of the Pro plan?" / "Does the Pro plan include priority
  support?"): with no same words around them the two were not swapped in one slot. Over
  the nine shipped pair sets such pairs were 39 paraphrases and 2 negatives, both under
  0.65 similarity.
"""

from __future__ import annotations

import functools
import itertools
import re
from dataclasses import dataclass
from enum import StrEnum

from runtime._sequences import common_prefix_length
from runtime.cache._lexicon import lexicon, spelled_out, stem
from runtime.cache._roles import (
    asker_moved,
    asker_turned_object,
    condition_subjects_swapped,
    direction_reversed,
    other_party,
    owner_swapped,
    parties_reversed,
    sequence_reversed,
    subjects_swapped,
)
from runtime.cache._tokens import FUNCTION_WORDS, Tokens, tokenised

SAME_WORDS_BONUS = 0.1
"""Similarity added when every content word is matched: the texts differ only in framing."""
VERB_SWAP_PENALTY = 0.05
"""Similarity taken off when the texts phrase their action with different verbs."""

_SHARED_PREFIX = 4
"""Letters two stems must share at least to count as one word family ("liability" and
"liable"), and at least 60% of the shorter stem."""


class Change(StrEnum):
    """How the content words of two texts differ."""

    NONE = "none"
    REPHRASED = "rephrased"
    ADDED = "added"
    VERB_ADDED = "verb_added"
    VERBS_SWAPPED = "verbs_swapped"
    SWAPPED = "swapped"
    REVERSED = "reversed"
    REWORDED = "reworded"


@dataclass(frozen=True, slots=True)
class Difference:
    """Content words of each text that nothing in the other matches, and what that makes."""

    query_only: tuple[str, ...]
    cached_only: tuple[str, ...]
    change: Change
    slot: tuple[str, str] | None
    """The stretch of each text where the two differ, when the words around it are the same
    and hold a content word: one slot of one question, filled in two ways."""

    def adjusted(self, similarity: float) -> float | None:
        """The similarity a threshold is compared with, or None when the hit is refused."""
        change = self.change
        if change in (Change.SWAPPED, Change.REVERSED):
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
def _words(text: str) -> tuple[_Word, ...]:
    """Content words with their stems."""
    raw = tokenised(text)
    words = []
    for i, (word, content) in enumerate(raw):
        if not content:
            continue
        pair = f"{word} {raw[i + 1][0]}" if i + 1 < len(raw) else None
        phrase = pair if pair and any(lexicon().base_forms(pair)) else None
        words.append(_Word(word, stem(word), phrase))
    return tuple(words)


@dataclass(frozen=True, slots=True)
class _Slot:
    """The stretch of each text where two texts differ, and the shared word before it."""

    left: Tokens
    right: Tokens
    before: str
    after: str


def _slot(query: str, cached: str) -> _Slot | None:
    """The one stretch of each text where the two differ.

    That is what is left once the words both start and end with are taken off; None when
    those hold no content word: then the whole question was reworded, not one slot of it.
    """
    left, right = tokenised(query), tokenised(cached)
    before = common_prefix_length(left, right)
    after = common_prefix_length(left[before:][::-1], right[before:][::-1])
    if not any(content for _, content in (*left[:before], *left[len(left) - after :])):
        return None
    preceding = left[before - 1][0] if before else ""
    following = left[len(left) - after][0] if after else ""
    return _Slot(
        left[before : len(left) - after], right[before : len(right) - after], preceding, following
    )


_DETERMINERS = frozenset(
    "a the my your our their his her its this these those each every per of".split()
)
"""Words after which a word names a thing, whatever WordNet calls it mostly ("per project")."""


def _things(tokens: Tokens, other: Tokens, before: str = "") -> list[str]:
    """Stems, in order, of the content words that name things.

    Those are the words that are not mostly verbs, the words a determiner stands before
    ("the number of projects per task": WordNet reads "project" as mostly a verb), and the
    verbs the other text has in the same form ("stand" in "monitor stand"). A verb in
    another form is left out: a question turned into the passive moves its verb past its
    object ("encrypt my data" / "my data encrypted") without saying anything else.
    """
    words, theirs = lexicon(), {w for w, _ in other}
    previous = [before, *(w for w, _ in tokens)]
    return [
        stem(w)
        for (w, content), prior in zip(tokens, previous, strict=False)
        if content and (w in theirs or prior in _DETERMINERS or not words.is_mostly_verb(w))
    ]


def _exchanged(slot: _Slot) -> bool:
    """The same things in another order: "yearly to monthly" / "monthly to yearly"."""
    ours = _things(slot.left, slot.right, slot.before)
    theirs = _things(slot.right, slot.left, slot.before)
    return ours != theirs and sorted(ours) == sorted(theirs)


def _forms_traded(slot: _Slot) -> bool:
    """Two words trading forms and places: "delete a restored" / "restore a deleted".

    The slot says the same stems in another order, and two of its content words are written
    otherwise on the other side: what is done and what it was done to changed places. A
    question turned into the passive changes one word's form only ("encrypt my data" /
    "my data encrypted").
    """
    ours, theirs = [stem(w) for w, _ in slot.left], [stem(w) for w, _ in slot.right]
    if ours == theirs or sorted(ours) != sorted(theirs):
        return False
    forms = {stem(w): w for w, _ in slot.right}
    return sum(1 for w, content in slot.left if content and forms[stem(w)] != w) >= 2


def _lemmas(word: str) -> set[str]:
    """The word's stem and those of the verbs WordNet reads it as ("bought": "buy")."""
    return {stem(word)} | {stem(base) for base in lexicon().verb_bases(word)}


def _forms_traded_across(query: str, cached: str) -> bool:
    """Two irregular verbs trading forms and places across the whole question.

    "Why can't I buy a course I found?" / "Why can't I find a course I bought?": no word
    both share before the change, so there is no slot; what the asker did and what they
    ask to do changed places.
    """
    left = [w for w, content in tokenised(query) if content]
    right = [w for w, content in tokenised(cached) if content]
    if len(left) != len(right):
        return False
    places, free = [], list(range(len(right)))
    for word in left:
        lemmas = _lemmas(word)
        place = next((i for i in free if _lemmas(right[i]) & lemmas), None)
        if place is None:
            return False
        free.remove(place)
        places.append(place)
    changed = sum(
        1 for word, place in zip(left, places, strict=True) if stem(word) != stem(right[place])
    )
    return places != sorted(places) and changed >= 2


def _one_for_one(slot: _Slot) -> bool:
    """One word for one word and nothing else, determiners aside ("see the" / "set a")."""
    ours = [w for w, _ in slot.left if w not in _DETERMINERS]
    theirs = [w for w, _ in slot.right if w not in _DETERMINERS]
    return len(ours) == len(theirs) == 1


_OPPOSITES = frozenset(
    frozenset(pair.split()) for pair in ("on off", "in out", "up down", "over under")
)


def _opposites_exchanged(slot: _Slot) -> bool:
    """The same words with two opposite particles exchanged.

    "Why is my heating off when the thermostat is on?" / "... on when the thermostat is
    off?": which one is on changed.
    """
    ours, theirs = [w for w, _ in slot.left], [w for w, _ in slot.right]
    if ours == theirs or sorted(ours) != sorted(theirs):
        return False
    moved = {frozenset((a, b)) for a, b in zip(ours, theirs, strict=True) if a != b}
    return bool(moved) and moved <= _OPPOSITES


def _thing_for_thing(slot: _Slot) -> bool:
    """One thing named for another and nothing else ("a tag to a project" / "... a task").

    Refused even when WordNet calls the two synonyms: its commonest senses still join
    "project" and "task", "account" and "invoice". Two words of one family
    ("color" / "colour") are one word.
    """
    if not len(slot.left) == len(slot.right) == 1:
        return False
    ours = _things(slot.left, slot.right, slot.before)
    theirs = _things(slot.right, slot.left, slot.before)
    return bool(ours and theirs) and not _same_family(ours[0], theirs[0])


def _head_inserted(slot: _Slot) -> bool:
    """Words inside one text only that change what it is about ("font size" / "font").

    "the font size in the editor" / "the font in the editor", "my password reset link stop
    working" / "my password stop working": the inserted stretch holds a content word, has
    the same words on both sides of it, and what follows it is not a thing it describes
    but a framing word or a verb. Words before a thing describe it ("my hardware order" /
    "my order") and are let through.
    """
    inserted = slot.left or slot.right
    inside = slot.before and slot.after  # not a greeting or a sign-off around the question
    if (slot.left and slot.right) or not inside or not any(c for _, c in inserted):
        return False
    described = (
        inserted[-1][1]
        and slot.after not in FUNCTION_WORDS
        and not lexicon().is_mostly_verb(slot.after)
    )
    return not described


_SIGN_OFFS = frozenset("thanks thank thx cheers please pls asap urgently help".split())


def _head_appended(slot: _Slot, query: str, cached: str) -> bool:
    """A thing named at the very end of one text only, right after the other's last thing.

    "How do I delete a task list?" / "How do I delete a task?", "a deleted calendar event"
    / "a deleted calendar": the added noun is the compound's head, so the question is
    about something else. A sign-off ("thanks") or a new sentence is not the question's
    end.
    """
    if slot.after or (slot.left and slot.right) or slot.before in FUNCTION_WORDS:
        return False
    added, text = (slot.left, query) if slot.left else (slot.right, cached)
    if not 1 <= len(added) <= 2 or not all(content for _, content in added):
        return False
    words = lexicon()
    if added[-1][0] in _SIGN_OFFS or words.commonest_reading(added[-1][0]) != "n":
        return False
    if words.is_mostly_verb(slot.before):
        return False
    spelled = r"\s+".join(re.escape(word) for word in (slot.before, *(w for w, _ in added)))
    return re.search(rf"\b{spelled}\W*$", text.lower()) is not None


def _reordered(query: str, cached: str) -> bool:
    """Whether the things both texts name come in another order."""
    left, right = tokenised(query), tokenised(cached)
    ours, theirs = _things(left, right), _things(right, left)
    shared = set(ours) & set(theirs)
    return list(dict.fromkeys(s for s in ours if s in shared)) != list(
        dict.fromkeys(s for s in theirs if s in shared)
    )


def _same_family(a: str, b: str) -> bool:
    shared = common_prefix_length(a, b)
    return shared >= _SHARED_PREFIX and shared >= 0.6 * min(len(a), len(b))


def _readings(word: _Word) -> set[str]:
    return {word.text} if word.phrase is None else {word.text, word.phrase}


@functools.lru_cache(maxsize=16_384)
def _forms(word: str) -> frozenset[str]:
    """The word and every base form WordNet reads it as ("broken": break)."""
    return frozenset({word, *(base for _, base in lexicon().base_forms(word))})


def _synonymous(a: _Word, b: _Word) -> bool:
    """WordNet lists ``b``, in one of its forms, among the synonyms of ``a``.

    By form, not by stem: the stems of "accountant" (a synonym of "controller") and
    "account" are one.
    """
    words = lexicon()
    for reading in _readings(a):
        synonyms = words.synonyms(reading)
        if _forms(b.text) & synonyms or (b.phrase is not None and b.phrase in synonyms):
            return True
    return False


def _family_members(a: _Word, b: _Word) -> bool:
    return _same_family(a.stem, b.stem)


def _synonyms_either_way(a: _Word, b: _Word) -> bool:
    return _synonymous(a, b) or _synonymous(b, a)


def difference(query: str, cached: str) -> Difference:
    """Line the content words up: same stem first, then word family, then synonyms."""
    query, cached = spelled_out(query), spelled_out(cached)
    left, right = list(_words(query)), list(_words(cached))
    right_stems = {w.stem for w in right}
    left_stems = {w.stem for w in left}
    left = [w for w in left if w.stem not in right_stems]
    right = [w for w in right if w.stem not in left_stems]
    reordered, by_synonym = _reordered(query, cached), False
    for matches in (_family_members, _synonyms_either_way):
        unmatched = []
        for word in left:
            partner = next((other for other in right if matches(word, other)), None)
            if partner is None:
                unmatched.append(word)
                continue
            right.remove(partner)
            if matches is _synonyms_either_way:
                by_synonym = by_synonym or _both_verbs(word, partner)
        left = unmatched
    query_only, cached_only = tuple(w.text for w in left), tuple(w.text for w in right)
    slot = _slot(query, cached)
    traded = not query_only and not cached_only and _forms_traded_across(query, cached)
    whose = slot is None and owner_swapped(tokenised(query), tokenised(cached), strict=True)
    change = _change(
        query_only,
        cached_only,
        slot,
        rephrased=reordered or by_synonym,
        roles_reversed=reordered and asker_moved(query, cached),
        subjects_swapped=subjects_swapped(query, cached)
        or condition_subjects_swapped(query, cached)
        or parties_reversed(query, cached)
        or sequence_reversed(query, cached)
        or asker_turned_object(query, cached)
        or direction_reversed(query, cached),
        head_appended=traded or whose or (slot is not None and _head_appended(slot, query, cached)),
        describing=_describing(query) | _describing(cached),
        money_swapped=_money_on_one_side(query_only, query, cached)
        or _money_on_one_side(cached_only, cached, query),
    )
    shown = None if slot is None else (_spelled(slot.left), _spelled(slot.right))
    return Difference(query_only, cached_only, change, shown)


@functools.lru_cache(maxsize=16_384)
def _describing(text: str) -> frozenset[str]:
    """Participles used as adjectives: right before a thing ("a cracked screen").

    They say what the thing is like, not what anyone does, so two of them are two
    qualities, not two actions ("broken screens" / "a cracked screen").
    """
    tokens, words = tokenised(text), lexicon()
    return frozenset(
        word
        for (word, content), (after, after_content) in itertools.pairwise(tokens)
        if content
        and after_content
        and word.endswith(("ed", "en"))
        and words.is_mostly_verb(word)
        and words.commonest_reading(after) == "n"
    )


_PAYING = frozenset("pay paid charg bill refund settl cost owe reimburs".split())
_MONEY = _PAYING | {"fee", "price", "free", "invoic"}
_PAYING_WITH = re.compile(r"\bpa(?:y|ys|id|ying) (?:with|by|using|via)\b", re.IGNORECASE)


def _money_on_one_side(only: tuple[str, ...], text: str, other: str) -> bool:
    """A verb that moves money on one side, and no word of money on the other.

    "Who pays for the escrow?" / "Who holds the escrow?", "charging me in dollars" /
    "showing me dollars" ask something else; paying with something names how ("Can I pay
    with PayPal?" / "Do you accept PayPal?"), and "paid" / "free" plans are one matter.
    """
    if _PAYING_WITH.search(text) or not any(stem(word) in _PAYING for word in only):
        return False
    return not any(stem(word) in _MONEY for word, _ in tokenised(other))


def _both_verbs(a: _Word, b: _Word) -> bool:
    words = lexicon()
    return words.is_mostly_verb(a.text) and words.is_mostly_verb(b.text)


def _spelled(tokens: Tokens) -> str:
    return " ".join(word for word, _ in tokens)


def _change(
    query_only: tuple[str, ...],
    cached_only: tuple[str, ...],
    slot: _Slot | None,
    *,
    rephrased: bool,
    roles_reversed: bool,
    subjects_swapped: bool,
    head_appended: bool,
    describing: frozenset[str],
    money_swapped: bool,
) -> Change:
    if head_appended or (
        slot is not None
        and (
            _exchanged(slot)
            or _forms_traded(slot)
            or _opposites_exchanged(slot)
            or other_party(slot.left, slot.right)
            or owner_swapped(slot.left, slot.right)
            or _thing_for_thing(slot)
            or _head_inserted(slot)
        )
    ):
        return Change.SWAPPED
    if subjects_swapped:
        return Change.REVERSED
    if not query_only and not cached_only:
        if roles_reversed:
            return Change.REVERSED
        return Change.REPHRASED if rephrased else Change.NONE
    words = lexicon()
    verbs = [words.is_mostly_verb(w) and w not in describing for w in (*query_only, *cached_only)]
    if not query_only or not cached_only:
        return Change.VERB_ADDED if any(verbs) else Change.ADDED
    if slot is not None and _one_for_one(slot):
        return Change.SWAPPED  # one word for one word and nothing else, verbs too
    if all(verbs):
        if money_swapped:
            return Change.SWAPPED  # paying for it is not holding or accepting it
        return Change.VERBS_SWAPPED
    one_for_one = len(query_only) == len(cached_only) == 1
    opening = slot is not None and not slot.before  # the question's opening reworded
    in_one_slot = (
        slot is not None
        and {w for w, content in slot.left if content} <= set(query_only)
        and {w for w, content in slot.right if content} <= set(cached_only)
    )
    swapped = (one_for_one and slot is not None) or in_one_slot
    return Change.SWAPPED if swapped and not opening else Change.REWORDED
