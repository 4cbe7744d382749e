"""THE one place that masks and redacts My Numbers (個人番号): every package imports it from here.

Two jobs:

- **masking** a value known to be a number, for screens: only the last four
  digits stay visible (``**** **** 0257``);
- **redacting** free text (comments, error messages, report cells, log lines):
  any run of 12 or more digits, of either width, with any separators a person
  might type between the groups, is replaced.

A person types a number in many ways; all of them are found:

>>> redact('番号 6214 9832 0257 です')
'番号 <12 digits> です'
>>> redact('8214  9832  0257'), redact('6214 - 9832 - 0257'), redact('621.498.320.257')
('<12 digits>', '<12 digits>', '<12 digits>')
>>> redact('6214/9832/0257'), redact('6214_9832_0257'), redact('6214,9832,0257')
('<12 digits>', '<12 digits>', '<12 digits>')
>>> redact('６２１４－９８３２－０２５７'), redact('６２１４　９８３２　０２５７'), redact('6214ー9832ー0257')
('<12 digits>', '<12 digits>', '<12 digits>')
>>> redact('order 12345, born 1980-04-01, tel 03-1234-5678')  # fewer than 12 digits: kept
'order 12345, born 1980-04-01, tel 03-1234-5678'

Why separators of up to three characters: ``' - '`` is three; four or more
(a line break and an indent, a tab run) separate numbers rather than groups.
The separator and digit classes are disjoint, so the pattern cannot backtrack
badly: redaction is linear in the text.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["NUMBER_DIGITS", "SEPARATORS", "mask", "mask_number", "mask_person", "redact", "number_like"]

#: digits in a My Number
NUMBER_DIGITS = 12

#: what people type between digit groups: spaces of every width, hyphens and dashes (ASCII,
#: Unicode, katakana ー, full-width), dots, slashes, underscores, commas (ASCII, full-width, 、),
#: the middle dot; \s covers the ideographic space U+3000
SEPARATORS = r"[\s\-‐‑‒–—―−ー－﹣_＿.．/／,，、・･]"

_PATTERNS: dict[int, re.Pattern[str]] = {}
_UUID_OR_NUMBER: dict[int, re.Pattern[str]] = {}

#: a UUID in its canonical 8-4-4-4-12 hex form
_UUID = r"[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}"

#: characters a number may be typed with besides its digits (for :func:`mask_number`)
_TYPED_SEPARATORS = re.compile(SEPARATORS)


def number_like(min_digits: int = NUMBER_DIGITS) -> re.Pattern[str]:
    """The pattern of a digit run with at least ``min_digits`` digits and typed separators.

    >>> bool(number_like().fullmatch('6214 9832 0257')), bool(number_like().fullmatch('6214 9832 025'))
    (True, False)
    >>> bool(number_like(9).fullmatch('123-456-789'))
    True
    """
    pattern = _PATTERNS.get(min_digits)
    if pattern is None:
        pattern = _PATTERNS[min_digits] = re.compile(rf"\d(?:{SEPARATORS}{{0,3}}\d){{{min_digits - 1},}}")
    return pattern


def redact(text: str, placeholder: str | Callable[[str], str] = "<12 digits>", *,
           min_digits: int = NUMBER_DIGITS) -> str:
    """Replace every number-like digit run in ``text`` (see the module's examples).

    ``placeholder`` is the replacement text, or a function of the matched run;
    ``min_digits`` lowers the threshold where shorter identifiers are secret too.

    >>> redact('key (shintai-techo, 621498320257) and 6214 9832 0257 and order 12345')
    'key (shintai-techo, <12 digits>) and <12 digits> and order 12345'
    >>> redact('621 498 320 257', '[number withheld]')  # 3-3-3-3 grouping
    '[number withheld]'
    >>> redact('6214-9832-0257', lambda run: '*' * sum(c.isdigit() for c in run))
    '************'
    >>> redact("'123 456 789' is not a date", '[number withheld]', min_digits=9)
    "'[number withheld]' is not a date"
    """
    replace = placeholder if callable(placeholder) else (lambda run: placeholder)
    pattern = _uuid_or_number(min_digits)
    return pattern.sub(lambda match: match.group() if match.lastgroup == "uuid" else replace(match.group()), text)


def _uuid_or_number(min_digits: int) -> re.Pattern[str]:
    """A number-like run, or a whole UUID, which is left alone.

    A random UUID's hex groups are all digits often enough (``…56651-0775-4859-9720-…``)
    that its event id would be redacted now and then, and an operator could not find it.

    >>> redact('event 3fa56651-0775-4859-9720-2c963f66afa6 and 6214 9832 0257')
    'event 3fa56651-0775-4859-9720-2c963f66afa6 and <12 digits>'
    >>> redact('x3fa56651-0775-4859-9720-2c963f66afa6')  # not a UUID token on its own: redacted
    'x3fa<12 digits>c963f66afa6'
    """
    pattern = _UUID_OR_NUMBER.get(min_digits)
    if pattern is None:
        pattern = _UUID_OR_NUMBER[min_digits] = re.compile(
            rf"(?P<uuid>(?<![0-9A-Za-z]){_UUID}(?![0-9A-Za-z]))|{number_like(min_digits).pattern}")
    return pattern


def mask(number: str) -> str:
    """Mask a number for screens and logs: only the last four of its digits stay visible.

    >>> mask('621498320257')
    '**** **** 0257'
    >>> mask('6214-9832-0257'), mask('６２１４　９８３２　０２５７')
    ('**** **** 0257', '**** **** 0257')
    >>> mask('')
    ''
    >>> mask('12')
    '****'
    """
    digits = _TYPED_SEPARATORS.sub("", unicodedata.normalize("NFKC", number or ""))
    if len(digits) < 4:
        return "****" if digits else ""
    return "**** **** " + digits[-4:]


def mask_number(number: str | None) -> str:
    """``'**** **** 0257'`` for a 12-digit number; anything else shows no digit at all.

    Stricter than :func:`mask` (for values that may not be numbers at all, as on
    the review screens): full-width digits and typed separators are read as the
    number they spell.

    >>> mask_number('621498320257')
    '**** **** 0257'
    >>> mask_number('6214-9832-0257'), mask_number('621.498.320.257')
    ('**** **** 0257', '**** **** 0257')
    >>> mask_number('６２１４９８３２０２５７')
    '**** **** 0257'
    >>> mask_number('')
    '****'
    >>> mask_number(None)
    '****'
    >>> mask_number('62149832025A')  # not a number: nothing of it shown
    '****'
    >>> mask_number('12345')  # too short to show four digits safely
    '****'
    """
    if not number:
        return "****"
    digits = _TYPED_SEPARATORS.sub("", unicodedata.normalize("NFKC", number))
    if len(digits) != NUMBER_DIGITS or not digits.isascii() or not digits.isdigit():
        return "****"
    return f"**** **** {digits[-4:]}"


def mask_person(person: Mapping[str, Any] | None) -> dict | None:
    """A registry-person snapshot with every number in it masked (current and former ones).

    >>> mask_person({'my_number': '621498320257', 'name': '山田', 'previous_my_numbers': ['123456789018']})
    {'my_number': '**** **** 0257', 'name': '山田', 'previous_my_numbers': ['**** **** 9018']}
    """
    if person is None:
        return None
    masked = dict(person)
    if "my_number" in masked:
        masked["my_number"] = mask_number(masked["my_number"])
    if "previous_my_numbers" in masked:
        masked["previous_my_numbers"] = [mask_number(n) for n in masked["previous_my_numbers"] or ()]
    return masked
