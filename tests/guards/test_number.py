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
