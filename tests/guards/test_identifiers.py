"""guards.identifiers: the printable fast path refuses nothing the per-character check would."""

import sys
import unicodedata

from guards.identifiers import invisible_problem


def test_no_printable_character_is_of_a_refused_category():
    refused = {"Cf", "Cc", "Zl", "Zp"}
    assert [hex(c) for c in range(sys.maxunicode + 1)
            if chr(c).isprintable() and unicodedata.category(chr(c)) in refused] == []


def test_every_refused_character_is_found_behind_printable_text():
    for c in (0x00AD, 0x200B, 0x2028, 0x2029, 0x202E, 0xFEFF, 0x0009, 0x0000, 0xE0001):
        assert invisible_problem("R-2" + chr(c)) is not None, hex(c)
