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
import re
from functools import lru_cache
from typing import Final, NamedTuple, Protocol

from guards import japanese, normalize
from guards.exceptions import GuardError
from guards.model import FieldExplanation, FieldMatch, Finding, Outcome, Reason, Record, Resident, Verdict
from guards.number import _check_digit, compact, number_problem

__all__ = ["FIELD_LIMITS", "RegistryView", "Subject", "check", "explain", "parse_subject", "identity_problems",
           "matches_person"]

#: The longest value (in characters) each field may hold. No real name, reading or
#: address comes near; a longer value is refused (``FIELD_TOO_LONG``) before any
#: normalisation, so that no value can stall or crash a reader.
FIELD_LIMITS: Final[dict[str, int]] = {
    "my_number": 64, "name": 200, "name_kana": 200, "birth_date": 64, "sex": 16, "address": 300,
}


class RegistryView(Protocol):
    """What the guard needs of the registry: a resident by (current or former) number."""

    def get(self, my_number: str, /) -> Resident | None: ...


class Subject(NamedTuple):
    """A usable record's values, normalised once: what the rules compare.

    ``name_key`` is :func:`guards.japanese.name_key` (compared with
    :func:`guards.japanese.compare_names`, not only by equality), ``address``
    is :func:`guards.normalize.address`, ``name_kana`` is
    :func:`guards.japanese.kana_key` of the record's reading (used only to
    support a name with a 外字 placeholder). ``former_key`` is the name with
    the 旧氏 the record writes beside it (``山田［佐藤］花子``), ``alias_key``
    the 通称 written beside an alphabet name, ``name_words`` the words of an
    alphabet name (for middle names present on one side only).
    """

    number: str
    name_key: str
    birth_date: dt.date
    sex: int
    address: str
    name_kana: str = ""
    former_key: str = ""
    alias_key: str = ""
    name_words: tuple[str, ...] = ()
    former_surname: str = ""  # a 旧氏 written beside a name without a space (山田花子（旧姓 佐藤）)


def check(record: Record, registry: RegistryView) -> Verdict:
    """Check one record against the registry; return every reason that applies.

    A deletion always passes: removing a copy can never link anyone's data to
    the wrong person. A HOLD against a registry person carries the per-field
    explanation (:func:`explain`).

    The number's current holder is suggested (for a former number,
    ``NUMBER_SUPERSEDED``) only when that holder *is* the record's subject;
    otherwise the suggestion is left to the subject's own 4-item look-up
    (:func:`guards.context.check_in_context`).
    """
    if record.operation == "delete":
        return Verdict.of(())
    if QUICK:
        quick = _quick_verdict(record, registry)
        if quick is not None:
            return quick
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
    identity = identity_problems(subject, resident)
    if resident.my_number != subject.number:
        findings.append(Finding(Reason.NUMBER_SUPERSEDED))
        if not any(f.reason is Reason.IDENTITY_MISMATCH for f in identity):
            suggested = resident.my_number
    findings.extend(_status(resident))
    findings.extend(identity)
    verdict = Verdict.of(findings, suggested)
    if verdict.outcome.value == "HOLD":
        verdict = Verdict.of(findings, suggested, explain(record, resident, subject))
    return verdict


#: the shortcut of :func:`check` (a test turns it off to compare with the full path)
QUICK = True
_PASS: Final = Verdict.of(())


def _quick_verdict(record: Record, registry: RegistryView) -> Verdict | None:
    """The verdict of a record whose number (as written or compacted) is its resident's
    current one and whose birth date and sex are the registry's as written or once read
    (``S55.4.1``, ``女``): the very findings of the full path, found by the functions it uses.
    The name is the resident's character for character or has the same name key (the full
    path's first name test), else it is matched the full path's way (:func:`_name_match`); the
    address (or none) likewise (``高知市丸ノ内１－２－２０``: equal keys, a building left out, a
    former address, another place). A verdict that holds is explained as the full path explains
    it (:func:`explain`), of the subject :func:`parse_subject` would read. ``None`` for every
    other record (another number, date or sex, a field unusable or too long): the full path
    judges it.

    Most records of a municipal extract are such copies, or differ in one field's
    notation only; the rest of a full check (the subject, the reading, the explanation)
    is then skipped.
    """
    # each field read once into a typed local: compiled (mypyc), a str compares and measures natively
    number: str = record.my_number
    if len(number) != 12 or not number.isdigit() or not number.isascii():
        # 6214-9832-0257, full-width digits: the number the full path reads, by the same function
        number = compact(number) if len(number) <= FIELD_LIMITS["my_number"] else ""
        if len(number) != 12 or not number.isdigit() or not number.isascii():
            return None
    resident = registry.get(number)
    if resident is None or resident.my_number != number:
        return None
    name: str = record.name
    address: str = record.address
    if (len(name) > 200 or len(address) > 300 or len(record.name_kana) > 200
            or _check_digit(number) != number[-1]):
        return None
    if not name or (name[0] in _BLANK and not name.strip(japanese.BLANK_CHARACTERS)):
        return None  # blank once normalised (a test checks every character): the full path's MISSING_FIELD
    # the name's keys when they differ from the registered name's (matched at the end), and that name's key
    keys: japanese.NameKeys | None = None
    current = ""
    registered_name: str = resident.name
    if name != registered_name:
        # written another way (spaces, widths, selectors): the full path's first name test is the keys'
        # equality, by the very (cached) functions it uses
        keys = japanese.name_keys(name)
        if not keys.key:
            return None
        current = japanese.name_key(registered_name)
        if keys.key == current:
            keys = None
    born: dt.date = resident.birth_date
    birth_date: str = record.birth_date
    iso = _ISO_DAYS.get(born)
    if iso is None:
        iso = _ISO_DAYS[born] = born.isoformat()
    if birth_date != iso and not _reads_as(_parse_birth_date, birth_date, FIELD_LIMITS["birth_date"], born):
        return None
    sex: str = record.sex
    if sex != _SEX_CODES.get(resident.sex) and not _reads_as(
            normalize.parse_sex, sex, FIELD_LIMITS["sex"], resident.sex):
        return None
    written = None  # the address's key, where the address is not written as registered
    address_finding = None
    registered_address: str = resident.address
    if address and address != registered_address:
        written = normalize.address(address)  # what the full path compares, by the same function
        if written:
            registered = normalize.address(registered_address)
            # equal keys (the usual other notation) match without a look-up of the pair
            if written != registered and not japanese.addresses_match(written, registered):
                address_finding = _FORMER_ADDRESS if _a_former_address(written, resident) else _ADDRESS_MISMATCH
    status: str = resident.status
    if keys is None and address_finding is None and status not in _HELD_STATUSES:
        return _QUICK_VERDICTS.get(status, _PASS)
    # what check() lists: the status's findings, then identity_problems' (name, then address)
    findings = _status(resident)
    if keys is not None:
        if japanese.compare_names(keys.key, current) is japanese.NameMatch.VARIANT:
            findings.append(_VARIANT_NOTE)  # what _name_match finds for a variant of the current name
        else:
            # the reading is what _name_match tries next (it supports a placeholder), then the other names
            how = _name_match(_subject(number, keys, resident.birth_date, resident.sex, "",
                                       japanese.kana_key(record.name_kana)), resident)
            findings.extend(how.findings if how is not None else (_NAME_MISMATCH,))
    if address_finding is not None:
        findings.append(address_finding)
    verdict = Verdict.of(findings)
    if verdict.outcome.value == "HOLD":
        # the subject parse_subject reads: the date and sex read as the resident's (as found above)
        subject = _subject(number, keys or japanese.name_keys(name), born, resident.sex,
                           written if written is not None else normalize.address(address),
                           japanese.kana_key(record.name_kana))
        verdict = Verdict.of(findings, "", explain(record, resident, subject))
    return verdict


def _a_former_address(written: str, resident: Resident) -> bool:
    """Whether an address key names one of the resident's former addresses (``FORMER_ADDRESS``)."""
    return any(japanese.addresses_match(written, normalize.address(a)) for a in resident.previous_addresses)


_SEX_CODES: Final = {1: "1", 2: "2"}
#: a birth date's ISO form by the date (one entry a day of birth: tens of thousands at most), so that a
#: record's date is compared without an isoformat() call a record
_ISO_DAYS: Final[dict[dt.date, str]] = {}


def _parse_birth_date(value: str) -> dt.date:
    """:func:`guards.normalize.parse_date` as :func:`parse_subject` calls it, so that the two share its cache."""
    return normalize.parse_date(value, "birth_date")


def _reads_as(parse, written: str, limit: int, registered: object) -> bool:
    """Whether a field reads as the registry's value (as :func:`parse_subject` reads it);
    ``False`` for a value too long, blank or unreadable, which the full path reports."""
    if len(written) > limit:
        return False
    try:
        return parse(written) == registered
    except GuardError:
        return False


def parse_subject(record: Record) -> Subject | list[Finding]:
    """The record's normalised values, or the findings that make the row unusable (INVALID).

    >>> parse_subject(Record('s', '1', '621498320257', '山田' + '一' * 300, '1980-04-01', '2'))
    [Finding(reason=<Reason.FIELD_TOO_LONG: 'FIELD_TOO_LONG'>, detail='name')]
    """
    # FIELD_LIMITS written out: the common case costs six len() calls (a test checks every limit)
    if (len(record.name) > 200 or len(record.address) > 300 or len(record.name_kana) > 200
            or len(record.my_number) > 64 or len(record.birth_date) > 64 or len(record.sex) > 16):
        too_long = [name for name, limit in FIELD_LIMITS.items() if len(getattr(record, name) or "") > limit]
        if too_long:
            return [Finding(Reason.FIELD_TOO_LONG, ",".join(too_long))]
    findings = []
    missing = [f for f, value in (("name", record.name), ("birth_date", record.birth_date), ("sex", record.sex))
               if _blank(value)]
    if missing:
        findings.append(Finding(Reason.MISSING_FIELD, ",".join(missing)))
    number = compact(record.my_number)
    if not number:
        findings.append(Finding(Reason.NOT_LINKED))
    elif len(number) != 12 or not (number.isascii() and number.isdigit()):
        # number_problem's NUMBER_FORMAT, without its check digit (check() computes that once)
        findings.append(Finding(Reason.NUMBER_FORMAT))
    birth_date: dt.date | None = None
    sex: int | None = None
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
    if findings or birth_date is None or sex is None:  # (both read when nothing was found)
        return findings
    return _subject(number, japanese.name_keys(record.name), birth_date, sex, normalize.address(record.address),
                    japanese.kana_key(record.name_kana))


def _subject(number: str, keys: japanese.NameKeys, birth_date: dt.date, sex: int, address: str,
             name_kana: str) -> Subject:
    return Subject(number, keys.key, birth_date, sex, address, name_kana, keys.former, keys.alias, keys.words,
                   keys.former_surname)


def _blank(value: str) -> bool:
    """Empty once normalised (``not normalize.text(value)``, mostly without normalising): nothing
    but spaces of any width and invisible characters.

    >>> _blank(' \u3000\u200b\ufeff\u00a0'), _blank('\u200b山')
    (True, False)
    """
    if value.isascii():
        return not value.strip()
    if _PLAINLY_WRITTEN.search(value):  # a digit, letter, kana or kanji stays what it is once normalised
        return False
    return not value.strip(japanese.BLANK_CHARACTERS) or not normalize.text(value)


_BLANK: Final = frozenset(japanese.BLANK_CHARACTERS)
#: characters NFKC keeps as they are and never joins to a character before them (a test checks each)
_PLAINLY_WRITTEN: Final = re.compile("[0-9A-Za-z\u3041-\u3096\u30a1-\u30fa\u4e00-\u9fff]")


#: what a resident's status says about a record of their number (any other status: nothing)
_STATUS_FINDINGS: Final = {"死亡": (Finding(Reason.DECEASED),), "消除": (Finding(Reason.ERASED),),
                           "転出": (Finding(Reason.MOVED_OUT),)}


def _status(resident: Resident) -> list[Finding]:
    return list(_STATUS_FINDINGS.get(resident.status, ()))


#: the shortcut's verdicts by status, where they pass; a status that holds a record is explained
_QUICK_VERDICTS: Final = {status: Verdict.of(findings) for status, findings in _STATUS_FINDINGS.items()
                          if Verdict.of(findings).outcome is Outcome.PASS}
_HELD_STATUSES: Final = frozenset(_STATUS_FINDINGS.keys() - _QUICK_VERDICTS.keys())


def identity_problems(subject: Subject, resident: Resident) -> list[Finding]:
    """Compare name, birth date, sex and address of a usable record with a resident.

    Names are compared as :mod:`guards.japanese` compares them: spaces, kana
    forms, the order and case of alphabet names do not matter; kanji variants
    (齋藤/斎藤) match with the informational ``VARIANT_CHARACTERS``, as does a
    外字 placeholder when the kana readings agree. A former name (a 旧氏
    written with the name, ``山田［佐藤］花子``, on either side, or the
    registry's 旧氏名) or the registered alias (通称) matches with an
    informational code, likewise a former address. An alphabet name may leave
    out middle names. The kana reading never makes a match on its own.

    >>> import datetime as dt
    >>> r = Resident('621498320257', '齋藤 花子', dt.date(1980, 4, 1), 2, '高知市丸ノ内1-2-20',
    ...              name_kana='サイトウ ハナコ', previous_names=('渡邊 花子',))
    >>> def problems(name, kana='', address=''):
    ...     record = Record('s', '1', '621498320257', name, '1980-04-01', '2', address, kana)
    ...     return [str(f) for f in identity_problems(parse_subject(record), r)]
    >>> problems('斎藤花子'), problems('渡辺 花子'), problems('〓藤 花子', 'ｻｲﾄｳ ﾊﾅｺ')
    (['VARIANT_CHARACTERS(name)'], ['FORMER_NAME', 'VARIANT_CHARACTERS(name)'], ['VARIANT_CHARACTERS(name)'])
    >>> problems('斉藤 花子', 'サイトウ ハナコ'), problems('〓藤 花子')
    (['IDENTITY_MISMATCH(name)'], ['IDENTITY_MISMATCH(name)'])
    >>> problems('斎藤 花子', address='高知県高知市丸ノ内一丁目2番20号')
    ['VARIANT_CHARACTERS(name)']
    >>> problems('齋藤［渡邊］花子'), problems('渡邊（齋藤）花子')
    ([], ['FORMER_NAME'])
    """
    findings: list[Finding] = []
    mismatched: list[str] = []
    name = _name_match(subject, resident)
    if name is None:
        mismatched.append("name")
    else:
        findings.extend(name.findings)
    if subject.birth_date != resident.birth_date:
        mismatched.append("birth_date")
    if subject.sex != resident.sex:
        mismatched.append("sex")
    if mismatched:
        findings.append(Finding(Reason.IDENTITY_MISMATCH, ",".join(mismatched)))
    if subject.address and not japanese.addresses_match(subject.address, normalize.address(resident.address)):
        if _a_former_address(subject.address, resident):
            findings.append(_FORMER_ADDRESS)
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
    return _name_match(subject, resident) is not None


_VARIANT_NOTE: Final = Finding(Reason.VARIANT_CHARACTERS, "name")
_FORMER_ADDRESS: Final = Finding(Reason.FORMER_ADDRESS)
_ADDRESS_MISMATCH: Final = Finding(Reason.ADDRESS_MISMATCH)
_NAME_MISMATCH: Final = Finding(Reason.IDENTITY_MISMATCH, "name")


class _NameMatch(NamedTuple):
    """How a record's name matched a resident: the informational findings and the explanation."""

    findings: tuple[Finding, ...]
    match: FieldMatch
    detail: str = ""


_EXACT_NAME: Final = _NameMatch((), FieldMatch.NORMALISED)


def _name_match(subject: Subject, resident: Resident) -> _NameMatch | None:
    """How the record's name matches one of the resident's names, or ``None``.

    The current name first (the only one the kana reading belongs to), then
    an alphabet name without its middle names, then the former names (the
    registry's 旧氏名, a 旧氏 written beside either name), then the alias; a
    match without variants wins over one through them.
    """
    key = subject.name_key
    current = _name_key(resident.name)
    if key == current:
        return _EXACT_NAME
    # without readings first: they only ever decide a placeholder (GAIJI), and the registry's costs a normalisation
    how = japanese.compare_names(key, current)
    if how is None and subject.name_kana:
        how = japanese.compare_names(key, current, subject.name_kana, japanese.kana_key(resident.name_kana))
    if how is not None:
        pairs = _pairs(key, current)
        if how is japanese.NameMatch.GAIJI:
            return _NameMatch((_VARIANT_NOTE,), FieldMatch.PLACEHOLDER, pairs)
        return _NameMatch((_VARIANT_NOTE,), FieldMatch.VARIANT, pairs)
    if subject.name_words and japanese.alphabet_names_match(subject.name_words, _registered_words(resident.name)):
        return _NameMatch((), FieldMatch.NORMALISED, "middle name")
    own_former = (subject.former_key,) if subject.former_key else ()
    for names, reason, match in ((_former_keys(resident.name, resident.previous_names), Reason.FORMER_NAME,
                                  FieldMatch.FORMER),
                                 (_alias_keys(resident.name, resident.alias_name), Reason.ALIAS_NAME,
                                  FieldMatch.ALIAS)):
        pairs_tried = [(key, n) for n in names]
        if reason is Reason.FORMER_NAME:
            # a 旧氏 the record writes: against the current name and the former ones
            pairs_tried += [(k, n) for k in own_former for n in (current, *names)]
        elif subject.alias_key:
            pairs_tried += [(subject.alias_key, n) for n in (current, *names)]
        variant_pair = None
        for mine, theirs in pairs_tried:
            how = japanese.compare_names(mine, theirs)
            if how is japanese.NameMatch.EXACT:
                return _NameMatch((Finding(reason),), match)
            if how is japanese.NameMatch.VARIANT and variant_pair is None:
                variant_pair = (mine, theirs)
        if variant_pair is not None:
            return _NameMatch((Finding(reason), _VARIANT_NOTE), match, _pairs(*variant_pair))
    return _former_surname_alone(subject, resident, current)


def _former_surname_alone(subject: Subject, resident: Resident, current: str) -> _NameMatch | None:
    """A 旧氏 written beside a name without a space (``山田花子（旧姓 佐藤）``), on either side:
    the name with that surname for its own (:func:`guards.japanese.former_surname_match`)."""
    tried = []
    if subject.former_surname:
        tried += [(subject.name_key, subject.former_surname, n)
                  for n in (current, *_former_keys(resident.name, resident.previous_names))]
    registered = japanese.name_parts(resident.name).former_surname
    if registered:
        tried.append((current, registered, subject.name_key))
    for whole, surname, other in tried:
        how = japanese.former_surname_match(whole, surname, other)
        if how is japanese.NameMatch.EXACT:
            return _NameMatch((Finding(Reason.FORMER_NAME),), FieldMatch.FORMER)
        if how is japanese.NameMatch.VARIANT:
            return _NameMatch((Finding(Reason.FORMER_NAME), _VARIANT_NOTE), FieldMatch.FORMER,
                              _pairs(surname + whole[len(surname) - len(other):], other))
    return None


def _registered_words(name: str) -> tuple[str, ...]:
    """The words of a registry's alphabet name in its own order (family name first); ``()`` for another name."""
    text = japanese.name_text(name)
    return tuple(text.split()) if text and text.isascii() else ()


def _pairs(a: str, b: str) -> str:
    """The differing characters of two name keys, ``齋→斎`` (for an explanation)."""
    return ",".join(f"{x}→{y}" for x, y in japanese.name_differences(a, b))


@lru_cache(maxsize=32_768)
def _former_keys(name: str, previous_names: tuple[str, ...]) -> tuple[str, ...]:
    """Keys of every former name of a resident: the registry's 旧氏名 (a bare surname
    taken with the current given name) and a 旧氏 written beside the name."""
    keys: list[str] = []
    given = ""
    text = japanese.name_text(name)
    if " " in text and not text.isascii():
        given = text.split(" ", 1)[1]
    for previous in previous_names:
        keys.append(_name_key(previous))
        previous_text = japanese.name_text(previous)
        if given and previous_text and " " not in previous_text and not previous_text.isascii():
            keys.append(_name_key(f"{previous_text} {given}"))  # a 旧氏 column: the surname alone
        if (former := japanese.former_key(previous)):
            keys.append(former)
    if (former := japanese.former_key(name)):
        keys.append(former)
    return tuple(dict.fromkeys(k for k in keys if k))


@lru_cache(maxsize=32_768)
def _alias_keys(name: str, alias_name: str) -> tuple[str, ...]:
    keys = (_name_key(alias_name) if alias_name else "", japanese.alias_key(name))
    return tuple(dict.fromkeys(k for k in keys if k))


def _name_key(value: str) -> str:
    return japanese.name_key(value)


# --------------------------------------------------------------------------
# the per-field explanation
# --------------------------------------------------------------------------

def explain(record: Record, resident: Resident, subject: Subject | None = None) -> tuple[FieldExplanation, ...]:
    """How each of name, kana, birth date, sex and address compares with a resident.

    As the Digital Agency's name matcher reports which rule decided each word:
    ``exact``, ``normalised`` (written another way), ``variant`` (which
    characters), ``placeholder``, ``former``, ``alias``, ``mismatch`` or
    ``absent``; characters as record→registry (``斎→齋``). Never holds a My Number.

    >>> import datetime as dt
    >>> r = Resident('621498320257', '齋藤　花子', dt.date(1980, 4, 1), 2, '高知市丸ノ内一丁目2番20号',
    ...              name_kana='サイトウ ハナコ', previous_addresses=('南国市後免町1-1',))
    >>> rec = Record('s', '1', '621498320257', '斎藤 花子', '昭和55年4月1日', '2', '南国市後免町１－１', 'ｻｲﾄｳ ﾊﾅｺ')
    >>> [str(e) for e in explain(rec, r)]
    ['name=variant(斎→齋)', 'name_kana=normalised', 'birth_date=normalised', 'sex=exact', 'address=former']
    >>> rec = Record('s', '1', '621498320257', '斉藤 花子', '1980-04-02', '女', '', 'サイトウ ハナコ')
    >>> [str(e) for e in explain(rec, r)]
    ['name=mismatch(斉→齋)', 'name_kana=exact', 'birth_date=mismatch', 'sex=normalised', 'address=absent']
    """
    if subject is None:
        parsed = parse_subject(record)
        subject = parsed if isinstance(parsed, Subject) else None
    return (_explain_name(record, resident, subject), _explain_kana(record, resident),
            _explain_birth_date(record, resident, subject), _explain_sex(record, resident, subject),
            _explain_address(record, resident, subject))


def _explain_name(record: Record, resident: Resident, subject: Subject | None) -> FieldExplanation:
    if _blank(record.name):
        return FieldExplanation("name", FieldMatch.ABSENT)
    if record.name.strip() == resident.name.strip():
        return FieldExplanation("name", FieldMatch.EXACT)
    if subject is not None:
        how = _name_match(subject, resident)
        if how is not None:
            detail = how.detail or ("旧氏併記" if subject.former_key and how.match is FieldMatch.NORMALISED else "")
            return FieldExplanation("name", how.match, detail)
    return FieldExplanation("name", FieldMatch.MISMATCH, _pairs(_name_key(record.name), _name_key(resident.name)))


def _explain_kana(record: Record, resident: Resident) -> FieldExplanation:
    if _blank(record.name_kana):
        return FieldExplanation("name_kana", FieldMatch.ABSENT)
    if _blank(resident.name_kana):
        return FieldExplanation("name_kana", FieldMatch.ABSENT, "not in the registry")
    if record.name_kana.strip() == resident.name_kana.strip():
        return FieldExplanation("name_kana", FieldMatch.EXACT)
    mine, theirs = japanese.kana_key(record.name_kana), japanese.kana_key(resident.name_kana)
    if mine == theirs:
        return FieldExplanation("name_kana", FieldMatch.NORMALISED)
    if japanese.readings_match(mine, theirs):
        return FieldExplanation("name_kana", FieldMatch.VARIANT, f"{mine}/{theirs}")
    return FieldExplanation("name_kana", FieldMatch.MISMATCH)


def _explain_plain(field: str, written: str, registered: str, same_once_normalised: bool) -> FieldExplanation:
    """A field without variants: absent, written as registered, equal once normalised, or different."""
    if _blank(written):
        return FieldExplanation(field, FieldMatch.ABSENT)
    if written.strip() == registered:
        return FieldExplanation(field, FieldMatch.EXACT)
    if same_once_normalised:
        return FieldExplanation(field, FieldMatch.NORMALISED)
    return FieldExplanation(field, FieldMatch.MISMATCH)


def _explain_birth_date(record: Record, resident: Resident, subject: Subject | None) -> FieldExplanation:
    return _explain_plain("birth_date", record.birth_date, resident.birth_date.isoformat(),
                          subject is not None and subject.birth_date == resident.birth_date)


def _explain_sex(record: Record, resident: Resident, subject: Subject | None) -> FieldExplanation:
    return _explain_plain("sex", record.sex, str(resident.sex), subject is not None and subject.sex == resident.sex)


#: how an address written differently still names the resident's place (japanese.address_difference)
_ADDRESS_DIFFERENCES: Final = {
    "building": "building/room (方書) written differently",
    "municipality": "municipality left out",
    "koaza": "小字 left out",
    "placeholder": "placeholder in the place name",
    "ward": "ward (区) of a designated city left out",
    "ward_renamed": "ward (区) written by its old name",
    "street": "Kyoto street (通…上ル/下ル/東入/西入) left out",
}


def _explain_address(record: Record, resident: Resident, subject: Subject | None) -> FieldExplanation:
    if _blank(record.address):
        return FieldExplanation("address", FieldMatch.ABSENT)
    if record.address.strip() == resident.address.strip():
        return FieldExplanation("address", FieldMatch.EXACT)
    mine = subject.address if subject is not None else normalize.address(record.address)
    difference = japanese.address_difference(mine, normalize.address(resident.address))
    if difference is not None:
        return FieldExplanation("address", FieldMatch.NORMALISED,
                                "; ".join(_ADDRESS_DIFFERENCES[d] for d in difference.split(",") if d))
    if any(japanese.addresses_match(mine, normalize.address(a)) for a in resident.previous_addresses):
        return FieldExplanation("address", FieldMatch.FORMER)
    return FieldExplanation("address", FieldMatch.MISMATCH)
