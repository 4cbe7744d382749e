"""My Number (個人番号) format and check digit, on top of python-stdnum.

The check digit algorithm is python-stdnum's ``stdnum.jp.in_``; this module
only adds what the guard needs around it: full-width input, a reason code
instead of an exception. Masking is :mod:`guards.masking`'s (``mask`` is re-exported here).

>>> compact('６２１４ ９８３２ ０２５７')
'621498320257'
>>> number_problem('621498320257') is None
True
>>> number_problem('621498320258')
'CHECK_DIGIT'
>>> number_problem('62149832025A')
'NUMBER_FORMAT'
>>> number_problem('1234')
'NUMBER_FORMAT'
>>> mask('621498320257')
'**** **** 0257'
"""

from __future__ import annotations

import sys
import unicodedata
from typing import Final

from stdnum.jp import in_ as stdnum_in

from guards.exceptions import InvalidNumber
from guards.masking import mask  # re-exported: guards.masking is the one masking module

__all__ = ["compact", "number_problem", "plain_valid", "check_digits", "validate", "is_valid", "mask", "NUMBER_FIELD"]

#: The field name errors carry; the number itself never appears in a message.
NUMBER_FIELD: Final = "my_number"


def compact(number: str) -> str:
    """Return the number as 12 ASCII digits, without spaces or hyphens.

    Full-width digits and separators (as typed on Japanese screens) are
    folded by NFKC first.

    >>> compact(' 6214-9832-0257 '), compact('６２１４\u3000９８３２\u3000０２５７'), compact('６２１４－９８３２')
    ('621498320257', '621498320257', '62149832')
    >>> compact('')
    ''
    """
    # the common cases, without NFKC and stdnum's character-by-character clean: ASCII digits
    # spaced or hyphenated, full-width digits spaced or not (NFKC makes them ASCII digits and spaces)
    if number.isascii():
        if len(number) == 12 and number.isdigit():
            return number
        digits = number.replace(" ", "").replace("-", "")
    else:
        digits = number.translate(_FULL_WIDTH_DIGITS)
    if len(digits) == 12 and digits.isdigit() and digits.isascii():
        return digits
    return stdnum_in.compact(unicodedata.normalize("NFKC", number or ""))


#: full-width digits as ASCII ones, the ideographic space dropped (as NFKC and stdnum's clean do)
_FULL_WIDTH_DIGITS: Final = str.maketrans("０１２３４５６７８９", "0123456789", "\u3000")


def number_problem(number: str) -> str | None:
    """Return ``None`` for a valid number, else the reason code.

    ``NUMBER_FORMAT`` when it is not 12 digits, ``CHECK_DIGIT`` when the last
    digit disagrees with the other eleven.
    """
    digits = compact(number)
    if len(digits) != 12 or not (digits.isascii() and digits.isdigit()):
        return "NUMBER_FORMAT"
    if _check_digit(digits) != digits[-1]:
        return "CHECK_DIGIT"
    return None


# the weights of the eleven digits, left to right (the ordinance's Qn, n counted from the right)
_WEIGHTS: Final = (6, 5, 4, 3, 2, 7, 6, 5, 4, 3, 2)
_ASCII_ZEROS: Final = 48 * sum(_WEIGHTS)  # what the weighted ASCII codes of eleven zeros add up to
_CHECK_DIGITS: Final = ("0", "0", *(str(11 - remainder) for remainder in range(2, 11)))  # by remainder


def _check_digit(digits: str) -> str:
    """The check digit of a 12-digit number's first eleven digits: python-stdnum's
    ``calc_check_digit`` without its per-call overhead (a test compares the two).

    >>> _check_digit('621498320257'), _check_digit('12345678901')
    ('7', '8')
    """
    # on the ASCII bytes (a digit is its byte minus 48): a sixth of the time of eleven int() calls.
    # Digits 1-5 and 7-11 share the weights 6, 5, 4, 3, 2: their pairwise sums are weighted once,
    # as running totals (6a + 5b + 4c + 3d + 2e = a + (a+b) + … + (a+…+e) + (a+…+e)), no multiplication
    b1, b2, b3, b4, b5, b6, b7, b8, b9, b10, b11 = digits.encode("ascii")[:11]
    running = b1 + b7
    weighted = running
    running += b2 + b8
    weighted += running
    running += b3 + b9
    weighted += running
    running += b4 + b10
    weighted += running
    running += b5 + b11
    weighted += 2 * running
    return _CHECK_DIGITS[(weighted + 7 * b6 - _ASCII_ZEROS) % 11]


def plain_valid(number: str) -> bool:
    """Whether ``number`` is written as 12 ASCII digits with the right check digit: the
    common case, without :func:`number_problem`'s compacting (a registry's 300,000 rows).

    >>> plain_valid('621498320257'), plain_valid('621498320258'), plain_valid('6214-9832-0257')
    (True, False, False)
    """
    return len(number) == 12 and number.isdigit() and number.isascii() and _check_digit(number) == number[11]


# the check digit (an ASCII code) of each weighted sum of a number's first eleven ASCII codes
_CHECK_DIGIT_OF_SUM: Final = bytes(ord(_CHECK_DIGITS[(total - _ASCII_ZEROS) % 11])
                                   for total in range(57 * sum(_WEIGHTS) + 1))


def check_digits(numbers: bytes) -> bytes:
    """The check digit of each of ``numbers`` (12-digit ASCII numbers one after another), one
    ASCII byte each: :func:`_check_digit` of a whole column in a few dozen big-number steps
    instead of a Python call a number (a test compares the two).

    How: the numbers' k-th digits are copied into the low bytes of one 16-bit lane per number,
    read as one big integer, weighted and added up; each lane then holds its number's
    weighted sum (at most 47 x 57 = 2,679: no carry crosses into the next lane), which a table
    turns into the check digit.

    >>> check_digits(b'621498320257123456789018'), check_digits(b'')
    (b'78', b'')
    """
    count = len(numbers) // 12
    lanes = bytearray(2 * count)
    low = 0 if sys.byteorder == "little" else 1
    total = 0
    for position, weight in enumerate(_WEIGHTS):
        lanes[low::2] = numbers[position::12]
        total += weight * int.from_bytes(lanes, sys.byteorder)
    sums = memoryview(total.to_bytes(2 * count, sys.byteorder)).cast("H")
    return bytes(map(_CHECK_DIGIT_OF_SUM.__getitem__, sums))


def validate(number: str) -> str:
    """Return the compact number, or raise :class:`InvalidNumber`.

    The message never repeats the number itself.

    >>> validate('6214 9832 0257')
    '621498320257'
    >>> validate('6214 9832 0258')
    Traceback (most recent call last):
    ...
    guards.exceptions.InvalidNumber: my_number: check digit does not match the other 11 digits
    """
    problem = number_problem(number)
    if problem == "CHECK_DIGIT":
        raise InvalidNumber(NUMBER_FIELD, "check digit does not match the other 11 digits")
    if problem == "NUMBER_FORMAT":
        raise InvalidNumber(NUMBER_FIELD, "expected 12 digits (spaces or hyphens allowed)")
    return compact(number)


def is_valid(number: str) -> bool:
    """Whether the number has 12 digits and a correct check digit.

    >>> is_valid('621498320257'), is_valid('621498320250')
    (True, False)
    """
    return number_problem(number) is None
