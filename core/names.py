"""Names and tags as users type them: one line each, of a length every table and chart can show."""
from __future__ import annotations

import unicodedata
from collections.abc import Iterable

MAX_NAME_CHARS = 100
MAX_TAG_CHARS = 40


class InvalidText(ValueError):
    """A name or tag that cannot be stored as typed; the message names it and why."""


def checked_name(name: str, what: str = "name") -> str:
    """The name trimmed; InvalidText for one of several lines, with control characters, or too long."""
    name = name.strip()
    _one_line(what, name)
    if len(name) > MAX_NAME_CHARS:
        raise InvalidText(f"{what}: {len(name)} characters; at most {MAX_NAME_CHARS}")
    return name


def checked_tags(tags: Iterable[str]) -> tuple[str, ...]:
    """Tags trimmed, without empties or repeats, sorted ('b, a,,a ' -> ('a', 'b')); InvalidText for a long one."""
    kept = tuple(sorted({tag.strip() for tag in tags if tag.strip()}))
    for tag in kept:
        _one_line(f"tag {tag[:20]!r}", tag)
        if len(tag) > MAX_TAG_CHARS:
            raise InvalidText(f"tag {tag[:20] + '...'!r}: {len(tag)} characters; at most {MAX_TAG_CHARS}")
    return kept


def derived_name(base: str, suffix: str) -> str:
    """`base suffix` within MAX_NAME_CHARS: a long base is cut short, so that the suffix ('seed 3', '#12',
    'fork@4') that tells the runs apart is kept. The base is a stored name, maybe from before names were
    checked: its control characters become spaces."""
    base = _one_line_of(base)
    room = MAX_NAME_CHARS - len(suffix) - 1
    return f"{base if len(base) <= room else base[:room - 3] + '...'} {suffix}"


def kept_tags(tags: Iterable[str]) -> tuple[str, ...]:
    """Stored tags handed on (a fork's, a seed group's): made fit to store again, not refused."""
    return checked_tags(_one_line_of(tag)[:MAX_TAG_CHARS] for tag in tags)


def _one_line_of(text: str) -> str:
    return "".join(" " if unicodedata.category(char) == "Cc" else char for char in text)


def _one_line(what: str, text: str) -> None:
    if any(unicodedata.category(char) == "Cc" for char in text):
        raise InvalidText(f"{what}: one line of text, without tabs, line breaks or other control characters")
