"""The whole guard through the in-memory topology driver (streams/testing.py): no broker.

Every stage runs over in-process partitions with the real partitioning rule,
in an order a seeded generator scrambles; the stores the sink would end with
must equal what ``linkguard inspect`` says of the same records and registry.
"""

from __future__ import annotations

import dataclasses
import random
from collections import Counter

import pytest

from linkguard.synthetic.corpus import CAUSES, EXPECTED_REASON, make_corpus
from guards import Outcome, Record, Resident
from linkguard.ops.inspection import inspect
from streams.testing import TopologyDriver

from fixtures.support import birth, my_number


def expected_of(residents, records) -> dict:
    expected = {}
    for row in inspect(residents, records):
        v = row.verdict
        expected[(row.record.system, row.record.record_id)] = (
            v.outcome.value, v.reason_codes if v.outcome is not Outcome.PASS else "",
            v.suggested_my_number if v.outcome is Outcome.HOLD else "")
    return expected


def assert_agrees(expected: dict, got: dict) -> None:
    differ = {k: (expected[k], got.get(k)) for k in expected if got.get(k) != expected[k]}
    assert not differ, f"{len(differ)} of {len(expected)} records differ (inspect, stream): " + repr(
        dict(list(differ.items())[:8]))
    assert set(got) == set(expected)


@pytest.mark.parametrize("seed", [5, 6])
def test_stream_agrees_with_inspect_over_20000_shuffled_records_with_registry_changes(seed):
    corpus = make_corpus(records=20_400, seed=7, error_rate=0.1)
    rng = random.Random(seed)
    # rows the guard cannot read at all: dead-lettered, the same as inspect says
    broken = [dataclasses.replace(r, record_id=f"BROKEN-{i}", birth_date="不明")
              for i, r in enumerate(corpus.records[:40])]
    records = [*corpus.records, *broken]
    expected = expected_of(corpus.residents, records)
    codes = Counter(code for _, c, _ in expected.values() for code in c.split(";") if code)
    for code in {*(EXPECTED_REASON[cause] for cause in CAUSES), "BAD_DATE"}:  # every error cause
        assert codes[code] >= 5, f"the corpus must hold {code}: {codes}"
    assert sum(1 for _, _, s in expected.values() if s) >= 100

    shuffled = list(records)
    rng.shuffle(shuffled)
    residents = list(corpus.residents)
    rng.shuffle(residents)
    early, late = residents[:int(len(residents) * 0.9)], residents[int(len(residents) * 0.9):]
    # some entries first arrive wrong (another name and birth date) and are corrected later,
    # and strangers join the registry and leave it again
    wrong = [dataclasses.replace(r, name="誤記 太郎", birth_date=birth(1901)) for r in early[:300]]
    strangers = [dataclasses.replace(r, my_number=my_number(90_000_000 + i), previous_my_numbers=())
                 for i, r in enumerate(early[300:500])]
    driver = TopologyDriver(partitions=3, seed=seed)
    driver.publish_residents(wrong + early[300:] + strangers)
    corrections = early[:300] + late
    rng.shuffle(corrections)
    step = len(shuffled) // 100
    for i in range(100):
        driver.publish_records(shuffled[i * step:(i + 1) * step if i < 99 else len(shuffled)])
        driver.publish_residents(corrections[i * len(corrections) // 100:(i + 1) * len(corrections) // 100])
        if i == 60:
            for stranger in strangers:
                driver.remove_resident(stranger)
        for _ in range(rng.randint(0, 40)):
            driver.step()
    driver.run()
    assert_agrees(expected, driver.final())


HANAKO = Resident(my_number(1001), "山田 花子", birth(1980), 2, "高知市本町1-1")
JIRO = Resident(my_number(1002), "鈴木 次郎", birth(1990), 1, "高知市桟橋通2-2")


@pytest.mark.parametrize("batch_size, most", [(0, 2.03), (30, 2.06)])
def test_a_common_pass_costs_two_messages(batch_size, most):
    """Input and verdict; internal envelopes and the chunks of ``filed``, ``links`` and ``batches`` are
    shared by many records."""
    people = [Resident(my_number(5000 + i), f"山田 {i}郎", birth(1950 + i % 50), 1 + i % 2, "高知市本町1-1")
              for i in range(2000)]
    driver = TopologyDriver(partitions=3, seed=None, chunk=500)
    driver.publish_residents(people)
    driver.run()
    before = sum(driver.message_counts().values())
    records = [Record("shoman", f"S-{i}", p.my_number, p.name, p.birth_date.isoformat(), str(p.sex), p.address,
                      batch_id=f"B{i // batch_size}" if batch_size else "") for i, p in enumerate(people)]
    driver.publish_records(records)
    driver.run()
    per_record = (sum(driver.message_counts().values()) - before) / len(records)
    assert set(driver.final().values()) == {("PASS", "", "")}
    assert per_record <= most, (per_record, driver.message_counts())


def test_a_swap_is_found_whichever_half_arrives_first():
    swapped = Record("shoman", "R-1", HANAKO.my_number, "鈴木 次郎", "1990-04-01", "1", batch_id="B")
    hers = Record("shoman", "R-2", JIRO.my_number, "山田 花子", "1980-04-01", "2", batch_id="B")
    for order in ([swapped, hers], [hers, swapped]):
        driver = TopologyDriver(partitions=3, seed=1)
        driver.publish_residents([HANAKO, JIRO])
        driver.run()
        for record in order:
            driver.publish_records([record])
            driver.run()
        final = driver.final()
        assert final[("shoman", "R-1")] == ("HOLD", "IDENTITY_MISMATCH;BATCH_SWAP", JIRO.my_number)
        assert final[("shoman", "R-2")] == ("HOLD", "IDENTITY_MISMATCH;BATCH_SWAP", HANAKO.my_number)


def test_a_new_resident_judges_the_held_records_of_its_bucket_again():
    """A record held without a suggestion gets one when its subject joins the registry."""
    typo = my_number(1003)[:-1] + str((int(my_number(1003)[-1]) + 1) % 10)  # a wrong check digit
    record = Record("shoman", "R-9", typo, "鈴木 次郎", "1990-04-01", "1")
    driver = TopologyDriver(partitions=3, seed=2)
    driver.publish_records([record])
    driver.run()
    assert driver.final()[("shoman", "R-9")] == ("HOLD", "CHECK_DIGIT", "")
    driver.publish_residents([JIRO])
    driver.run()
    assert driver.final()[("shoman", "R-9")] == ("HOLD", "CHECK_DIGIT", JIRO.my_number)


def test_a_registry_change_retracts_a_pass():
    record = Record("shoman", "R-1", HANAKO.my_number, "山田 花子", "1980-04-01", "2", "高知市本町1-1")
    driver = TopologyDriver(partitions=3, seed=3)
    driver.publish_residents([HANAKO])
    driver.publish_records([record])
    driver.run()
    assert driver.final()[("shoman", "R-1")] == ("PASS", "", "")
    driver.publish_residents([dataclasses.replace(HANAKO, name="鈴木 花子", birth_date=birth(1985))])
    driver.run()
    assert driver.final()[("shoman", "R-1")][0] == "HOLD"
    assert len(driver.messages(driver.names.retracted)) == 1


def test_a_corrected_number_leaves_nothing_behind():
    """The record moves to its right number: the old number forgets it, its other record passes again."""
    taro = Record("jido", "J-1", HANAKO.my_number, "山田 花子", "1980-04-01", "2", "高知市本町1-1")
    wrong = Record("shoman", "S-1", HANAKO.my_number, "鈴木 次郎", "1990-04-01", "1", "高知市桟橋通2-2")
    driver = TopologyDriver(partitions=3, seed=4)
    driver.publish_residents([HANAKO, JIRO])
    driver.publish_records([taro, wrong])
    driver.run()
    assert driver.final()[("shoman", "S-1")][0] == "HOLD"
    driver.recover()  # where each record was filed is read back from its changelog chunks
    driver.publish_records([dataclasses.replace(wrong, my_number=JIRO.my_number)])
    driver.run()
    assert driver.final()[("shoman", "S-1")] == ("PASS", "", "")
    assert driver.final()[("jido", "J-1")] == ("PASS", "", "")
    links = set(driver.table("links"))
    assert links == {HANAKO.my_number.encode(), JIRO.my_number.encode()}
    assert not driver.table("waiting"), "nothing is held, so nothing waits for the look-up"


def test_bad_events_are_dead_lettered_with_their_reason():
    driver = TopologyDriver(partitions=3, known_systems={"shoman"}, seed=None)
    driver.send(driver.names.records, b"x\x1f1", b"\x00not avro")
    driver.publish_records([Record("zz-new", "Z-1", HANAKO.my_number, "山田 花子", "1980-04-01", "2")])
    driver.run()
    reasons = sorted(driver.codec.decode("dead_letter", m.value)["reason"]
                     for m in driver.messages(driver.names.dlq))
    assert reasons == ["UNDECODABLE", "UNKNOWN_SYSTEM"]


def test_a_stopped_process_is_held_and_judged_again_at_resume():
    """連携停止: every record of the process held with LINKAGE_STOPPED, others go on; resume passes them."""
    good = Record("shintai-techo", "T-1", HANAKO.my_number, "山田 花子", "1980-04-01", "2", "高知市本町1-1")
    other = Record("jido-fuyo", "J-1", JIRO.my_number, "鈴木 次郎", "1990-04-01", "1", "高知市桟橋通2-2")
    driver = TopologyDriver(partitions=3, seed=8)
    driver.publish_residents([HANAKO, JIRO])
    driver.publish_records([good, other])
    driver.run()
    driver.control_process("shintai-techo", stopped=True)
    driver.publish_records([dataclasses.replace(good, record_id="T-2", my_number="")])  # INVALID stays INVALID
    driver.run()
    final = driver.final()
    assert final[("shintai-techo", "T-1")] == ("HOLD", "LINKAGE_STOPPED", "")
    assert final[("jido-fuyo", "J-1")] == ("PASS", "", "")
    assert final[("shintai-techo", "T-2")][0] == "INVALID"
    assert len(driver.messages(driver.names.retracted)) == 1
    driver.control_process("shintai-techo", stopped=False)
    driver.run()
    assert driver.final()[("shintai-techo", "T-1")] == ("PASS", "", "")
