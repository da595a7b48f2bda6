"""The sentences of a task prompt that state requirements: each numbered requirement of its contract
section and the "How it is graded" paragraph, split into sentences, whitespace normalised. Checks name
one of them as their clause; every numbered one must be some check's clause."""

from __future__ import annotations

import re

SENTENCE_END = re.compile(r"(?<=[.)])\s+(?=[A-Z`(])")


def normalised(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def _sentences(text: str) -> list[str]:
    return [normalised(s) for s in SENTENCE_END.split(normalised(text)) if s.strip()]


def requirement_sentences(prompt: str, *, numbered_only: bool = False) -> list[str]:
    """The sentences of the numbered requirements (and, unless `numbered_only`, of the grading
    paragraph), in order."""
    sections = re.split(r"\n## ", prompt)
    contract = next(s for s in sections if re.search(r"^\d+\. ", s, re.M))
    items = re.split(r"\n(?=\d+\. )", contract)[1:]
    found = [s for item in items for s in _sentences(re.sub(r"^\d+\. ", "", item))]
    if not numbered_only:
        graded = next(s for s in sections if s.startswith("How it is graded"))
        found += _sentences(graded.split("\n", 1)[1])
    return found
