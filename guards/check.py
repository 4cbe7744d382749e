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

from guards import japanese, normalize
from guards.exceptions import GuardError
from guards.model import Finding, Reason, Record, Resident, Verdict
from guards.number import compact, number_problem

__all__ = ["RegistryView", "Subject", "check", "parse_subject", "identity_problems", "matches_person"]


class RegistryView(Protocol):
    """What the guard needs of the registry: a resident by (current or former) number."""

    def get(self, my_number: str, /) -> Resident | None: ...


class Subject(NamedTuple):
    """A usable record's values, normalised once: what the rules compare.

    ``name_key`` is :func:`guards.japanese.name_key` (compared with
    :func:`guards.japanese.compare_names`, not only by equality), ``address``
    is :func:`guards.normalize.address`, ``name_kana`` is
    :func:`guards.japanese.kana_key` of the record's reading (used only to
    support a name with a 外字 placeholder).
    """

    number: str
    name_key: str
    birth_date: dt.date
    sex: int
    address: str
    name_kana: str = ""


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
    elif len(number) != 12 or not (number.isascii() and number.isdigit()):
        # number_problem's NUMBER_FORMAT, without its check digit (check() computes that once)
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
    return Subject(number, _name_key(record.name), birth_date, sex, normalize.address(record.address),
                   japanese.kana_key(record.name_kana))


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

    Names are compared as :mod:`guards.japanese` compares them: spaces, kana
    forms, the order and case of alphabet names do not matter; kanji variants
    (齋藤/斎藤) match with the informational ``VARIANT_CHARACTERS``, as does a
    外字 placeholder when the kana readings agree. A former name or the
    registered alias (通称) matches with an informational code, likewise a
    former address. The kana reading never makes a match on its own.

    >>> import datetime as dt
    >>> r = Resident('621498320257', '齋藤 花子', dt.date(1980, 4, 1), 2, '高知市丸ノ内1-2-20',
    ...              name_kana='サイトウ ハナコ', previous_names=('渡邊 花子',))
    >>> def problems(name, kana='', address=''):
    ...     subject = Subject('621498320257', _name_key(name), dt.date(1980, 4, 1), 2,
    ...                       normalize.address(address), japanese.kana_key(kana))
    ...     return [str(f) for f in identity_problems(subject, r)]
    >>> problems('斎藤花子'), problems('渡辺 花子'), problems('〓藤 花子', 'ｻｲﾄｳ ﾊﾅｺ')
    (['VARIANT_CHARACTERS(name)'], ['FORMER_NAME', 'VARIANT_CHARACTERS(name)'], ['VARIANT_CHARACTERS(name)'])
    >>> problems('斉藤 花子', 'サイトウ ハナコ'), problems('〓藤 花子')
    (['IDENTITY_MISMATCH(name)'], ['IDENTITY_MISMATCH(name)'])
    >>> problems('斎藤 花子', address='高知県高知市丸ノ内一丁目2番20号')
    ['VARIANT_CHARACTERS(name)']
    """
    findings: list[Finding] = []
    mismatched: list[str] = []
    name_findings = _name_findings(subject, resident)
    if name_findings is None:
        mismatched.append("name")
    else:
        findings.extend(name_findings)
    if subject.birth_date != resident.birth_date:
        mismatched.append("birth_date")
    if subject.sex != resident.sex:
        mismatched.append("sex")
    if mismatched:
        findings.append(Finding(Reason.IDENTITY_MISMATCH, ",".join(mismatched)))
    if subject.address and not japanese.addresses_match(subject.address, normalize.address(resident.address)):
        if any(japanese.addresses_match(subject.address, normalize.address(a)) for a in resident.previous_addresses):
            findings.append(Finding(Reason.FORMER_ADDRESS))
        else:
            findings.append(Finding(Reason.ADDRESS_MISMATCH))
    return findings


def matches_person(subject: Subject, resident: Resident) -> bool:
    """Whether a usable record describes this resident: name (or a former name or
    the alias, in any form :func:`identity_problems` accepts), birth date and
    sex. The address is not part of identity.

    The context rules (family, batch, shared number, suggestions) use this, so
    they follow whatever the name matching accepts.
    """
    if subject.birth_date != resident.birth_date or subject.sex != resident.sex:
        return False
    return _name_findings(subject, resident) is not None


_VARIANT_NOTE = Finding(Reason.VARIANT_CHARACTERS, "name")


def _name_findings(subject: Subject, resident: Resident) -> list[Finding] | None:
    """The informational findings of a name match, or ``None`` if no name of the resident matches.

    The current name first (the only one the kana reading belongs to), then
    the former names, then the alias; a match without variants wins over one
    through them.
    """
    key = subject.name_key
    current = _name_key(resident.name)
    if key == current:
        return []
    how = japanese.compare_names(key, current, subject.name_kana, japanese.kana_key(resident.name_kana))
    if how is not None:
        return [] if how is japanese.NameMatch.EXACT else [_VARIANT_NOTE]
    for names, reason in ((resident.previous_names, Reason.FORMER_NAME),
                          ((resident.alias_name,) if resident.alias_name else (), Reason.ALIAS_NAME)):
        if not names:
            continue
        hows = {japanese.compare_names(key, _name_key(n)) for n in names}
        if japanese.NameMatch.EXACT in hows:
            return [Finding(reason)]
        if japanese.NameMatch.VARIANT in hows:
            return [Finding(reason), _VARIANT_NOTE]
    return None


def _name_key(value: str) -> str:
    return japanese.name_key(value)
