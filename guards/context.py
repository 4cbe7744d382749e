"""Rules that need more than one record: family numbers, batch swaps, shared numbers.

:func:`guards.check` judges a record against the registry entry of its own
number. Some errors only show against the record's surroundings, which the
caller hands over as a :class:`Context` of plain frozen data:

- ``batch`` — the other records of the same input sitting (same system and
  ``batch_id``, :func:`batch_key`), as :class:`Peer` values;
- ``links`` — the other records, in any system, that carry the same number
  (:func:`link_key`), as :class:`Peer` values;
- ``identities`` — the registry by birth date and sex (:class:`IdentityLookup`,
  e.g. an :class:`IdentityIndex`), for the 4-item look-up a municipality makes.

:func:`check_in_context` runs :func:`guards.check` and adds what the
context shows; :func:`check_all` does it for a whole set of records at once
(the batch inspection). Both the stream and ``linkguard inspect`` use these.

>>> import datetime as dt
>>> father = Resident('621498320257', '山田 太郎', dt.date(1975, 1, 2), 1, '高知市本町1-1')
>>> child = Resident('123456789018', '山田 花子', dt.date(2010, 4, 1), 2, '高知市本町1-1')
>>> registry = index_by_number([father, child])
>>> form = Record('shoman', 'S-1', father.my_number, '山田花子', 'H22.4.1', '女', '高知市本町１－１')
>>> v = check_in_context(form, registry, Context(identities=build_identity_index([father, child])))
>>> v.outcome.value, v.reason_codes, v.suggested_my_number == child.my_number
('HOLD', 'IDENTITY_MISMATCH;FAMILY_NUMBER', True)

Decisions
---------
*Who is "the same person".* Everything goes through
:func:`guards.check.matches_person` (name, a former name or the alias; birth
date; sex) and, for addresses, through :func:`guards.check.identity_problems`,
so these rules accept exactly what name and address matching accepts.

*Family* (``FAMILY_NUMBER``). The number's registry person ``P`` is not the
record's subject, and the subject belongs to ``P``'s household: same family
name (the part of the name before the first space, normalised) and the same
current address in the registry. The subject is placed either through the
4-item look-up (a fitting resident, other than ``P``, who lives at ``P``'s
address under ``P``'s family name), or — when the subject cannot be found,
e.g. a name typo — by the record itself: its address is ``P``'s current
address, its name starts with ``P``'s family name and its birth date or sex
differs from ``P``'s. A household member who has moved elsewhere is not
family in this sense. The rule only labels a record that the basic check
already holds (the subject is not ``P``); it never changes an outcome.

*Batch swap* (``BATCH_SWAP``). The number's registry person is not the
subject, but is the subject of another record of the same batch; the
finding names that record (``record_id``, several joined by ``,``). It never
changes an outcome either.

*Shared number* (``SHARED_NUMBER``). Another record carrying the same number
is a different person: both have an ``atena_no`` (宛名番号, municipality-wide)
and they differ; or, when one lacks it, exactly one of the two is the
number's registry person (or, when neither is, the two records do not
describe the same person). The finding names the other records as
``system/record_id``. The record that agrees with the registry in full
(name, birth date, sex *and* address — a *holder*) keeps its verdict as long
as none of the differing records is a holder too: the error is in the
others. Two holders with different ``atena_no`` (a same-name stranger whose
record has no address) are both held: the registry cannot tell which one
the number belongs to. This is the one rule that can turn a PASS of
:func:`guards.check` into a HOLD.

*Order.* Every rule reads the *whole* set of other records (earlier and
later alike), so the final verdict of a record does not depend on the order
records arrive in. A stream that sees records one at a time must re-check
the held records of the same batch and the records of the same number when
a new record arrives (:func:`affected_keys`); only ``SHARED_NUMBER`` can
turn an earlier PASS into a HOLD (two holders of one number with different
``atena_no``).

*Deceased and erased* (``DECEASED``, ``ERASED``). A record about the
resident (it matches them) that was last updated strictly *before* the day
of the death or erasure (``status_date``) passes without that code: the
linkage was made while the person was a resident, and the copy on the
intermediate server is a true history. A record updated on or after that
day, or one whose date is missing or unreadable, or one whose registry entry
has no ``status_date``, is held. The record's day is its ``更新日時`` /
``updated_at`` (:func:`record_date`), read from the payload, where both the
CSV reader and the stream carry it.

*Suggestions.* Every HOLD without one gets ``suggested_my_number`` when the
4-item look-up (:func:`identify`) finds exactly one resident for the
subject, after breaking a tie by the address, and that resident's number is
not the record's. Never when two fit (twins of one name, same-name
strangers at one address).

Suggested numbers are My Numbers: no finding detail ever holds one.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import defaultdict
from dataclasses import dataclass, field, replace
from itertools import chain, compress, islice, repeat
from operator import and_, attrgetter, is_, is_not, ne, not_, truth
from typing import Callable, Final, Iterable, Iterator, NamedTuple, Protocol, Sequence

from guards import normalize
from guards.check import RegistryView, Subject, check, explain, identity_problems, matches_person, parse_subject
from guards.exceptions import GuardError
from guards.model import Finding, Outcome, Reason, Record, Resident, Severity, Verdict
from guards.number import compact, number_problem
from guards.registry import index_by_number

__all__ = [
    "Context", "IdentityIndex", "IdentityLookup", "Peer", "affected_keys", "atena", "batch_key", "batch_swap",
    "RecordIndex", "build_identity_index", "check_all", "check_in_context", "context_findings", "fitting",
    "full_contexts", "identify", "link_key", "peer_subject", "record_date", "suggest_number", "with_batch",
]

#: at most this many other records are named in one finding's detail
MAX_NAMED: Final = 5


# --------------------------------------------------------------------------
# the values a context is made of
# --------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Peer:
    """Another record as the context rules see it: its key, addressee number and parsed values.

    >>> p = Peer.of(Record('jido-fuyo', 'J-7', '6214 9832 0257', '山田　花子', 'S55.4.1', '女', atena_no='0001'))
    >>> p.label, p.subject.number, p.subject.birth_date
    ('jido-fuyo/J-7', '621498320257', datetime.date(1980, 4, 1))
    >>> Peer.of(Record('s', '1', '', '山田花子', '不明', '女')) is None  # an unreadable birth date
    True
    """

    system: str
    record_id: str
    atena_no: str
    subject: Subject

    @classmethod
    def of(cls, record: Record, subject: Subject | None = None) -> "Peer | None":
        """The peer for a record; ``None`` for a deletion or a row whose subject is unusable.

        A row without a usable number (empty, not 12 digits) is still a
        peer: its person is known, and their number may be the one keyed
        on another record of the batch. Its ``subject.number`` is then the
        number as compacted (``''`` when empty).
        """
        if record.operation == "delete":
            return None
        if subject is None:
            subject = peer_subject(record)
            if subject is None:
                return None
        return cls(record.system, record.record_id, atena(record.atena_no), subject)

    @property
    def key(self) -> tuple[str, str]:
        return self.system, self.record_id

    @property
    def label(self) -> str:
        """How findings name the record: ``system/record_id`` (never a number)."""
        return f"{self.system}/{self.record_id}"


_NUMBER_ONLY: Final = frozenset({Reason.NOT_LINKED, Reason.NUMBER_FORMAT})
_PLACEHOLDER: Final = "000000000000"  # 12 digits: lets parse_subject judge everything but the number


def peer_subject(record: Record) -> Subject | None:
    """The record's parsed values for the context rules, even when its number is unusable.

    ``None`` when the name, birth date or sex cannot be read.

    >>> peer_subject(Record('s', '1', '', '山田花子', 'S55.4.1', '女')).birth_date
    datetime.date(1980, 4, 1)
    >>> peer_subject(Record('s', '1', '', '山田花子', '不明', '女')) is None
    True
    """
    parsed = parse_subject(record)
    if isinstance(parsed, Subject):
        return parsed
    if not all(f.reason in _NUMBER_ONLY for f in parsed):
        return None
    parsed = parse_subject(replace(record, my_number=_PLACEHOLDER))
    return parsed._replace(number=compact(record.my_number)) if isinstance(parsed, Subject) else None


class IdentityLookup(Protocol):
    """What the 4-item look-up needs of the registry: every resident born on a day, of a sex."""

    def born(self, birth_date: dt.date, sex: int, /) -> Sequence[Resident]: ...


class IdentityIndex:
    """Residents by birth date and sex. Built by :func:`build_identity_index`.

    Names are not part of the key on purpose: :func:`fitting` compares them
    with :func:`guards.check.matches_person`, so the look-up accepts every
    name form (former names, alias, whatever the name matching accepts).
    A (birth date, sex) bucket holds a few dozen residents even in a
    million-row registry.
    """

    __slots__ = ("_map",)

    def __init__(self) -> None:
        self._map: dict[tuple[dt.date, int], list[Resident]] = {}

    def add(self, resident: Resident) -> None:
        key = (resident.birth_date, resident.sex)
        bucket = self._map.get(key)
        if bucket is None:
            self._map[key] = [resident]
        else:
            bucket.append(resident)

    def born(self, birth_date: dt.date, sex: int, /) -> Sequence[Resident]:
        return tuple(self._map.get((birth_date, sex), ()))

    def __len__(self) -> int:
        """Residents held (a repeated extract row counts each time)."""
        return sum(len(b) for b in self._map.values())


def build_identity_index(residents: Iterable[Resident],
                         only: Iterable[tuple[dt.date, int]] | None = None) -> IdentityIndex:
    """Index residents by birth date and sex; ``only`` keeps just those (birth date, sex) pairs.

    >>> a = Resident('621498320257', '山田 花子', dt.date(1980, 4, 1), 2, '高知市')
    >>> b = Resident('123456789018', '山田 太郎', dt.date(1975, 1, 2), 1, '高知市')
    >>> len(build_identity_index([a, b])), len(build_identity_index([a, b], only=[(dt.date(1975, 1, 2), 1)]))
    (2, 1)
    """
    index = IdentityIndex()
    if only is None:
        buckets = index._map  # IdentityIndex.add written out: 300,000 calls in a prefecture's inspection
        for resident in residents:
            key = (resident.birth_date, resident.sex)
            bucket = buckets.get(key)
            if bucket is None:
                buckets[key] = [resident]
            else:
                bucket.append(resident)
        return index
    wanted = set(only)
    for resident in residents:
        if (resident.birth_date, resident.sex) in wanted:
            index.add(resident)
    return index


#: an index with nobody in it (a context without a registry look-up)
NO_IDENTITIES: Final = IdentityIndex()


@dataclass(frozen=True, slots=True)
class Context:
    """What a record is judged against besides its own registry entry.

    ``batch`` and ``links`` may include the record itself (it is skipped by
    its ``(system, record_id)``), so a caller can hand the same tuple to
    every member of a batch or of a number.
    """

    batch: tuple[Peer, ...] = ()
    links: tuple[Peer, ...] = ()
    identities: IdentityLookup = field(default=NO_IDENTITIES, compare=False)


def atena(value: str) -> str:
    """An addressee number (宛名番号) as compared: normalised, leading zeros dropped from digits.

    >>> atena('０００１２３'), atena(' 123 '), atena('A-0012'), atena('')
    ('123', '123', 'A-0012', '')
    """
    if value.isdigit() and value.isascii():  # as most systems write it: nothing to normalise
        return value.lstrip("0") or "0"
    text = normalize.text(value).replace(" ", "")
    return (text.lstrip("0") or "0") if text.isdigit() else text


def batch_key(record: Record) -> tuple[str, str] | None:
    """The input sitting a record belongs to, ``(system, batch_id)``; ``None`` without a batch id.

    >>> batch_key(Record('shoman', '1', '', '', '', '', batch_id=' B-01 '))
    ('shoman', 'B-01')
    >>> batch_key(Record('shoman', '1', '', '', '', '')) is None
    True
    """
    batch_id = normalize.text(record.batch_id)
    return (record.system, batch_id) if batch_id else None


def link_key(record: Record) -> str | None:
    """The number under which a record is linked: a valid number, compacted; else ``None``.

    >>> link_key(Record('s', '1', '６２１４ ９８３２ ０２５７', '', '', ''))
    '621498320257'
    >>> link_key(Record('s', '1', '621498320258', '', '', '')) is None  # wrong check digit
    True
    """
    if record.operation == "delete":
        return None
    number = compact(record.my_number)
    return number if number and number_problem(number) is None else None


# --------------------------------------------------------------------------
# the 4-item look-up
# --------------------------------------------------------------------------

def fitting(subject: Subject, identities: IdentityLookup) -> tuple[Resident, ...]:
    """Every resident the subject's name, birth date and sex fit (one per current number).

    >>> a = Resident('621498320257', '山田 花子', dt.date(1980, 4, 1), 2, '高知市', previous_names=('佐藤 花子',))
    >>> s = parse_subject(Record('s', '1', '123456789018', '佐藤花子', '1980-04-01', '2'))
    >>> [r.my_number for r in fitting(s, build_identity_index([a, a]))]
    ['621498320257']
    """
    found: dict[str, Resident] = {}
    for resident in identities.born(subject.birth_date, subject.sex):
        if resident.my_number not in found and matches_person(subject, resident):
            found[resident.my_number] = resident
    return tuple(found.values())


def _address_fits(subject: Subject, resident: Resident, current_only: bool = False) -> bool:
    """The record has an address and it is the resident's (current, or a former one)."""
    if not subject.address:
        return False
    refused = {Reason.ADDRESS_MISMATCH, Reason.FORMER_ADDRESS} if current_only else {Reason.ADDRESS_MISMATCH}
    return not any(f.reason in refused for f in identity_problems(subject, resident))


def identify(subject: Subject, identities: IdentityLookup) -> Resident | None:
    """The one resident the subject's 4 items identify, the address breaking a tie; else ``None``.

    >>> a = Resident('621498320257', '田中 一郎', dt.date(1950, 3, 3), 1, '高知市朝倉1-1')
    >>> b = Resident('123456789018', '田中 一郎', dt.date(1950, 3, 3), 1, '南国市大埇1-1')
    >>> s = parse_subject(Record('s', '1', '999999999999', '田中一郎', 'S25.3.3', '男'))
    >>> identify(s, build_identity_index([a])).address
    '高知市朝倉1-1'
    >>> identify(s, build_identity_index([a, b])) is None  # two fit, no address to tell them apart
    True
    >>> s = parse_subject(Record('s', '1', '999999999999', '田中一郎', 'S25.3.3', '男', '南国市大埇１－１'))
    >>> identify(s, build_identity_index([a, b])).address
    '南国市大埇1-1'
    """
    return _one_of(subject, fitting(subject, identities))


def _one_of(subject: Subject, candidates: tuple[Resident, ...]) -> Resident | None:
    """:func:`identify` among the residents the subject fits (:func:`fitting`)."""
    if len(candidates) > 1:
        candidates = tuple(r for r in candidates if _address_fits(subject, r))
    return candidates[0] if len(candidates) == 1 else None


def suggest_number(record: Record | Subject, identities: IdentityLookup) -> str:
    """The number of the one resident the record's 4 items identify, if it differs from the record's.

    Empty when no resident fits, when two or more fit (and the address does
    not leave exactly one), when the fitting resident's number is the
    record's own, or when the row is unusable.

    >>> a = Resident('621498320257', '山田 花子', dt.date(1980, 4, 1), 2, '高知市丸ノ内1-2-20')
    >>> b = Resident('123456789018', '山田 花子', dt.date(1980, 4, 1), 2, '高知市本町1-1')
    >>> rec = Record('s', '1', '999999999999', '山田花子', '1980-04-01', '2')
    >>> suggest_number(rec, build_identity_index([a]))
    '621498320257'
    >>> suggest_number(rec, build_identity_index([a, b]))  # two fit: nothing
    ''
    >>> from dataclasses import replace
    >>> suggest_number(replace(rec, address='高知市本町１－１'), build_identity_index([a, b]))
    '123456789018'
    >>> suggest_number(replace(rec, my_number='6214 9832 0257'), build_identity_index([a]))
    ''
    """
    subject = record if isinstance(record, Subject) else parse_subject(record)
    if not isinstance(subject, Subject):
        return ""
    return _suggestion(subject, fitting(subject, identities))


def _suggestion(subject: Subject, candidates: tuple[Resident, ...]) -> str:
    """:func:`suggest_number` among the residents the subject fits (:func:`fitting`)."""
    resident = _one_of(subject, candidates)
    if resident is None or resident.my_number == subject.number:
        return ""
    return resident.my_number


# --------------------------------------------------------------------------
# the record's date (for DECEASED / ERASED)
# --------------------------------------------------------------------------

_DATE_KEYS: Final = ("更新日時", "updated_at")
# a day as YYYY-MM-DD, then perhaps a time of day (hh:mm, hh:mm:ss) after a space or a T
_ISO_STAMP: Final = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})(?:[ T][0-9]{2}:[0-9]{2}(?::[0-9]{2})?)?").fullmatch


def record_date(record: Record) -> dt.date | None:
    """The day the record was last updated: its ``更新日時`` / ``updated_at``; ``None`` if absent or unreadable.

    The time of day is dropped; any date form :func:`guards.normalize.parse_date` reads is accepted.

    >>> r = lambda value: Record('s', '1', '', '', '', '', payload={'更新日時': value})
    >>> record_date(r('2023-04-03 09:15:00')), record_date(r('2023-04-03T09:15:00+09:00'))
    (datetime.date(2023, 4, 3), datetime.date(2023, 4, 3))
    >>> record_date(r('令和5年4月3日 9時15分')), record_date(r('20230403091500'))
    (datetime.date(2023, 4, 3), datetime.date(2023, 4, 3))
    >>> record_date(Record('s', '1', '', '', '', '', payload={'updated_at': '2023/4/3'}))
    datetime.date(2023, 4, 3)
    >>> record_date(r('不明')), record_date(Record('s', '1', '', '', '', ''))
    (None, None)
    """
    payload = record.payload
    raw = next((payload[k] for k in _DATE_KEYS if payload.get(k)), None)
    if raw is None:  # a header written another way (full width, spaces, case)
        raw = next((v for k, v in payload.items() if v and normalize.text(k).lower() in _DATE_KEYS), None)
    if not raw:
        return None
    stamp = _ISO_STAMP(raw)
    if stamp is not None:  # as most systems write it (a test compares this with the reading below)
        try:
            return dt.date(int(stamp[1]), int(stamp[2]), int(stamp[3]))
        except ValueError:  # not a calendar date: read below, as any other value
            pass
    text = normalize.text(raw)
    tries = [text, text.split(" ")[0], text.split("T")[0]]
    if "日" in text:
        tries.append(text[:text.index("日") + 1])
    if len(text) > 8 and text[:8].isdigit():
        tries.append(text[:8])
    for value in tries:
        try:
            return normalize.parse_date(value, "updated_at")
        except GuardError:
            continue
    return None


# --------------------------------------------------------------------------
# the rules
# --------------------------------------------------------------------------

def _registry_person(subject: Subject, registry: RegistryView) -> Resident | None:
    """The registry person of the record's number (``None`` for an unknown or invalid number)."""
    return registry.get(subject.number) if number_problem(subject.number) is None else None


def _family_key(name: str) -> str:
    """The family name: the normalised name up to its first space (``''`` without a space)."""
    value = normalize.name(name)
    return value.split(" ", 1)[0] if " " in value else ""


def _family_member(record: Record, subject: Subject, resident: Resident,
                   fits: Callable[[], tuple[Resident, ...]]) -> bool:
    """Whether the subject (who is not ``resident``) lives in ``resident``'s household.
    ``fits`` gives :func:`fitting` for the subject (computed once for the rules and the suggestion)."""
    household = normalize.address(resident.address)
    family = _family_key(resident.name)
    if not household or not family:
        return False
    for other in fits():
        if (other.my_number != resident.my_number and normalize.address(other.address) == household
                and _family_key(other.name) == family):
            return True
    own_family = _family_key(record.name)
    same_family = own_family == family if own_family else normalize.name(record.name).startswith(family)
    return (same_family and (subject.birth_date, subject.sex) != (resident.birth_date, resident.sex)
            and _address_fits(subject, resident, current_only=True))


def _holder(subject: Subject, resident: Resident | None) -> bool:
    """The record agrees with the number's registry person in full (identity and address)."""
    return (resident is not None and matches_person(subject, resident)
            and not any(f.reason.severity >= Severity.HOLD for f in identity_problems(subject, resident)))


def _same_person(own: Subject, own_atena: str, other: Peer, resident: Resident | None,
                 identities: IdentityLookup) -> bool:
    if own_atena and other.atena_no:
        return own_atena == other.atena_no
    if resident is not None:
        mine, theirs = matches_person(own, resident), matches_person(other.subject, resident)
        if mine or theirs:
            return mine == theirs
    if (own.birth_date, own.sex) != (other.subject.birth_date, other.subject.sex):
        return False
    if own.name_key == other.subject.name_key:
        return True
    own_fits = {r.my_number for r in fitting(own, identities)}
    return any(r.my_number in own_fits for r in fitting(other.subject, identities))


def _named(labels: Iterable[str]) -> str:
    names = sorted(set(labels))
    shown = ",".join(names[:MAX_NAMED])
    return shown + (f",+{len(names) - MAX_NAMED}" if len(names) > MAX_NAMED else "")


def context_findings(record: Record, subject: Subject, registry: RegistryView,
                     context: Context) -> list[Finding]:
    """The findings the context adds for a usable record: FAMILY_NUMBER, BATCH_SWAP, SHARED_NUMBER.

    >>> a = Resident('621498320257', '山田 花子', dt.date(1980, 4, 1), 2, '高知市本町1-1')
    >>> b = Resident('123456789018', '鈴木 次郎', dt.date(1990, 5, 5), 1, '高知市桟橋通2-2')
    >>> swapped = Record('s', 'R-1', a.my_number, '鈴木 次郎', '1990-05-05', '1', batch_id='B')
    >>> hers = Record('s', 'R-2', a.my_number, '山田 花子', '1980-04-01', '2', batch_id='B')
    >>> batch = (Peer.of(swapped), Peer.of(hers))
    >>> context_findings(swapped, parse_subject(swapped), index_by_number([a, b]), Context(batch=batch))
    [Finding(reason=<Reason.BATCH_SWAP: 'BATCH_SWAP'>, detail='R-2')]
    >>> context_findings(hers, parse_subject(hers), index_by_number([a, b]), Context(batch=batch, links=batch))
    []
    """
    return _context_findings(record, subject, registry, context, _Fits(subject, context.identities))


class _Fits:
    """:func:`fitting` for one subject, computed at most once: the family rule and the
    suggestion of one record both need it (a few dozen name comparisons each time)."""

    __slots__ = ("subject", "identities", "found")

    def __init__(self, subject: Subject, identities: IdentityLookup) -> None:
        self.subject, self.identities = subject, identities
        self.found: tuple[Resident, ...] | None = None

    def __call__(self) -> tuple[Resident, ...]:
        if self.found is None:
            self.found = fitting(self.subject, self.identities)
        return self.found


def _context_findings(record: Record, subject: Subject, registry: RegistryView, context: Context,
                      fits: _Fits) -> list[Finding]:
    own_key = (record.system, record.record_id)
    resident = _registry_person(subject, registry)
    findings: list[Finding] = []
    if resident is not None and not matches_person(subject, resident):
        if _family_member(record, subject, resident, fits):
            findings.append(Finding(Reason.FAMILY_NUMBER))
        swap = batch_swap(own_key, resident, context.batch)
        if swap is not None:
            findings.append(swap)
    if context.links:
        own_atena = atena(record.atena_no)
        others = [p for p in context.links
                  if p.key != own_key and p.subject.number == subject.number
                  and not _same_person(subject, own_atena, p, resident, context.identities)]
        if others and not (_holder(subject, resident) and not any(_holder(p.subject, resident) for p in others)):
            findings.append(Finding(Reason.SHARED_NUMBER, _named(p.label for p in others)))
    return findings


def batch_swap(own_key: tuple[str, str], resident: Resident, batch: Iterable[Peer]) -> Finding | None:
    """``BATCH_SWAP`` naming the batch peers who are ``resident`` (the number's person), if any.

    Only meaningful for a record that is not ``resident`` itself; the caller checks that.

    >>> a = Resident('621498320257', '山田 花子', dt.date(1980, 4, 1), 2, '高知市本町1-1')
    >>> hers = Peer.of(Record('s', 'R-2', '', '山田 花子', '1980-04-01', '2', batch_id='B'))
    >>> batch_swap(('s', 'R-1'), a, [hers]), batch_swap(('s', 'R-2'), a, [hers])
    (Finding(reason=<Reason.BATCH_SWAP: 'BATCH_SWAP'>, detail='R-2'), None)
    """
    owners = [p.record_id for p in batch if p.key != own_key and matches_person(p.subject, resident)]
    return Finding(Reason.BATCH_SWAP, _named(owners)) if owners else None


def with_batch(verdict: Verdict, record: Record, subject: Subject, resident: Resident | None,
               batch: Iterable[Peer]) -> Verdict:
    """A verdict reached without the batch (``Context(batch=())``), completed with its batch.

    The stream judges a record by its number first and learns its batch
    later (the other records of a batch may arrive after it), so the batch
    rule is applied last, here; :func:`check_in_context` with the batch in
    its context gives exactly the same verdict (a test compares the two).
    ``BATCH_SWAP`` goes where :func:`context_findings` puts it: before
    ``SHARED_NUMBER``. It never changes the outcome or the suggestion.

    >>> a = Resident('621498320257', '山田 花子', dt.date(1980, 4, 1), 2, '高知市本町1-1')
    >>> b = Resident('123456789018', '鈴木 次郎', dt.date(1990, 5, 5), 1, '高知市桟橋通2-2')
    >>> swapped = Record('s', 'R-1', a.my_number, '鈴木 次郎', '1990-05-05', '1', batch_id='B')
    >>> hers = Record('s', 'R-2', b.my_number, '山田 花子', '1980-04-01', '2', batch_id='B')
    >>> registry, batch = index_by_number([a, b]), (Peer.of(swapped), Peer.of(hers))
    >>> alone = check_in_context(swapped, registry)
    >>> with_batch(alone, swapped, parse_subject(swapped), a, batch) == check_in_context(
    ...     swapped, registry, Context(batch=batch))
    True
    >>> with_batch(alone, swapped, parse_subject(swapped), a, batch).reason_codes
    'IDENTITY_MISMATCH;BATCH_SWAP'
    """
    if (verdict.outcome is not Outcome.HOLD or resident is None or record.operation == "delete"
            or matches_person(subject, resident)):
        return verdict
    swap = batch_swap((record.system, record.record_id), resident, batch)
    findings = [f for f in verdict.findings if f.reason is not Reason.BATCH_SWAP]
    if swap is not None:
        at = next((i for i, f in enumerate(findings) if f.reason is Reason.SHARED_NUMBER), len(findings))
        findings.insert(at, swap)
    if tuple(findings) == verdict.findings:
        return verdict
    return Verdict.of(findings, verdict.suggested_my_number, verdict.explanation)


_STATUS_CODES: Final = (Reason.DECEASED, Reason.ERASED)


def check_in_context(record: Record, registry: RegistryView, context: Context = Context(), *,
                     verdict: Verdict | None = None, subject: Subject | None = None) -> Verdict:
    """:func:`guards.check`, plus every finding the context adds, the date rule and a suggestion.

    ``verdict`` and ``subject`` are caches: a caller that already has
    ``check(record, registry)`` or ``parse_subject(record)`` passes them.
    A record the basic check finds unusable (INVALID), and a deletion, are
    returned as they are. Findings keep :func:`guards.check`'s order, the
    context's follow; the most severe decides the outcome.

    >>> hanako = Resident('621498320257', '山田 花子', dt.date(1930, 4, 1), 2, '高知市',
    ...                   status='死亡', status_date=dt.date(2023, 6, 1))
    >>> rec = Record('s', '1', hanako.my_number, '山田花子', '1930-04-01', '2',
    ...              payload={'更新日時': '2023-05-31 17:00:00'})
    >>> check_in_context(rec, index_by_number([hanako])).outcome.value  # updated before the death
    'PASS'
    >>> from dataclasses import replace
    >>> check_in_context(replace(rec, payload={'更新日時': '2023-06-01 09:00'}),
    ...                  index_by_number([hanako])).reason_codes
    'DECEASED'
    """
    if verdict is None:
        verdict = check(record, registry)
    if verdict.outcome is Outcome.INVALID or record.operation == "delete":
        return verdict
    held = verdict.outcome is Outcome.HOLD
    if not held and not context.links:
        return verdict
    if subject is None:
        parsed = parse_subject(record)
        if not isinstance(parsed, Subject):  # pragma: no cover - check() would have said INVALID
            return verdict
        subject = parsed
    findings = list(verdict.findings)
    if any(f.reason in _STATUS_CODES for f in findings):
        resident = registry.get(subject.number)
        if (resident is not None and resident.status_date is not None
                and (day := record_date(record)) is not None
                and day < resident.status_date and matches_person(subject, resident)):
            findings = [f for f in findings if f.reason not in _STATUS_CODES]
    fits = _Fits(subject, context.identities)
    findings.extend(_context_findings(record, subject, registry, context, fits))
    suggested = verdict.suggested_my_number
    explanation = verdict.explanation
    if Verdict.outcome_of(findings) is Outcome.HOLD:
        if not suggested:
            # always the subject's own 4-item look-up, never the number's holder (unless the holder is the subject)
            suggested = _suggestion(subject, fits())
        if not explanation:  # a PASS of the basic check held by the context (SHARED_NUMBER)
            resident = _registry_person(subject, registry)
            explanation = explain(record, resident, subject) if resident is not None else ()
    return Verdict.of(findings, suggested, explanation)


def affected_keys(record: Record, context: Context) -> set[tuple[str, str]]:
    """The other records whose verdict may change when this one arrives or changes (for the stream).

    Its batch peers (a held one may become a BATCH_SWAP) and the other
    records of its number (SHARED_NUMBER, both ways).

    >>> p = Peer.of(Record('s', '2', '621498320257', '山田花子', '1980-04-01', '2'))
    >>> sorted(affected_keys(Record('s', '1', '', '', '', ''), Context(batch=(p,), links=(p,))))
    [('s', '2')]
    """
    own = (record.system, record.record_id)
    return {p.key for p in (*context.batch, *context.links) if p.key != own}


# --------------------------------------------------------------------------
# a whole set of records at once (the batch inspection)
# --------------------------------------------------------------------------

def check_all(records: Sequence[Record], registry: RegistryView,
              identities: IdentityLookup = NO_IDENTITIES, *,
              basic: Sequence[Verdict] | None = None, index: "RecordIndex | None" = None) -> list[Verdict]:
    """Every record checked in the context of all the others, in input order.

    The same verdicts as :func:`check_in_context` with, for each record, a
    context of every other record of its batch and of its number
    (:func:`full_contexts` builds those plainly; a test compares the two),
    at the cost of a few passes in C plus work only where it can matter
    (a prefecture's 244,246 records: some 13,000 rows are looked at):

    - a PASS keeps its verdict unless its number is *loud*
      (:func:`_rows_of_loud_numbers`): another record of the number is held,
      or two of them carry different ``atena_no`` as written. Otherwise every
      other record of the number is a PASS too, so the same registry person
      as this one, and ``SHARED_NUMBER`` finds nobody; a PASS has no
      ``DECEASED``/``ERASED`` for the date rule to drop and no batch rule
      (they look at held records only);
    - only the held records and those of loud numbers are judged: their
      numbers and batches are indexed (the last row of each
      ``(system, record_id)`` is the one the others see, the newest event
      wins, :func:`_superseded_rows`);
    - the shared-number rule reads who is the number's person, and who
      agrees with them in full, off the basic verdicts (:func:`_is_person`,
      :func:`_is_holder`): a PASS of a loud number keeps its verdict unless
      another holder carries another addressee number, and a held record's
      links are only the records :func:`_same_person` may tell from it
      (:class:`_NumberGroup`);
    - a record gets its batch only if it is held and is not its number's
      registry person (the only case the batch rules look at: a record
      that is not that person is always held by :func:`guards.check`),
      and only the peers born on that person's birth date, of that sex
      (no other peer can be that person; :func:`_rows_maybe_born_on` leaves
      out the PASS verdicts of people born on other days at once).

    ``basic`` may hand over ``[check(r, registry) for r in records]`` computed
    elsewhere (``linkguard inspect`` computes them on every core); the context
    rules still see every record. ``index`` may likewise hand over
    :func:`RecordIndex.of` the records, which needs no verdict (``linkguard
    inspect`` builds it while its helpers check).

    >>> a = Resident('621498320257', '山田 花子', dt.date(1980, 4, 1), 2, '高知市本町1-1')
    >>> b = Resident('123456789018', '鈴木 次郎', dt.date(1990, 5, 5), 1, '高知市桟橋通2-2')
    >>> records = [Record('s', 'R-1', a.my_number, '鈴木 次郎', '1990-05-05', '1', batch_id='B'),
    ...            Record('s', 'R-2', b.my_number, '山田 花子', '1980-04-01', '2', batch_id='B')]
    >>> [(str(v.findings[-1]), v.suggested_my_number == s.my_number)
    ...  for v, s in zip(check_all(records, index_by_number([a, b]), build_identity_index([a, b])), (b, a))]
    [('BATCH_SWAP(R-2)', True), ('BATCH_SWAP(R-1)', True)]
    """
    records = list(records)
    if basic is None:
        basic = [check(r, registry) for r in records]
    elif len(basic) != len(records):
        raise ValueError(f"{len(basic)} basic verdicts for {len(records)} records")
    else:
        basic = list(basic)
    out = list(basic)
    if index is None:
        index = RecordIndex.of(records)
    elif len(index.numbers) != len(records):
        raise ValueError(f"an index of {len(index.numbers)} rows for {len(records)} records")
    held_rows = _held_rows(basic)
    rows = sorted(set(held_rows).union(_rows_of_loud_numbers(index, held_rows)))
    if not rows:
        return out

    batch_keys: dict[tuple[str, str], tuple[str, str] | None] = {}  # by (system, batch_id) as written
    # each row's number as linked (every row a rule reads the number of is among ``rows``)
    link_keys: dict[int, str | None] = {i: _row_link_key(records[i], basic[i]) for i in rows}
    link_key_of = link_keys.__getitem__

    subjects: dict[int, Subject] = {}

    def subject_of(i: int) -> Subject | None:
        subject = subjects.get(i)
        if subject is None:
            subject = peer_subject(records[i])
            if subject is not None:
                subjects[i] = subject
        return subject

    def other_person(i: int) -> Resident | None:
        # the number's registry person, for a held usable record that is not that person
        # (read off the basic verdict, as _is_person says, without reading the record)
        lkey = link_key_of(i)
        if basic[i].outcome is not Outcome.HOLD or lkey is None:
            return None
        resident = registry.get(lkey)
        return resident if resident is not None and not _is_person(basic[i]) else None

    # the batches the batch rules look at: those of a held record that is not its number's person
    wanted: dict[int, tuple[tuple[str, str], Resident]] = {}  # by row: its batch, its number's person
    for i in held_rows:
        bkey = _row_batch_key(records[i], basic[i], batch_keys)
        if bkey is not None and (resident := other_person(i)) is not None:
            wanted[i] = bkey, resident
    superseded = index.superseded
    # of their rows, the ones that may be a wanted person (a PASS is its own number's person: another is not)
    wanted_batches = {bkey for bkey, _ in wanted.values()}
    # the rows of those batch ids in any system (:attr:`RecordIndex.batches`), each batch's in order
    batch_rows = list(chain.from_iterable(chain.from_iterable(
        index.batches.get(text, ()) for text in {text for _, text in wanted_batches})))
    batches: dict[tuple[str, str], list[int]] = defaultdict(list)
    for j in _rows_maybe_born_on(batch_rows, records, basic, registry, {r.birth_date for _, r in wanted.values()}):
        if j not in superseded and (bkey := _row_batch_key(records[j], basic[j], batch_keys)) in wanted_batches:
            batches[bkey].append(j)
    numbers: dict[str, list[int]] = defaultdict(list)
    for j in rows:  # every record of a loud number is among them (a held one's number is loud)
        lkey = link_key_of(j)
        if lkey is not None and j not in superseded:
            numbers[lkey].append(j)

    born: dict[tuple[str, str], tuple[dt.date, int] | None] = {}  # by the values as written (they repeat)

    def born_of(i: int) -> tuple[dt.date, int] | None:
        # birth date and sex alone, cheaper than a whole subject; None when unreadable
        record = records[i]
        if basic[i].outcome is Outcome.PASS and record.operation != "delete":
            # a PASS agrees with its number's registry person on both: theirs, without reading the record's
            resident = registry.get(compact(record.my_number))
            if resident is not None:
                return resident.birth_date, resident.sex
        written = (record.birth_date, record.sex)
        if written not in born:
            try:
                born[written] = (normalize.parse_date(record.birth_date, "birth_date"),
                                 normalize.parse_sex(record.sex))
            except GuardError:
                born[written] = None
        return born[written]

    def peers(members: Iterable[int]) -> tuple[Peer, ...]:
        out = (Peer.of(records[i], subject) for i in members if (subject := subject_of(i)) is not None)
        return tuple(p for p in out if p is not None)

    # the batch rules only look for peers who are the number's registry person:
    # the others (another birth date or sex) are left out of the context
    batch_of: dict[int, tuple[Peer, ...]] = {}
    for i, (bkey, resident) in wanted.items():
        # (a replaced row sees the others of its batch too, the row that replaced it among them)
        person = (resident.birth_date, resident.sex)
        batch_of[i] = peers(m for m in batches.get(bkey, ()) if m != i and born_of(m) in (person, None))

    groups: dict[str, _NumberGroup] = {}
    kept: set[int] = set()  # PASS rows the shared-number rule leaves as they are (most of the loud numbers')
    for key, members in numbers.items():
        if len(members) > 1:
            group = groups[key] = _NumberGroup.of(members, records, basic, registry.get(key))
            kept.update(group.passes_kept(basic))
    peer_rows: dict[int, Peer | None] = {}

    def peer_of(i: int) -> Peer | None:
        if i not in peer_rows:
            subject = subject_of(i)
            peer_rows[i] = Peer.of(records[i], subject) if subject is not None else None
        return peer_rows[i]

    def links_of(i: int) -> tuple[Peer, ...]:
        # the other records of the number that the shared-number rule may find to be someone else
        key = link_key_of(i)
        members = numbers.get(key) if key is not None else None
        if key is None or not members or (len(members) == 1 and records[members[0]].record_id == records[i].record_id
                           and records[members[0]].system == records[i].system):
            return ()
        group = groups.get(key)
        if group is None:
            group = groups[key] = _NumberGroup.of(members, records, basic, registry.get(key))
        own_atena = atena(records[i].atena_no)
        if basic[i].outcome is Outcome.PASS:
            rows_seen = () if group.keeps_a_pass(own_atena) else members
        else:
            # (_is_person means nothing without a registry person; the group's persons are then all False)
            rows_seen = group.maybe_others(own_atena, _is_person(basic[i]))
        return tuple(p for m in rows_seen if (p := peer_of(m)) is not None)

    empty = Context(identities=identities)
    for i in rows:
        record, verdict = records[i], basic[i]
        if i in kept or verdict.outcome is Outcome.INVALID or record.operation == "delete":
            continue
        batch = batch_of.get(i, ())
        links = links_of(i)
        if not batch and not links and verdict.outcome is Outcome.PASS:
            continue  # what check_in_context returns at once
        context = Context(batch, links, identities) if batch or links else empty
        out[i] = check_in_context(record, registry, context, verdict=verdict, subject=subjects.get(i))
    return out


_MY_NUMBER: Final = attrgetter("my_number")
_ATENA_NO: Final = attrgetter("atena_no")
_BATCH_ID: Final = attrgetter("batch_id")
_RECORD_ID: Final = attrgetter("record_id")
_OUTCOME: Final = attrgetter("outcome")
_ISO_DAY: Final = re.compile("[0-9]{4}-[0-9]{2}-[0-9]{2}").fullmatch  # a day as date.isoformat writes it
_BIRTH_DATE: Final = attrgetter("birth_date")
_OPERATION: Final = attrgetter("operation")
_PLAIN_NUMBER: Final = re.compile("[0-9]{12}").fullmatch  # a number written as its 12 ASCII digits, nothing else


def _held_rows(basic: list[Verdict]) -> list[int]:
    """The indexes of the HOLD verdicts (one pass in C: most of 244,246 rows are not).

    >>> _held_rows([Verdict.of([]), Verdict.of([Finding(Reason.DECEASED)]), Verdict.of([Finding(Reason.NOT_LINKED)])])
    [1]
    """
    return list(compress(range(len(basic)), map(is_, map(_OUTCOME, basic), repeat(Outcome.HOLD))))


class RecordIndex(NamedTuple):
    """What the context rules read off every record, whatever the verdicts.

    ``numbers`` holds each row's number as its rows are told by: compacted
    where it is not written as 12 ASCII digits (``6214 9832 0257``, full
    width), as written where it compacts to no number. ``mixed_atena`` holds
    the numbers whose rows carry different ``atena_no`` as written (the
    first row's against each later one), ``superseded`` the rows a later row
    of the same ``(system, record_id)`` replaces (:func:`_superseded_rows`),
    ``batches`` the rows of each batch (:func:`_rows_by_batch`).
    Done in C passes over the rows: the ~10,000 rows of a number written in
    another form are the only ones read one by one.

    >>> r = lambda i, number, atena_no='A': Record('s', str(i), number, '', '', '', atena_no=atena_no, batch_id='B')
    >>> index = RecordIndex.of([r(0, '621498320257'), r(1, '6214 9832 0257', 'B'), r(1, '12')])
    >>> index.numbers, sorted(index.mixed_atena), sorted(index.superseded), index.batches
    (['621498320257', '621498320257', '12'], ['621498320257'], [1], {'B': [range(0, 3)]})
    """

    numbers: list[str]
    mixed_atena: set[str]
    superseded: set[int]
    batches: dict[str, list[range]]

    @classmethod
    def of(cls, records: Sequence[Record]) -> "RecordIndex":
        records = records if isinstance(records, list) else list(records)
        n = len(records)
        numbers = list(map(_MY_NUMBER, records))
        compacted: dict[str, str] = {}  # by the number as written (a number is written one way in most rows)
        for i in {*compress(range(n), map(not_, map(str.isdigit, numbers))),
                  *compress(range(n), map(not_, map(str.isascii, numbers)))}:
            written = numbers[i]
            number = compacted.get(written)
            if number is None:
                number = compacted[written] = compact(written)
            if _PLAIN_NUMBER(number):
                numbers[i] = number
        atenas = list(map(_ATENA_NO, records))
        first_atena: dict[str, str] = {}  # by number: its first row's (setdefault fills it as it goes)
        mixed = set(map(numbers.__getitem__,
                        compress(range(n), map(ne, map(first_atena.setdefault, numbers, atenas), atenas))))
        return cls(numbers, mixed, _superseded_rows(records), _rows_by_batch(records))


def _rows_of_loud_numbers(index: RecordIndex, held_rows: Iterable[int]) -> list[int]:
    """Every row of each number that may be carried by two people, in order.

    A number is *quiet* when none of its rows is held and all of them carry
    one and the same ``atena_no`` as written (or all none): its usable rows
    are then PASS verdicts of its registry person with equal addressee
    numbers, so the shared-number rule finds nobody for any of them.
    Every other number is *loud*. A number's rows are those whose number
    compacts to it (``6214 9832 0257`` and ``621498320257`` alike,
    :class:`RecordIndex`); rows of an invalid number, deletions and unusable
    rows are counted too (a number is at worst loud for nothing).

    >>> r = lambda i, number, atena_no='A': Record('s', str(i), number, '', '', '', atena_no=atena_no)
    >>> records = [r(0, '621498320257'), r(1, '6214 9832 0257'), r(2, '123456789018'), r(3, '123456789018', ''),
    ...            r(4, '111111111118'), r(5, '111111111118'), r(6, '２２２２２２２２２２２２'), r(7, '222222222222', 'B')]
    >>> _rows_of_loud_numbers(RecordIndex.of(records), held_rows=[5])
    [2, 3, 4, 5, 6, 7]
    """
    numbers = index.numbers
    loud = set(index.mixed_atena)
    loud.update(map(numbers.__getitem__, held_rows))
    return list(compress(range(len(numbers)), map(loud.__contains__, numbers)))


def _rows_by_batch(records: list[Record]) -> dict[str, list[range]]:
    """The rows of each batch id, normalised (:func:`batch_key`, in any system), as runs of
    consecutive rows in order; rows without a batch id are left out.

    A batch is keyed in one sitting, so its rows follow one another: the rows
    are cut where the batch id as written changes (a C pass), and only those
    runs are read one by one (some 8,000 in a prefecture's 244,246 records).

    >>> r = lambda system, batch_id: Record(system, '1', '', '', '', '', batch_id=batch_id)
    >>> _rows_by_batch([r('s', ' B-01'), r('s', 'B-01'), r('t', 'B-01'), r('s', 'B-02'), r('s', ''), r('s', 'B-01')])
    {'B-01': [range(0, 1), range(1, 3), range(5, 6)], 'B-02': [range(3, 4)]}
    """
    n = len(records)
    ids = list(map(_BATCH_ID, records))
    starts = [*compress(range(1, n), map(ne, islice(ids, 1, None), ids)), n]
    texts: dict[str, str] = {}  # normalised, by the batch id as written
    batches: dict[str, list[range]] = {}
    start = 0
    for stop in starts if n else ():
        written = ids[start]
        text = texts.get(written)
        if text is None:
            text = texts[written] = normalize.text(written)
        if text:
            runs = batches.get(text)
            if runs is None:
                batches[text] = [range(start, stop)]
            else:  # the batch again, in another form or after other rows
                runs.append(range(start, stop))
        start = stop
    return batches


def _rows_maybe_born_on(rows: list[int], records: list[Record], basic: list[Verdict], registry: RegistryView,
                        dates: set[dt.date]) -> list[int]:
    """Those of ``rows`` whose record may be born on one of ``dates``: all but a PASS (no
    deletion) born another day. A PASS agrees with its number's registry person on the
    birth date, so that day is the one the record writes, read as written where it is an
    ISO day (most records), else the registry person's, for a number written plainly.
    In C passes (the batches of the held records hold some 50,000 records).

    >>> a = Resident('621498320257', '山田 花子', dt.date(1980, 4, 1), 2, '高知市')
    >>> r = lambda number, operation='update', born='': Record('s', '1', number, '', born, '', operation=operation)
    >>> records = [r(a.my_number), r('6214 9832 0257'), r(a.my_number, 'delete'), r('123456789018'),
    ...            r('123456789018', born='1990-01-01'), r('123456789018', born='1980-04-01')]
    >>> passed = Verdict.of([])
    >>> _rows_maybe_born_on([0, 1, 2, 3, 4, 5], records, [passed] * 6, {a.my_number: a}, {dt.date(1990, 1, 1)})
    [1, 2, 3, 4]
    >>> _rows_maybe_born_on([0, 1, 2, 3, 4, 5], records, [passed] * 6, {a.my_number: a}, {dt.date(1980, 4, 1)})
    [0, 1, 2, 3, 5]
    """
    chosen = list(map(records.__getitem__, rows))
    passed = list(map(and_, map(is_, map(_OUTCOME, map(basic.__getitem__, rows)), repeat(Outcome.PASS)),
                      map(ne, map(_OPERATION, chosen), repeat("delete"))))
    written = list(map(_BIRTH_DATE, chosen))
    iso = list(map(truth, map(_ISO_DAY, written)))
    days = {day.isoformat() for day in dates}
    settled = list(map(and_, map(and_, passed, iso), map(not_, map(days.__contains__, written))))
    for k in compress(range(len(rows)), map(and_, passed, map(not_, iso))):  # another form: the person's day
        number = chosen[k].my_number
        person = registry.get(number) if _PLAIN_NUMBER(number) else None
        settled[k] = person is not None and person.birth_date not in dates
    return list(compress(rows, map(not_, settled)))


def _superseded_rows(records: list[Record]) -> set[int]:
    """The rows a later row of the same ``(system, record_id)`` replaces (the newest event wins).

    >>> r = lambda system, record_id: Record(system, record_id, '', '', '', '')
    >>> sorted(_superseded_rows([r('s', '1'), r('t', '1'), r('s', '1'), r('s', '2')]))
    [0]
    """
    if len(set(map(_RECORD_ID, records))) == len(records):
        return set()  # no record_id repeats, in any system (the common case)
    ids = list(map(_RECORD_ID, records))
    last_of_id = dict(zip(ids, range(len(ids))))
    repeated = {ids[j] for j in compress(range(len(ids)), map(ne, map(last_of_id.__getitem__, ids), range(len(ids))))}
    rows = list(compress(range(len(ids)), map(repeated.__contains__, ids)))
    last = {(records[j].system, records[j].record_id): j for j in rows}
    return {j for j in rows if last[(records[j].system, records[j].record_id)] != j}


def _is_person(verdict: Verdict) -> bool:
    """For a usable record whose valid number is in the registry: whether it describes the
    number's registry person (:func:`guards.check.matches_person`), read off its basic
    verdict: :func:`guards.check.check` compares exactly that person, and says
    ``IDENTITY_MISMATCH`` precisely when name, birth date or sex do not match.
    """
    return all(f.reason is not Reason.IDENTITY_MISMATCH for f in verdict.findings)


def _is_holder(verdict: Verdict) -> bool:
    """Like :func:`_is_person`: whether the record agrees with the number's registry person in
    full (:func:`_holder`: identity and address), read off its basic verdict; ``check`` holds
    for no other finding of :func:`guards.check.identity_problems` than these two.
    """
    return all(f.reason is not Reason.IDENTITY_MISMATCH and f.reason is not Reason.ADDRESS_MISMATCH
               for f in verdict.findings)


@dataclass(frozen=True, slots=True)
class _NumberGroup:
    """The records of one number (the last row of each key) as the shared-number rule sees
    them, read off their basic verdicts: no record is read."""

    rows: tuple[int, ...]
    atenas: tuple[str, ...]  # each one's addressee number (:func:`atena`, ``''`` without)
    persons: tuple[bool, ...]  # each is the number's registry person (:func:`_is_person`; False without one)
    holders: tuple[bool, ...]  # each agrees with that person in full (:func:`_is_holder`; False without one)

    @classmethod
    def of(cls, rows: Sequence[int], records: Sequence[Record], verdicts: Sequence[Verdict],
           resident: Resident | None) -> "_NumberGroup":
        known = resident is not None
        # a PASS is the number's person and agrees with them in full, without reading its findings
        passed = [verdicts[i].outcome is Outcome.PASS for i in rows]
        return cls(tuple(rows), tuple(atena(records[i].atena_no) for i in rows),
                   tuple(known and (ok or _is_person(verdicts[i])) for i, ok in zip(rows, passed)),
                   tuple(known and (ok or _is_holder(verdicts[i])) for i, ok in zip(rows, passed)))

    def keeps_a_pass(self, own_atena: str) -> bool:
        """Whether a PASS of the number keeps its verdict: no other holder carries another addressee number.

        A PASS is a holder itself, so ``SHARED_NUMBER`` holds it only for a
        differing record that is a holder too; and a holder differs from it
        (:func:`_same_person`) only by an addressee number, both present.

        >>> group = _NumberGroup((1, 2, 3), ('7', '', '8'), (True, True, False), (True, True, False))
        >>> group.keeps_a_pass('7'), group.keeps_a_pass(''), group.keeps_a_pass('9')
        (True, True, False)
        """
        return not own_atena or all(not holder or not other or other == own_atena
                                    for other, holder in zip(self.atenas, self.holders))

    def passes_kept(self, verdicts: Sequence[Verdict]) -> list[int]:
        """The group's PASS rows that keep their verdict (:meth:`keeps_a_pass`): a PASS is a holder
        itself, so all of them when the holders carry at most one addressee number, else those
        that carry none.

        >>> passed, held = Verdict.of([]), Verdict.of([Finding(Reason.ADDRESS_MISMATCH)])
        >>> _NumberGroup((0, 1, 2), ('7', '', '8'), (True,) * 3, (True, True, False)).passes_kept([passed] * 2 + [held])
        [0, 1]
        >>> _NumberGroup((0, 1, 2), ('7', '', '8'), (True,) * 3, (True,) * 3).passes_kept([passed] * 3)
        [1]
        """
        several = len({other for other, holder in zip(self.atenas, self.holders) if holder and other}) > 1
        return [row for row, own in zip(self.rows, self.atenas)
                if verdicts[row].outcome is Outcome.PASS and not (several and own)]

    def maybe_others(self, own_atena: str, own_is_person: bool) -> list[int]:
        """The rows :func:`_same_person` may tell from a record of the number, the record's own
        included if it is one of them; the others are the same person by its first two tests
        (equal addressee numbers, both present; else both the registry person).

        >>> group = _NumberGroup((1, 2, 3), ('7', '', '8'), (True, True, False), (True, True, False))
        >>> group.maybe_others('7', True), group.maybe_others('', True), group.maybe_others('7', False)
        ([3], [3], [2, 3])
        """
        return [row for row, other, person in zip(self.rows, self.atenas, self.persons)
                if not ((other == own_atena) if own_atena and other else (own_is_person and person))]


def _row_link_key(record: Record, verdict: Verdict) -> str | None:
    """The row's :func:`link_key`, read off its basic verdict: a usable row (not INVALID)
    has a 12-digit number, valid unless the check found ``CHECK_DIGIT``.

    >>> _row_link_key(Record('s', '1', '6214 9832 0257', '', '', ''), Verdict.of([]))
    '621498320257'
    >>> _row_link_key(Record('s', '1', '621498320258', '', '', ''), Verdict.of([Finding(Reason.CHECK_DIGIT)])) is None
    True
    """
    if (record.operation == "delete" or verdict.outcome is Outcome.INVALID
            or any(f.reason is Reason.CHECK_DIGIT for f in verdict.findings)):
        return None
    return compact(record.my_number)


def _row_batch_key(record: Record, verdict: Verdict, cache: dict) -> tuple[str, str] | None:
    """The row's :func:`batch_key`; ``None`` also for a deletion and for a row INVALID for
    more than its number (a row INVALID only for its number is still in its batch).
    ``cache`` keeps them by ``(system, batch_id)`` as written (a batch id repeats in every record of its batch).

    >>> _row_batch_key(Record('s', '1', '', '', '', '', batch_id=' B'), Verdict.of([Finding(Reason.NOT_LINKED)]), {})
    ('s', 'B')
    >>> _row_batch_key(Record('s', '1', '', '', '', '', batch_id='B'), Verdict.of([Finding(Reason.BAD_DATE)]), {})
    """
    if record.operation == "delete" or (verdict.outcome is Outcome.INVALID
                                        and not all(f.reason in _NUMBER_ONLY for f in verdict.findings)):
        return None
    written = (record.system, record.batch_id)
    found = cache.get(written, cache)
    if found is cache:
        found = cache[written] = batch_key(record)
    return found


def full_contexts(records: Sequence[Record], identities: IdentityLookup = NO_IDENTITIES) -> Iterator[Context]:
    """For each record, the plain context :func:`check_all` stands for: every usable
    record of its batch and of its number (the last row of each ``(system, record_id)``),
    nothing left out. The reference the tests compare :func:`check_all` with, and
    what a stream holds once it has seen the same records.

    >>> records = [Record('s', '1', '621498320257', '山田花子', '1980-04-01', '2', batch_id='B'),
    ...            Record('s', '2', '', '山田太郎', '1975-01-02', '1', batch_id='B'),
    ...            Record('t', '1', '6214-9832-0257', '山田花子', '1980-04-01', '2')]
    >>> [([p.label for p in c.batch], [p.label for p in c.links]) for c in full_contexts(records)]
    [(['s/1', 's/2'], ['s/1', 't/1']), (['s/1', 's/2'], []), ([], ['s/1', 't/1'])]
    """
    records = list(records)
    latest: dict[tuple[str, str], int] = {}
    for i, record in enumerate(records):
        latest[(record.system, record.record_id)] = i
    by_batch: dict[tuple[str, str], list[Peer]] = defaultdict(list)
    by_number: dict[str, list[Peer]] = defaultdict(list)
    for i in sorted(latest.values()):
        peer = Peer.of(records[i])
        if peer is None:
            continue
        if (bkey := batch_key(records[i])) is not None:
            by_batch[bkey].append(peer)
        if (lkey := link_key(records[i])) is not None:
            by_number[lkey].append(peer)
    for record in records:
        bkey, lkey = batch_key(record), link_key(record)
        yield Context(tuple(by_batch[bkey]) if bkey in by_batch else (),
                      tuple(by_number[lkey]) if lkey in by_number else (), identities)
