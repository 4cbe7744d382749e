"""The national survey of linkage methods (2023), and what it means for each process.

Every process answered how it obtains the numbers it links:

① automatically from the resident registry (住基連携);
② from identity documents (本人確認書類);
③ by a J-LIS look-up (地方公共団体情報システム機構への照会), with the 4 items
  (氏名・生年月日・性別・住所) or with 3 (without sex) or fewer;
④ otherwise (how: written on an application form, keyed by staff …).

The ministries required a full inspection of every record (全件点検) where
numbers were looked up with fewer than 4 items or obtained otherwise (③ with
3 or fewer, ④); where ①, ② or ③ with 4 items is done reliably, likely not.
Pure functions over the answers, in the style of ``guards/``: no I/O.

>>> classify(parse_method('③（3情報）')).requirement
<Requirement.FULL: '全件点検が必要'>
>>> classify(parse_method('住基連携')).requirement
<Requirement.LIKELY_NOT: '全件点検は不要の見込み'>

The records themselves say how each number was obtained (``number_source``);
a process whose records contradict its answer is flagged:

>>> check = check_sources(Method.JUKI, {'住基連携': 90, '申請書': 10})
>>> check.flagged, check.contradicting, check.note
(True, 10, '回答（①住基連携）と異なる取得経路の記録が10件あります（申請書 10件）')
"""

from __future__ import annotations

import enum
import unicodedata
from dataclasses import dataclass
from typing import Mapping
from guards.exceptions import LinkguardError
from guards.masking import redact

__all__ = [
    "Method",
    "Requirement",
    "Classification",
    "SourceCheck",
    "SurveyError",
    "parse_method",
    "classify",
    "check_sources",
    "source_name",
    "SOURCE_NAMES",
]


class SurveyError(LinkguardError, ValueError):
    """A survey answer that cannot be read; the message says what is accepted."""


class Method(str, enum.Enum):
    """How a process obtains the numbers (the survey's answer)."""

    JUKI = "①"  # from the resident registry, automatically
    ID_DOCUMENT = "②"  # from identity documents
    JLIS_4 = "③4"  # J-LIS look-up with the 4 items
    JLIS_3 = "③3"  # J-LIS look-up with 3 items (no sex) or fewer
    OTHER = "④"  # otherwise

    @property
    def label(self) -> str:
        return _LABELS[self]


_LABELS = {
    Method.JUKI: "①住基連携",
    Method.ID_DOCUMENT: "②本人確認書類",
    Method.JLIS_4: "③J-LIS照会（4情報）",
    Method.JLIS_3: "③J-LIS照会（3情報以下）",
    Method.OTHER: "④その他",
}


def _key(text: str) -> str:
    return "".join(unicodedata.normalize("NFKC", text or "").split()).lower().replace("-", "").replace("ー", "")


# what people write for each answer, compared after NFKC, without spaces, hyphens or case
_ALIASES: dict[str, Method] = {}
for _method, _words in {
    Method.JUKI: ("①", "1", "住基連携", "住基", "住民基本台帳", "juki"),
    Method.ID_DOCUMENT: ("②", "2", "本人確認書類", "idDocument"),
    Method.JLIS_4: ("③4", "③(4情報)", "③4情報", "3(4)", "34", "J-LIS照会(4情報)", "J-LIS4情報", "jlis4"),
    Method.JLIS_3: ("③3", "③(3情報)", "③3情報", "③3情報以下", "③(3情報以下)", "3(3)", "33",
                    "J-LIS照会(3情報)", "J-LIS照会(3情報以下)", "J-LIS3情報", "jlis3"),
    Method.OTHER: ("④", "4", "その他", "other"),
}.items():
    for _word in _words:
        _ALIASES[_key(_word)] = _method


def parse_method(text: str) -> Method:
    """The survey answer a catalogue cell holds (numbers, circled numbers or words, either width).

    >>> parse_method('①'), parse_method(' 2 '), parse_method('J-LIS照会（4情報）'), parse_method('③-3')
    (<Method.JUKI: '①'>, <Method.ID_DOCUMENT: '②'>, <Method.JLIS_4: '③4'>, <Method.JLIS_3: '③3'>)
    >>> parse_method('④その他') is Method.OTHER, parse_method('その他') is Method.OTHER
    (True, True)

    A bare ③ does not say how many items were used, so it is refused:

    >>> parse_method('③')
    Traceback (most recent call last):
    ...
    linkguard.hq.survey.SurveyError: survey answer '③' is not one of ① ② ③4 ③3 ④ (③ needs the number of items: ③4 or ③3)
    """
    key = _key(text)
    method = _ALIASES.get(key)
    if method is None and key[:1] in ("1", "2", "4"):  # NFKC made ① into 1: ① followed by words
        method = _ALIASES[key[:1]]
    if method is None:
        hint = " (③ needs the number of items: ③4 or ③3)" if key in ("3", "jlis照会") else ""
        raise SurveyError(f"survey answer {redact(text)!r} is not one of ① ② ③4 ③3 ④{hint}")
    return method


class Requirement(str, enum.Enum):
    """Whether the ministries' rule requires a full inspection of every record."""

    FULL = "全件点検が必要"
    LIKELY_NOT = "全件点検は不要の見込み"
    UNANSWERED = "未回答"


@dataclass(frozen=True, slots=True)
class Classification:
    requirement: Requirement
    why: str

    @property
    def full_inspection(self) -> bool:
        return self.requirement is Requirement.FULL


def classify(method: Method | None, *, reliably: bool = True) -> Classification:
    """The ministries' classification of a process from its survey answer.

    >>> classify(Method.OTHER).why
    '番号を住基連携・本人確認書類・4情報での照会以外の方法で取得しているため'
    >>> classify(Method.JLIS_4).requirement.name, classify(Method.ID_DOCUMENT).requirement.name
    ('LIKELY_NOT', 'LIKELY_NOT')

    ① or ③ with 4 items that is *not* done reliably (the process said so, or
    the headquarters found out) needs the full inspection too:

    >>> classify(Method.JLIS_4, reliably=False).requirement.name
    'FULL'
    >>> classify(None).requirement.name
    'UNANSWERED'
    """
    if method is None:
        return Classification(Requirement.UNANSWERED, "取得方法の回答がありません")
    if method is Method.JLIS_3:
        return Classification(Requirement.FULL, "4情報未満（3情報以下）でJ-LIS照会を行っているため")
    if method is Method.OTHER:
        return Classification(Requirement.FULL, "番号を住基連携・本人確認書類・4情報での照会以外の方法で取得しているため")
    if not reliably:
        return Classification(Requirement.FULL, f"{method.label}が確実に行われていないため")
    return Classification(Requirement.LIKELY_NOT, f"{method.label}で確実に取得しているため")


#: 取得経路 (number_source) as the data contract names them, in the published order
SOURCE_NAMES = ("申請書", "職員入力", "J-LIS照会", "住基連携", "本人確認書類")
UNKNOWN = "不明"
_SOURCE_BY_KEY = {_key(s): s for s in SOURCE_NAMES}

# the sources each answer can produce; 職員入力 (staff keyed the number from something) fits any
# answer but the automatic ①
_CONSISTENT: dict[Method, frozenset[str]] = {
    Method.JUKI: frozenset({"住基連携"}),
    Method.ID_DOCUMENT: frozenset({"本人確認書類", "職員入力"}),
    Method.JLIS_4: frozenset({"J-LIS照会", "職員入力"}),
    Method.JLIS_3: frozenset({"J-LIS照会", "職員入力"}),
    Method.OTHER: frozenset({"申請書", "職員入力"}),
}


def source_name(number_source: str) -> str:
    """The 取得経路 a record's ``number_source`` stands for (不明 if empty or unknown).

    >>> source_name('Ｊ－ＬＩＳ照会'), source_name(' 住基連携'), source_name(''), source_name('電話')
    ('J-LIS照会', '住基連携', '不明', '不明')
    """
    return _SOURCE_BY_KEY.get(_key(number_source), UNKNOWN)


@dataclass(frozen=True, slots=True)
class SourceCheck:
    """How the records of one process say their numbers were obtained, against its answer."""

    method: Method | None
    counts: tuple[tuple[str, int], ...]  # (取得経路, records), published order, 不明 last
    contradicting: int  # records whose source the answer cannot produce
    unknown: int  # records without a (known) source

    @property
    def total(self) -> int:
        return sum(n for _, n in self.counts)

    @property
    def flagged(self) -> bool:
        return self.contradicting > 0

    @property
    def note(self) -> str:
        if self.method is None:
            return "取得方法の回答がありません"
        if not self.flagged:
            return "回答と記録の取得経路は一致しています" if self.total else "記録がありません"
        which = "、".join(f"{s} {n}件" for s, n in self.counts
                         if n and s != UNKNOWN and s not in _CONSISTENT[self.method])
        return f"回答（{self.method.label}）と異なる取得経路の記録が{self.contradicting}件あります（{which}）"


def check_sources(method: Method | None, counts: Mapping[str, int]) -> SourceCheck:
    """Compare the records' ``number_source`` counts with the process's survey answer.

    ``counts`` maps ``number_source`` values as found in the records (any
    spelling) to numbers of records.

    >>> ok = check_sources(Method.OTHER, {'申請書': 3, '職員入力': 2, '': 1})
    >>> ok.flagged, ok.unknown, ok.note
    (False, 1, '回答と記録の取得経路は一致しています')
    >>> check_sources(Method.JLIS_4, {'J-LIS照会': 5, '住基連携': 1}).contradicting
    1
    >>> check_sources(None, {'申請書': 1}).flagged
    False
    """
    merged: dict[str, int] = {s: 0 for s in (*SOURCE_NAMES, UNKNOWN)}
    for source, n in counts.items():
        merged[source_name(source)] += int(n)
    allowed = _CONSISTENT[method] if method is not None else frozenset(SOURCE_NAMES)
    contradicting = sum(n for s, n in merged.items() if s != UNKNOWN and s not in allowed)
    return SourceCheck(method, tuple(merged.items()), contradicting, merged[UNKNOWN])
