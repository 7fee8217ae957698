"""Guards against the semantic cache's known false hits: pure text checks, no model.

Two texts can embed closely and still ask different things: "enable 2FA" and "disable
2FA", "can I get a refund" and "can't I get a refund", "order 1234" and "order 1243",
"in March" and "in May", "Acme" and "Globex", "how often" and "how long", "how many users
on one device" and "how many devices", "cancel instead of pausing" and "pause instead of
cancelling", "my invoices" and "my supplier's invoices". A hit is
refused when the texts differ in any of these, whatever their similarity.
"""

from __future__ import annotations

import functools
import itertools
import re

from runtime.cache._actions import (
    SWITCHED,
    action_clash,
    doing_against_why,
    doing_against_why_done,
    done_against_doing,
    wanted_against_complained,
)
from runtime.cache._amounts import amounts_differ
from runtime.cache._lexicon import has, lexicon, spelled_out, spellings, stem
from runtime.cache._polarity import WORD, negations, polarity_clash, words
from runtime.cache._time import dates_differ, inside_and_outside, measure

_IDENTIFIER = re.compile(r"\b(?=[\w-]*\d)(?=[\w-]*[a-z])[a-z0-9][\w-]*\b", re.IGNORECASE)
_AMOUNT_OF = re.compile(r"\d+-[a-z]+", re.IGNORECASE)
"""An amount joined to its unit ("a 30-day window"): "30 days" is the same amount, no
identifier."""
_SENTENCE = re.compile(r"(?:^|[.!?:;\n])\s*")
_CAPITALISED = re.compile(r"\b[A-Z][a-zA-Z]+\b")

_ANTONYM_PAIRS = (
    ("enable", "disable"),
    ("enabled", "disabled"),
    ("activate", "deactivate"),
    ("add", "remove"),
    ("increase", "decrease"),
    ("upgrade", "downgrade"),
    ("subscribe", "unsubscribe"),
    ("lock", "unlock"),
    ("start", "stop"),
    ("open", "close"),
    ("allow", "block"),
    ("allow", "deny"),
    ("allow", "prevent"),
    ("allow|permit", "prohibit|forbid"),
    ("let", "prevent"),
    ("let", "stop"),
    ("accept", "reject"),
    ("include", "exclude"),
    ("import", "export"),
    ("upload", "download"),
    ("login", "logout"),
    ("sign in", "sign out"),
    ("log in", "log out"),
    ("before", "after"),
    ("more", "less"),
    ("maximum", "minimum"),
    ("max", "min"),
    ("on", "off"),
    ("in", "out"),
    ("buy", "sell"),
    ("send", "receive|pick up"),
    ("refund", "charge"),
    ("cancel", "renew"),
    ("join", "leave"),
    ("show", "hide"),
    ("public", "private"),
    ("monthly", "annual"),
    ("monthly", "yearly"),
    ("first", "last"),
    ("oldest", "newest"),
    ("earliest", "latest"),
    ("higher", "lower"),
    ("above", "below"),
    ("over", "under"),
    ("merge", "split"),
    ("combine", "split"),
    ("new", "existing"),
    ("one", "every"),
    ("one", "all"),
    ("single", "every"),
    ("single", "all"),
    ("always", "never"),
    ("win", "lose"),
    ("pass", "fail"),
    ("valid", "invalid"),
    ("same", "different|another"),
    ("extend|lengthen", "shorten|end early|cut short"),
    ("copy|duplicate", "move|transfer|relocate"),
    ("right", "wrong"),
    ("correct", "wrong"),
    ("success", "failure"),
    ("accept", "decline"),
    ("lost|lose", "found|find"),
    ("forgot", "know"),
    ("forgot", "remember"),
    ("restore|recover|undelete", "delete|remove"),
    ("online", "offline"),
    ("at rest", "in transit"),
    ("this month", "last month"),
    ("this month", "next month"),
    ("last month", "next month"),
    ("this year", "last year"),
    ("this week", "last week"),
    ("credit", "debit"),
    ("at home|domestic|domestically", "abroad|overseas|international|internationally"),
    ("early|earlier", "late|later"),
    ("send", "request"),
    ("see|view", "change|edit|update|modify|reset"),
    ("slow down|slower", "speed up|faster"),
    ("add", "change|replace|swap"),
    ("get|obtain", "use|redeem"),
    ("buy|purchase", "bring"),
    ("teach", "take|attend|learn"),
    ("go up|goes up|went up|gone up|going up", "go down|goes down|went down|gone down|going down"),
)

_CLAUSE = re.compile(r"[.,!?:;\n]")
_QUESTION_WORDS = frozenset("who whom whose what when where which why how".split())

_NEGATING_PREFIXES = ("un", "in", "im", "dis", "non", "non-")


_OPPOSITE_OF = {"right": "wrong", "correct": "wrong", "same": "different", "valid": "invalid"}
_NOT_RIGHT = re.compile(
    rf"\b(?:not|isn't|aren't|wasn't|weren't) ((?:the |a |an )?)({'|'.join(_OPPOSITE_OF)})\b"
)
"""What is not right is wrong: "my timetable is not the right one" / "the wrong timetable"."""
_NOT_PASSED = re.compile(r"\b(?:not|didn't|don't|doesn't|never) pass(?:ed)?\b")
"""What was not passed was failed: "I didn't pass the quiz" / "a quiz I failed"."""
_SENT_TO_ASKER = re.compile(r"\bsen(?:d|ds|ding|t) (?:me|us)\b")
_SEEING = re.compile(r"\bsee(?= (?:a|an|the|my|our|your) ([a-z]+))")
_SWITCH_PARTICLE = re.compile(rf"({SWITCHED})o(?:n|ff)\b(?!-)")


def _as_antonyms_read(lowered: str) -> str:
    """``lowered`` as the antonym guard reads it.

    What is sent to the asker is what the asker receives ("stop sending me texts"), what is
    not right is wrong, seeing someone is visiting them ("see the dentist sooner"), and
    "turn ... on" or "off" loses its particle: switching on against switching off is the
    action guard's to judge, and left in, the particle clashes with a preposition
    ("disable 2FA on my account" / "turn off 2FA").
    """
    lowered = _NOT_RIGHT.sub(lambda m: m[1] + _OPPOSITE_OF[m[2]], lowered)
    lowered = _NOT_PASSED.sub("failed", lowered)
    lowered = _SEEING.sub(lambda m: "visit" if lexicon().party(m[1]) else m[0], lowered)
    return _SWITCH_PARTICLE.sub(r"\1", _SENT_TO_ASKER.sub("receive", lowered))


def _antonym_clash(a: set[str], b: set[str], a_text: str, b_text: str) -> str | None:
    """A word on one side whose antonym is on the other, or both in the opposite sequence.

    Each side of a pair may list words that mean the same there ("restore" or "recover"
    against "delete" or "remove"): "restore a removed message" asks what "recover a deleted
    message" asks. Where both texts put the two in a sequence ("after", "before"), the
    opposite order asks the opposite: "delete my account after restoring it" / "restore my
    account after deleting it"; without one, the order is only how the question is told
    ("I deleted a workspace, can I restore its files?").
    """
    for left, right in _ANTONYM_PAIRS:
        a_left, a_right = has(left, a, a_text), has(right, a, a_text)
        b_left, b_right = has(left, b, b_text), has(right, b, b_text)
        named = f"{left.split('|')[0]!r} vs {right.split('|')[0]!r}"
        if (a_left and b_right and not b_left and not a_right) or (
            a_right and b_left and not b_right and not a_left
        ):
            return named
        if _traded_once(left, right, a_text, b_text):
            return named
        if (
            a_left
            and a_right
            and b_left
            and b_right
            and _sequenced(a_text, b_text)
            and _first(left, right, a_text) != _first(left, right, b_text)
        ):
            return f"{named}, in the opposite order"
    return None


def _traded_once(left: str, right: str, a_text: str, b_text: str) -> bool:
    """One side says one word of the pair once more, the other once more the other word.

    "the same document at different times" / "the same document at the same time": both say
    "same", but one of its two uses became "different".
    """
    a_left, a_right = _count(left, a_text), _count(right, a_text)
    b_left, b_right = _count(left, b_text), _count(right, b_text)
    return (a_left - b_left) * (a_right - b_right) < 0


def _count(terms: str, text: str) -> int:
    return len(_spelled_as(terms).findall(text))


@functools.cache
def _spelled_as(terms: str) -> re.Pattern[str]:
    written = sorted(spellings(terms), key=len, reverse=True)
    return re.compile(rf"\b(?:{'|'.join(re.escape(s) for s in written)})\b")


_SEQUENCE = re.compile(r"\b(?:after|before|then)\b")


def _sequenced(a_text: str, b_text: str) -> bool:
    """Both texts put two actions in a sequence ("delete it after restoring it")."""
    return bool(_SEQUENCE.search(a_text) and _SEQUENCE.search(b_text))


def _first(left: str, right: str, text: str) -> bool:
    """Whether a word of ``left`` comes before any word of ``right`` in ``text``."""

    def position(terms: str) -> int:
        found = [
            match.start()
            for spelling in spellings(terms)
            for match in re.finditer(rf"\b{re.escape(spelling)}\b", text)
        ]
        return min(found, default=len(text))

    return position(left) < position(right)


_PERSONS = frozenset("people person persons user users member members party parties".split())
"""After "which", nouns that make it ask "who": "see *which people* viewed my document"."""


def _embedded_questions(text: str) -> set[str]:
    """Question words inside a clause: "change *who* gets the invoice", not "*How* do I"."""
    found = set()
    for clause in _CLAUSE.split(text.lower()):
        said = WORD.findall(clause)
        for i, word in enumerate(said[1:], start=1):
            if word == "which" and i + 1 < len(said) and said[i + 1] in _PERSONS:
                found.add("who")
            elif word in _QUESTION_WORDS:
                found.add(word)
    return found


def _negated_by_prefix(a: set[str], b: set[str]) -> str | None:
    """A word on one side is a word of the other with a negating prefix ("unopened")."""
    for word in a - b:
        for prefix in _NEGATING_PREFIXES:
            rest = word.removeprefix(prefix)
            if rest != word and len(rest) >= 4 and rest in b - a:
                return f"{word!r} vs {rest!r}"
    return None


def _identifiers(text: str) -> set[str]:
    return {i.lower() for i in _IDENTIFIER.findall(text) if not _AMOUNT_OF.fullmatch(i)}


_COUNTED = re.compile(r"\bhow many (?:(?:of|the|our|my|your|their|these|those) )*([a-z]+)")
_SET_ASIDE = re.compile(r"\b(?:instead of|rather than) (?:(?:the|a|an|my|our|your|it) )*([a-z]+)")


def _exchanged(slot: re.Pattern[str], ours: str, theirs: str) -> str | None:
    """Each side fills ``slot`` with something else, and what one puts there the other names.

    "How many users can sign in on one device?" / "How many devices can I sign in on at
    once?": what is counted and what it is counted on changed places; "cancel instead of
    pausing" / "pause instead of cancelling": what is chosen and what is set aside did;
    "assign two tasks to one person" / "assign a task to two people": what is counted.
    Two slots that merely name the thing differently ("seats" / "users") are left to the
    rest.
    """
    filled, other = slot.search(ours), slot.search(theirs)
    if filled is None or other is None:
        return None
    mine, their = _thing(filled.group(1)), _thing(other.group(1))
    if mine == their or mine not in _things_outside(theirs, other):
        return None
    if slot is _AMOUNT and their not in _things_outside(ours, filled):
        return None  # an amount must trade places both ways: "3 seats" / "3 unused seats"
    return f"{filled.group(1)!r} / {other.group(1)!r}"


def _things_outside(text: str, match: re.Match[str]) -> set[str]:
    return {_thing(w) for w in WORD.findall(text[: match.start()] + text[match.end() :])}


def _thing(word: str) -> str:
    """The stem a thing is compared by: "people" is more than one "person"."""
    return "person" if word == "people" else stem(word)


_AMOUNT = re.compile(r"\b(?:\d+|two|three|four|five|six|seven|eight|nine|ten) ([a-z]+)")
_SLOTS = (
    (_COUNTED, "what is counted and what it is counted on exchanged"),
    (_SET_ASIDE, "what is chosen and what is set aside exchanged"),
    (_AMOUNT, "what the amount counts exchanged"),
)


_POSSESSOR = re.compile(r"\b([a-z]+)(?:'s|s')(?![a-z])")
_LETTERS = re.compile(r"[a-z]+")
_ANYONE = frozenset("someone somebody anyone anybody everyone everybody one other else".split())
"""Possessors that name nobody in particular: "someone's expenses" asks about expenses."""
_PEOPLE = frozenset("person persons people someone somebody anyone anybody others".split())


def _owner_added(ours: str, theirs: str) -> str | None:
    """A person on one side owns the thing asked about, and the other side names nobody.

    "the VAT number on my supplier's invoices" / "on my invoices", "a teammate's username" /
    "my username": whose thing it is changed. "my colleague's invitation" / "my teammate
    did not receive the invitation" names someone on both sides and is left to the rest,
    as are groups ("our company's invoices" are the asker's own).
    """
    owner: str | None = next(
        (
            owner
            for owner in _POSSESSOR.findall(ours.replace("\u2019", "'"))
            if owner not in _ANYONE and lexicon().party(owner) == "person"
        ),
        None,
    )
    if owner is None:
        return None
    return None if _names_someone(theirs) else owner  # "my team's projects" names "team"


def _names_someone(text: str, also: frozenset[str] = frozenset()) -> bool:
    """Whether ``text`` names a person or a group (WordNet's, ``_PEOPLE`` or ``also``)."""
    said = _LETTERS.findall(text)
    return any(word in also or word in _PEOPLE or lexicon().party(word) for word in said)


_ACTED_ON = re.compile(
    r"\b(?:i|we|you|to) ([a-z]+) (?:a|an|the|my|our|this|that|another|other|new) ([a-z]+)\b"
    r"(?! (?!(?:from|to|in|on|of|for|with|at|by|out|off|into)\b)[a-z])"
)
"""What the asker does to whom: "unenroll a student from", the person last before a
preposition or the end ("my learner account" is an account)."""
_MEMBERS = frozenset(
    """student students learner learners member members user users teammate teammates colleague
    colleagues employee employees participant participants attendee attendees""".split()
)
"""People a question's asker manages: WordNet's people are too many here ("an extra" is a
person, in its first sense)."""


def _person_acted_on(ours: str, theirs: str) -> str | None:
    """One side does it to a member, the other, with the same verb, to nobody named.

    "How do I unenroll a student from my course?" / "How do I unenroll from a course?": the
    asker acts on someone else, not on themselves.
    """
    their_stems = {stem(word) for word in _LETTERS.findall(theirs)}
    person = next(
        (
            noun
            for verb, noun in _ACTED_ON.findall(ours)
            if stem(verb) in their_stems and noun in _MEMBERS
        ),
        None,
    )
    if person is None:
        return None
    return None if _names_someone(theirs) else person


_KIN = frozenset(
    """child children kid kids son sons daughter daughters partner wife husband family friend
    friends mum mom dad parent parents team""".split()
)
_FOR_KIN = re.compile(
    rf"\b[Ff]or (?:my |our |a |the )?(?:whole )?({'|'.join(sorted(_KIN))})\b"
    r"(?! (?!(?:from|to|in|on|of|for|with|at|by|so|and|or|who|that)\b)[a-z])"
)
"""Someone close the question is for, not a thing named after them ("my team plan") nor a
name ("paying for Team"): matched in the text as written."""


def _done_for_kin(ours: str, theirs: str) -> str | None:
    """One side asks for it for someone close, the other for the asker alone.

    "Can I get a fitness assessment for my child?" / "Can I get a fitness assessment?"; a
    curated list, as WordNet's persons include "extra" ("for extra storage").
    """
    found = _FOR_KIN.search(ours)
    if found is None:
        return None
    return None if _names_someone(theirs, also=_KIN) else found[1]


def _entities(text: str) -> set[str]:
    """Capitalised words that do not merely start a sentence: names of people, firms, places.

    All-capital acronyms (API, PDF, SSO) name things, not parties, and are left out.
    """
    found = set()
    for sentence in _SENTENCE.split(text):
        for match in _CAPITALISED.finditer(sentence):
            if match.start() > 0 and not match.group().isupper():
                found.add(match.group().lower())
    return found


def _entity_clash(query: str, cached: str, q_words: set[str], c_words: set[str]) -> bool:
    """Each side names someone the other does not mention at all (Acme vs Globex).

    A name that begins the other side's name is one family of names: "MacBook" / "Mac".
    """
    q_names, c_names = _entities(query), _entities(cached)
    related = {
        name
        for name, other in itertools.product(q_names | c_names, q_names | c_names)
        if name != other and (name.startswith(other) or other.startswith(name))
    }
    return bool(q_names - c_words - related) and bool(c_names - q_words - related)


_UNUSED = re.compile(
    r"(?<=[a-z] )(?:(?:that|which) )?(?:i|we) (?:no longer|don't|do not|never) (?:need|use)\b",
    re.IGNORECASE,
)
"""A thing described by what the asker no longer needs or uses ("a task I no longer need",
"an old card I don't use"): the negation tells which thing, the question asks no less."""


_NOT_REMEMBERED = re.compile(
    r"\b(?:can't|cannot|can not|don't|do not|couldn't|could not) remember\b", re.IGNORECASE
)
"""What the asker cannot remember they forgot: "Can't remember my password" asks no less than
"I forgot my password", and denies nothing."""


_ASKED_EITHER_WAY = (
    (done_against_doing, "one side asks to {}, the other about one already done"),
    (doing_against_why_done, "one side asks how to {}, the other why it was done"),
    (doing_against_why, "one side asks how to {}, the other why"),
)
"""What one side asks to do against what the other asks about it, each way round."""


def conflict(query: str, cached: str) -> str | None:
    """Why ``cached`` must not answer ``query`` although they may embed closely, or None."""
    query, cached = (
        _NOT_REMEMBERED.sub("forgot", _UNUSED.sub(" ", spelled_out(text)))
        for text in (query, cached)
    )
    q_lower, c_lower = query.lower(), cached.lower()
    q_words, c_words = words(query), words(cached)
    polarity = polarity_clash(query, cached)
    if polarity:
        return polarity
    q_told, c_told = _as_antonyms_read(q_lower), _as_antonyms_read(c_lower)
    clash = _antonym_clash(words(q_told), words(c_told), q_told, c_told)
    if clash:
        return f"antonyms: {clash}"
    window = inside_and_outside(q_lower, c_lower)
    if window:
        return f"inside one side's window, past it on the other: {window!r}"
    opposed = action_clash(q_lower, c_lower)
    if opposed:
        return opposed
    for check, reason in _ASKED_EITHER_WAY:
        asked = check(q_lower, c_lower) or check(c_lower, q_lower)
        if asked:
            return reason.format(asked)
    wanted = wanted_against_complained(q_lower, c_lower) or wanted_against_complained(
        c_lower, q_lower
    )
    if wanted and not negations(q_words) | negations(c_words):
        return "one side asks how to make it happen, the other why it happens"
    prefixed = _negated_by_prefix(q_words, c_words) or _negated_by_prefix(c_words, q_words)
    if prefixed:
        return f"negating prefix: {prefixed}"
    if amounts_differ(query, cached):
        return "numbers differ"
    q_wh, c_wh = _embedded_questions(query), _embedded_questions(cached)
    if q_wh and c_wh and q_wh != c_wh:
        return f"asks {'/'.join(sorted(q_wh))}, not {'/'.join(sorted(c_wh))}"
    if _identifiers(query) != _identifiers(cached):
        return "identifiers differ"
    for slot, reason in _SLOTS:
        exchanged = _exchanged(slot, q_lower, c_lower) or _exchanged(slot, c_lower, q_lower)
        if exchanged:
            return f"{reason}: {exchanged}"
    owner = _owner_added(q_lower, c_lower) or _owner_added(c_lower, q_lower)
    if owner:
        return f"owner on one side only: {owner!r}"
    kin = _done_for_kin(query, c_lower) or _done_for_kin(cached, q_lower)
    if kin:
        return f"for someone else on one side only: {kin!r}"
    person = _person_acted_on(q_lower, c_lower) or _person_acted_on(c_lower, q_lower)
    if person:
        return f"done to someone on one side only: {person!r}"
    asked, answered = measure(q_lower), measure(c_lower)
    if asked and answered and asked != answered:
        return f"asks {asked}, not {answered}"
    if dates_differ(q_words, c_words):
        return "dates differ"
    if _entity_clash(query, cached, q_words, c_words):
        return "named entities differ"
    return None
