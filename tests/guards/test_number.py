"""guards.number: the check digit agrees with python-stdnum's, whatever the digits."""

from __future__ import annotations

import random

from stdnum.jp import in_ as stdnum_in

from guards.number import number_problem


def test_check_digit_agrees_with_stdnum_on_random_and_edge_numbers():
    rng = random.Random(13)
    bodies = ["00000000000", "99999999999", "12345678901", "62149832025",
              *("".join(rng.choice("0123456789") for _ in range(11)) for _ in range(20_000))]
    for body in bodies:
        right = stdnum_in.calc_check_digit(body)
        assert number_problem(body + right) is None, body
        for wrong in set("0123456789") - {right}:
            assert number_problem(body + wrong) == "CHECK_DIGIT", body


def test_the_check_digits_of_a_column_are_each_numbers_check_digit():
    """guards.number.check_digits (a whole column at once) against _check_digit (one number)."""
    from guards.number import _check_digit, check_digits

    rng = random.Random(17)
    numbers = ["000000000000", "999999999999", "621498320257", "123456789018",
               *("".join(rng.choice("0123456789") for _ in range(12)) for _ in range(30_000))]
    for count in (0, 1, 2, 3, 7, 4096, len(numbers)):
        column = numbers[:count]
        assert check_digits("".join(column).encode("ascii")) == "".join(map(_check_digit, column)).encode("ascii")


def test_the_quick_compaction_equals_nfkc_then_stdnum():
    """compact skips NFKC where it can (ASCII or full-width digits, spaced or hyphenated): always
    what NFKC then python-stdnum's compact give."""
    import unicodedata

    from guards.number import compact

    rng = random.Random(5)
    pieces = ["6", "2", "０", "９", " ", "-", "\u3000", "－", "‐", "٣", "a", "Ａ", "\t", "ー", ""]
    values = ["".join(rng.choices(pieces, k=k)) for k in range(20) for _ in range(300)]
    digits, separators = ["6", "2", "０", "９", "٣"], [" ", "-", "\u3000", "－", "\t", "ー", "a"]
    for _ in range(3000):  # 11 to 13 digits of every width, now and then a separator or another character
        chosen = rng.choices(digits, weights=[5, 5, 5, 5, 1], k=rng.randint(11, 13))
        values.append("".join(d + (rng.choice(separators) if rng.random() < 0.15 else "") for d in chosen))
    values += ["621498320257", "６２１４９８３２０２５７", "６２１４\u3000９８３２\u3000０２５７", "6214 9832 0257",
               "６２１４ ９８３２ ０２５７", " ６２１４９８３２０２５７ ", "６２１４－９８３２－０２５７", "62149832025７"]
    for value in values:
        assert compact(value) == stdnum_in.compact(unicodedata.normalize("NFKC", value)), value
