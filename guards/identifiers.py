"""Keys and identifiers must be what they look like: no invisible characters.

A byte-order mark at the start of a CSV line (two files joined), a zero-width
space pasted from a web page, or a bidi control turns ``R-2`` into a second,
different key that prints the same: the sink then holds two copies, and later
updates and reconciliation miss the hidden one. Every place records enter
(CSV importers, the publishing SDK, events on the topic) refuses an
identifier holding one, naming the character and its position, never the
value.

Refused: Unicode format characters (category Cf: BOM, zero-width space and
joiners, bidi embeddings, overrides and isolates, soft hyphen, word
joiner …), control characters (Cc: tabs, newlines, NUL …) and the line and
paragraph separators (Zl, Zp).

>>> invisible_problem('R-2') is None
True
>>> invisible_problem('\\ufeffR-2')
'invisible character U+FEFF (ZERO WIDTH NO-BREAK SPACE) at position 1'
>>> invisible_problem('A\\u200b-1\\u202e')
'invisible characters U+200B (ZERO WIDTH SPACE) at position 2, U+202E (RIGHT-TO-LEFT OVERRIDE) at position 5'
>>> invisible_problem('R\\t1')
'invisible character U+0009 (a control character) at position 2'
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from typing import Any

__all__ = ["IDENTIFIER_FIELDS", "invisible_problem", "identifier_problems"]

#: the fields of a record that identify it or group it (keys, batch, resident numbers of the system)
IDENTIFIER_FIELDS = ("system", "record_id", "atena_no", "batch_id")

_INVISIBLE_CATEGORIES = frozenset({"Cf", "Cc", "Zl", "Zp"})


def invisible_problem(value: str) -> str | None:
    """What is invisible in ``value`` (code points and 1-based positions), or None if nothing is."""
    if value.isprintable():  # every Cf, Cc, Zl and Zp character is unprintable: one C loop for the common case
        return None
    found = [(position, char) for position, char in enumerate(value, start=1)
             if unicodedata.category(char) in _INVISIBLE_CATEGORIES]
    if not found:
        return None
    described = ", ".join(
        f"U+{ord(char):04X} ({unicodedata.name(char, 'a control character')}) at position {position}"
        for position, char in found[:3])
    more = f" and {len(found) - 3} more" if len(found) > 3 else ""
    return f"invisible character{'s' if len(found) > 1 else ''} {described}{more}"


def identifier_problems(values: Mapping[str, Any], fields: tuple[str, ...] = IDENTIFIER_FIELDS
                        ) -> list[tuple[str, str]]:
    """``(field, problem)`` for each identifier field of ``values`` holding an invisible character.

    >>> identifier_problems({'system': 'shintai-techo', 'record_id': '\\u200bR-1', 'name': '\\u200b'})
    [('record_id', 'invisible character U+200B (ZERO WIDTH SPACE) at position 1')]
    """
    problems = []
    for field in fields:
        value = values.get(field)
        if value:
            problem = invisible_problem(str(value))
            if problem:
                problems.append((field, problem))
    return problems
