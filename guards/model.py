"""The values the guard rules work on: frozen, hashable, free of I/O.

A :class:`Record` is a business-system record as it was published (raw
strings, exactly as keyed in); a :class:`Resident` is a registry entry
(already parsed: the registry is our own, validated at load); a
:class:`Verdict` is what the rules say about one record.
"""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import MISSING, dataclass, field, fields
from typing import TYPE_CHECKING, Callable, Iterable, Mapping, Sequence, TypeVar

if TYPE_CHECKING:
    from _typeshed import DataclassInstance


class Outcome(str, enum.Enum):
    """What happens to a record: sent on, held for a reviewer, or refused."""

    PASS = "PASS"
    HOLD = "HOLD"
    INVALID = "INVALID"


class Severity(enum.IntEnum):
    INFO = 0  # a PASS may carry it
    HOLD = 1  # a reviewer must look
    INVALID = 2  # the row itself is unusable


class Reason(str, enum.Enum):
    """Reason codes. Each has a severity, an English and a Japanese label."""

    # the row itself is unusable (INVALID)
    MISSING_FIELD = "MISSING_FIELD"
    BAD_DATE = "BAD_DATE"
    BAD_SEX = "BAD_SEX"
    NUMBER_FORMAT = "NUMBER_FORMAT"
    NOT_LINKED = "NOT_LINKED"
    UNDECODABLE = "UNDECODABLE"
    UNKNOWN_SYSTEM = "UNKNOWN_SYSTEM"
    TOO_LARGE = "TOO_LARGE"
    FIELD_TOO_LONG = "FIELD_TOO_LONG"
    BAD_IDENTIFIER = "BAD_IDENTIFIER"
    # a linkage error is suspected (HOLD)
    CHECK_DIGIT = "CHECK_DIGIT"
    NOT_IN_REGISTRY = "NOT_IN_REGISTRY"
    NUMBER_SUPERSEDED = "NUMBER_SUPERSEDED"
    IDENTITY_MISMATCH = "IDENTITY_MISMATCH"
    ADDRESS_MISMATCH = "ADDRESS_MISMATCH"
    DECEASED = "DECEASED"
    ERASED = "ERASED"
    FAMILY_NUMBER = "FAMILY_NUMBER"
    BATCH_SWAP = "BATCH_SWAP"
    SHARED_NUMBER = "SHARED_NUMBER"
    #: the whole process's linkage is stopped (連携停止) by the headquarters: everything is held
    LINKAGE_STOPPED = "LINKAGE_STOPPED"
    # informational (a PASS may carry these)
    FORMER_NAME = "FORMER_NAME"
    FORMER_ADDRESS = "FORMER_ADDRESS"
    ALIAS_NAME = "ALIAS_NAME"
    MOVED_OUT = "MOVED_OUT"
    VARIANT_CHARACTERS = "VARIANT_CHARACTERS"

    @property
    def severity(self) -> Severity:
        return _SEVERITY[self]

    @property
    def label_ja(self) -> str:
        return _LABELS[self][0]

    @property
    def label_en(self) -> str:
        return _LABELS[self][1]


_SEVERITY: dict[Reason, Severity] = {
    **{r: Severity.INVALID for r in (
        Reason.MISSING_FIELD, Reason.BAD_DATE, Reason.BAD_SEX,
        Reason.NUMBER_FORMAT, Reason.NOT_LINKED, Reason.UNDECODABLE, Reason.UNKNOWN_SYSTEM,
        Reason.TOO_LARGE, Reason.FIELD_TOO_LONG, Reason.BAD_IDENTIFIER,
    )},
    **{r: Severity.HOLD for r in (
        Reason.CHECK_DIGIT, Reason.NOT_IN_REGISTRY, Reason.NUMBER_SUPERSEDED,
        Reason.IDENTITY_MISMATCH, Reason.ADDRESS_MISMATCH, Reason.DECEASED, Reason.ERASED,
        Reason.FAMILY_NUMBER, Reason.BATCH_SWAP, Reason.SHARED_NUMBER, Reason.LINKAGE_STOPPED,
    )},
    **{r: Severity.INFO for r in (
        Reason.FORMER_NAME, Reason.FORMER_ADDRESS, Reason.ALIAS_NAME, Reason.MOVED_OUT,
        Reason.VARIANT_CHARACTERS,
    )},
}

_LABELS: dict[Reason, tuple[str, str]] = {
    Reason.MISSING_FIELD: ("必須項目がありません", "a required field is empty"),
    Reason.BAD_DATE: ("日付が読めません", "a date cannot be read"),
    Reason.BAD_SEX: ("性別が読めません", "sex cannot be read"),
    Reason.NUMBER_FORMAT: ("個人番号が12桁の数字ではありません", "the number is not 12 digits"),
    Reason.NOT_LINKED: ("個人番号が未登録です（紐付けなし）", "no number: the record is not linked"),
    Reason.UNDECODABLE: ("イベントを解読できません", "the event cannot be decoded"),
    Reason.UNKNOWN_SYSTEM: ("事務コードが事務一覧にありません", "the process code is not in the process catalogue"),
    Reason.TOO_LARGE: ("イベントが大きすぎます", "the event is larger than the guard accepts"),
    Reason.FIELD_TOO_LONG: ("項目が長すぎます", "a field is longer than any real value"),
    Reason.BAD_IDENTIFIER: ("キー項目に不可視文字があります", "a key or identifier holds an invisible character"),
    Reason.CHECK_DIGIT: ("チェックデジットが一致しません", "the check digit is wrong"),
    Reason.NOT_IN_REGISTRY: ("住民基本台帳にない番号です", "the number is not in the registry"),
    Reason.NUMBER_SUPERSEDED: ("変更前の個人番号です", "a former number of the resident"),
    Reason.IDENTITY_MISMATCH: ("本人情報（4情報）が一致しません", "name, birth date or sex disagree"),
    Reason.ADDRESS_MISMATCH: ("住所が一致しません", "the address disagrees"),
    Reason.DECEASED: ("死亡した住民の番号です", "the resident has died"),
    Reason.ERASED: ("消除された住民の番号です", "the resident's entry was erased"),
    Reason.FAMILY_NUMBER: ("同一世帯の別人の番号です", "the number of another member of the household"),
    Reason.BATCH_SWAP: ("同じ入力バッチの別の申請者の番号です", "the number of another record's subject in the same input batch"),
    Reason.SHARED_NUMBER: ("同じ番号が別人に紐付いています", "the number is already linked to a different person"),
    Reason.LINKAGE_STOPPED: ("事務の連携が停止中です", "the process's linkage is stopped (連携停止)"),
    Reason.FORMER_NAME: ("旧氏名で一致", "matched through a former name"),
    Reason.FORMER_ADDRESS: ("旧住所で一致", "matched through a former address"),
    Reason.ALIAS_NAME: ("通称で一致", "matched through the registered alias"),
    Reason.MOVED_OUT: ("転出済みの住民です", "the resident has moved out"),
    Reason.VARIANT_CHARACTERS: ("異体字の違いで一致", "matched through variant characters (異体字)"),
}


@dataclass(frozen=True, slots=True)
class Finding:
    """One reason code with what it concerns (field names, another record id).

    ``detail`` never holds a My Number.
    """

    reason: Reason
    detail: str = ""

    def __str__(self) -> str:
        return f"{self.reason.value}({self.detail})" if self.detail else self.reason.value


@dataclass(frozen=True, slots=True)
class Record:
    """A business-system record as published: every field a raw string."""

    system: str
    record_id: str
    my_number: str
    name: str
    birth_date: str
    sex: str
    address: str = ""
    name_kana: str = ""
    atena_no: str = ""
    number_source: str = ""
    entered_by: str = ""
    batch_id: str = ""
    operation: str = "update"
    payload: Mapping[str, str] = field(default_factory=dict, hash=False, compare=False)


@dataclass(frozen=True, slots=True)
class Resident:
    """A resident-registry entry (current state plus its history)."""

    my_number: str
    name: str
    birth_date: dt.date
    sex: int
    address: str
    name_kana: str = ""
    alias_name: str = ""
    resident_code: str = ""
    status: str = "住民"
    status_date: dt.date | None = None
    previous_names: tuple[str, ...] = ()
    previous_addresses: tuple[str, ...] = ()
    previous_my_numbers: tuple[str, ...] = ()


class FieldMatch(str, enum.Enum):
    """How one field of a record compared with the registry (one row of an explanation)."""

    EXACT = "exact"  # written the same
    NORMALISED = "normalised"  # equal once written one way (width, spaces, kana, era, 番地 …)
    VARIANT = "variant"  # equal through variant characters (異体字) or a variant reading
    PLACEHOLDER = "placeholder"  # a placeholder (〓, ●, ?, 外字) stands for a character
    FORMER = "former"  # equal to a former name (旧氏) or a former address
    ALIAS = "alias"  # equal to the registered alias (通称)
    MISMATCH = "mismatch"  # different
    ABSENT = "absent"  # the record leaves the field empty

    @property
    def label_ja(self) -> str:
        return _FIELD_MATCH_LABELS[self][0]

    @property
    def label_en(self) -> str:
        return _FIELD_MATCH_LABELS[self][1]


_FIELD_MATCH_LABELS: dict[FieldMatch, tuple[str, str]] = {
    FieldMatch.EXACT: ("完全一致", "exact"),
    FieldMatch.NORMALISED: ("表記ゆれで一致", "equal after normalisation"),
    FieldMatch.VARIANT: ("異体字・読みの違いで一致", "variant characters"),
    FieldMatch.PLACEHOLDER: ("外字の代替文字で一致", "placeholder for an unstorable character"),
    FieldMatch.FORMER: ("旧氏・旧住所で一致", "former name or address"),
    FieldMatch.ALIAS: ("通称で一致", "registered alias"),
    FieldMatch.MISMATCH: ("不一致", "mismatch"),
    FieldMatch.ABSENT: ("記載なし", "not in the record"),
}

#: the fields an explanation covers, in the order screens show them
EXPLAINED_FIELDS = ("name", "name_kana", "birth_date", "sex", "address")


@dataclass(frozen=True, slots=True)
class FieldExplanation:
    """How one field matched: ``detail`` says which characters or which rule
    (``齋→斎``, ``〓=𠮷``, ``building omitted``). Never holds a My Number."""

    field: str
    match: FieldMatch
    detail: str = ""

    def __str__(self) -> str:
        return f"{self.field}={self.match.value}" + (f"({self.detail})" if self.detail else "")


_OUTCOMES = {Severity.INFO: Outcome.PASS, Severity.HOLD: Outcome.HOLD, Severity.INVALID: Outcome.INVALID}


@dataclass(frozen=True, slots=True)
class Verdict:
    """What the rules say about one record.

    ``explanation`` is the per-field match explanation (:class:`FieldExplanation`)
    against the registry person of the record's number; HOLD verdicts carry it.
    It is derived from the record and that person, so it takes no part in
    comparing two verdicts.
    """

    outcome: Outcome
    findings: tuple[Finding, ...] = ()
    suggested_my_number: str = ""
    explanation: tuple[FieldExplanation, ...] = field(default=(), compare=False, repr=False)

    @property
    def reasons(self) -> tuple[Reason, ...]:
        return tuple(f.reason for f in self.findings)

    @property
    def reason_codes(self) -> str:
        """Codes joined by ``;`` as in verdicts.csv (no details)."""
        return ";".join(dict.fromkeys(r.value for r in self.reasons))

    @classmethod
    def of(cls, findings: tuple[Finding, ...] | list[Finding], suggested_my_number: str = "",
           explanation: tuple[FieldExplanation, ...] = ()) -> "Verdict":
        """The outcome is decided by the most severe finding.

        >>> Verdict.of([]).outcome, Verdict.of([Finding(Reason.FORMER_NAME)]).outcome
        (<Outcome.PASS: 'PASS'>, <Outcome.PASS: 'PASS'>)
        >>> Verdict.of([Finding(Reason.FORMER_NAME), Finding(Reason.DECEASED)]).outcome
        <Outcome.HOLD: 'HOLD'>
        """
        values = (cls.outcome_of(findings), tuple(findings), suggested_my_number, tuple(explanation))
        return _build_verdict(values) if cls is Verdict else cls(*values)

    @staticmethod
    def outcome_of(findings: Iterable[Finding]) -> Outcome:
        """The outcome the most severe finding decides (:meth:`of`).

        >>> Verdict.outcome_of([]), Verdict.outcome_of([Finding(Reason.DECEASED)])
        (<Outcome.PASS: 'PASS'>, <Outcome.HOLD: 'HOLD'>)
        """
        # a loop over the table, not max() of each reason's severity property: a tenth of the time
        severity = Severity.INFO
        for finding in findings:
            reason_severity = _SEVERITY[finding.reason]
            if reason_severity > severity:
                severity = reason_severity
        return _OUTCOMES[severity]


_Frozen = TypeVar("_Frozen", bound="DataclassInstance")


def positional_builder(cls: type[_Frozen]) -> Callable[[Sequence[object]], _Frozen]:
    """A function that builds ``cls`` (a frozen, slotted dataclass) from *every* field's
    value, in field order: ``build(values) == cls(*values)``, at about a third of the
    generated ``__init__``'s price (which sets each field by name through
    ``object.__setattr__``). That counts for the 300,000 residents and 244,246 records a
    prefecture's inspection reads. No defaults and no checks: for readers that have just
    validated every value.

    How: a plain class with the same ``__slots__`` (so the same memory layout) is built
    with ordinary attribute stores, then given ``cls`` as its class, which CPython allows
    between classes of identical slots. The object is then a ``cls`` like any other.

    >>> build = positional_builder(Finding)
    >>> made = build((Reason.FORMER_NAME, 'name'))
    >>> made == Finding(Reason.FORMER_NAME, 'name'), type(made) is Finding, made.detail
    (True, True, 'name')
    >>> made.detail = 'x'
    Traceback (most recent call last):
    ...
    dataclasses.FrozenInstanceError: cannot assign to field 'detail'
    """
    names = [f.name for f in fields(cls)]
    if tuple(names) != tuple(getattr(cls, "__slots__", ())):
        raise TypeError(f"{cls.__name__}: a positional builder needs a slotted dataclass")
    init = (f"def __init__(self, {', '.join(names)}):\n"
            + "".join(f"    self.{name} = {name}\n" for name in names))
    namespace: dict = {}
    exec(init, namespace)  # noqa: S102 — generated from the dataclass's own field names, as dataclasses does
    twin = type(f"_{cls.__name__}Slots", (), {"__slots__": tuple(names), "__init__": namespace["__init__"]})

    def build(values: Sequence[object], _twin=twin, _cls=cls) -> _Frozen:
        made = _twin(*values)
        made.__class__ = _cls
        return made

    build(tuple(f.default if f.default is not MISSING else None for f in fields(cls)))  # the layouts agree
    return build


#: :class:`Resident` and :class:`Record` from all their values (:func:`positional_builder`)
build_resident: Callable[[Sequence[object]], Resident] = positional_builder(Resident)
build_record: Callable[[Sequence[object]], Record] = positional_builder(Record)
#: :class:`Verdict` from all its values, as :meth:`Verdict.of` builds one for many records
_build_verdict: Callable[[Sequence[object]], Verdict] = positional_builder(Verdict)
