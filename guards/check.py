"""The guard: one pure function from a record and a registry view to a verdict.

The stream (``streams``) and the batch inspection (``linkguard inspect``)
both call :func:`check`; nothing here knows where the record came from.

>>> import datetime as dt
>>> from dataclasses import replace
>>> hanako = Resident('621498320257', '山田 花子', dt.date(1980, 4, 1), 2,
...                   '高知市丸ノ内1-2-20', previous_names=('佐藤 花子',))
>>> registry = {'621498320257': hanako}
>>> rec = Record('shintai-techo', 'A-1', '6214 9832 0257', '山田　花子',
...              '昭和55年4月1日', '女', '高知市丸ノ内１－２－２０')
>>> check(rec, registry)
Verdict(outcome=<Outcome.PASS: 'PASS'>, findings=(), suggested_my_number='')
>>> check(replace(rec, name='佐藤花子'), registry).reason_codes
'FORMER_NAME'
>>> v = check(replace(rec, name='山田 太郎'), registry)
>>> v.outcome.value, [str(f) for f in v.findings]
('HOLD', ['IDENTITY_MISMATCH(name)'])
>>> check(Record('x', '1', '621498320258', 'a', '1980-01-01', '1'), registry).reason_codes
'CHECK_DIGIT'
"""

from __future__ import annotations

import datetime as dt
from typing import NamedTuple, Protocol

from guards import normalize
from guards.exceptions import GuardError
from guards.model import Finding, Reason, Record, Resident, Verdict
from guards.number import compact, number_problem

__all__ = ["RegistryView", "Subject", "check", "parse_subject", "identity_problems", "matches_person"]


class RegistryView(Protocol):
    """What the guard needs of the registry: a resident by (current or former) number."""

    def get(self, my_number: str, /) -> Resident | None: ...


class Subject(NamedTuple):
    """A usable record's values, normalised once: what the rules compare."""

    number: str
    name_key: str
    birth_date: dt.date
    sex: int
    address: str


def check(record: Record, registry: RegistryView) -> Verdict:
    """Check one record against the registry; return every reason that applies.

    A deletion always passes: removing a copy can never link anyone's data to
    the wrong person.
    """
    if record.operation == "delete":
        return Verdict.of(())
    subject = parse_subject(record)
    if not isinstance(subject, Subject):
        return Verdict.of(subject)
    problem = number_problem(subject.number)
    if problem is not None:
        return Verdict.of([Finding(Reason(problem))])
    resident = registry.get(subject.number)
    if resident is None:
        return Verdict.of([Finding(Reason.NOT_IN_REGISTRY)])
    findings = []
    suggested = ""
    if resident.my_number != subject.number:
        findings.append(Finding(Reason.NUMBER_SUPERSEDED))
        suggested = resident.my_number
    findings.extend(_status(resident))
    findings.extend(identity_problems(subject, resident))
    return Verdict.of(findings, suggested)


def parse_subject(record: Record) -> Subject | list[Finding]:
    """The record's normalised values, or the findings that make the row unusable (INVALID)."""
    findings = []
    missing = [f for f in ("name", "birth_date", "sex") if not normalize.text(getattr(record, f))]
    if missing:
        findings.append(Finding(Reason.MISSING_FIELD, ",".join(missing)))
    number = compact(record.my_number)
    if not number:
        findings.append(Finding(Reason.NOT_LINKED))
    elif number_problem(number) == "NUMBER_FORMAT":
        findings.append(Finding(Reason.NUMBER_FORMAT))
    birth_date = sex = None
    if "birth_date" not in missing:
        try:
            birth_date = normalize.parse_date(record.birth_date, "birth_date")
        except GuardError as e:
            findings.append(Finding(Reason.BAD_DATE, e.field))
    if "sex" not in missing:
        try:
            sex = normalize.parse_sex(record.sex)
        except GuardError:
            findings.append(Finding(Reason.BAD_SEX, "sex"))
    if findings:
        return findings
    return Subject(number, _name_key(record.name), birth_date, sex, normalize.address(record.address))


def _status(resident: Resident) -> list[Finding]:
    if resident.status == "死亡":
        return [Finding(Reason.DECEASED)]
    if resident.status == "消除":
        return [Finding(Reason.ERASED)]
    if resident.status == "転出":
        return [Finding(Reason.MOVED_OUT)]
    return []


def identity_problems(subject: Subject, resident: Resident) -> list[Finding]:
    """Compare name, birth date, sex and address of a usable record with a resident.

    Names are compared without spaces, so 山田 花子 / 山田　花子 / 山田花子 agree;
    a former name or the registered alias (通称) matches with an informational
    code, likewise a former address.
    """
    findings: list[Finding] = []
    mismatched: list[str] = []
    if subject.name_key != _name_key(resident.name):
        if subject.name_key in {_name_key(n) for n in resident.previous_names}:
            findings.append(Finding(Reason.FORMER_NAME))
        elif resident.alias_name and subject.name_key == _name_key(resident.alias_name):
            findings.append(Finding(Reason.ALIAS_NAME))
        else:
            mismatched.append("name")
    if subject.birth_date != resident.birth_date:
        mismatched.append("birth_date")
    if subject.sex != resident.sex:
        mismatched.append("sex")
    if mismatched:
        findings.append(Finding(Reason.IDENTITY_MISMATCH, ",".join(mismatched)))
    if subject.address and subject.address != normalize.address(resident.address):
        if subject.address in {normalize.address(a) for a in resident.previous_addresses}:
            findings.append(Finding(Reason.FORMER_ADDRESS))
        else:
            findings.append(Finding(Reason.ADDRESS_MISMATCH))
    return findings


def matches_person(subject: Subject, resident: Resident) -> bool:
    """Whether a usable record describes this resident: name (or a former name or
    the alias), birth date and sex. The address is not part of identity.

    The context rules (family, batch, shared number, suggestions) use this, so
    they follow whatever the name matching accepts.
    """
    if subject.birth_date != resident.birth_date or subject.sex != resident.sex:
        return False
    names = (resident.name, resident.alias_name, *resident.previous_names)
    return any(subject.name_key == _name_key(n) for n in names if n)


def _name_key(value: str) -> str:
    return normalize.name(value).replace(" ", "")
