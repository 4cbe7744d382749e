"""Every reason code of the first rule set, and the benign forms that must pass."""

from __future__ import annotations

import datetime as dt

import pytest

from guards import Outcome, Reason, Record, Resident, check, index_by_number
from guards.number import mask
from fixtures.support import my_number

HANAKO = Resident(my_number(1), "山田 花子", dt.date(1980, 4, 1), 2, "高知市丸ノ内1-2-20",
                  alias_name="", previous_names=("佐藤 花子",), previous_addresses=("南国市大そね甲1",),
                  previous_my_numbers=(my_number(99),))
LEE = Resident(my_number(2), "LEE MINHO", dt.date(1975, 1, 2), 1, "高知市本町1-1", alias_name="李 敏浩")
DEAD = Resident(my_number(3), "土佐 一郎", dt.date(1930, 1, 1), 1, "高知市", status="死亡",
                status_date=dt.date(2023, 5, 1))
ERASED = Resident(my_number(4), "消除 太郎", dt.date(1960, 1, 1), 1, "高知市", status="消除")
MOVED = Resident(my_number(5), "転出 花子", dt.date(1990, 1, 1), 2, "高知市", status="転出")
REGISTRY = index_by_number([HANAKO, LEE, DEAD, ERASED, MOVED])


def record(resident: Resident = HANAKO, **changes) -> Record:
    fields = dict(system="shintai-techo", record_id="1", my_number=resident.my_number, name=resident.name,
                  birth_date=resident.birth_date.isoformat(), sex=str(resident.sex), address=resident.address)
    fields.update(changes)
    return Record(**fields)


@pytest.mark.parametrize("changes", [
    {},
    {"my_number": "　".join([HANAKO.my_number[:4], HANAKO.my_number[4:8], HANAKO.my_number[8:]])},
    {"my_number": "-".join([HANAKO.my_number[:4], HANAKO.my_number[4:8], HANAKO.my_number[8:]])},
    {"name": "山田　花子"}, {"name": "山田花子"}, {"name": " 山田 花子 "},
    {"birth_date": "昭和55年4月1日"}, {"birth_date": "S55.4.1"}, {"birth_date": "1980/4/1"},
    {"birth_date": "19800401"}, {"birth_date": "１９８０－０４－０１"},
    {"sex": "女"}, {"sex": "F"}, {"sex": "２"},
    {"address": "高知市丸ノ内１－２－２０"}, {"address": ""},
], ids=lambda c: ",".join(c) or "same")
def test_benign_forms_pass(changes):
    verdict = check(record(**changes), REGISTRY)
    assert verdict.outcome is Outcome.PASS, verdict


def test_full_width_number_passes():
    full_width = HANAKO.my_number.translate(str.maketrans("0123456789", "０１２３４５６７８９"))
    assert check(record(my_number=full_width), REGISTRY).outcome is Outcome.PASS


@pytest.mark.parametrize("changes,reason", [
    ({"name": "佐藤 花子"}, Reason.FORMER_NAME),
    ({"address": "南国市大そね甲1"}, Reason.FORMER_ADDRESS),
])
def test_history_matches_pass_with_a_note(changes, reason):
    verdict = check(record(**changes), REGISTRY)
    assert verdict.outcome is Outcome.PASS and verdict.reasons == (reason,)


def test_alias_and_alphabet_case():
    assert check(record(LEE, name="李　敏浩"), REGISTRY).reasons == (Reason.ALIAS_NAME,)
    assert check(record(LEE, name="Lee Minho"), REGISTRY).outcome is Outcome.PASS


@pytest.mark.parametrize("changes,reason,detail", [
    ({"name": "山田 太郎"}, Reason.IDENTITY_MISMATCH, "name"),
    ({"birth_date": "1980-04-02"}, Reason.IDENTITY_MISMATCH, "birth_date"),
    ({"sex": "1"}, Reason.IDENTITY_MISMATCH, "sex"),
    ({"name": "x", "sex": "M"}, Reason.IDENTITY_MISMATCH, "name,sex"),
    ({"address": "高知市はりまや町1"}, Reason.ADDRESS_MISMATCH, ""),
    ({"my_number": HANAKO.my_number[:-1] + str((int(HANAKO.my_number[-1]) + 1) % 10)}, Reason.CHECK_DIGIT, ""),
    ({"my_number": my_number(12345)}, Reason.NOT_IN_REGISTRY, ""),
])
def test_suspected_errors_are_held(changes, reason, detail):
    verdict = check(record(**changes), REGISTRY)
    assert verdict.outcome is Outcome.HOLD
    assert [(f.reason, f.detail) for f in verdict.findings] == [(reason, detail)]


def test_former_number_is_held_with_the_current_one_suggested():
    verdict = check(record(my_number=my_number(99)), REGISTRY)
    assert verdict.outcome is Outcome.HOLD
    assert verdict.reasons == (Reason.NUMBER_SUPERSEDED,)
    assert verdict.suggested_my_number == HANAKO.my_number


@pytest.mark.parametrize("resident,reason,outcome", [
    (DEAD, Reason.DECEASED, Outcome.HOLD), (ERASED, Reason.ERASED, Outcome.HOLD),
    (MOVED, Reason.MOVED_OUT, Outcome.PASS),
])
def test_registry_status(resident, reason, outcome):
    verdict = check(record(resident), REGISTRY)
    assert verdict.outcome is outcome and verdict.reasons == (reason,)


@pytest.mark.parametrize("changes,reason", [
    ({"my_number": ""}, Reason.NOT_LINKED),
    ({"my_number": "62149832025A"}, Reason.NUMBER_FORMAT),
    ({"my_number": "1234"}, Reason.NUMBER_FORMAT),
    ({"name": ""}, Reason.MISSING_FIELD),
    ({"birth_date": "昭和64年1月8日"}, Reason.BAD_DATE),
    ({"birth_date": "2023-02-30"}, Reason.BAD_DATE),
    ({"sex": "X"}, Reason.BAD_SEX),
])
def test_unusable_rows_are_invalid(changes, reason):
    verdict = check(record(**changes), REGISTRY)
    assert verdict.outcome is Outcome.INVALID
    assert reason in verdict.reasons


def test_every_reason_is_collected_not_just_the_first():
    verdict = check(record(DEAD, name="別人", address="どこか"), REGISTRY)
    assert set(verdict.reasons) == {Reason.DECEASED, Reason.IDENTITY_MISMATCH, Reason.ADDRESS_MISMATCH}


def test_a_deletion_always_passes():
    assert check(record(name="別人", operation="delete"), REGISTRY).outcome is Outcome.PASS


def test_no_number_in_any_finding_detail():
    for changes in ({"name": "x"}, {"my_number": my_number(99)}, {"birth_date": "bad"}):
        verdict = check(record(**changes), REGISTRY)
        for finding in verdict.findings:
            assert HANAKO.my_number not in finding.detail and my_number(99) not in finding.detail


def test_every_reason_has_labels_and_a_severity():
    for reason in Reason:
        assert reason.label_ja and reason.label_en and reason.severity is not None


def test_mask_shows_only_the_last_four_digits():
    assert mask(HANAKO.my_number) == "**** **** " + HANAKO.my_number[-4:]


def test_invisible_problem_fast_path_agrees_with_the_category_scan():
    """isprintable() is False for every Cf, Cc, Zl and Zp character, so the shortcut never hides one."""
    import sys
    import unicodedata

    from guards.identifiers import invisible_problem

    invisible = {"Cf", "Cc", "Zl", "Zp"}
    for code in range(sys.maxunicode + 1):
        char = chr(code)
        if unicodedata.category(char) in invisible:
            assert invisible_problem("R-" + char) is not None, hex(code)
