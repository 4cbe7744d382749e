"""Batch inspection: the stream's rules on whole extracts, plus number suggestions."""

from __future__ import annotations

import csv
import os
import signal
import datetime as dt
import re
import time
from dataclasses import replace
from pathlib import Path

import pytest

from guards import Outcome, Reason, Record, Resident, check, index_by_number
from guards.context import check_in_context, full_contexts
from linkguard.ops.inspection import (
    InspectedRow,
    build_identity_index,
    inspect,
    run_inspection,
    suggest_number,
    summarize,
)
from fixtures.support import my_number as num


def wrong_check_digit(number: str) -> str:
    return number[:-1] + str((int(number[-1]) + 1) % 10)


HANAKO = Resident(num("62149832025"), "山田 花子", dt.date(1980, 4, 1), 2, "高知市丸ノ内1-2-20",
                  previous_names=("佐藤 花子",))
TARO = Resident(num("12345678901"), "山田 太郎", dt.date(1975, 1, 2), 1, "高知市本町1-1")
JIRO = Resident(num("11111111111"), "鈴木 次郎", dt.date(1990, 5, 5), 1, "高知市桟橋通2-2",
                previous_my_numbers=(num("22222222222"),))
# two residents who share name, birth date and sex; only the address tells them apart
ICHIRO_A = Resident(num("33333333333"), "田中 一郎", dt.date(1950, 3, 3), 1, "高知市朝倉1-1")
ICHIRO_B = Resident(num("44444444444"), "田中 一郎", dt.date(1950, 3, 3), 1, "南国市大埇1-1")
REGISTRY = [HANAKO, TARO, JIRO, ICHIRO_A, ICHIRO_B]
UNUSED = num("99999999999")  # a valid number nobody holds


def rec(record_id: str, my_number: str, name: str, birth: str, sex: str, address: str = "",
        system: str = "shintai-techo", **kw) -> Record:
    return Record(system, record_id, my_number, name, birth, sex, address, **kw)


def verdict_of(result, record_id):
    (row,) = [r for r in result if r.record.record_id == record_id]
    return row.verdict


# ---------------------------------------------------------------- inspect()

def test_rows_in_input_order_every_record_once_invalid_included():
    records = [
        rec("3", HANAKO.my_number, "山田花子", "S55.4.1", "女"),
        rec("1", "", "山田 太郎", "1975-01-02", "男"),  # not linked: INVALID
        rec("2", TARO.my_number, "山田 太郎", "1975-13-02", "男"),  # bad date: INVALID
        rec("10", TARO.my_number, "山田 花子", "1980-04-01", "女"),  # HOLD
        rec("3", HANAKO.my_number, "山田花子", "S55.4.1", "女", system="jido-fuyo"),
    ]
    result = inspect(REGISTRY, iter(records))
    assert [r.record for r in result] == records
    assert len(result) == len(records)
    assert [r.verdict.outcome for r in result] == [
        Outcome.PASS, Outcome.INVALID, Outcome.INVALID, Outcome.HOLD, Outcome.PASS]
    assert all(isinstance(r, InspectedRow) for r in result)


def test_same_rules_as_the_stream():
    """Every verdict is guards.check_in_context's with the full context the stream builds."""
    records = [
        rec("a", HANAKO.my_number, "佐藤 花子", "1980-04-01", "2"),  # former name: PASS + info
        rec("b", HANAKO.my_number, "山田 花子", "1980-04-01", "2", "高知市本町1-1"),  # address
        rec("c", wrong_check_digit(HANAKO.my_number), "山田 花子", "1980-04-01", "2"),
        rec("d", UNUSED, "山田 太郎", "1975-01-02", "1"),  # not in registry
        rec("e", num("22222222222"), "鈴木 次郎", "1990-05-05", "1"),  # former number
        rec("f", TARO.my_number, "", "1975-01-02", "1"),  # missing name
        rec("g", TARO.my_number, "山田 太郎", "1975-01-02", "1", operation="delete"),
        rec("h", TARO.my_number, "鈴木 次郎", "1990-05-05", "1", batch_id="B"),  # Taro's number ...
        rec("i", JIRO.my_number, "山田 太郎", "1975-01-02", "1", batch_id="B"),  # ... and Jiro's: swapped
    ]
    view = index_by_number(REGISTRY)
    identities = build_identity_index(REGISTRY)
    result = inspect(REGISTRY, records)
    for row, context in zip(result, full_contexts(records, identities)):
        assert row.verdict == check_in_context(row.record, view, context)
        basic = check(row.record, view)
        assert set(basic.reasons) <= set(row.verdict.reasons)
    assert verdict_of(result, "a").reason_codes == "FORMER_NAME"
    assert verdict_of(result, "c").reason_codes == "CHECK_DIGIT"
    assert verdict_of(result, "g").outcome is Outcome.PASS
    assert str(verdict_of(result, "h").findings[-1]) == "BATCH_SWAP(i)"
    assert str(verdict_of(result, "i").findings[-1]) == "BATCH_SWAP(h)"


def test_suggestion_when_exactly_one_resident_fits():
    # staff keyed Taro's number on Hanako's record
    result = inspect(REGISTRY, [rec("1", TARO.my_number, "山田　花子", "昭和55年4月1日", "女")])
    v = verdict_of(result, "1")
    assert v.outcome is Outcome.HOLD and Reason.IDENTITY_MISMATCH in v.reasons
    assert v.suggested_my_number == HANAKO.my_number


def test_suggestion_for_number_not_in_registry_and_bad_check_digit():
    bad = wrong_check_digit(TARO.my_number)
    result = inspect(REGISTRY, [
        rec("nr", UNUSED, "山田 太郎", "1975-01-02", "1"),
        rec("cd", bad, "山田 太郎", "1975-01-02", "1"),
    ])
    assert verdict_of(result, "nr").reasons == (Reason.NOT_IN_REGISTRY,)
    assert verdict_of(result, "cd").reasons == (Reason.CHECK_DIGIT,)
    assert verdict_of(result, "nr").suggested_my_number == TARO.my_number
    assert verdict_of(result, "cd").suggested_my_number == TARO.my_number


def test_no_suggestion_when_two_residents_fit():
    result = inspect(REGISTRY, [rec("1", UNUSED, "田中 一郎", "1950-03-03", "男")])
    v = verdict_of(result, "1")
    assert v.outcome is Outcome.HOLD
    assert v.suggested_my_number == ""


def test_address_breaks_a_tie():
    result = inspect(REGISTRY, [rec("1", UNUSED, "田中 一郎", "1950-03-03", "男", "南国市大埇１－１")])
    assert verdict_of(result, "1").suggested_my_number == ICHIRO_B.my_number


def test_address_that_fits_both_or_neither_gives_nothing():
    twin = replace(ICHIRO_B, address=ICHIRO_A.address)
    idx = build_identity_index([ICHIRO_A, twin])
    record = rec("1", UNUSED, "田中 一郎", "1950-03-03", "男", ICHIRO_A.address)
    assert suggest_number(record, idx) == ""
    assert suggest_number(replace(record, address="土佐市1-1"), build_identity_index([ICHIRO_A, ICHIRO_B])) == ""


def test_a_former_name_makes_a_resident_fit_and_can_make_it_ambiguous():
    record = rec("1", UNUSED, "佐藤 花子", "1980-04-01", "2")
    assert suggest_number(record, build_identity_index([HANAKO])) == HANAKO.my_number
    other_sato = Resident(num("55555555555"), "佐藤 花子", dt.date(1980, 4, 1), 2, "高知市")
    assert suggest_number(record, build_identity_index([HANAKO, other_sato])) == ""


def test_a_repeated_registry_entry_is_one_person():
    stale = replace(HANAKO, address="旧住所")
    record = rec("1", UNUSED, "山田花子", "1980-04-01", "2")
    assert suggest_number(record, build_identity_index([HANAKO, stale])) == HANAKO.my_number


def test_no_suggestion_of_the_records_own_number():
    # the right person, but the address disagrees: HOLD, nothing to suggest
    result = inspect(REGISTRY, [rec("1", HANAKO.my_number, "山田花子", "1980-04-01", "2", "土佐市1-1")])
    v = verdict_of(result, "1")
    assert v.reasons == (Reason.ADDRESS_MISMATCH,)
    assert v.suggested_my_number == ""


def test_guard_suggestion_for_a_former_number_is_kept():
    result = inspect(REGISTRY, [rec("1", num("22222222222"), "鈴木 次郎", "1990-05-05", "1")])
    v = verdict_of(result, "1")
    assert Reason.NUMBER_SUPERSEDED in v.reasons
    assert v.suggested_my_number == JIRO.my_number


def test_suggestions_only_on_hold():
    result = inspect(REGISTRY, [
        rec("pass", HANAKO.my_number, "山田花子", "1980-04-01", "2"),
        rec("invalid", "", "山田花子", "1980-04-01", "2"),  # NOT_LINKED: the 4 items would fit Hanako
    ])
    assert all(r.verdict.suggested_my_number == "" for r in result)


def test_restricted_identity_index():
    idx = build_identity_index(REGISTRY, only={(dt.date(1975, 1, 2), 1)})
    assert len(idx) == 1 and idx.born(dt.date(1975, 1, 2), 1) == (TARO,)
    assert idx.born(dt.date(1980, 4, 1), 2) == ()


def test_summary_counts():
    records = [
        rec("1", HANAKO.my_number, "山田花子", "1980-04-01", "2"),
        rec("2", TARO.my_number, "山田花子", "1980-04-01", "2", system="jido-fuyo"),
        rec("3", "", "山田花子", "1980-04-01", "2", system="jido-fuyo"),
    ]
    s = summarize(inspect(REGISTRY, records, systems=["shoman"]))
    assert s.total == 3 and s.residents == len(REGISTRY)
    assert s.by_verdict == {"PASS": 1, "HOLD": 1, "INVALID": 1}
    assert s.by_system["jido-fuyo"] == {"PASS": 0, "HOLD": 1, "INVALID": 1}
    assert s.by_system["shoman"] == {"PASS": 0, "HOLD": 0, "INVALID": 0}
    assert s.by_reason == {"IDENTITY_MISMATCH": 1, "NOT_LINKED": 1}
    assert s.suggestions == 1
    assert HANAKO.my_number not in repr(s)


# ---------------------------------------------------------------- through real CSV files

REGISTRY_CSV = """個人番号,氏名,生年月日,性別,住所,旧個人番号
{hanako},山田　花子,昭和55年4月1日,女,高知市丸ノ内1-2-20,
{taro},山田 太郎,1975-01-02,男,高知市本町1-1,
{jiro},鈴木 次郎,1990/5/5,1,高知市桟橋通2-2,{jiro_old}
"""

RECORDS_CSV = """レコード番号,個人番号,氏名,生年月日,性別,住所,取得経路,手帳番号
T-1,{hanako},山田花子,S55.4.1,2,,申請書,001
T-2,{taro},山田 花子,1980-04-01,女,,職員入力,002
T-3,,山田 太郎,1975-01-02,男,,,003
T-4,{jiro_old},鈴木 次郎,1990-05-05,男,,J-LIS照会,004
"""


def _numbers() -> dict[str, str]:
    return {"hanako": HANAKO.my_number, "taro": TARO.my_number, "jiro": JIRO.my_number,
            "jiro_old": num("22222222222")}


def test_run_inspection_reads_real_csv_files(tmp_path: Path):
    pytest.importorskip("streams.csvio")
    registry = tmp_path / "registry.csv"
    registry.write_bytes(REGISTRY_CSV.format(**_numbers()).encode("cp932"))  # Shift_JIS as delivered
    records = tmp_path / "shintai.csv"
    records.write_bytes(("\ufeff" + RECORDS_CSV.format(**_numbers())).encode("utf-8"))  # BOM
    empty = tmp_path / "shoman.csv"
    empty.write_text("レコード番号,個人番号,氏名,生年月日,性別\n", encoding="utf-8")
    out = tmp_path / "out"

    summary = run_inspection(registry, [("shintai-techo", records), ("shoman", empty)], out, progress=False)

    assert summary.total == 4 and summary.residents == 3
    assert summary.by_verdict == {"PASS": 1, "HOLD": 2, "INVALID": 1}
    assert summary.by_system["shoman"] == {"PASS": 0, "HOLD": 0, "INVALID": 0}
    assert set(summary.outputs) == {"verdicts.csv", "report.csv", "report.html", "explanations.csv"}
    with open(out / "explanations.csv", encoding="utf-8", newline="") as f:
        explained = list(csv.DictReader(f))
    assert [(r["record_id"], r["reasons"]) for r in explained] == [
        ("T-2", "IDENTITY_MISMATCH"), ("T-4", "NUMBER_SUPERSEDED")]  # one row per held record
    assert (explained[0]["name"], explained[0]["name_detail"]) == ("mismatch", "花→太,子→郎")  # which characters
    assert (explained[0]["birth_date"], explained[0]["sex"]) == ("mismatch", "mismatch")
    assert (explained[1]["name"], explained[1]["birth_date"], explained[1]["sex"]) == ("exact", "exact", "normalised")
    explanations_text = (out / "explanations.csv").read_text(encoding="utf-8")
    with open(out / "verdicts.csv", encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["system", "record_id", "verdict", "reasons", "suggested_my_number"]
    assert rows[1:] == [
        ["shintai-techo", "T-1", "PASS", "", ""],
        ["shintai-techo", "T-2", "HOLD", "IDENTITY_MISMATCH", HANAKO.my_number],
        ["shintai-techo", "T-3", "INVALID", "NOT_LINKED", ""],
        ["shintai-techo", "T-4", "HOLD", "NUMBER_SUPERSEDED", JIRO.my_number],
    ]
    report_csv = (out / "report.csv").read_text(encoding="utf-8-sig")
    assert "身体障害者手帳" in report_csv and "小児慢性特定疾病医療費" in report_csv
    for number in _numbers().values():
        assert number not in report_csv
        assert number not in explanations_text
        assert number not in (out / "report.html").read_text(encoding="utf-8")


# ---------------------------------------------------------------- context across files

def test_links_and_batches_span_every_file_and_system():
    shintai = [rec("S-1", HANAKO.my_number, "山田 花子", "1980-04-01", "2", atena_no="100"),
               rec("S-2", TARO.my_number, "鈴木 次郎", "1990-05-05", "1", batch_id="B-1"),
               rec("S-3", JIRO.my_number, "山田 太郎", "1975-01-02", "1", batch_id="B-1")]
    jido = [rec("J-1", HANAKO.my_number, "山田 太郎", "1975-01-02", "1", system="jido-fuyo", atena_no="200"),
            rec("J-2", HANAKO.my_number, "山田 花子", "S55.4.1", "女", system="jido-fuyo", atena_no="0100")]
    result = inspect(REGISTRY, shintai + jido)
    assert verdict_of(result, "S-1").outcome is Outcome.PASS  # Hanako's own records: one person
    assert verdict_of(result, "J-2").outcome is Outcome.PASS
    j1 = verdict_of(result, "J-1")
    assert [str(f) for f in j1.findings] == ["IDENTITY_MISMATCH(name,birth_date,sex)",
                                              "SHARED_NUMBER(jido-fuyo/J-2,shintai-techo/S-1)"]
    assert j1.suggested_my_number == TARO.my_number
    assert str(verdict_of(result, "S-2").findings[-1]) == "BATCH_SWAP(S-3)"


def test_the_order_of_files_and_rows_does_not_change_a_verdict():
    records = [rec("S-1", HANAKO.my_number, "山田 花子", "1980-04-01", "2", batch_id="B"),
               rec("S-2", HANAKO.my_number, "山田 太郎", "1975-01-02", "1", batch_id="B"),
               rec("S-3", TARO.my_number, "鈴木 次郎", "1990-05-05", "1", batch_id="B"),
               rec("J-1", TARO.my_number, "山田 太郎", "1975-01-02", "1", system="jido-fuyo"),
               rec("J-2", UNUSED, "田中 一郎", "1950-03-03", "1", "南国市大埇1-1", system="jido-fuyo")]
    forward = {(r.record.system, r.record.record_id): r.verdict for r in inspect(REGISTRY, records)}
    backward = {(r.record.system, r.record.record_id): r.verdict for r in inspect(REGISTRY, records[::-1])}
    assert forward == backward
    assert Reason.BATCH_SWAP in forward[("shintai-techo", "S-2")].reasons


BATCH_CSV = """管理番号,個人番号,氏名,生年月日,性別,住所,入力バッチ,宛名番号,更新日時
B-1,{taro},山田 花子,1980-04-01,女,,ST-20230403-0001,0001,2023-04-03 09:00:00
B-2,{hanako},山田 太郎,1975-01-02,男,,ST-20230403-0001,0002,2023-04-03 09:05:00
B-3,{jiro},鈴木 次郎,1990-05-05,男,,ST-20230403-0001,0003,2023-04-03 09:10:00
"""


def test_run_inspection_reports_a_batch_swap_in_verdicts_csv(tmp_path: Path):
    pytest.importorskip("streams.csvio")
    registry = tmp_path / "registry.csv"
    registry.write_bytes(REGISTRY_CSV.format(**_numbers()).encode("cp932"))
    records = tmp_path / "batch.csv"
    records.write_text(BATCH_CSV.format(**_numbers()), encoding="utf-8")
    out = tmp_path / "out"
    summary = run_inspection(registry, [("shintai-techo", records)], out, progress=False)
    assert summary.by_verdict == {"PASS": 1, "HOLD": 2, "INVALID": 0}
    with open(out / "verdicts.csv", encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f))
    assert rows[1:] == [
        ["shintai-techo", "B-1", "HOLD", "IDENTITY_MISMATCH;BATCH_SWAP", HANAKO.my_number],
        ["shintai-techo", "B-2", "HOLD", "IDENTITY_MISMATCH;BATCH_SWAP", TARO.my_number],
        ["shintai-techo", "B-3", "PASS", "", ""],
    ]


# ---------------------------------------------------------------- on every core

def test_the_basic_checks_on_a_process_pool_equal_the_serial_ones():
    from linkguard.ops.inspection import basic_verdicts

    registry = index_by_number(REGISTRY)
    records = [rec(f"P-{i}", person.my_number, name, "1980-04-01" if i % 3 else "S55.4.1", "2")
               for i, (person, name) in enumerate([(HANAKO, "山田 花子"), (TARO, "山田 花子"), (JIRO, "鈴木 次郎")] * 40)]
    serial = [check(r, registry) for r in records]
    pooled = basic_verdicts(records, registry, workers=2)
    assert pooled == serial
    assert [v.explanation for v in pooled] == [v.explanation for v in serial]  # carried across processes
    assert inspect(REGISTRY, records, workers=2).rows == inspect(REGISTRY, records, workers=1).rows


def _many_records_csv(first: int, count: int) -> str:
    """Rows of every verdict: copies, notations, a wrong person, a former number, no number, a batch swap."""
    n = _numbers()
    kinds = [f"{{i}},{n['hanako']},山田 花子,1980-04-01,2,高知市丸ノ内1-2-20,B-{{b}},",
             f"{{i}},{n['hanako']},山田　花子,S55.4.1,女,高知市丸ノ内１－２－２０,B-{{b}},",
             f"{{i}},{n['hanako']},山田 太郎,1975-01-02,男,,B-{{b}},",
             f"{{i}},{n['jiro_old']},鈴木 次郎,1990-05-05,男,,B-{{b}},",
             "{i},,山田 太郎,1975-01-02,1,,B-{b},",
             f"{{i}},{n['taro']},佐藤 花子,1980-04-01,2,,B-{{b}},"]
    rows = [kinds[i % len(kinds)].format(i=f"R-{i}", b=i // 4) for i in range(first, first + count)]
    return "管理番号,個人番号,氏名,生年月日,性別,住所,入力バッチ,宛名番号\n" + "\n".join(rows) + "\n"


def _inspect_files(tmp_path: Path, name: str) -> dict[str, str]:
    return _inspect_files_with(run_inspection, tmp_path, name)


def _inspect_files_with(run, tmp_path: Path, name: str) -> dict[str, str]:
    registry = tmp_path / "registry.csv"
    registry.write_bytes(REGISTRY_CSV.format(**_numbers()).encode("cp932"))
    files = []
    for k, (first, count) in enumerate([(0, 700), (700, 50), (750, 1000)]):
        path = tmp_path / f"records-{k}.csv"
        path.write_text(_many_records_csv(first, count), encoding="utf-8")
        files.append((f"system-{k}", path))
    out = tmp_path / name
    run(registry, files, out, progress=False)
    return {f: (out / f).read_text(encoding="utf-8") for f in ("verdicts.csv", "explanations.csv")}


def failing_helper_step(*args):
    raise RuntimeError("a helper that fails")


def test_helpers_that_read_and_check_slices_of_the_files_give_the_one_process_verdicts(tmp_path, monkeypatch):
    import linkguard.ops.inspection as inspection

    monkeypatch.setattr(inspection, "_cores", lambda: 1)
    alone = _inspect_files(tmp_path, "alone")
    assert "BATCH_SWAP" in alone["verdicts.csv"] and "NOT_LINKED" in alone["verdicts.csv"]
    monkeypatch.setattr(inspection, "PARALLEL_FROM", 10)
    monkeypatch.setattr(inspection, "CLAIM", 16)
    monkeypatch.setattr(inspection, "_cores", lambda: 4)  # three helpers, slices cut inside the files
    # with three helpers, this process's own work (rebuilding their records, indexing) is worth a share of
    # checks: the helpers take every record
    assert inspection._helper_slices([701, 51, 1001], 4) == [((0, 2), (0, 585)), ((0, 585), (2, 419)),
                                                             ((2, 419), (3, 0))]
    parent = os.getpid()
    log = tmp_path / "checked"

    def logging_check(slow_in: str):
        def logged(record, registry):
            here = os.getpid() == parent
            if ("parent" if here else "helper") == slow_in:
                time.sleep(0.002)
            with open(log, "a", encoding="utf-8") as f:  # one line per check, from whichever process
                f.write(f"{'here' if here else 'helper'} {record.system}/{record.record_id}\n")
            return check(record, registry)
        return logged

    for slow_in in ("helper", "parent", "neither"):  # whoever is slower, the other takes more
        log.unlink(missing_ok=True)
        monkeypatch.setattr(inspection, "check", logging_check(slow_in))
        assert _inspect_files(tmp_path, f"helped-{slow_in}") == alone
        checks = log.read_text(encoding="utf-8").splitlines()
        keys = [line.split()[1] for line in checks]
        assert len(keys) == len(set(keys)) == 1750  # every record checked once, by one process
        here = sum(line.startswith("here") for line in checks)
        if slow_in == "helper":
            assert here > 1000  # most of the slices, taken back from their ends
        elif slow_in == "parent":
            assert here < 200
    log.unlink()
    # helpers that fail reading (their slices are read here), fail checking, or die after their first
    # claims without a word (the records came packed; their shares are checked here)
    troubles = {"_read_and_pack": failing_helper_step, "_checked_claims": failing_helper_step}

    def dying_check(record, registry):
        if os.getpid() != parent:
            os._exit(1)
        return logging_check("neither")(record, registry)

    for name in (*troubles, "check"):
        log.unlink(missing_ok=True)
        with monkeypatch.context() as patched:
            patched.setattr(inspection, name, troubles.get(name, dying_check))
            if name != "check":
                patched.setattr(inspection, "check", logging_check("neither"))
            assert _inspect_files(tmp_path, f"helpers-failed-{name}") == alone
        assert sum(line.startswith("here") for line in log.read_text(encoding="utf-8").splitlines()) == 1750
    # helpers killed (kill -9) while they hold their claims' lock: this process does not wait for the
    # lock for ever, and checks what they leave
    def die_holding_the_lock(self, part, wanted):
        self._locks[part].acquire()
        os.kill(os.getpid(), signal.SIGKILL)

    locked: list[bool] = []  # what this process's attempts to take a slice's lock gave
    take_lock = inspection._Claims._lock

    def noting_the_lock(self, part, helper_alive):
        deadline = time.monotonic() + 60
        while helper_alive() and time.monotonic() < deadline:  # the helper dies at its first claim
            time.sleep(0.01)
        locked.append(take_lock(self, part, helper_alive))
        return locked[-1]

    log.unlink(missing_ok=True)
    with monkeypatch.context() as patched:
        patched.setattr(inspection._Claims, "claim", die_holding_the_lock)
        patched.setattr(inspection._Claims, "_lock", noting_the_lock)
        patched.setattr(inspection, "check", logging_check("neither"))
        assert _inspect_files(tmp_path, "helpers-killed-holding-the-lock") == alone
    assert len(locked) >= 3 and not any(locked)  # every slice's lock was left held by its dead helper
    checks = log.read_text(encoding="utf-8").splitlines()
    assert all(line.startswith("here") for line in checks)  # their shares are all checked here
    assert len(checks) == 1750


def test_the_records_a_helper_packs_are_those_a_one_process_read_gives(tmp_path, monkeypatch):
    """Slices read and packed by three helpers, in chunks cut inside the files and at their ends, with
    a payload column, a value in an unnamed column and a NUL in a name: the records of a one-process
    read, in order, field for field and payload for payload; so is a slice whose helper failed."""
    import dataclasses

    import linkguard.ops.inspection as inspection
    from streams import csvio

    monkeypatch.setattr(inspection, "PARALLEL_FROM", 10)
    monkeypatch.setattr(inspection, "PACK", 37)
    monkeypatch.setattr(inspection, "_cores", lambda: 4)
    registry = tmp_path / "registry.csv"
    registry.write_bytes(REGISTRY_CSV.format(**_numbers()).encode("cp932"))
    files = []
    for k, (first, count) in enumerate([(0, 700), (700, 50), (750, 1000)]):
        lines = _many_records_csv(first, count).splitlines()
        lines[0] += ",,更新日時"
        lines[1:] = [f"{line},{'x' if i == 500 else ''},2023-04-0{i % 9 + 1}" for i, line in enumerate(lines[1:])]
        named = [i for i, line in enumerate(lines) if "山田 花子" in line]
        if named:  # one name with a NUL (its column crosses as a list), far into each file
            at = named[len(named) * 2 // 3]
            lines[at] = lines[at].replace("山田 花子", "山田\x00花子")
        path = tmp_path / f"records-{k}.csv"
        path.write_bytes("\n".join(lines).encode("cp932" if k == 1 else "utf-8"))
        files.append((f"system-{k}", path))
    alone = [record for code, path in files for _, record in csvio.read_records_with_lines(path, system=code)]
    assert any("column 9" in r.payload for r in alone) and any("\x00" in r.name for r in alone)

    def fields(records):
        return [(*dataclasses.astuple(r)[:-1], tuple(r.payload.items())) for r in records]

    assert fields(inspection._read_and_inspect(registry, files, None, False, csvio).records) == fields(alone)
    monkeypatch.setattr(inspection, "_read_and_pack", failing_helper_step)
    assert fields(inspection._read_and_inspect(registry, files, None, False, csvio).records) == fields(alone)


@pytest.mark.parametrize("where", ["in a helper's slice", "in the head"])
def test_a_bad_row_read_with_helpers_raises_the_one_process_error(tmp_path, monkeypatch, where):
    import linkguard.ops.inspection as inspection
    from streams.csvio import CsvError

    registry = tmp_path / "registry.csv"
    registry.write_bytes(REGISTRY_CSV.format(**_numbers()).encode("cp932"))
    files = []
    for k, (first, count) in enumerate([(0, 700), (700, 50), (750, 1000)]):
        lines = _many_records_csv(first, count).splitlines()
        if k == (2 if where == "in a helper's slice" else 0):
            lines[600] = "," + lines[600].split(",", 1)[1]  # no key
            lines[900 if k == 2 else 650] += ",surplus"  # a later one, never reported
        path = tmp_path / f"records-{k}.csv"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        files.append((f"system-{k}", path))
    errors = []
    for cores in (1, 2, 4):
        monkeypatch.setattr(inspection, "_cores", lambda: cores)
        monkeypatch.setattr(inspection, "PARALLEL_FROM", 10)
        assert bool(inspection._helper_slices([701, 51, 1001], cores)) == (cores > 1)
        with pytest.raises(CsvError) as error:
            run_inspection(registry, files, tmp_path / "out", progress=False)
        errors.append((str(error.value), error.value.line, error.value.field))
    assert errors[0] == errors[1] == errors[2]
    assert errors[0][1:] == (601, "record_id")


def _registry_rows(count: int) -> list[str]:
    people = [HANAKO, TARO, JIRO]
    return [f"{people[i % 3].my_number},{people[i % 3].name} {i},{people[i % 3].birth_date.isoformat()},"
            f"{people[i % 3].sex},高知市本町{i}" for i in range(count)]


@pytest.mark.parametrize("trouble", ["none", "bad row in the second half", "quoted newline at the cut"])
def test_the_registry_read_on_two_cores_equals_the_one_process_read(tmp_path, monkeypatch, trouble):
    import linkguard.ops.inspection as inspection
    from streams import csvio

    monkeypatch.setattr(inspection, "REGISTRY_PARTS_FROM", 0)
    monkeypatch.setattr(inspection, "_cores", lambda: 2)
    rows = _registry_rows(400)
    if trouble == "bad row in the second half":
        rows[300] = rows[300].replace(HANAKO.my_number, wrong_check_digit(HANAKO.my_number))
    if trouble == "quoted newline at the cut":  # an address so long the middle byte is inside it
        rows[200] = rows[200].rsplit(",", 1)[0] + ',"高知市' + "本" * 5000 + '\n町"'
    path = tmp_path / "registry.csv"
    path.write_text("個人番号,氏名,生年月日,性別,住所\n" + "\n".join(rows) + "\n", encoding="utf-8")
    halves = csvio.registry_parts(path, smallest=0)
    assert halves is not None
    if trouble == "bad row in the second half":
        with pytest.raises(csvio.CsvError) as whole:
            list(csvio.read_registry(path))
        assert inspection._read_registry_on_two_cores(path, None) is None  # the caller reads it whole
        assert whole.value.line == 302
        return
    if trouble == "quoted newline at the cut":
        assert path.read_bytes()[halves.cut:].startswith('町"'.encode("utf-8"))  # cut inside the quotes
        with pytest.raises(csvio.CsvError):
            csvio.registry_part(halves, 0)  # the first half ends inside the quoted value
        assert inspection._read_registry_on_two_cores(path, None) is None
        return
    assert inspection._read_registry_on_two_cores(path, None) == list(csvio.read_registry(path))
    assert len(csvio.registry_part(halves, 0)) + len(csvio.registry_part(halves, 1)) == 400


def test_an_error_writing_the_verdicts_reaches_the_caller(tmp_path, monkeypatch):
    from linkguard.ops import report

    def disk_full(*args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(report, "write_verdict_columns", disk_full)
    registry = tmp_path / "registry.csv"
    registry.write_bytes(REGISTRY_CSV.format(**_numbers()).encode("cp932"))
    records = tmp_path / "records.csv"
    records.write_text(_many_records_csv(0, 10), encoding="utf-8")
    with pytest.raises(OSError, match="No space left on device"):
        run_inspection(registry, [("s", records)], tmp_path / "out", progress=False)


def test_file_errors_come_in_the_files_order(tmp_path):
    """The line counts for the helpers' slices do not open a missing file before the bad one ahead of it."""
    from streams.csvio import CsvError

    registry = tmp_path / "registry.csv"
    registry.write_bytes(REGISTRY_CSV.format(**_numbers()).encode("cp932"))
    bad = tmp_path / "bad.csv"
    bad.write_text("レコード番号,個人番号,氏名,生年月日,性別\n," + HANAKO.my_number + ",山田 花子,1980-04-01,2\n",
                   encoding="utf-8")
    with pytest.raises(CsvError, match="bad.csv, line 2: record_id"):
        run_inspection(registry, [("s", bad), ("t", tmp_path / "missing.csv")], tmp_path / "out", progress=False)
    with pytest.raises(OSError):
        run_inspection(registry, [("t", tmp_path / "missing.csv"), ("s", bad)], tmp_path / "out", progress=False)


def test_the_guards_shortcut_leaves_every_inspection_file_as_the_full_path_writes_it(tmp_path, monkeypatch):
    """A labelled corpus (every error cause, every notation, the extracts in their own encodings and
    headers) inspected on two cores — registry halves, a helper's slice — with guards.check's shortcut
    and without it: verdicts.csv, explanations.csv, report.csv and report.html byte for byte the same."""
    import importlib

    import linkguard.ops.inspection as inspection
    from linkguard.synthetic.corpus import make_corpus, write_corpus

    check_module = importlib.import_module("guards.check")
    files = write_corpus(make_corpus(records=4_000, seed=7), tmp_path / "corpus")
    monkeypatch.setattr(inspection, "_cores", lambda: 2)
    monkeypatch.setattr(inspection, "PARALLEL_FROM", 10)
    monkeypatch.setattr(inspection, "REGISTRY_PARTS_FROM", 0)
    written = {}
    for quick in (True, False):
        monkeypatch.setattr(check_module, "QUICK", quick)  # the forked helper inherits it
        out = tmp_path / f"quick-{quick}"
        summary = inspection.run_inspection(files.registry, list(files.records), out, progress=False)
        written[quick] = {name: path.read_bytes() for name, path in summary.outputs.items()}
        written[quick]["report.html"] = re.sub(rb"\d{4}-\d\d-\d\d \d\d:\d\d", b"", written[quick]["report.html"])
    assert written[True] == written[False]
    assert b"HOLD" in written[True]["verdicts.csv"] and written[True]["explanations.csv"].count(b"\n") > 20


@pytest.mark.parametrize("trouble", ["none", "cp932", "bad row in the last part", "bad byte past the head",
                                     "a NUL in a name"])
def test_a_corpus_registry_read_in_parts_equals_the_one_process_read(tmp_path, monkeypatch, trouble):
    """Every notation the synthetic registry writes (hyphenated numbers, era dates, 女/男, statuses,
    histories, former numbers), read in the parts of REGISTRY_CUTS: the same Residents, field for
    field and type for type, as read_registry; any trouble and the caller reads the file whole."""
    import dataclasses

    import linkguard.ops.inspection as inspection
    from linkguard.synthetic.corpus import make_corpus, write_corpus
    from streams import csvio

    monkeypatch.setattr(inspection, "REGISTRY_PARTS_FROM", 0)
    monkeypatch.setattr(inspection, "_cores", lambda: 2)
    path = write_corpus(make_corpus(records=3_000, seed=11), tmp_path / "corpus").registry
    text = path.read_bytes().decode("utf-8-sig")
    lines = text.splitlines(keepends=True)
    if trouble == "cp932":
        path.write_bytes(text.encode("cp932", errors="replace"))  # 𠮷 and the like have no CP932 code
    if trouble == "bad row in the last part":
        lines[-3] = "62149832025," + lines[-3].split(",", 1)[1]  # eleven digits
        path.write_text("".join(lines), encoding="utf-8")
    if trouble == "bad byte past the head":
        path.write_bytes("".join(lines[:-3]).encode("utf-8") + b"\xff" + "".join(lines[-3:]).encode("utf-8"))
    if trouble == "a NUL in a name":  # the name column crosses as a list, not joined
        fields = lines[-5].split(",")
        fields[2] = fields[2] + "\x00"
        lines[-5] = ",".join(fields)
        path.write_text("".join(lines), encoding="utf-8")
    if trouble in ("bad row in the last part", "bad byte past the head"):
        with pytest.raises(csvio.CsvError):
            list(csvio.read_registry(path))
        assert inspection._read_registry_on_two_cores(path, None) is None  # the caller reads it whole
        return
    whole = list(csvio.read_registry(path))
    parts = inspection._read_registry_on_two_cores(path, None)
    assert parts == whole and len(whole) > 3_000
    assert [tuple(map(type, dataclasses.astuple(r))) for r in parts] == [
        tuple(map(type, dataclasses.astuple(r))) for r in whole]
    assert any(r.previous_my_numbers for r in whole) and any(r.status_date for r in whole)


def test_an_inspection_that_keeps_its_records_for_the_process_end_writes_the_same_files(tmp_path, monkeypatch):
    """``free=False`` (the installed command, which ends at once) keeps the records and the registry
    past the return, out of the collector's sight, and writes what the freeing inspection writes."""
    import gc

    import linkguard.ops.inspection as inspection

    freed = _inspect_files(tmp_path, "freed")
    kept: list[object] = []
    monkeypatch.setattr(inspection, "_KEPT_UNTIL_EXIT", kept)
    real_run = inspection.run_inspection
    monkeypatch.setattr(inspection, "run_inspection", lambda *a, **k: real_run(*a, **k, free=False))
    try:
        frozen_before = gc.get_freeze_count()
        assert _inspect_files_with(inspection.run_inspection, tmp_path, "kept") == freed
        assert any(isinstance(thing, inspection._Inspected) and len(thing.records) == 1750 for thing in kept)
        assert gc.get_freeze_count() > frozen_before  # moved out of the collector's sight
    finally:
        kept.clear()
        gc.unfreeze()


@pytest.mark.parametrize("seed", range(5))
def test_summary_equals_a_plain_count_of_every_row(seed):
    """summarize counts the plain PASS rows in bulk (RowCounts): a row-by-row count, with or without counts given."""
    from collections import Counter

    from linkguard.ops.inspection import InspectedRow, InspectionResult
    from linkguard.ops.report import RowCounts
    from fixtures.support import random_inspected_rows

    rows = [InspectedRow(r, v) for r, v in random_inspected_rows(seed)]
    result = InspectionResult(rows, ("ryoiku-techo", "jido-fuyo"), 5)
    by_system: dict[str, dict[str, int]] = {s: {o.value: 0 for o in Outcome} for s in result.systems}
    for record, verdict in rows:
        by_system.setdefault(record.system, {o.value: 0 for o in Outcome})[verdict.outcome.value] += 1
    by_reason = Counter(code for _, v in rows for code in {f.reason.value for f in v.findings})
    for s in (summarize(result), summarize(result, counts=RowCounts.of(rows))):
        assert s.total == len(rows) and s.residents == 5
        assert s.by_system == by_system and list(s.by_system) == list(by_system)
        assert s.by_verdict == {o.value: sum(v.outcome is o for _, v in rows) for o in Outcome}
        assert s.by_reason == dict(by_reason)
        assert sorted(s.by_reason.values(), reverse=True) == list(s.by_reason.values())
        assert s.suggestions == sum(bool(v.suggested_my_number) for _, v in rows)
