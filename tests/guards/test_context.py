"""The context rules: family numbers, batch swaps, shared numbers, the date rule, suggestions.

Each reason code with the cases that must raise it and the look-alikes that
must not; then :func:`check_all` against the plain full contexts, in any order.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import replace

import pytest

from guards import Outcome, Reason, Record, Resident, check, index_by_number
from guards.check import parse_subject
from guards.context import (Context, Peer, affected_keys, atena, batch_key, build_identity_index, check_all,
                            check_in_context, full_contexts, identify, link_key, record_date, suggest_number)
from fixtures.support import my_number

# a household: father, mother (married name, maiden name in history), two children
FATHER = Resident(my_number(1), "山田　太郎", dt.date(1975, 1, 2), 1, "高知市本町1-1")
MOTHER = Resident(my_number(2), "山田　花子", dt.date(1978, 6, 3), 2, "高知市本町1-1",
                  previous_names=("佐藤　花子",))
SON = Resident(my_number(3), "山田　翔太", dt.date(2008, 4, 1), 1, "高知市本町1-1")
DAUGHTER = Resident(my_number(4), "山田　結衣", dt.date(2011, 9, 9), 2, "高知市本町1-1")
# a lodger at the same address under another family name; a namesake of the father's family elsewhere
LODGER = Resident(my_number(5), "鈴木　次郎", dt.date(1990, 5, 5), 1, "高知市本町1-1")
COUSIN = Resident(my_number(6), "山田　一郎", dt.date(1970, 7, 7), 1, "南国市後免町1-1")
# same-name strangers: same name, birth date and sex, different addresses
ICHIRO_A = Resident(my_number(7), "田中　一郎", dt.date(1950, 3, 3), 1, "高知市朝倉1-1")
ICHIRO_B = Resident(my_number(8), "田中　一郎", dt.date(1950, 3, 3), 1, "南国市大埇1-1")
# twins of one name (it happens with foreign names and in registries with errors), one address
TWIN_A = Resident(my_number(9), "西森　蓮", dt.date(2015, 2, 2), 1, "高知市旭町2-2")
TWIN_B = Resident(my_number(10), "西森　蓮", dt.date(2015, 2, 2), 1, "高知市旭町2-2")
DEAD = Resident(my_number(11), "土佐　一郎", dt.date(1930, 1, 1), 1, "高知市上町3-3",
                status="死亡", status_date=dt.date(2023, 6, 1))
GONE = Resident(my_number(12), "消除　太郎", dt.date(1960, 1, 1), 1, "高知市上町4-4",
                status="消除", status_date=dt.date(2022, 1, 10))
SAITO = Resident(my_number(13), "齋藤　京子", dt.date(1985, 8, 8), 2, "高知市帯屋町5-5")

RESIDENTS = [FATHER, MOTHER, SON, DAUGHTER, LODGER, COUSIN, ICHIRO_A, ICHIRO_B, TWIN_A, TWIN_B, DEAD, GONE,
             SAITO]
REGISTRY = index_by_number(RESIDENTS)
IDENTITIES = build_identity_index(RESIDENTS)
UNUSED = my_number(999)


def about(person: Resident, record_id: str = "1", system: str = "shintai-techo", number: str | None = None,
          **changes) -> Record:
    """A correct record about ``person`` (its number unless ``number`` is given)."""
    fields = dict(system=system, record_id=record_id, my_number=person.my_number if number is None else number,
                  name=person.name, birth_date=person.birth_date.isoformat(), sex=str(person.sex),
                  address=person.address, atena_no=f"A{RESIDENTS.index(person):04d}" if person in RESIDENTS else "")
    fields.update(changes)
    return Record(**fields)


def judge(records: list[Record]) -> dict[tuple[str, str], object]:
    """Verdicts by (system, record_id), through check_all (the batch view)."""
    verdicts = check_all(records, REGISTRY, IDENTITIES)
    return {(r.system, r.record_id): v for r, v in zip(records, verdicts)}


def finding(verdict, reason: Reason):
    (found,) = [f for f in verdict.findings if f.reason is reason]
    return found


def all_numbers_absent(verdict) -> bool:
    return all(r.my_number not in f.detail for f in verdict.findings for r in RESIDENTS)


# ------------------------------------------------------------------ FAMILY_NUMBER

def test_a_parents_number_on_a_childs_form():
    form = about(SON, number=FATHER.my_number, number_source="申請書")
    v = check_in_context(form, REGISTRY, Context(identities=IDENTITIES))
    assert v.outcome is Outcome.HOLD
    assert {Reason.IDENTITY_MISMATCH, Reason.FAMILY_NUMBER} <= set(v.reasons)
    assert v.suggested_my_number == SON.my_number


def test_the_spouses_number_and_a_former_name():
    # the mother wrote her maiden name and her husband's number
    form = about(MOTHER, number=FATHER.my_number, name="佐藤 花子", address="")
    v = check_in_context(form, REGISTRY, Context(identities=IDENTITIES))
    assert Reason.FAMILY_NUMBER in v.reasons and v.suggested_my_number == MOTHER.my_number


def test_family_found_by_name_and_address_when_the_subject_is_not_in_the_registry():
    # a name the registry does not know (typo), but the form says: this household, another birth date
    form = about(SON, number=FATHER.my_number, name="山田 翔大", address="高知市本町１－１")
    v = check_in_context(form, REGISTRY, Context(identities=IDENTITIES))
    assert Reason.FAMILY_NUMBER in v.reasons
    assert v.suggested_my_number == ""  # nobody fits the 4 items: nothing to suggest


@pytest.mark.parametrize("form", [
    about(LODGER, number=FATHER.my_number),  # same address, another family name
    about(COUSIN, number=FATHER.my_number),  # same family name, another address
    about(ICHIRO_A, number=FATHER.my_number),  # a stranger
    about(SON, number=FATHER.my_number, address="", name="山田 翔大"),  # no address, not in the registry
], ids=["lodger", "cousin", "stranger", "unknown-without-address"])
def test_not_family(form):
    v = check_in_context(form, REGISTRY, Context(identities=IDENTITIES))
    assert v.outcome is Outcome.HOLD and Reason.FAMILY_NUMBER not in v.reasons


def test_a_correct_record_of_a_family_member_is_not_family_number():
    v = check_in_context(about(SON), REGISTRY, Context(identities=IDENTITIES))
    assert v.outcome is Outcome.PASS and v.findings == ()


# ------------------------------------------------------------------ BATCH_SWAP

def batch(*records: Record, batch_id: str = "ST-20230403-0001") -> list[Record]:
    return [replace(r, batch_id=batch_id, entered_by="ST123") for r in records]


def test_two_numbers_swapped_within_a_batch():
    records = batch(about(ICHIRO_A, "R-1"), about(FATHER, "R-2", number=LODGER.my_number),
                    about(LODGER, "R-3", number=FATHER.my_number), about(SAITO, "R-4"))
    verdicts = judge(records)
    r2, r3 = verdicts[("shintai-techo", "R-2")], verdicts[("shintai-techo", "R-3")]
    assert str(finding(r2, Reason.BATCH_SWAP)) == "BATCH_SWAP(R-3)"
    assert str(finding(r3, Reason.BATCH_SWAP)) == "BATCH_SWAP(R-2)"
    assert r2.suggested_my_number == FATHER.my_number and r3.suggested_my_number == LODGER.my_number
    assert all_numbers_absent(r2) and all_numbers_absent(r3)
    # the correct records of the same batch are untouched
    for key in (("shintai-techo", "R-1"), ("shintai-techo", "R-4")):
        assert verdicts[key].outcome is Outcome.PASS and verdicts[key].findings == ()


def test_the_number_of_another_applicant_whose_own_record_is_right():
    records = batch(about(ICHIRO_A, "R-1"), about(SAITO, "R-2", number=ICHIRO_A.my_number))
    verdicts = judge(records)
    assert str(finding(verdicts[("shintai-techo", "R-2")], Reason.BATCH_SWAP)) == "BATCH_SWAP(R-1)"
    assert verdicts[("shintai-techo", "R-1")].outcome is Outcome.PASS


def test_the_other_applicant_left_without_a_number_is_still_named():
    records = batch(about(ICHIRO_A, "R-1", number=""), about(SAITO, "R-2", number=ICHIRO_A.my_number))
    verdicts = judge(records)
    assert verdicts[("shintai-techo", "R-1")].reasons == (Reason.NOT_LINKED,)
    assert str(finding(verdicts[("shintai-techo", "R-2")], Reason.BATCH_SWAP)) == "BATCH_SWAP(R-1)"


@pytest.mark.parametrize("elsewhere", [
    {"batch_id": "ST-20230403-0002"},  # another batch
    {"system": "jido-fuyo"},  # the same batch id in another system
    {"batch_id": ""},  # no batch at all
], ids=["other-batch", "other-system", "no-batch"])
def test_no_batch_swap_outside_the_batch(elsewhere):
    owner, swapped = batch(about(ICHIRO_A, "R-1"), about(SAITO, "R-2", number=ICHIRO_A.my_number))
    v = judge([replace(owner, **elsewhere), swapped])[("shintai-techo", "R-2")]
    assert v.outcome is Outcome.HOLD and Reason.BATCH_SWAP not in v.reasons


def test_a_batch_of_correct_records_has_no_swap():
    records = batch(*(about(p, f"R-{i}") for i, p in enumerate(RESIDENTS[:8])))
    assert all(v.outcome is Outcome.PASS for v in judge(records).values())


def test_a_family_member_in_the_same_batch_is_both():
    records = batch(about(FATHER, "R-1"), about(SON, "R-2", number=FATHER.my_number))
    v = judge(records)[("shintai-techo", "R-2")]
    assert {Reason.FAMILY_NUMBER, Reason.BATCH_SWAP} <= set(v.reasons)
    assert v.suggested_my_number == SON.my_number


# ------------------------------------------------------------------ SHARED_NUMBER

def test_the_same_person_in_two_systems_is_no_shared_number():
    records = [about(FATHER, "S-1"), about(FATHER, "J-1", system="jido-fuyo"),
               about(FATHER, "H-1", system="seikatsu-hogo", atena_no=""),  # no 宛名番号 there
               about(FATHER, "T-1", system="tokubetsu-jido", name="山田太郎", address="", atena_no=""),
               about(MOTHER, "B-1", system="boshi-fushi", number=FATHER.my_number)]  # and one wrong record
    verdicts = judge(records)
    assert all(verdicts[(r.system, r.record_id)].outcome is Outcome.PASS for r in records[:4]), verdicts
    assert all(verdicts[(r.system, r.record_id)].findings == () for r in records[:4])
    assert finding(verdicts[("boshi-fushi", "B-1")], Reason.SHARED_NUMBER).detail == \
        "jido-fuyo/J-1,seikatsu-hogo/H-1,shintai-techo/S-1,tokubetsu-jido/T-1"


def test_leading_zeros_of_an_addressee_number_do_not_matter():
    records = [about(FATHER, "S-1", atena_no="00012345"), about(FATHER, "J-1", system="jido-fuyo", atena_no="12345")]
    assert all(v.outcome is Outcome.PASS for v in judge(records).values())


def test_a_wrong_record_sharing_a_number_is_held_and_the_right_one_passes():
    right = about(FATHER, "S-1")
    wrong = about(SAITO, "J-9", system="jido-fuyo", number=FATHER.my_number)
    verdicts = judge([right, wrong])
    assert verdicts[("shintai-techo", "S-1")].outcome is Outcome.PASS
    v = verdicts[("jido-fuyo", "J-9")]
    assert str(finding(v, Reason.SHARED_NUMBER)) == "SHARED_NUMBER(shintai-techo/S-1)"
    assert all_numbers_absent(v)


def test_a_same_name_stranger_without_an_address_holds_both_records():
    # the look-up found the wrong 田中 一郎; the record has no address, so it agrees with the registry
    owner = about(ICHIRO_A, "S-1")
    stranger = about(ICHIRO_B, "J-1", system="jido-fuyo", number=ICHIRO_A.my_number, address="")
    verdicts = judge([owner, stranger])
    assert check(stranger, REGISTRY).outcome is Outcome.PASS  # the basic check cannot see it
    assert str(finding(verdicts[("shintai-techo", "S-1")], Reason.SHARED_NUMBER)) == "SHARED_NUMBER(jido-fuyo/J-1)"
    assert str(finding(verdicts[("jido-fuyo", "J-1")], Reason.SHARED_NUMBER)) == "SHARED_NUMBER(shintai-techo/S-1)"
    # no suggestion: two residents fit and the record has no address to tell them apart
    assert verdicts[("jido-fuyo", "J-1")].suggested_my_number == ""


def test_a_same_name_stranger_with_an_address_is_held_and_the_owner_passes():
    owner = about(ICHIRO_A, "S-1")
    stranger = about(ICHIRO_B, "J-1", system="jido-fuyo", number=ICHIRO_A.my_number)
    verdicts = judge([owner, stranger])
    assert verdicts[("shintai-techo", "S-1")].outcome is Outcome.PASS
    v = verdicts[("jido-fuyo", "J-1")]
    assert {Reason.ADDRESS_MISMATCH, Reason.SHARED_NUMBER} <= set(v.reasons)
    assert v.suggested_my_number == ICHIRO_B.my_number  # the address breaks the tie


def test_different_people_without_addressee_numbers_are_told_apart_by_identity():
    right = about(FATHER, "S-1", atena_no="")
    wrong = about(SAITO, "J-9", system="jido-fuyo", number=FATHER.my_number, atena_no="")
    verdicts = judge([right, wrong])
    assert verdicts[("shintai-techo", "S-1")].outcome is Outcome.PASS
    assert Reason.SHARED_NUMBER in verdicts[("jido-fuyo", "J-9")].reasons


def test_a_number_unknown_to_the_registry_on_two_people():
    a = about(SAITO, "S-1", number=UNUSED)
    b = about(LODGER, "J-1", system="jido-fuyo", number=UNUSED, atena_no="")
    same = about(SAITO, "H-1", system="seikatsu-hogo", number=UNUSED, atena_no="")
    verdicts = judge([a, b, same])
    assert str(finding(verdicts[("shintai-techo", "S-1")], Reason.SHARED_NUMBER)) == "SHARED_NUMBER(jido-fuyo/J-1)"
    assert finding(verdicts[("jido-fuyo", "J-1")], Reason.SHARED_NUMBER).detail == \
        "seikatsu-hogo/H-1,shintai-techo/S-1"


def test_many_others_are_named_up_to_five():
    wrong = [about(SAITO, f"J-{i}", system="jido-fuyo", number=FATHER.my_number, atena_no="") for i in range(8)]
    v = judge([about(LODGER, "S-1", number=FATHER.my_number, atena_no="X")] + wrong)[("shintai-techo", "S-1")]
    assert finding(v, Reason.SHARED_NUMBER).detail.endswith(",+3")


def test_a_resent_record_is_not_shared_with_itself():
    first = about(SAITO, "S-1", number=FATHER.my_number)
    again = replace(first, name="齋藤 京子")
    verdicts = check_all([first, again], REGISTRY, IDENTITIES)
    assert all(Reason.SHARED_NUMBER not in v.reasons for v in verdicts)


def test_a_deleted_record_links_nothing():
    right = about(FATHER, "S-1")
    wrong = about(SAITO, "J-9", system="jido-fuyo", number=FATHER.my_number)
    deleted = replace(wrong, operation="delete")
    assert all(v.outcome is Outcome.PASS for v in check_all([right, wrong, deleted], REGISTRY, IDENTITIES)[::2])
    assert check_all([right, wrong, deleted], REGISTRY, IDENTITIES)[0].findings == ()
    assert Reason.SHARED_NUMBER not in check_all([wrong, deleted, right], REGISTRY, IDENTITIES)[2].reasons


# ------------------------------------------------------------------ suggestions

def test_twins_of_one_name_get_no_suggestion():
    form = about(TWIN_A, number=UNUSED)
    v = check_in_context(form, REGISTRY, Context(identities=IDENTITIES))
    assert v.reasons == (Reason.NOT_IN_REGISTRY,) and v.suggested_my_number == ""


def test_the_address_breaks_a_tie_between_namesakes():
    form = about(ICHIRO_B, number=UNUSED, address="南国市大埇１－１")
    assert check_in_context(form, REGISTRY, Context(identities=IDENTITIES)).suggested_my_number == ICHIRO_B.my_number
    assert suggest_number(replace(form, address=""), IDENTITIES) == ""


def test_suggestions_follow_the_name_matching():
    # 斎藤 written for the registry's 齋藤: whatever name matching accepts, the look-up finds
    form = about(SAITO, number=UNUSED, name="斎藤 京子")
    assert identify(parse_subject(form), IDENTITIES) == SAITO
    assert check_in_context(form, REGISTRY, Context(identities=IDENTITIES)).suggested_my_number == SAITO.my_number


def test_no_suggestion_without_a_hold_or_for_an_unusable_row():
    assert check_in_context(about(FATHER), REGISTRY, Context(identities=IDENTITIES)).suggested_my_number == ""
    assert check_in_context(about(FATHER, number=""), REGISTRY,
                            Context(identities=IDENTITIES)).suggested_my_number == ""
    assert suggest_number(about(FATHER, number=""), IDENTITIES) == ""


# ------------------------------------------------------------------ DECEASED / ERASED and the record's date

@pytest.mark.parametrize("resident,updated,outcome", [
    (DEAD, "2023-05-31 17:00:00", Outcome.PASS),  # the day before the death
    (DEAD, "2023-06-01 08:00:00", Outcome.HOLD),  # the day of the death
    (DEAD, "2024-01-01", Outcome.HOLD),
    (DEAD, "", Outcome.HOLD),  # no date: cannot tell
    (DEAD, "不明", Outcome.HOLD),
    (GONE, "令和4年1月9日 10時", Outcome.PASS),
    (GONE, "R4.1.10", Outcome.HOLD),
])
def test_deceased_and_erased_by_the_records_date(resident, updated, outcome):
    record = about(resident, payload={"更新日時": updated} if updated else {})
    v = check_in_context(record, REGISTRY)
    assert v.outcome is outcome
    code = Reason.DECEASED if resident is DEAD else Reason.ERASED
    assert (code in v.reasons) is (outcome is Outcome.HOLD)


def test_without_a_status_date_a_deceased_resident_is_held():
    undated = replace(DEAD, status_date=None)
    record = about(DEAD, payload={"updated_at": "2000-01-01"})
    assert check_in_context(record, index_by_number([undated])).reasons == (Reason.DECEASED,)


def test_the_date_rule_applies_only_to_a_record_about_the_resident():
    # the number of a deceased family member, on a record dated before the death: still wrong, and still said
    record = about(SAITO, number=DEAD.my_number, payload={"更新日時": "2020-01-01"})
    v = check_in_context(record, REGISTRY)
    assert {Reason.DECEASED, Reason.IDENTITY_MISMATCH} <= set(v.reasons)


def test_record_date_reads_the_payload_in_every_form():
    def on(value, key="更新日時"):
        return record_date(Record("s", "1", "", "", "", "", payload={key: value}))
    day = dt.date(2023, 4, 3)
    assert on("2023-04-03 09:15:00") == on("2023/4/3 9:15") == on("20230403") == day
    assert on("令和5年4月3日") == on("R5.4.3") == on("２０２３－０４－０３　０９：１５") == day
    assert on("2023-04-03", key="updated_at") == on("2023-04-03", key=" 更新日時 ") == day
    assert on("") is None and on("2023-02-30") is None


# ------------------------------------------------------------------ the values and the entry point

def test_keys_and_peers():
    record = about(FATHER, "S-1", my_number="６２１４ ９８３２ ０２５７", batch_id="　B-1 ")
    assert batch_key(record) == ("shintai-techo", "B-1") and link_key(record) == "621498320257"
    assert link_key(replace(record, operation="delete")) is None
    peer = Peer.of(record)
    assert peer.label == "shintai-techo/S-1" and peer.atena_no == "A0000"
    assert Peer.of(replace(record, operation="delete")) is None
    assert Peer.of(replace(record, sex="X")) is None
    assert Peer.of(replace(record, my_number="")).subject.number == ""


def test_affected_keys_are_the_batch_and_the_links_but_not_the_record():
    records = batch(about(FATHER, "R-1"), about(SON, "R-2", number=FATHER.my_number))
    contexts = list(full_contexts(records))
    assert affected_keys(records[1], contexts[1]) == {("shintai-techo", "R-1")}


def test_an_empty_context_adds_nothing_to_check():
    for record in (about(FATHER), about(SAITO, number=FATHER.my_number), about(FATHER, number=UNUSED),
                   about(FATHER, number=""), about(FATHER, operation="delete")):
        expected = check(record, REGISTRY)
        assert check_in_context(record, REGISTRY) == expected


def test_the_given_verdict_and_subject_are_used_as_they_are():
    record = about(SON, number=FATHER.my_number)
    ctx = Context(identities=IDENTITIES)
    assert (check_in_context(record, REGISTRY, ctx, verdict=check(record, REGISTRY), subject=parse_subject(record))
            == check_in_context(record, REGISTRY, ctx))


# ------------------------------------------------------------------ batch view = stream view, any order

def _corpus() -> list[Record]:
    from linkguard.synthetic.sample import Population, make_records

    rng = random.Random(11)
    population = Population(_SAMPLE_RESIDENTS)
    records = []
    for system in ("shintai-techo", "jido-fuyo", "seikatsu-hogo"):
        records.extend(r for r, _ in make_records(population, system, 400, rng, error_rate=0.15))
    # a few without addressee numbers, re-sent rows and deletions
    records[5] = replace(records[5], atena_no="")
    records[40] = replace(records[40], atena_no="")
    records.append(replace(records[7], name="別人 太郎"))
    records.append(replace(records[9], operation="delete"))
    return records


def _sample_residents():
    from linkguard.synthetic.sample import make_registry

    return make_registry(1500, random.Random(3))


_SAMPLE_RESIDENTS = _sample_residents()


def test_check_all_equals_the_full_context_of_every_record():
    records = _corpus()
    registry = index_by_number(_SAMPLE_RESIDENTS)
    identities = build_identity_index(_SAMPLE_RESIDENTS)
    fast = check_all(records, registry, identities)
    plain = [check_in_context(r, registry, c) for r, c in zip(records, full_contexts(records, identities))]
    assert fast == plain
    codes = {code for v in fast for code in v.reason_codes.split(";")}
    assert {"BATCH_SWAP", "FAMILY_NUMBER", "SHARED_NUMBER"} <= codes


def test_the_final_verdicts_do_not_depend_on_the_order_of_the_records():
    records = _corpus()[:-2]  # (a re-sent row depends on which one is last, by definition)
    registry = index_by_number(_SAMPLE_RESIDENTS)
    identities = build_identity_index(_SAMPLE_RESIDENTS)
    forward = dict(zip(((r.system, r.record_id) for r in records), check_all(records, registry, identities)))
    shuffled = records[:]
    random.Random(5).shuffle(shuffled)
    again = dict(zip(((r.system, r.record_id) for r in shuffled), check_all(shuffled, registry, identities)))
    assert forward == again


def test_an_earlier_row_of_a_record_is_judged_against_the_others_too():
    # the first row of S-1 had another addressee number; its later row and J-1 agree with each other
    first = about(ICHIRO_A, "S-1", atena_no="X-1", address="")
    later = replace(first, atena_no="A0006")
    other = about(ICHIRO_A, "J-1", system="jido-fuyo", atena_no="A0006")
    records = [first, other, later]
    fast = check_all(records, REGISTRY, IDENTITIES)
    plain = [check_in_context(r, REGISTRY, c) for r, c in zip(records, full_contexts(records, IDENTITIES))]
    assert fast == plain
    assert str(finding(fast[0], Reason.SHARED_NUMBER)) == "SHARED_NUMBER(jido-fuyo/J-1)"
    assert fast[1].outcome is Outcome.PASS and fast[2].outcome is Outcome.PASS


def test_the_batch_applied_last_gives_the_same_verdict():
    """The stream judges a record by its number first and adds its batch later (``with_batch``);
    on a corpus with every cause, that equals judging it with the batch in its context."""
    from linkguard.synthetic.corpus import make_corpus
    from guards.check import Subject
    from guards.context import full_contexts, with_batch

    corpus = make_corpus(records=900, seed=3, error_rate=0.1)
    registry = index_by_number(corpus.residents)
    identities = build_identity_index(corpus.residents)
    swaps = 0
    for record, context in zip(corpus.records, full_contexts(corpus.records, identities)):
        whole = check_in_context(record, registry, context)
        alone = check_in_context(record, registry, replace(context, batch=()))
        subject = parse_subject(record)
        if isinstance(subject, Subject):
            later = with_batch(alone, record, subject, registry.get(subject.number), context.batch)
        else:
            later = alone
        assert later == whole, (record.system, record.record_id)
        swaps += Reason.BATCH_SWAP in whole.reasons
    assert swaps >= 5


# ------------------------------------------------------------------ check_all's shortcuts, at their edges

def _plain(records: list[Record], registry=REGISTRY, identities=IDENTITIES) -> list:
    """The reference: every record with its full context; explanations compared too (Verdict's == leaves them out)."""
    return [(v, v.explanation) for v in
            (check_in_context(r, registry, c) for r, c in zip(records, full_contexts(records, identities)))]


def _fast(records: list[Record], registry=REGISTRY, identities=IDENTITIES) -> list:
    return [(v, v.explanation) for v in check_all(records, registry, identities)]


def _spaced(number: str) -> str:
    return f"{number[:4]} {number[4:8]} {number[8:]}"


def _wide(number: str) -> str:
    return number.translate(str.maketrans("0123456789", "０１２３４５６７８９"))


RENUMBERED = Resident(my_number(20), "高橋　優斗", dt.date(1999, 12, 1), 1, "高知市旭町3-3",
                      previous_my_numbers=(my_number(21),))
MOVED = Resident(my_number(22), "浜口　雄幸", dt.date(1970, 4, 1), 1, "高知市本町2-2", status="転出")
EDGE_RESIDENTS = RESIDENTS + [RENUMBERED, MOVED]
EDGE_REGISTRY = index_by_number(EDGE_RESIDENTS)
EDGE_IDENTITIES = build_identity_index(EDGE_RESIDENTS)


@pytest.mark.parametrize("others, shared", [
    # all PASS of the number's person, one atena_no: nobody is shared
    ([dict(atena_no="A0000"), dict(atena_no="A0000")], set()),
    # a missing atena_no: the same person by the registry
    ([dict(atena_no=""), dict(atena_no="A0000")], set()),
    ([dict(atena_no=""), dict(atena_no="")], set()),
    # spaces and full width: one addressee number once normalised (leading zeros too, see the next test)
    ([dict(atena_no="Ａ0000"), dict(atena_no=" A0000")], set()),
    ([dict(atena_no="Ａ0000"), dict(atena_no="0A0000")], {"s/1", "t/2", "u/3"}),
    # two PASS of one person with different atena_no: both holders, both held
    ([dict(atena_no="A0000"), dict(atena_no="B-1")], {"s/1", "t/2", "u/3"}),
    # the different addressee number is written another way of the number
    ([dict(atena_no="A0000", my_number=_spaced(FATHER.my_number)), dict(atena_no="B-1",
      my_number=_wide(FATHER.my_number))], {"s/1", "t/2", "u/3"}),
    # one of them is someone else (held) without atena_no: only it is flagged
    ([dict(atena_no=""), dict(atena_no="", name=LODGER.name, birth_date="1990-05-05")], {"u/3"}),
    ([dict(atena_no="A0000"), dict(atena_no="A0000", name=LODGER.name, birth_date="1990-05-05")], set()),
    # held for the address only (the person, not a holder): no one else
    ([dict(atena_no=""), dict(atena_no="", address="南国市後免町9-9")], set()),
    # a deletion or an unusable row with another atena_no changes nothing
    ([dict(atena_no="X-9", operation="delete"), dict(atena_no="A0000")], set()),
    ([dict(atena_no="X-9", birth_date="不明"), dict(atena_no="A0000")], set()),
    # a wrong check digit is another number
    ([dict(atena_no="X-9", my_number=FATHER.my_number[:-1] + str((int(FATHER.my_number[-1]) + 1) % 10)),
      dict(atena_no="A0000")], set()),
])
def test_check_all_equals_the_plain_contexts_for_a_number_of_several_records(others, shared):
    records = [about(FATHER, "1", system="s", atena_no="A0000")]
    records += [about(FATHER, str(n), system=system, **changes)
                for n, (system, changes) in enumerate(zip(("t", "u"), others), 2)]
    fast = _fast(records, EDGE_REGISTRY, EDGE_IDENTITIES)
    assert fast == _plain(records, EDGE_REGISTRY, EDGE_IDENTITIES)
    flagged = {f"{r.system}/{r.record_id}" for r, (v, _) in zip(records, fast) if Reason.SHARED_NUMBER in v.reasons}
    assert flagged == shared


@pytest.mark.parametrize("atenas, shared", [
    (("0042", "42", "０４２"), set()), (("0042", "", "42"), set()), (("0042", "043", ""), {"s/1", "t/2"}),
])
def test_check_all_equals_the_plain_contexts_for_addressee_numbers_written_differently(atenas, shared):
    records = [about(FATHER, str(n), system=system, atena_no=a) for n, (system, a) in enumerate(zip("stu", atenas), 1)]
    fast = _fast(records)
    assert fast == _plain(records)
    assert {f"{r.system}/{r.record_id}" for r, (v, _) in zip(records, fast) if v.reasons} == shared


def test_check_all_equals_the_plain_contexts_for_the_deceased_the_erased_and_a_former_number():
    before, after = {"更新日時": "2023-05-31"}, {"更新日時": "2023-06-01"}
    records = [
        about(DEAD, "D1", system="s", payload=before), about(DEAD, "D2", system="t", payload=after, atena_no=""),
        about(DEAD, "D3", system="u", payload=before, atena_no="D-2"),  # the date rule passes it: still shared
        about(GONE, "G1", system="t", payload={"updated_at": "2022-01-09"}),
        about(GONE, "G2", system="u", atena_no="", name=SAITO.name, birth_date="1985-08-08", sex="2"),
        about(RENUMBERED, "R1", system="s", number=RENUMBERED.previous_my_numbers[0], atena_no=""),
        about(RENUMBERED, "R2", system="t", number=RENUMBERED.previous_my_numbers[0], atena_no="R-1"),
        about(RENUMBERED, "R3", system="u", atena_no="R-2"),
        about(MOVED, "M1", system="s", atena_no=""), about(MOVED, "M2", system="t", atena_no="M-1"),
        about(MOVED, "M3", system="u", atena_no="M-2", name="浜口　花子", sex="2"),
    ]
    fast = _fast(records, EDGE_REGISTRY, EDGE_IDENTITIES)
    assert fast == _plain(records, EDGE_REGISTRY, EDGE_IDENTITIES)
    codes = {r.record_id: v.reason_codes for r, (v, _) in zip(records, fast)}
    assert codes["D1"] == "SHARED_NUMBER"  # passed by its date, yet D-2 has another atena_no
    assert codes["D2"] == "DECEASED"  # updated on the day: held, but the same person (no atena_no)
    assert "SHARED_NUMBER" in codes["G2"] and codes["G1"] == ""
    assert codes["R1"] == "NUMBER_SUPERSEDED" and codes["R3"] == ""
    assert codes["M1"] == codes["M2"] == "MOVED_OUT" and "SHARED_NUMBER" in codes["M3"]  # M2 holds the number


def test_check_all_equals_the_plain_contexts_with_repeated_rows():
    first = about(FATHER, "1", system="s", atena_no="X-1")  # replaced by its later row: nobody sees it
    later = replace(first, atena_no="A0000")
    moved = about(FATHER, "2", system="t")
    renumbered = replace(moved, my_number=MOTHER.my_number, name=MOTHER.name, birth_date="1978-06-03", sex="2")
    held_first = about(FATHER, "3", system="u", atena_no="", name=LODGER.name, birth_date="1990-05-05")
    held_later = replace(held_first, name=FATHER.name, birth_date="1975-01-02")
    mother = about(MOTHER, "4", system="u", atena_no="Z-9")
    for records in ([first, moved, later], [later, moved, first], [first, moved, renumbered, mother, later],
                    [held_first, moved, held_later], [held_later, moved, held_first, first]):
        fast = _fast(records, EDGE_REGISTRY, EDGE_IDENTITIES)
        assert fast == _plain(records, EDGE_REGISTRY, EDGE_IDENTITIES)
    assert Reason.SHARED_NUMBER in _fast([first, moved, later])[0][0].reasons  # the earlier row sees the others
    assert Reason.SHARED_NUMBER in _fast([later, moved, first])[2][0].reasons


@pytest.mark.parametrize("seed", range(6))
def test_check_all_equals_the_plain_contexts_on_random_numbers_of_several_records(seed):
    """Few numbers, many records each: every mix of PASS and held, atena_no present, missing,
    equal once normalised or not, numbers written three ways, status dates, deletions,
    unusable rows, re-sent rows and batches."""
    rng = random.Random(seed)
    people = [FATHER, MOTHER, SON, LODGER, ICHIRO_A, ICHIRO_B, DEAD, GONE, RENUMBERED, MOVED]
    numbers = [p.my_number for p in people] + [RENUMBERED.previous_my_numbers[0], UNUSED]
    records = []
    for n in range(160):
        person = rng.choice(people)
        number = rng.choice([person.my_number] * 4 + numbers)
        number = rng.choice([number, number, _spaced(number), _wide(number)])
        changes = dict(
            atena_no=rng.choice(["", "A1", "A1", "0A1", "B2", "00042", "42", f"A{RESIDENTS.index(person):04d}"
                                 if person in RESIDENTS else "P"]),
            batch_id=rng.choice(["B1", "B2", " B1 "]),
            payload={"更新日時": rng.choice(["2021-01-01", "2022-01-10", "2023-05-31", "2023-06-01", ""])})
        if rng.random() < 0.1:
            changes["address"] = "南国市後免町9-9"
        if rng.random() < 0.05:
            changes["operation"] = "delete"
        if rng.random() < 0.05:
            changes["birth_date"] = "不明"
        records.append(about(person, str(rng.randrange(120)), system=rng.choice(["s", "t"]), number=number,
                             **changes))
    assert _fast(records, EDGE_REGISTRY, EDGE_IDENTITIES) == _plain(records, EDGE_REGISTRY, EDGE_IDENTITIES)


@pytest.mark.parametrize("hers", [
    dict(),  # her own record, a PASS
    dict(my_number=_spaced(MOTHER.my_number)),  # a PASS of her number written another way
    dict(my_number=_wide(MOTHER.my_number)),
    dict(address="南国市後免町9-9"),  # held for its address, still her
    dict(my_number=""),  # unlinked (INVALID for its number only): still in the batch
    dict(my_number=UNUSED),  # a number unknown to the registry
    dict(my_number=LODGER.my_number),  # another's number (held): her birth date is read off the record
    dict(birth_date="S53.6.3"),  # her birth date in another notation
    dict(batch_id=" B1 "),  # the batch id written with spaces
])
def test_check_all_equals_the_plain_contexts_for_a_batch_swap(hers):
    swapped = about(FATHER, "1", number=MOTHER.my_number, batch_id="B1")
    records = [swapped, about(MOTHER, "2", **{"batch_id": "B1", **hers}), about(SON, "3", batch_id="B1"),
               about(LODGER, "4", batch_id="B2")]
    fast = _fast(records)
    assert fast == _plain(records)
    assert finding(fast[0][0], Reason.BATCH_SWAP).detail == "2"


def test_a_batch_peer_whose_number_as_written_is_another_registry_key():
    """A registry view may answer for a number as written (spaces): the batch rule reads the
    person of the number compacted, as check() does."""
    registry = {**REGISTRY, _spaced(MOTHER.my_number): LODGER}
    swapped = about(FATHER, "1", number=MOTHER.my_number, batch_id="B1")
    records = [swapped, about(MOTHER, "2", batch_id="B1", my_number=_spaced(MOTHER.my_number)),
               about(SON, "3", batch_id="B1")]
    fast = _fast(records, registry)
    assert fast == _plain(records, registry)
    assert finding(fast[0][0], Reason.BATCH_SWAP).detail == "2"


@pytest.mark.parametrize("hers", [dict(operation="delete"), dict(birth_date="不明"), dict(batch_id="B2"),
                                  dict(sex="1"), dict(birth_date="1978-06-04")])
def test_check_all_equals_the_plain_contexts_where_no_batch_peer_is_the_numbers_person(hers):
    swapped = about(FATHER, "1", number=MOTHER.my_number, batch_id="B1")
    records = [swapped, about(MOTHER, "2", **{"batch_id": "B1", **hers}), about(SON, "3", batch_id="B1")]
    fast = _fast(records)
    assert fast == _plain(records)
    assert Reason.BATCH_SWAP not in fast[0][0].reasons


def test_check_all_equals_the_plain_contexts_for_a_replaced_row_and_its_batch():
    """A replaced row is still judged against the others of its batch, however few
    (main's check_all skipped a batch of one other record here, unlike the plain contexts)."""
    swapped = about(FATHER, "1", number=MOTHER.my_number, batch_id="B1")
    later = replace(swapped, batch_id="B2")  # the same record moved to another batch
    hers = about(MOTHER, "2", batch_id="B1")
    son = about(SON, "3", batch_id="B1")
    for records in ([swapped, hers, later], [swapped, hers, son, later], [swapped, later, hers],
                    [later, hers, swapped]):
        fast = _fast(records)
        assert fast == _plain(records)
        swaps = [Reason.BATCH_SWAP in v.reasons for v, _ in fast]
        assert swaps == [r.batch_id == "B1" and r.my_number == MOTHER.my_number and r.name == FATHER.name
                         for r in records]


@pytest.mark.parametrize("written", ["iso", "slashed"])
def test_check_all_names_a_namesake_born_the_same_day_whatever_form_the_day_is_written_in(written):
    """The batch peers are chosen by birth day, read off the record where it writes an ISO day and
    off the registry person otherwise: a namesake's PASS born the same day is named either way."""
    twin = Resident(my_number(30), MOTHER.name, MOTHER.birth_date, MOTHER.sex, "南国市後免町9-9")
    residents = RESIDENTS + [twin]
    registry, identities = index_by_number(residents), build_identity_index(residents)
    day = twin.birth_date
    born = day.isoformat() if written == "iso" else f"{day.year}/{day.month}/{day.day}"
    swapped = about(FATHER, "1", number=MOTHER.my_number, batch_id="B1")
    records = [swapped, about(twin, "2", batch_id="B1", birth_date=born),
               about(SON, "3", batch_id="B1", birth_date=born)]
    fast = _fast(records, registry, identities)
    assert fast == _plain(records, registry, identities)
    assert fast[1][0].outcome is Outcome.PASS and finding(fast[0][0], Reason.BATCH_SWAP).detail == "2"


def test_an_iso_day_is_read_as_written():
    """What the batch peers' shortcut assumes of normalize.parse_date: a day written as date.isoformat writes it."""
    from guards.normalize import parse_date

    first = dt.date(1900, 1, 1)
    for days in range(0, 50_000, 7):
        day = first + dt.timedelta(days=days)
        assert parse_date(day.isoformat()) == day


def test_a_records_date_written_as_an_iso_stamp_is_read_as_any_other():
    """record_date reads YYYY-MM-DD[ hh:mm[:ss]] at once: the same day as its general reading, or None alike."""
    from guards import context

    rng = random.Random(17)
    values = []
    for _ in range(3000):
        day = f"{rng.choice([1999, 2000, 2023, 2024, 2100])}-{rng.randint(0, 13):02d}-{rng.randint(0, 32):02d}"
        time = rng.choice(["", " 09:15", " 09:15:00", "T23:59:59", "T00:00", " 9:15", " 09:15:00+09:00", "  09:15"])
        values.append(day + time)
    for value in values:
        record = Record("s", "1", "", "", "", "", payload={"更新日時": value})
        general = context.record_date(replace(record, payload={"更新日時": " " + value}))  # (not the quick form)
        assert context.record_date(record) == general, value
