"""guards.check's shortcut (a record written as its resident is registered, or in another
notation of the same values) against the full path: the same verdicts, explanations and
context verdicts on a varied corpus — every error cause of the labelled corpus, every notation
of linkguard.synthetic.notations, the sample generator's malformed and unlinked rows, and
hand-made edge cases — and the shortcut is really taken for each kind it covers."""

from __future__ import annotations

import datetime as dt
import importlib
import random
from collections import Counter
from dataclasses import replace

import pytest

from guards import Record, Resident, check, index_by_number
from guards.context import build_identity_index, check_all
from fixtures.notation_people import person, record_of

check_module = importlib.import_module("guards.check")


def _edge_cases() -> tuple[list[Resident], list[Record]]:
    """Records one field's notation away from their resident, and the values the full path refuses."""
    hanako = person()  # 山田　花子, registered with a full-width space
    smith = person("SMITH JOHN", "スミス ジョン", serial=8, sex=1)
    ghost = person("\u200b", "", serial=9)  # a registry name of an invisible character only
    dead = person("佐藤 一郎", "サトウ イチロウ", serial=10, sex=1, status="死亡")
    moved = person("佐藤 二郎", "サトウ ジロウ", serial=11, sex=1, status="転出")
    renumbered = person("鈴木 花子", "スズキ ハナコ", serial=12, previous_my_numbers=(person(serial=13).my_number,))
    # a name with variants, a former name and a former address; an alias; a held and a passed status
    saito = person("齋藤　花子", "サイトウ ハナコ", serial=14, previous_names=("渡邊 花子",),
                   previous_addresses=("南国市後免町1-1",))
    kim = person("KIM MINJUN", "キム ミンジュン", serial=15, sex=1, alias_name="金田 民夫")
    dead_saito = person("齋藤 一郎", "サイトウ イチロウ", serial=16, sex=1, status="死亡")
    moved_saito = person("齋藤 二郎", "サイトウ ジロウ", serial=17, sex=1, status="転出",
                         previous_addresses=("南国市後免町1-1",))
    residents = [hanako, smith, ghost, dead, moved, renumbered, saito, kim, dead_saito, moved_saito]
    number = hanako.my_number
    spaced = f"{number[:4]}-{number[4:8]}-{number[8:]}"
    wide = number.translate(str.maketrans("0123456789", "０１２３４５６７８９"))
    variants = [
        dict(my_number=spaced), dict(my_number=f" {number} "), dict(my_number=wide),
        dict(my_number=spaced[:-1] + str((int(number[-1]) + 1) % 10)), dict(my_number="x" * 70),
        dict(my_number=wide + "０"), dict(my_number=""),
        dict(name="山田 花子"), dict(name="山田花子"), dict(name=" 山田\u3000花子\u200b"), dict(name="山田　華子"),
        dict(name="ﾔﾏﾀﾞ ﾊﾅｺ"), dict(name="山\U000E0100田　花子"), dict(name="山田［佐藤］花子"), dict(name="〓田　花子"),
        dict(name=""), dict(name="\u3000"), dict(name="\u200b"), dict(name="山" * 201),
        dict(name="山田 花子", my_number=spaced), dict(name="山田 花子", birth_date="S55.4.1", sex="女"),
        dict(name="山田 花子", birth_date="1980-04-02"), dict(name="山田 花子", sex="1"),
        dict(name="山田 花子", address="高知市丸の内1-2-20"), dict(name="山田 花子", address="南国市後免町1-1"),
        dict(name="山田 花子", address=""), dict(name="山田 花子", address="丸" * 301),
        dict(name="山田 花子", birth_date="昭和55年13月1日"), dict(name="山田 花子", sex="?"),
        dict(name="山田 花子", name_kana="ヤ" * 201), dict(name="山田 花子", operation="delete"),
    ]
    records = [record_of(hanako, record_id=f"H-{i}", **v) for i, v in enumerate(variants)]
    records += [record_of(smith, record_id=f"S-{i}", name=n, my_number=m)
                for i, (n, m) in enumerate([("John Smith", smith.my_number), ("SMITH, JOHN", smith.my_number),
                                            ("Smith John", f"{smith.my_number[:6]} {smith.my_number[6:]}"),
                                            ("SMITH JANE", smith.my_number)])]
    records += [record_of(ghost, record_id="G-1"), record_of(ghost, record_id="G-2", name="\u200b\u200b")]
    for resident in (dead, moved):
        records += [record_of(resident, record_id=f"{resident.status}-{i}", name=n)
                    for i, n in enumerate((resident.name, resident.name.replace(" ", "　")))]
    records += [record_of(renumbered, record_id="R-1", my_number=person(serial=13).my_number),
                record_of(renumbered, record_id="R-2", name="鈴木　花子")]
    informational = [
        dict(name="斎藤 花子"), dict(name="渡辺 花子"), dict(name="渡邊　花子"), dict(address="南国市後免町１－１"),
        dict(name="斎藤 花子", address="南国市後免町1-1"), dict(name="〓藤 花子"), dict(name="齋藤［渡邊］花子"),
        # refused: another place, another name, a placeholder without a reading, another birth date
        dict(name="斎藤 花子", address="室戸市浮津1"), dict(name="斉藤 花子"), dict(name="〓藤 花子", name_kana=""),
        dict(name="斎藤 花子", birth_date="1980-04-02"), dict(address="室戸市浮津1"),
    ]
    records += [record_of(saito, record_id=f"V-{i}", **v) for i, v in enumerate(informational)]
    records += [record_of(kim, record_id="A-0", name="金田 民夫"), record_of(kim, record_id="A-1", name="金田 民雄"),
                record_of(dead_saito, record_id="死亡-V", name="斎藤 一郎"),
                record_of(moved_saito, record_id="転出-V", name="斎藤 二郎", address="南国市後免町1-1")]
    return residents, records


def _sample_corpus() -> tuple[list[Resident], list[Record]]:
    """The sample generator's registry and records (malformed and unlinked rows, every linkage cause)."""
    from linkguard.synthetic.sample import Population, make_records, make_registry

    rng = random.Random(5)
    residents = make_registry(1_500, rng)
    population = Population(residents)
    records = [record for system in ("shintai-techo", "jido-fuyo")
               for record, _ in make_records(population, system, 1_200, rng, error_rate=0.2)]
    return residents, records


def _labelled_corpus(seed: int) -> tuple[list[Resident], list[Record]]:
    from linkguard.synthetic.corpus import make_corpus

    corpus = make_corpus(records=5_000, seed=seed)
    return list(corpus.residents), list(corpus.records)


def _full_path(monkeypatch, records, registry):
    monkeypatch.setattr(check_module, "QUICK", False)
    try:
        return [check(r, registry) for r in records]
    finally:
        monkeypatch.setattr(check_module, "QUICK", True)


@pytest.mark.parametrize("corpus", [_edge_cases, _sample_corpus, lambda: _labelled_corpus(11),
                                    lambda: _labelled_corpus(29)],
                         ids=["edge cases", "sample generator", "labelled corpus 11", "labelled corpus 29"])
def test_the_shortcut_gives_the_full_paths_verdicts(corpus, monkeypatch):
    residents, records = corpus()
    registry = index_by_number(residents)
    quick = [check(r, registry) for r in records]
    full = _full_path(monkeypatch, records, registry)
    assert [(r.record_id, v) for r, v in zip(records, quick)] == [(r.record_id, v) for r, v in zip(records, full)]
    assert [v.explanation for v in quick] == [v.explanation for v in full]
    # and in context (batches, shared numbers, suggestions), as linkguard inspect judges them
    identities = build_identity_index(residents)
    assert check_all(records, registry, identities, basic=quick) == check_all(records, registry, identities,
                                                                              basic=full)


def _taken(record: Record, registry) -> bool:
    return check_module._quick_verdict(record, registry) is not None


def test_the_shortcut_takes_every_kind_it_covers():
    """A copy, a number written with hyphens or in full width, a name written another way
    with the same key (spaces, a selector, a 旧氏 beside it), a date, sex or address in another notation;
    a name or address that passes with an informational code (a variant, a placeholder with its reading,
    a former name or address, the alias); another name or place, and a resident whose status holds the
    record (held, explained)."""
    residents, records = _edge_cases()
    registry = index_by_number(residents)
    taken = {r.record_id for r in records if _taken(r, registry)}
    assert {"H-0", "H-1", "H-2", "H-7", "H-8", "H-9", "H-12", "H-13", "H-19", "H-20", "H-23", "H-25",
            "S-0", "S-1", "S-2", "転出-0", "転出-1", "R-2", "H-14",
            "V-0", "V-1", "V-2", "V-3", "V-4", "V-5", "V-6", "A-0", "転出-V",
            "H-10", "H-11", "H-24", "S-3", "V-7", "V-8", "V-9", "V-11", "A-1", "死亡-0", "死亡-1", "死亡-V"} <= taken
    # refused here, judged by the full path: a wrong check digit, a number too long, blank or too long
    # fields, another date or sex, a former number, a registry name that is blank once normalised
    assert not taken & {"H-3", "H-4", "H-5", "H-6", "H-15", "H-16", "H-17", "H-18", "H-21", "H-22",
                        "H-26", "H-27", "H-28", "H-29", "G-1", "G-2", "R-1", "V-10"}
    verdicts = {r.record_id: check(r, registry) for r in records}
    assert [verdicts[i].reason_codes for i in ("V-0", "V-1", "V-3", "V-4", "A-0", "転出-V")] == [
        "VARIANT_CHARACTERS", "FORMER_NAME;VARIANT_CHARACTERS", "FORMER_ADDRESS",
        "VARIANT_CHARACTERS;FORMER_ADDRESS", "ALIAS_NAME", "MOVED_OUT;VARIANT_CHARACTERS;FORMER_ADDRESS"]
    assert [(verdicts[i].reason_codes, len(verdicts[i].explanation)) for i in ("V-7", "V-8", "死亡-0", "死亡-V")] == [
        ("VARIANT_CHARACTERS;ADDRESS_MISMATCH", 5), ("IDENTITY_MISMATCH", 5), ("DECEASED", 5),
        ("DECEASED;VARIANT_CHARACTERS", 5)]


def test_the_shortcut_takes_most_of_a_labelled_corpus():
    residents, records = _labelled_corpus(11)
    registry = index_by_number(residents)
    kinds = Counter()
    for record in records:
        resident = registry.get(check_module.compact(record.my_number))
        if resident is not None and _taken(record, registry):
            kinds["number written otherwise" if record.my_number != resident.my_number else "number as is"] += 1
            kinds["name as registered" if record.name == resident.name else "name written otherwise"] += 1
    assert kinds["number written otherwise"] > 0 and kinds["name written otherwise"] > 0
    assert kinds["number as is"] + kinds["number written otherwise"] > 0.8 * len(records)


def test_a_registry_name_of_invisible_characters_only_is_a_missing_name_either_way(monkeypatch):
    """The full path reads such a name as blank (MISSING_FIELD); the shortcut must not pass it."""
    ghost = person("\u200b", "")
    record = record_of(ghost)
    registry = index_by_number([ghost])
    assert check(record, registry) == _full_path(monkeypatch, [record], registry)[0]
    assert check(record, registry).reason_codes == "MISSING_FIELD"


def test_a_record_equal_to_its_resident_but_the_birth_year_passes_only_the_full_way():
    """Sanity: the fixture's resident is found and a one-field difference is held."""
    resident = person()
    verdict = check(replace(record_of(resident), birth_date=(resident.birth_date + dt.timedelta(days=365)).isoformat()),
                    index_by_number([resident]))
    assert verdict.reason_codes == "IDENTITY_MISMATCH"


def test_a_value_is_blank_once_normalised_only_if_every_character_is_a_blank_one():
    """The shortcut tests a name for blankness by stripping japanese.BLANK_CHARACTERS (a C call)
    where the full path normalises it (guards.check._blank): every character of Unicode that
    normalises to nothing or to spaces must be one of them."""
    from guards import japanese, normalize

    blank = set(japanese.BLANK_CHARACTERS)
    vanishing = [hex(c) for c in range(0x110000)
                 if not 0xD800 <= c <= 0xDFFF and chr(c) not in blank and not normalize.text(chr(c))]
    assert vanishing == []


def test_a_plainly_written_character_is_never_blank_once_normalised():
    """guards.check._blank answers "not blank" at the first digit, letter, kana or kanji without
    normalising: each is its own NFKC, no space, not removed before NFKC, and never the second
    character of a composition (so it cannot be joined into something else)."""
    import unicodedata

    from guards import japanese

    every = [chr(c) for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF]
    plain = {c for c in every if check_module._PLAINLY_WRITTEN.match(c)}
    assert len(plain) > 20_000
    assert [c for c in plain if unicodedata.normalize("NFKC", c) != c or c.isspace()
            or ord(c) in japanese._BEFORE_NFKC or unicodedata.combining(c)] == []
    joined_second = [c for c in every if any(d in plain for d in unicodedata.normalize("NFD", c)[1:])]
    assert joined_second == []
    assert not check_module._blank("\u200b山") and check_module._blank(" \u3000\u200b")


def test_blank_is_what_normalize_text_makes_empty():
    """guards.check._blank stands for ``not normalize.text(value)`` (the explanation's ABSENT, the
    missing fields): the same answer for every field of a varied corpus and for strings of blank,
    invisible, plainly written and other characters."""
    from guards import normalize

    residents, records = _labelled_corpus(11)
    values = {v for r in records for v in (r.name, r.name_kana, r.birth_date, r.sex, r.address, r.my_number)}
    values |= {v for r in residents for v in (r.name, r.name_kana, r.address)}
    rng = random.Random(23)
    pieces = [" ", "\u3000", "\u00a0", "\u200b", "\ufeff", "\ufe00", "\U000e0100", "\u2028", "\x1c", "\t", "\u3099",
              "\u309b", "ｰ", "山", "ア", "a", "1", "１", "﻿", "\u0301", "・", "〓", "\u180e", "\u1680"]
    values |= {"".join(rng.choice(pieces) for _ in range(rng.randint(0, 6))) for _ in range(50_000)}
    assert [v for v in values if check_module._blank(v) != (not normalize.text(v))] == []
