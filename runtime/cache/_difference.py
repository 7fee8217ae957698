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
    whom whose whenever wherever there here to of for with at by from as about into onto than
    then so if or and but please possible way ways steps step want need like tell let get got
    getting gets anyone someone something any some just also still really very already on in
    out off up down over under not no never across between within through via per because every each
    all another other else make makes made take takes took go goes going""".split()
)
"""Words that frame a question rather than say what it is about: pronouns, auxiliaries,
prepositions, quantifiers and light verbs ("make", "take", "get"). Negations, particles
and numbers are here too: the guards compare those, exactly, before this module is asked."""
_SHARED_PREFIX = 4
"""Letters two stems must share at least to count as one word family ("liability" and
"liable"), and at least 60% of the shorter stem."""


_FIRST_PERSON = frozenset("i me my mine myself we us our ours ourselves".split())
_OTHER_PARTY = frozenset(
    """someone somebody anyone anybody else other others another he him his she her they them
    their theirs""".split()
)
"""Words that say whose question it is: the asker's own, or someone else's."""
_ASKER_AS_OBJECT = frozenset({"me", "us"})


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
        ("a" if word == "an" else word, not _framing(word, acronyms))
        for word in _WORD.findall(lowered)
    )


def _framing(word: str, acronyms: set[str]) -> bool:
    return (word in _FUNCTION_WORDS and word not in acronyms) or word.isdigit()


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


_Tokens = tuple[tuple[str, bool], ...]


@dataclass(frozen=True, slots=True)
class _Slot:
    """The stretch of each text where two texts differ, and the shared word before it."""

    left: _Tokens
    right: _Tokens
    before: str
    after: str


def _slot(query: str, cached: str) -> _Slot | None:
    """The one stretch of each text where the two differ.

    That is what is left once the words both start and end with are taken off; None when
    those hold no content word: then the whole question was reworded, not one slot of it.
    """
    left, right = _tokens(query), _tokens(cached)
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


def _things(tokens: _Tokens, other: _Tokens, before: str = "") -> list[str]:
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
        and slot.after not in _FUNCTION_WORDS
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
    if slot.after or (slot.left and slot.right) or slot.before in _FUNCTION_WORDS:
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


def _other_party(left: _Tokens, right: _Tokens) -> bool:
    """One side asks about the asker, the other about someone else ("I" / "someone else")."""
    ours, theirs = {word for word, _ in left}, {word for word, _ in right}
    mine = bool(ours & _FIRST_PERSON) and not ours & _OTHER_PARTY
    others = bool(theirs & _OTHER_PARTY) and not theirs & _FIRST_PERSON
    mine_back = bool(theirs & _FIRST_PERSON) and not theirs & _OTHER_PARTY
    others_back = bool(ours & _OTHER_PARTY) and not ours & _FIRST_PERSON
    return (mine and others) or (mine_back and others_back)


def _subjects_swapped(query: str, cached: str) -> bool:
    """Whether one text's subject is the asker and the other's someone else.

    "Can others share their screen during my call?" / "Can I share my screen during a
    call?": the subject is the first word after the question's opening ("can", "why
    can't", "how do").
    """
    ours, theirs = _subject(query), _subject(cached)
    return (ours in _ASKER and theirs in _OTHERS) or (ours in _OTHERS and theirs in _ASKER)


_OPENING = frozenset(
    """how why what when where who which can could do does did is are was were will would
    should may might must not""".split()
)
_ASKER = frozenset({"i", "we"})
_OTHERS = frozenset("someone somebody anyone anybody others people they he she".split())


def _subject(text: str) -> str:
    return next((word for word, _ in _tokens(text) if word not in _OPENING), "")


_JOINED = frozenset({"and", "or", "by", "between"})
"""Words after which two parties may come in either order: "the customer or the supplier",
"signed by the customer"."""


def _parties_reversed(query: str, cached: str) -> bool:
    """Two persons named on both sides, in the opposite order.

    "Can the supplier audit the customer's usage?" / "Can the customer audit the
    supplier's security?": who does what to whom changed. Lists and passives ("the
    customer or the supplier", "audited by the customer") name them in either order.
    """
    left, right = _tokens(query), _tokens(cached)
    if {w for w, _ in (*left, *right)} & _JOINED:
        return False
    words = lexicon()

    def persons(tokens: _Tokens) -> list[str]:
        found = (stem(w) for w, content in tokens if content and words.party(w) == "person")
        return list(dict.fromkeys(found))

    ours, theirs = persons(left), persons(right)
    shared = set(ours) & set(theirs)
    return len(shared) >= 2 and [p for p in ours if p in shared] != [
        p for p in theirs if p in shared
    ]


_SEQUENCE = frozenset({"before", "after", "until", "once"})
_ASKER_AFTER = frozenset({"can", "could", "do", "did", "not", "will", "would", "should", "just"})
"""Words that may stand between the asker and what the asker does ("I can not share")."""
_PASSIVE = frozenset("am is are was were be been being get gets got getting".split())
_TOWARDS = frozenset({"with", "to", "for"})
"""Prepositions between a verb and the asker it is done to ("shared with me")."""


def _actions(tokens: _Tokens) -> set[str]:
    """The base forms of the verbs among ``tokens`` (words that are mostly verbs)."""
    words = lexicon()
    return {
        next((base for pos, base in words.base_forms(w) if pos == "v"), w)
        for w, content in tokens
        if content and words.is_mostly_verb(w)
    }


def _sequence_reversed(query: str, cached: str) -> bool:
    """Two actions on either side of "before" or "after", exchanged.

    "Can I pay invoices before they are approved?" / "Can I approve invoices before they
    are paid?": the order of the two actions is what is asked. A clause moved whole ("After
    I cancel, what happens to my data?" / "What happens to my data after I cancel?") keeps
    each action on its side.
    """
    sides = []
    for text in (query, cached):
        tokens = _tokens(text)
        at = next((i for i, (w, _) in enumerate(tokens) if w in _SEQUENCE), None)
        if at is None:
            return False
        sides.append((_actions(tokens[:at]), _actions(tokens[at + 1 :])))
    (ours_first, ours_then), (theirs_first, theirs_then) = sides
    return bool((ours_first - ours_then) & (theirs_then - theirs_first)) and bool(
        (ours_then - ours_first) & (theirs_first - theirs_then)
    )


def _asker_turned_object(query: str, cached: str) -> bool:
    """The asker does something on one side and has it done to them on the other.

    "Can I share a calendar with someone outside my company?" / "Can I see a calendar
    someone outside my company shared with me?": the same verb, with the asker its subject
    ("I share") on one side and its object ("shared with me") on the other.
    """
    done, received = [], []
    for text in (query, cached):
        tokens = _tokens(text)
        acting, acted_on = [], []
        for i, (word, _) in enumerate(tokens):
            if word in _ASKER_AFTER or word in _ASKER:
                continue
            before = [w for w, _ in tokens[max(0, i - 3) : i]]
            passive = bool(set(before) & _PASSIVE)  # "was I logged out": done to the asker
            while before and before[-1] in _ASKER_AFTER:
                before.pop()
            if before and before[-1] in _ASKER and not passive:
                acting.append(tokens[i])
            following = [w for w, _ in tokens[i + 1 : i + 3]]
            if following[:1] and (
                following[0] in _ASKER_AS_OBJECT
                or (following[0] in _TOWARDS and following[1:] and following[1] in _ASKER_AS_OBJECT)
            ):
                acted_on.append(tokens[i])
        done.append(_actions(tuple(acting)))
        received.append(_actions(tuple(acted_on)))
    return bool((done[0] - done[1]) & (received[1] - received[0])) or bool(
        (done[1] - done[0]) & (received[0] - received[1])
    )


def _asker_moved(query: str, cached: str) -> bool:
    """Whether the asker is the object ("me", "us") on one side only.

    With the same words reordered, that says who does what to whom changed: "Can my team
    set a limit for me?" / "Can I set a limit for my team?".
    """
    ours, theirs = {w for w, _ in _tokens(query)}, {w for w, _ in _tokens(cached)}
    return bool(ours & _ASKER_AS_OBJECT) != bool(theirs & _ASKER_AS_OBJECT)


def _reordered(query: str, cached: str) -> bool:
    """Whether the things both texts name come in another order."""
    left, right = _tokens(query), _tokens(cached)
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
    change = _change(
        query_only,
        cached_only,
        slot,
        rephrased=reordered or by_synonym,
        roles_reversed=reordered and _asker_moved(query, cached),
        subjects_swapped=_subjects_swapped(query, cached)
        or _parties_reversed(query, cached)
        or _sequence_reversed(query, cached)
        or _asker_turned_object(query, cached),
        head_appended=slot is not None and _head_appended(slot, query, cached),
        describing=_describing(query) | _describing(cached),
    )
    shown = None if slot is None else (_spelled(slot.left), _spelled(slot.right))
    return Difference(query_only, cached_only, change, shown)


@functools.lru_cache(maxsize=16_384)
def _describing(text: str) -> frozenset[str]:
    """Participles used as adjectives: right before a thing ("a cracked screen").

    They say what the thing is like, not what anyone does, so two of them are two
    qualities, not two actions ("broken screens" / "a cracked screen").
    """
    tokens, words = _tokens(text), lexicon()
    return frozenset(
        word
        for (word, content), (after, after_content) in itertools.pairwise(tokens)
        if content
        and after_content
        and word.endswith(("ed", "en"))
        and words.is_mostly_verb(word)
        and words.commonest_reading(after) == "n"
    )


def _both_verbs(a: _Word, b: _Word) -> bool:
    words = lexicon()
    return words.is_mostly_verb(a.text) and words.is_mostly_verb(b.text)


def _spelled(tokens: _Tokens) -> str:
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
) -> Change:
    if head_appended or (
        slot is not None
        and (
            _exchanged(slot)
            or _other_party(slot.left, slot.right)
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
    if slot is not None and len(slot.left) == len(slot.right) == 1:
        return Change.SWAPPED  # one word for one word and nothing else, verbs too
    if all(verbs):
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
