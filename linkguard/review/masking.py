"""Masking of My Numbers for screens and terminals: only the last four digits are ever shown."""

from __future__ import annotations

import unicodedata

__all__ = ["mask_number", "mask_person"]


def mask_number(number: str | None) -> str:
    """``'**** **** 0257'`` for a 12-digit number; anything else shows no digits beyond four.

    Full-width digits, spaces and hyphens are read as the number they spell.

    >>> mask_number('621498320257')
    '**** **** 0257'
    >>> mask_number('6214-9832-0257')
    '**** **** 0257'
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
    text = unicodedata.normalize("NFKC", number)
    digits = "".join(c for c in text if c not in " -‐－ー\u3000")
    if len(digits) != 12 or not digits.isascii() or not digits.isdigit():
        return "****"
    return f"**** **** {digits[-4:]}"


def mask_person(person: dict | None) -> dict | None:
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
