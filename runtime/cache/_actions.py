"""What a question asks to do: stop or take away, start or add, or nothing.

"Turn off 2FA" stops, "set an out-of-office reply" starts, "why does the VPN disconnect when
the laptop sleeps" asks nothing to be done. The guards refuse a hit whose two questions ask
opposite actions, or one asks to stop something and the other does not; how to make
something happen against why it happens; and doing something against asking about one
already done.
"""

from __future__ import annotations

import re

from runtime.cache._lexicon import stem

SWITCHED = r"\b(?:turn|switch|shut)(?:s|ed|ing)?\b(?:\s+(?!o(?:n|ff)\b(?!-))[\w'-]+){0,3}?\s+"
"""A switching verb up to its particle, the first "on" or "off" after it: "turn off roaming
charges on my plan" turns something off; "switch to an off-peak plan" turns nothing off."""
_STOP_STEMS = (
    r"(?:disabl|deactivat|remov|delet|cancel|stop|mut|unsubscrib|revok|disconnect|uninstall|"
    r"unpublish|terminat|silenc|prevent|hid|leav|block|halt)"
)
_STOPPING = (
    re.compile(SWITCHED + r"off\b(?!-)"),
    re.compile(rf"\b{_STOP_STEMS}(?:e|es|ed|ing|s|ped|ping|led|ling)?\b"),
    re.compile(
        r"\b(?:end|ending)\b(?! up)|\bquit(?:s|ting)? \w+ing\b|\bopt(?:s|ing)? out\b"
        r"|\brid of\b|\b(?:eras|wip)(?:e|es|ed|ing)\b"
        r"|\b(?:take|takes|took|taken|taking) (?:\w+ )?(?:down|off)\b"
        r"|\bcall(?:s|ed|ing)? (?:\w+ )?off\b|\bkeep(?:s|ing)? (?:\w+ ){1,3}from \w+ing\b"
        r"|\b(?:cancellation|deletion|removal|termination)\b"
        r"|\b(?:don't|do not) want (?:to )?(?:be |get |receive )?\w+"
    ),
)
_STARTING = (
    re.compile(SWITCHED + r"on\b(?!-)"),
    re.compile(
        r"\b(?:enabl|activat|add|creat|start|subscrib|invit|install|set)"
        r"(?:e|es|ed|ing|s|ting)?\b"
    ),
)
"""Actions that end or take something away ("opt out", "take down", "get rid of", a
"cancellation", "I don't want to be notified"), and
actions that begin or add something ("set up" is a "set"): a question asking for one of
each asks the opposite ("turn off" / "set an out-of-office reply", "remove" / "set a due
date"), whichever two verbs it uses."""


_NO_ACTION = re.compile(
    r"\bstops? working\b|\bstopped \w+ing\b"
    rf"|\b(?:i|we|you|they|a|an|the|my|our|your|its|their|this|that) {_STOP_STEMS}"
    r"(?:e?d|ped|led)\b"
    r"|\bleav(?:e|es|ing) (?:a |an )?(?:comment|note|review|message|feedback|reply)"
    r"|\bleav(?:e|es|ing) (?:\w+ )?(?:spots?|marks?|stains?|streaks?|residue|film|smudges?)\b"
    r"|\b(?:the|a|an|its|my|our|your|their|this|that|each|every) end(?:ing)?\b"
    r"|\bend(?:ing)? of\b|\bend-to-end\b|\bend (?:date|users?)\b"
    rf"|\b(?:forg[eo]t|failed|fail) to {_STOP_STEMS}\w*"
    r"|\b(?:did|does|do|will|would) (?!(?:i|we|you)\b)(?:[a-z]+ ){1,3}end\b"
    r"(?! (?:my|our|your|the|a|an|this|that|it|them)\b)"
    rf"|\b(?:did|does|do|will|would) (?!(?:i|we|you)\b)(?:[a-z]+ ){{1,3}}{_STOP_STEMS}e?\b"
    r"(?=\s*(?:$|[?.,!;]|(?:when|whenever|while|after|if|every|during|randomly)\b))"
    rf"|\b(?:it|(?:my|our|your|the|this|its) (?:[a-z'-]+ ){{0,2}}[a-z'-]+) {_STOP_STEMS}(?:es|s)\b"
    r"|\bleaves\b(?! (?:the|a|an|my|our|your|this|that|it|them|me|us)\b)"
    r"|\bstop(?:s|ped|ping)? to \w+"
    r"|\bleav(?:e|es|ing) (?:late|early|on time|sooner|later)\b"
    rf"|\bkeeps? {_STOP_STEMS}(?:ing|ping|ling)\b"
)
"""What stops without being asked to ("my mouse stopped connecting"), what was stopped
before the question ("I deleted", "a deleted project"), what the asker forgot to stop ("I
forgot to cancel and was charged"), what ends by itself ("why did my free trial end
early?"), what a thing does by itself ("why does the VPN disconnect", "my robot stops
halfway", "the videos stop to buffer", "my controller keeps disconnecting", a flight that
leaves late), leaving a note, a thing that leaves marks ("the dishwasher leaves white
spots"), and the noun "end" ("renew when the term ends" / "renewed at the end of the term",
"end-to-end encrypted", an "end date"): none asks to stop anything."""
_RECOVERY = re.compile(
    r"\b(?:restor|recover|undelet|reactivat|undo|retriev|refund)|\bmoney[- ]back\b"
    r"|\bget (?:\w+ ){0,2}back\b(?! for)"
)
"""A question that asks to get something back ("get my money back", a refund) stops nothing,
whatever it says was stopped."""


def action(text: str) -> str:
    """What ``text`` asks to do: "stop" (or take away), "start" (or add), "both" or "none"."""
    text = _NO_ACTION.sub(" ", text)
    stops = not _RECOVERY.search(text) and any(p.search(text) for p in _STOPPING)
    starts = any(p.search(text) for p in _STARTING)
    return "both" if stops and starts else "stop" if stops else "start" if starts else "none"


def action_clash(q_lower: str, c_lower: str) -> str | None:
    """One side only stops or removes; the other starts or adds, or changes nothing at all.

    "turn off" / "set an out-of-office reply" ask the opposite; "remove" / "change the
    billing contact", "cancelling a payment" / "paying", "stop a recurring task" / "make a
    recurring task" ask something else: a question that stops something is not one that
    merely uses or changes it.
    """
    actions = {action(q_lower), action(c_lower)}
    if actions == {"stop", "start"}:
        return "actions oppose: one stops or removes, the other starts or adds"
    if actions == {"stop", "none"}:
        return "one side stops or removes, the other not"
    return None


_MAKE_HAPPEN = re.compile(
    r"\bhow (?:do|can|could|would|should) (?:i|we) (?:make|get|let|have|force)\b"
)
_WHY_IT_HAPPENS = re.compile(r"\bwhy (?:does|do|did|is|are|was|were)\b")


def wanted_against_complained(ours: str, theirs: str) -> bool:
    """One side asks how to make something happen, the other why it happens.

    "How do I make the navigation app route me through toll roads?" wants what "Why does
    the navigation app route me through toll roads?" complains of. Sides that stop are left
    to the action guard (and sides that deny, to the negation guard).
    """
    return bool(
        _MAKE_HAPPEN.search(ours)
        and _WHY_IT_HAPPENS.search(theirs)
        and not _MAKE_HAPPEN.search(theirs)
        and action(ours) == action(theirs) == "none"
    )


_DONE_BEFORE = re.compile(
    r"\b(?:a|an|the|my|our) ([a-z]+) (?:that |which )?(?:i|we|i've|we've) (?:have )?([a-z]+ed)\b"
)

_DOING = re.compile(r"\b([a-z]+) (?:a|an|the|my|our) ([a-z]+)\b")


def done_against_doing(ours: str, theirs: str) -> str | None:
    """One side asks to do something; the other asks about a thing it already did to it.

    "How do I report a bug?" / "How do I track a bug I reported?": the report is done.
    """
    for thing, done in _DONE_BEFORE.findall(ours):
        base = stem(done)
        for verb, other_thing in _DOING.findall(theirs):
            if stem(verb) == base and stem(other_thing) == stem(thing):
                return f"{verb} {thing}"
    return None


_HOW_TO_DO = re.compile(r"\b(?:how (?:do|can|could|should)|can|could) (?:i|we) ([a-z]+)")
_WHY_DONE = re.compile(
    r"\bwhy (?:was|were|is|are|has|have|had|did)(?: [a-z']+){1,4}? ([a-z]+(?:ed|en))\b"
)


def doing_against_why_done(ours: str, theirs: str) -> str | None:
    """One side asks how to do something; the other why it was done (by someone else).

    "How do I remove my course review?" / "Why was my course review removed?".
    """
    asked: list[str] = _HOW_TO_DO.findall(ours)
    done = {stem(word) for word in _WHY_DONE.findall(theirs)}
    return next((verb for verb in asked if stem(verb) in done), None)


_WHY_ASKED = re.compile(r"\bwhy (?:is|are|was|were|do|does|did|has|have|can't|cannot)\b")
_REMEDIES = frozenset(
    "do fix solve resolve repair stop prevent avoid make get troubleshoot".split()
)


def doing_against_why(ours: str, theirs: str) -> str | None:
    """One side asks how to do something the other never names; the other asks why.

    "How do I renew my expired library card?" / "Why is my library card expired?": what to
    do about it is not why it is so. Asking how to fix or stop it answers the why.
    """
    if _WHY_ASKED.search(ours) or _HOW_TO_DO.search(theirs) or not _WHY_ASKED.search(theirs):
        return None
    named = {stem(word) for word in re.findall(r"[a-z]+", theirs)}
    asked: list[str] = _HOW_TO_DO.findall(ours)
    return next((v for v in asked if v not in _REMEDIES and stem(v) not in named), None)
