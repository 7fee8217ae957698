"""Two key texts as words: lowercased, contractions spelled out, content or framing."""

from __future__ import annotations

import functools
import re

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
FUNCTION_WORDS = frozenset(
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

Tokens = tuple[tuple[str, bool], ...]


@functools.lru_cache(maxsize=16_384)
def tokenised(text: str) -> Tokens:
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
    return (word in FUNCTION_WORDS and word not in acronyms) or word.isdigit()
