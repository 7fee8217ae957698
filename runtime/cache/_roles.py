"""Who does what to whom: two texts with the same words and the roles changed.

"Can my team set a limit for me?" / "Can I set a limit for my team?", "Can the supplier
audit the customer's usage?" / "Can the customer audit the supplier's security?", "pay
invoices before they are approved" / "approve invoices before they are paid": the words
match, the question does not. Each check here says whether the roles changed.
"""

from __future__ import annotations

import itertools
import re

from runtime.cache._lexicon import lexicon, stem
from runtime.cache._tokens import FUNCTION_WORDS, Tokens, tokenised

_FIRST_PERSON = frozenset("i me my mine myself we us our ours ourselves".split())
_OTHER_PARTY = frozenset(
    """someone somebody anyone anybody else other others another he him his she her they them
    their theirs""".split()
)
"""Words that say whose question it is: the asker's own, or someone else's."""
_ASKER_AS_OBJECT = frozenset({"me", "us"})


def other_party(left: Tokens, right: Tokens) -> bool:
    """One side asks about the asker, the other about someone else ("I" / "someone else")."""
    ours, theirs = {word for word, _ in left}, {word for word, _ in right}
    mine = bool(ours & _FIRST_PERSON) and not ours & _OTHER_PARTY
    others = bool(theirs & _OTHER_PARTY) and not theirs & _FIRST_PERSON
    mine_back = bool(theirs & _FIRST_PERSON) and not theirs & _OTHER_PARTY
    others_back = bool(ours & _OTHER_PARTY) and not ours & _FIRST_PERSON
    return (mine and others) or (mine_back and others_back)


_YOURS = frozenset({"your", "yours"})
_MINE = frozenset("my mine our ours own".split())


def owner_swapped(left: Tokens, right: Tokens, *, strict: bool = False) -> bool:
    """One side's thing is the service's ("your", "from you"), the other's the asker's.

    "Can I use your SMTP server?" / "Can I use my own SMTP server?". ``strict`` (for whole
    questions, not one slot of them) asks for "my own" and "from you" or "your" in so many
    words: "Can I buy a domain from you?" / "Can I use my own domain?", but not "Where are
    your servers?" / "Is my data stored in the EU?".
    """
    return {_owner(left, strict), _owner(right, strict)} == {"yours", "mine"}


def _owner(tokens: Tokens, strict: bool) -> str | None:
    said = [word for word, _ in tokens]
    words = set(said)
    yours = bool(words & _YOURS) or (strict and ("from", "you") in itertools.pairwise(said))
    mine = "own" in words if strict else bool(words & _MINE)
    return "yours" if yours and not mine else "mine" if mine and not yours else None


def subjects_swapped(query: str, cached: str) -> bool:
    """Whether one text's subject is the asker and the other's someone else.

    "Can others share their screen during my call?" / "Can I share my screen during a
    call?": the subject is the first word after the question's opening ("can", "why
    can't", "how do"). And whether one's acting party is a contract's customer and the
    other's its supplier, or one's the asker and the other's a teammate, an admin, ...
    """
    ours, theirs = _subject(query), _subject(cached)
    if (ours in _ASKER and theirs in _OTHERS) or (ours in _OTHERS and theirs in _ASKER):
        return True
    ours, theirs = _acting_party(query), _acting_party(cached)
    if any(ours in side and theirs in side for side in _CONTRACT_SIDES):
        return False  # "we" are the customer
    sides = itertools.permutations(_CONTRACT_SIDES)
    if any(ours in one and theirs in other for one, other in sides):
        return True
    return (ours in _ASKER and theirs in _COWORKERS) or (theirs in _ASKER and ours in _COWORKERS)


_OPENING_WORDS = (
    "how why what when where who which can could do does did is are was were will would "
    "should may might must not can't cannot won't doesn't don't didn't isn't aren't"
).split()
_OPENING = frozenset(_OPENING_WORDS)
_FIELD_LABEL = re.compile(r"^[a-z_]+:\s*")
"""A key text's field name ("question: Can the customer ...")."""
_DONE_BY = re.compile(r"\b(?:be|been|is|are|was|were) \w+ed by\b")
_ASKER = frozenset({"i", "we"})
_OTHERS = frozenset("someone somebody anyone anybody others people they he she".split())


_ACTING_PARTY = re.compile(
    rf"^(?:(?:{'|'.join(sorted(_OPENING_WORDS))})\s+)*(?:(?:the|a|an|our|my|your|this|that)\s+)?"
    r"([a-z]+)\b(?!['\u2019])"
)
_COWORKERS = frozenset(
    """teammate teammates colleague colleagues coworker coworkers admin admins administrator
    administrators manager managers employee employees guests landlord landlords roommate
    roommates neighbour neighbours neighbor neighbors""".split()
)
"""People other than the asker who act in a question ("My teammate did not receive the
invitation" / "I did not receive the invitation from my teammate", "Can my landlord sublet
my apartment?" / "Can I sublet my apartment?"); "guests" only as the asker's own ("my
guests"), since an asker may be a guest."""
_CONTRACT_SIDES = (
    frozenset("customer customers client clients buyer buyers licensee we i".split()),
    frozenset("supplier suppliers vendor vendors provider providers seller licensor".split()),
)
"""The two sides of a contract: "Can the customer suspend payment ...?" is not "Can the
supplier suspend the service ...?", whoever else each names."""


_CONDITION = re.compile(r"\b(?:if|when|once|unless) (the )?([a-z]+)\b")


def condition_subjects_swapped(query: str, cached: str) -> bool:
    """Whether the asker acts in one side's condition and a named other party in the other's.

    "Can I get a refund if I cancel my flight?" / "... if the airline cancels my flight?":
    who cancelled decides the answer. What is the asker's ("if my payment is late") is
    left alone, as the asker's own doing.
    """
    return {_condition_actor(query), _condition_actor(cached)} == {"asker", "other"}


def _condition_actor(text: str) -> str | None:
    """Who acts in the text's one condition: "asker", "other" (a "the ..."), or None."""
    found = _CONDITION.findall(text.lower())
    if len(found) != 1:
        return None
    the, word = found[0]
    return "asker" if word in _ASKER else "other" if the else None


def _subject(text: str) -> str:
    return next((word for word, _ in tokenised(text) if word not in _OPENING), "")


def _acting_party(text: str) -> str:
    """The question's subject, when it is a party and not its possession ("the supplier's")."""
    lowered = _FIELD_LABEL.sub("", text.lower().lstrip())
    found = _ACTING_PARTY.match(lowered)
    if not found or _DONE_BY.search(lowered):
        return ""
    if found[1] == "guests" and not re.search(r"\b(?:my|our) guests\b", lowered):
        return ""
    return found[1]


_JOINED = frozenset({"and", "or", "by", "between"})
"""Words after which two parties may come in either order: "the customer or the supplier",
"signed by the customer"."""


def parties_reversed(query: str, cached: str) -> bool:
    """Two persons named on both sides, in the opposite order.

    "Can the supplier audit the customer's usage?" / "Can the customer audit the
    supplier's security?": who does what to whom changed. Lists and passives ("the
    customer or the supplier", "audited by the customer") name them in either order.
    """
    left, right = tokenised(query), tokenised(cached)
    if {w for w, _ in (*left, *right)} & _JOINED:
        return False
    words = lexicon()

    def persons(tokens: Tokens) -> list[str]:
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


def _actions(tokens: Tokens) -> set[str]:
    """The base forms of the verbs among ``tokens`` (words that are mostly verbs)."""
    words = lexicon()
    return {
        next((base for pos, base in words.base_forms(w) if pos == "v"), w)
        for w, content in tokens
        if content and words.is_mostly_verb(w)
    }


def sequence_reversed(query: str, cached: str) -> bool:
    """Two actions on either side of "before" or "after", exchanged.

    "Can I pay invoices before they are approved?" / "Can I approve invoices before they
    are paid?": the order of the two actions is what is asked. A clause moved whole ("After
    I cancel, what happens to my data?" / "What happens to my data after I cancel?") keeps
    each action on its side.
    """
    sides = []
    for text in (query, cached):
        tokens = tokenised(text)
        at = next((i for i, (w, _) in enumerate(tokens) if w in _SEQUENCE), None)
        if at is None:
            return False
        sides.append((_actions(tokens[:at]), _actions(tokens[at + 1 :])))
    (ours_first, ours_then), (theirs_first, theirs_then) = sides
    return bool((ours_first - ours_then) & (theirs_then - theirs_first)) and bool(
        (ours_then - ours_first) & (theirs_first - theirs_then)
    )


def asker_turned_object(query: str, cached: str) -> bool:
    """The asker does something on one side and has it done to them on the other.

    "Can I share a calendar with someone outside my company?" / "Can I see a calendar
    someone outside my company shared with me?": the same verb, with the asker its subject
    ("I share") on one side and its object ("shared with me") on the other.
    """
    done, received = [], []
    for text in (query, cached):
        tokens = tokenised(text)
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


_DIRECTIONS = frozenset({"from", "to"})
_PASSED_OVER = frozenset("a the my our your their his her its this that another other".split())
_PERSONS_AS_OBJECT = frozenset("you me us them him her".split())


def direction_reversed(query: str, cached: str) -> bool:
    """Where something goes from on one side is where it goes to on the other.

    "How do I transfer my domain to you from another registrar?" / "... from you to
    another registrar?", "pick up a parcel from a PO box" / "send a parcel to a PO box":
    the move goes the other way round.
    """
    (ours_from, ours_to), (theirs_from, theirs_to) = _ends(query), _ends(cached)
    return bool((ours_from - ours_to - theirs_from) & theirs_to) or bool(
        (ours_to - ours_from - theirs_to) & theirs_from
    )


def _ends(text: str) -> tuple[set[str], set[str]]:
    """(what ``text`` says a move starts from, what it says it goes to), as stems."""
    tokens, words = tokenised(text), lexicon()
    ends: dict[str, set[str]] = {"from": set(), "to": set()}
    for i, (word, _) in enumerate(tokens):
        if word not in _DIRECTIONS:
            continue
        end = next((w for w, _ in tokens[i + 1 :] if w not in _PASSED_OVER), None)
        if end is not None and (
            end in _PERSONS_AS_OBJECT
            or (end not in FUNCTION_WORDS and not words.is_mostly_verb(end))
        ):
            ends[word].add(stem(end))
    return ends["from"], ends["to"]


def asker_moved(query: str, cached: str) -> bool:
    """Whether the asker is the object ("me", "us") on one side only.

    With the same words reordered, that says who does what to whom changed: "Can my team
    set a limit for me?" / "Can I set a limit for my team?".
    """
    ours, theirs = {w for w, _ in tokenised(query)}, {w for w, _ in tokenised(cached)}
    return bool(ours & _ASKER_AS_OBJECT) != bool(theirs & _ASKER_AS_OBJECT)
