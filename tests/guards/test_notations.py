"""The notations real municipal systems and the registry write: the same person PASSes
(on either side, without breaking a suggestion); the errors are still held with the right
reason and the right suggestion; no field value stalls or crashes a reader."""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import replace

import pytest

from guards import Outcome, Reason, check, index_by_number
from guards.check import FIELD_LIMITS, explain, parse_subject
from guards.context import build_identity_index, check_all, check_in_context, Context
from guards.japanese import address_key, addresses_match, kana_key, name_key, reading_key
from guards.model import FieldMatch
from fixtures.notation_people import person, record_of
from fixtures.support import my_number



def both_ways(registered: dict, keyed: dict) -> list:
    """The verdicts with the notation on the record side and on the registry side."""
    verdicts = []
    for registry_side, record_side in ((registered, keyed), (keyed, registered)):
        resident = person(**registry_side)
        rec = record_of(resident, **{k: v for k, v in record_side.items() if k in ("name", "name_kana", "address")})
        verdicts.append(check(rec, index_by_number([resident])))
    return verdicts


# --------------------------------------------------------------------------
# variation selectors and invisible characters
# --------------------------------------------------------------------------

@pytest.mark.parametrize("written", [
    "葛\U000E0100城　花子",  # IVS (MJ-based registry export)
    "辻\U000E0101 花子",
    "辻\ufe00 花子",  # a standardized variation selector
    "\u200b葛城 花子",  # zero-width space
    "葛\u200d城\u2060 花子",  # zero-width joiner, word joiner
    "\ufeff葛城\u00a0花子\u3000",  # BOM, NBSP, ideographic space at the end
    "  葛城　 花子  ",
])
def test_variation_selectors_and_stray_characters_are_the_same_name(written):
    plain = "辻 花子" if "辻" in written else "葛城 花子"
    for verdict in both_ways({"name": plain}, {"name": written}):
        assert verdict.outcome is Outcome.PASS, verdict
        assert verdict.findings == ()


def test_a_selector_does_not_make_two_different_names_equal():
    assert name_key("葛\U000E0100城") != name_key("葛西")


# --------------------------------------------------------------------------
# placeholders
# --------------------------------------------------------------------------

@pytest.mark.parametrize("placeholder", ["〓", "●", "■", "□", "？", "?", "＿", "\ufffd", "\ue0a1"])
def test_a_placeholder_with_agreeing_kana_is_a_match_on_either_side(placeholder):
    for verdict in both_ways({"name": "𠮷田　花子", "kana": "ヨシダ ハナコ"},
                             {"name": f"{placeholder}田 花子", "kana": "ﾖｼﾀﾞ ﾊﾅｺ"}):
        assert verdict.outcome is Outcome.PASS, verdict
        assert [f.reason for f in verdict.findings] == [Reason.VARIANT_CHARACTERS]


def test_a_placeholder_needs_the_kana_and_the_rest_of_the_name():
    resident = person("𠮷田　花子", "ヨシダ ハナコ")
    registry = index_by_number([resident])
    no_kana = check(record_of(resident, name="〓田 花子", name_kana=""), registry)
    other_reading = check(record_of(resident, name="〓田 花子", name_kana="モリタ ハナコ"), registry)
    other_rest = check(record_of(resident, name="〓田 春子", name_kana="ヨシダ ハナコ"), registry)
    only_placeholders = check(record_of(resident, name="●●　●子"), registry)
    for verdict in (no_kana, other_reading, other_rest, only_placeholders):
        assert verdict.outcome is Outcome.HOLD and Reason.IDENTITY_MISMATCH in verdict.reasons


# --------------------------------------------------------------------------
# addresses
# --------------------------------------------------------------------------

SAME_ADDRESSES = [
    ("高知県高知市丸ノ内一丁目2番20号", "高知市丸の内1-2-20"),
    ("高知市丸ノ内1丁目2番地20", "高知市丸ノ内1-2-20"),
    ("高知市丸ノ内1丁目2番地の20", "高知市丸ノ内１丁目２－２０"),
    ("高知市丸ノ内1丁目2番20号", "高知市丸ノ内一丁目二番二十号"),
    ("高知市丸ノ内1丁目2番20号 コーポ丸ノ内101号室", "高知市丸ノ内1-2-20"),
    ("高知市丸ノ内1丁目2番20号 コーポ丸ノ内101号室", "高知市丸ノ内1-2-20 コーポ丸の内101"),
    ("高知市丸ノ内1丁目2番20号 コーポ丸ノ内101号室", "高知市丸ノ内1-2-20-101"),
    ("高岡郡四万十町大字窪川字東町955番地", "四万十町窪川東町955"),
    ("幡多郡黒潮町大字入野百二十三番地", "高知県黒潮町入野123"),
    ("東京都千代田区霞ヶ関一丁目1番1号", "千代田区霞ケ関1-1-1"),
    ("東京都千代田区霞が関一丁目1番1号", "千代田区霞ガ関1-1-1"),
    ("高知市一宮乙1234番地", "高知市一宮乙１２３４"),
    ("高知市比島町四丁目十番百五号", "高知市比島町4-10-105"),
    ("高知市 丸ノ内\u3000一丁目\u00a02番20号", "高知市丸ノ内1ー2ー20"),
]


@pytest.mark.parametrize("registered,keyed", SAME_ADDRESSES, ids=lambda v: v)
def test_address_notations_are_the_same_address_on_either_side(registered, keyed):
    assert addresses_match(address_key(registered), address_key(keyed))
    for verdict in both_ways({"address": registered}, {"address": keyed}):
        assert verdict.outcome is Outcome.PASS, verdict


DIFFERENT_ADDRESSES = [
    ("高知市丸ノ内1-2-20", "高知市丸ノ内1-2-2"),
    ("高知市丸ノ内1-2-20", "高知市丸ノ内1-2-21"),
    ("高知市本町1-1", "高知市本町1-12"),
    ("高知市丸ノ内1-2-20 ハイツ101", "高知市丸ノ内1-2-20 ハイツ102"),
    ("高知市丸ノ内1-2-20 コーポA101", "高知市丸ノ内1-2-20 メゾンB101"),
    ("南国市大埇甲1234", "南国市大埇甲1234-101"),
    ("南国市大埇甲1234", "南国市大埇乙1234"),
    ("高知市朝倉甲1", "高知市朝倉乙1"),
]


@pytest.mark.parametrize("a,b", DIFFERENT_ADDRESSES, ids=lambda v: v)
def test_different_places_stay_different(a, b):
    assert not addresses_match(address_key(a), address_key(b))


def test_address_normalisation_is_linear_and_never_raises():
    # issue 12 item 5: 8,000 characters took 1.16 s; 一 × 5000 + 丁目 raised ValueError
    for value in ("高知市" + "一" * 60_000, "高知市" + "一" * 5_000 + "丁目", "一番" * 30_000, "の" * 60_000 + "1"):
        started = time.perf_counter()
        address_key(value)
        assert time.perf_counter() - started < 5  # generous: quadratic took minutes here


# --------------------------------------------------------------------------
# field length limits
# --------------------------------------------------------------------------

@pytest.mark.parametrize("field", sorted(FIELD_LIMITS))
def test_an_overlong_field_is_invalid_with_a_clear_reason(field):
    resident = person()
    value = "一" * (FIELD_LIMITS[field] + 1)
    verdict = check(record_of(resident, **{field: value}), index_by_number([resident]))
    assert verdict.outcome is Outcome.INVALID
    assert [str(f) for f in verdict.findings] == [f"FIELD_TOO_LONG({field})"]


def test_the_address_that_stalled_a_worker_is_invalid_at_once_and_inspect_does_not_crash():
    resident = person()
    records = [record_of(resident, record_id="big", address="高知市" + "一" * 60_000),
               record_of(resident, record_id="digits", address="高知市" + "一" * 5_000 + "丁目"),
               record_of(resident, record_id="fine")]
    verdicts = check_all(records, index_by_number([resident]), build_identity_index([resident]))
    assert [v.reason_codes for v in verdicts] == ["FIELD_TOO_LONG", "FIELD_TOO_LONG", ""]


# --------------------------------------------------------------------------
# kana readings
# --------------------------------------------------------------------------

@pytest.mark.parametrize("a,b", [
    ("ヤマサキ", "ヤマザキ"), ("ヨーコ", "ヨウコ"), ("ヨオコ", "ヨーコ"), ("キョウコ", "キヨウコ"),
    ("ヴァン", "バン"), ("リー・ミンホ", "リー ミンホ"), ("ｼｮｳｺ", "しょうこ"), ("ケイコ", "ケーコ"),
])
def test_reading_variants_read_the_same(a, b):
    assert reading_key(a) == reading_key(b)


def test_a_reading_variant_supports_a_placeholder_but_never_matches_alone():
    resident = person("山﨑　花子", "ヤマサキ ハナコ")
    registry = index_by_number([resident])
    assert check(record_of(resident, name="山〓 花子", name_kana="ヤマザキ ハナコ"), registry).outcome is Outcome.PASS
    kana_only = check(record_of(resident, name="ヤマザキ ハナコ", name_kana="ヤマザキ ハナコ"), registry)
    assert kana_only.outcome is Outcome.HOLD
    other_kanji = check(record_of(resident, name="山崎 華子", name_kana="ヤマサキ ハナコ"), registry)
    assert other_kanji.outcome is Outcome.HOLD


def test_kana_alone_never_decides_a_name():
    assert kana_key("ヤマダ ハナコ") == kana_key("やまだ　はなこ")
    resident = person()
    verdict = check(record_of(resident, name="山田 華子"), index_by_number([resident]))
    assert verdict.outcome is Outcome.HOLD


# --------------------------------------------------------------------------
# 旧氏 written with the name
# --------------------------------------------------------------------------

@pytest.mark.parametrize("written", ["山田［佐藤］花子", "山田（佐藤）花子", "山田(佐藤)花子", "山田 花子（旧姓 佐藤）"])
def test_a_former_surname_written_with_the_name_matches_either_surname(written):
    married = person("山田　花子", previous_names=("佐藤　花子",))
    registry = index_by_number([married])
    assert check(record_of(married, name=written), registry).outcome is Outcome.PASS
    # the registry not yet updated: the record's 旧氏 is the registry's current surname
    unmarried = person("佐藤　花子")
    verdict = check(record_of(unmarried, name=written), index_by_number([unmarried]))
    assert verdict.outcome is Outcome.PASS and verdict.reasons == (Reason.FORMER_NAME,)


def test_a_former_surname_in_the_registry_name_or_column():
    bracketed = person("山田［佐藤］花子")
    assert check(record_of(bracketed, name="佐藤 花子"), index_by_number([bracketed])).reasons == (
        Reason.FORMER_NAME,)
    assert check(record_of(bracketed, name="山田 花子"), index_by_number([bracketed])).reasons == ()
    column = person("山田　花子", previous_names=("佐藤",))  # a 旧氏 column: the surname alone
    assert check(record_of(column, name="佐藤花子"), index_by_number([column])).reasons == (Reason.FORMER_NAME,)


def test_a_former_surname_does_not_make_a_stranger_match():
    married = person("山田　花子", previous_names=("佐藤　花子",))
    verdict = check(record_of(married, name="鈴木［佐藤］春子"), index_by_number([married]))
    assert verdict.outcome is Outcome.HOLD


# --------------------------------------------------------------------------
# foreign names
# --------------------------------------------------------------------------

@pytest.mark.parametrize("written,reason", [
    ("nguyen van nam", None), ("Nam Nguyen Van", None), ("NGUYEN, VAN NAM", None), ("NGUYEN NAM", None),
    ("NGUYEN VAN NAM THANH", None), ("山田　太郎", Reason.ALIAS_NAME), ("NGUYEN VAN NAM（山田 太郎）", None),
    ("ＮＧＵＹＥＮ　ＶＡＮ　ＮＡＭ", None),
])
def test_foreign_names_any_order_case_middle_names_and_alias(written, reason):
    resident = person("NGUYEN VAN NAM", "グエン ヴァン ナム", alias_name="山田 太郎", sex=1)
    verdict = check(record_of(resident, name=written), index_by_number([resident]))
    assert verdict.outcome is Outcome.PASS, verdict
    assert verdict.reasons == (() if reason is None else (reason,))


def test_a_foreign_name_with_one_word_in_common_is_someone_else():
    resident = person("NGUYEN VAN NAM", sex=1)
    for other in ("NGUYEN VAN DUC", "TRAN VAN NAM", "NGUYEN"):
        assert check(record_of(resident, name=other), index_by_number([resident])).outcome is Outcome.HOLD


# --------------------------------------------------------------------------
# dates
# --------------------------------------------------------------------------

@pytest.mark.parametrize("written", ["1980年4月1日", "昭和５５年４月１日", "S55.04.01", "昭55.4.1", "１９８０／０４／０１",
                                     "昭和55年04月01日", " 1980-04-01\u200b"])
def test_date_notations(written):
    resident = person()
    assert check(record_of(resident, birth_date=written), index_by_number([resident])).outcome is Outcome.PASS


def test_first_era_years():
    resident = person(birth_date=dt.date(2019, 5, 1))
    for written in ("令和元年5月1日", "令和１年５月１日", "R01.05.01", "令和元年５月１日"):
        assert check(record_of(resident, birth_date=written), index_by_number([resident])).outcome is Outcome.PASS


# --------------------------------------------------------------------------
# the errors that must still be held
# --------------------------------------------------------------------------

def test_identical_strangers_told_apart_only_by_address():
    here = person("田中　一郎", "タナカ イチロウ", "高知市朝倉1-1", serial=1, sex=1)
    there = person("田中　一郎", "タナカ イチロウ", "南国市大埇甲1-1", serial=2, sex=1)
    registry, identities = index_by_number([here, there]), build_identity_index([here, there])
    wrong = record_of(here, my_number=there.my_number, address="高知市朝倉一丁目1番")
    verdict = check_in_context(wrong, registry, Context(identities=identities))
    assert verdict.outcome is Outcome.HOLD and Reason.ADDRESS_MISMATCH in verdict.reasons
    assert verdict.suggested_my_number == here.my_number
    no_address = replace(wrong, address="")
    verdict = check_in_context(no_address, registry, Context(identities=identities))
    assert verdict.suggested_my_number == ""  # two fit: never a guess


def test_same_reading_strangers_are_different():
    saito = person("斎藤　花子", "サイトウ ハナコ", serial=1)
    other = person("斉藤　花子", "サイトウ ハナコ", "南国市後免町1-1", serial=2)
    registry, identities = index_by_number([saito, other]), build_identity_index([saito, other])
    wrong = record_of(saito, my_number=other.my_number)
    verdict = check_in_context(wrong, registry, Context(identities=identities))
    assert Reason.IDENTITY_MISMATCH in verdict.reasons and verdict.suggested_my_number == saito.my_number


def test_twins_and_a_parents_number_are_family_numbers():
    mother = person("山田　洋子", serial=1, birth_date=dt.date(1975, 5, 5))
    twin_a = person("山田　一郎", serial=2, birth_date=dt.date(2010, 6, 6), sex=1)
    twin_b = person("山田　次郎", serial=3, birth_date=dt.date(2010, 6, 6), sex=1)
    residents = [mother, twin_a, twin_b]
    registry, context = index_by_number(residents), Context(identities=build_identity_index(residents))
    swapped = record_of(twin_a, my_number=twin_b.my_number)
    parent = record_of(twin_a, my_number=mother.my_number)
    for wrong in (swapped, parent):
        verdict = check_in_context(wrong, registry, context)
        assert Reason.FAMILY_NUMBER in verdict.reasons, verdict
        assert verdict.suggested_my_number == twin_a.my_number


def test_a_typo_that_is_another_residents_valid_number():
    subject = person("山田　花子", serial=10)
    stranger = person("鈴木　次郎", "スズキ ジロウ", "高知市本町1-1", serial=11, sex=1, birth_date=dt.date(1970, 1, 1))
    residents = [subject, stranger]
    verdict = check_in_context(record_of(subject, my_number=stranger.my_number), index_by_number(residents),
                               Context(identities=build_identity_index(residents)))
    assert Reason.IDENTITY_MISMATCH in verdict.reasons
    assert verdict.suggested_my_number == subject.my_number


def test_a_deceased_residents_number_on_a_living_persons_record():
    subject = person("山田　花子", serial=10)
    dead = person("山田　ハル", serial=11, birth_date=dt.date(1930, 1, 1), status="死亡",
                  status_date=dt.date(2020, 1, 1))
    residents = [subject, dead]
    verdict = check_in_context(record_of(subject, my_number=dead.my_number), index_by_number(residents),
                               Context(identities=build_identity_index(residents)))
    assert {Reason.DECEASED, Reason.IDENTITY_MISMATCH} <= set(verdict.reasons)
    assert verdict.suggested_my_number == subject.my_number


def test_a_strangers_former_number_never_suggests_the_strangers_current_number():
    """The one wrong-suggestion path: a former number of someone who is not the subject."""
    stranger = person("鈴木　次郎", "スズキ ジロウ", "高知市本町1-1", serial=20, sex=1, birth_date=dt.date(1970, 1, 1),
                      previous_my_numbers=(my_number(21),))
    subject = person("山田　花子", serial=22)
    residents = [stranger, subject]
    registry, context = index_by_number(residents), Context(identities=build_identity_index(residents))
    wrong = record_of(subject, my_number=my_number(21))
    assert check(wrong, registry).suggested_my_number == ""
    verdict = check_in_context(wrong, registry, context)
    assert {Reason.NUMBER_SUPERSEDED, Reason.IDENTITY_MISMATCH} <= set(verdict.reasons)
    assert verdict.suggested_my_number == subject.my_number  # the subject's own look-up
    alone = check_in_context(wrong, registry, Context(identities=build_identity_index([stranger])))
    assert alone.suggested_my_number == ""  # the subject is not in the registry: nothing, never the stranger
    # the holder *is* the subject: their current number is suggested
    own = record_of(stranger, my_number=my_number(21))
    assert check_in_context(own, registry, context).suggested_my_number == stranger.my_number


# --------------------------------------------------------------------------
# the explanation
# --------------------------------------------------------------------------

def test_a_hold_carries_a_per_field_explanation():
    resident = person("齋藤　花子", "サイトウ ハナコ", previous_names=("渡邊　花子",))
    verdict = check(record_of(resident, name="斉藤 花子", birth_date="昭和55年4月1日", address="高知市丸の内1-2-20"),
                    index_by_number([resident]))
    assert verdict.outcome is Outcome.HOLD
    matches = {e.field: e for e in verdict.explanation}
    assert list(matches) == ["name", "name_kana", "birth_date", "sex", "address"]
    assert matches["name"].match is FieldMatch.MISMATCH and matches["name"].detail == "斉→齋"
    assert matches["birth_date"].match is FieldMatch.NORMALISED
    assert matches["sex"].match is FieldMatch.EXACT
    assert matches["address"].match is FieldMatch.NORMALISED


@pytest.mark.parametrize("name,kana,match,detail", [
    ("斎藤 花子", "サイトウ ハナコ", FieldMatch.VARIANT, "斎→齋"),
    ("〓藤 花子", "ｻｲﾄｳ ﾊﾅｺ", FieldMatch.PLACEHOLDER, "〓→齋"),
    ("渡辺 花子", "", FieldMatch.FORMER, "辺→邊"),
    ("齋藤　花子", "サイトウ ハナコ", FieldMatch.EXACT, ""),
    ("齋藤花子", "サイトウ ハナコ", FieldMatch.NORMALISED, ""),
])
def test_explanation_of_a_name(name, kana, match, detail):
    resident = person("齋藤　花子", "サイトウ ハナコ", previous_names=("渡邊　花子",))
    explained = explain(record_of(resident, name=name, name_kana=kana), resident)[0]
    assert (explained.match, explained.detail) == (match, detail)


def test_explanation_never_holds_a_number():
    resident = person()
    text = " ".join(str(e) for e in explain(record_of(resident, name="山田 華子"), resident))
    assert resident.my_number not in text
    assert parse_subject(record_of(resident)).number == resident.my_number


def test_the_exact_copy_shortcut_gives_the_full_paths_verdicts(monkeypatch):
    """guards.check skips normalising a record that copies its resident's entry: same verdicts, same explanations."""
    from linkguard.synthetic.corpus import make_corpus
    import importlib

    check_module = importlib.import_module("guards.check")

    corpus = make_corpus(records=3_000, seed=11)
    registry = index_by_number(corpus.residents)
    quick = [check(r, registry) for r in corpus.records]
    monkeypatch.setattr(check_module, "QUICK", False)
    full = [check(r, registry) for r in corpus.records]
    assert quick == full
    assert [v.explanation for v in quick] == [v.explanation for v in full]
    taken = sum(check_module._quick_verdict(r, registry) is not None for r in corpus.records)
    assert taken > len(corpus.records) / 4  # the shortcut is really taken


def test_the_stream_dead_letters_an_overlong_address_with_its_system_and_record_id():
    """Issue 12 item 5: 一 × 5000 + 丁目 was dead-lettered as UNDECODABLE with system and record id blank."""
    from streams.testing import TopologyDriver

    resident = person()
    driver = TopologyDriver(partitions=2, known_systems={"shintai-techo"}, seed=None)
    driver.publish_residents([resident])
    driver.publish_records([record_of(resident, record_id="LONG", address="高知市" + "一" * 5_000 + "丁目"),
                            record_of(resident, record_id="HUGE", address="高知市" + "一" * 60_000)])
    started = time.perf_counter()
    driver.run()
    assert time.perf_counter() - started < 60  # no stall (the quadratic expression took minutes)
    letters = [driver.codec.decode("dead_letter", m.value) for m in driver.messages(driver.names.dlq)]
    assert sorted((d["reason"], d["system"], d["record_id"]) for d in letters) == [
        ("FIELD_TOO_LONG", "shintai-techo", "HUGE"), ("FIELD_TOO_LONG", "shintai-techo", "LONG")]
