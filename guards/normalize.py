"""Normalisation of the values a record and the registry are compared on.

Everything here is pure and deterministic. Names and addresses are put in
the forms of :mod:`guards.japanese` (kanji variants, kana, alphabet names,
address numbers); the character-by-character name comparison itself is
:func:`guards.japanese.compare_names`.

Dates arrive in every form a municipal file uses:

>>> parse_date('1980-04-01'), parse_date('1980/4/1'), parse_date('19800401')
(datetime.date(1980, 4, 1), datetime.date(1980, 4, 1), datetime.date(1980, 4, 1))
>>> parse_date('昭和55年4月1日'), parse_date('S55.4.1'), parse_date('Ｓ５５．４．１')
(datetime.date(1980, 4, 1), datetime.date(1980, 4, 1), datetime.date(1980, 4, 1))
>>> parse_date('令和元年5月1日'), parse_date('R1.5.1'), parse_date('平成元年1月8日')
(datetime.date(2019, 5, 1), datetime.date(2019, 5, 1), datetime.date(1989, 1, 8))
>>> parse_date('昭和64年1月7日')
datetime.date(1989, 1, 7)

Full-width digits inside an era date, two-digit era years, the one-kanji era
abbreviations, a Gregorian date with 年月日, stray spaces and invisible characters:

>>> parse_date('昭和５５年０４月０１日'), parse_date('平成０１年０１月０８日'), parse_date('昭55.4.1')
(datetime.date(1980, 4, 1), datetime.date(1989, 1, 8), datetime.date(1980, 4, 1))
>>> parse_date('１９８０年４月１日'), parse_date(' 1980年 4月 1日生 '), parse_date('\u200b1980-04-01\ufeff')
(datetime.date(1980, 4, 1), datetime.date(1980, 4, 1), datetime.date(1980, 4, 1))
>>> parse_date('令和元年５月１日'), parse_date('R01.05.01'), parse_date('H.1.1.8')
(datetime.date(2019, 5, 1), datetime.date(2019, 5, 1), datetime.date(1989, 1, 8))

Forms exported by databases, spreadsheets and older municipal systems: a time of
day after the date (also a compact ``YYYYMMDDhhmmss``), a weekday, 生まれ, the era code (1 明治 … 5 令和) or letter
before a compact YYMMDD (``3550401``, ``S550401``), kanji numerals (as paper
forms and the 戸籍 write them):

>>> parse_date('1980/04/01 0:00:00'), parse_date('1980-04-01T00:00:00'), parse_date('1980/4/1(火)')
(datetime.date(1980, 4, 1), datetime.date(1980, 4, 1), datetime.date(1980, 4, 1))
>>> parse_date('1980/04/01 午前 0:00:00'), parse_date('1980/4/1 12:00 AM'), parse_date('昭和55年4月1日（火曜日）')
(datetime.date(1980, 4, 1), datetime.date(1980, 4, 1), datetime.date(1980, 4, 1))
>>> parse_date('19800401000000'), parse_date('19800401235959')
(datetime.date(1980, 4, 1), datetime.date(1980, 4, 1))
>>> parse_date('3550401'), parse_date('S550401'), parse_date('4010108'), parse_date('1980年4月1日生まれ')
(datetime.date(1980, 4, 1), datetime.date(1980, 4, 1), datetime.date(1989, 1, 8), datetime.date(1980, 4, 1))
>>> parse_date('昭和五十五年四月一日'), parse_date('平成元年一月八日'), parse_date('昭和五拾五年四月壱日')
(datetime.date(1980, 4, 1), datetime.date(1989, 1, 8), datetime.date(1980, 4, 1))

平成 went on being written after 令和 began (forms and systems not yet changed):

>>> parse_date('平成31年5月1日'), parse_date('H32.2.3')
(datetime.date(2019, 5, 1), datetime.date(2020, 2, 3))
>>> parse_date('昭和64年1月8日')
Traceback (most recent call last):
...
guards.exceptions.InvalidDate: date: 昭和64年1月8日 is not a date of the 昭和 era (it ended on 1989-01-07)
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from functools import lru_cache
from typing import Final, NamedTuple

from guards import japanese
from guards.exceptions import InvalidDate, InvalidSex
from guards.masking import redact

__all__ = [
    "text",
    "name",
    "address",
    "parse_date",
    "parse_sex",
    "split_list",
    "ERAS",
    "ERA_BY_NAME",
]


class Era(NamedTuple):
    kanji: str
    letter: str
    first_day: dt.date
    last_day: dt.date | None  # None: the current era
    # still written after its last day: forms and systems not yet changed for 令和 wrote
    # 平成31年5月1日 and 平成32年 (the government let printed forms stand), so such a date is
    # the calendar day it counts to
    written_on: bool = False


# Era boundaries as the Cabinet Office gives them (明治 from its Gregorian start).
ERAS: Final[tuple[Era, ...]] = (
    Era("明治", "M", dt.date(1868, 1, 25), dt.date(1912, 7, 29)),
    Era("大正", "T", dt.date(1912, 7, 30), dt.date(1926, 12, 24)),
    Era("昭和", "S", dt.date(1926, 12, 25), dt.date(1989, 1, 7)),
    Era("平成", "H", dt.date(1989, 1, 8), dt.date(2019, 4, 30), written_on=True),
    Era("令和", "R", dt.date(2019, 5, 1), None),
)
#: an era by its kanji name or its letter (昭和 and S alike)
ERA_BY_NAME: Final = {e.kanji: e for e in ERAS} | {e.letter: e for e in ERAS}

_SPACES: Final = re.compile(r"\s+")
_GREGORIAN: Final = re.compile(r"^(\d{4})(?:[-/.年](\d{1,2})[-/.月](\d{1,2})日?生?|(\d{2})(\d{2}))$")
_JAPANESE: Final = re.compile(
    r"^(明治|大正|昭和|平成|令和|[明大昭平令MTSHR])\.?\s*(元|\d{1,2})[-/.年](\d{1,2})[-/.月](\d{1,2})日?生?$"
)
_ERA_ABBREVIATIONS: Final = {"明": "明治", "大": "大正", "昭": "昭和", "平": "平成", "令": "令和"}
_ERA_CODES: Final = {"1": "M", "2": "T", "3": "S", "4": "H", "5": "R"}  # the registry's era code digit
# what surrounds a date in an export: a time of day, a weekday, 生まれ
_TIME_OF_DAY: Final = re.compile(r"(?:[T ]|(?<=日))(?:(?:午前|午後|AM|PM) ?)?\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?"
                                 r"(?: ?(?:AM|PM))?(?:Z|[+-]\d{2}:?\d{2})?$")
_DATE_TRIMMINGS: Final = re.compile(r"(?:\((?:[月火水木金土日](?:曜日?)?|[A-Z]{3})\)|生まれ|生)$")
_COMPACT_TIMESTAMP: Final = re.compile(r"^\d{8}(?:[01]\d|2[0-3])[0-5]\d[0-5]\d$")  # never 12 digits: a My Number
_ERA_COMPACT: Final = re.compile(r"^([1-5]|[MTSHR])(\d{2})(\d{2})(\d{2})$")
_KANJI_DATE_NUMBER: Final = re.compile("[〇一二三四五六七八九十拾壱弐参]+")


def text(value: str | None) -> str:
    """NFKC, trimmed, inner runs of spaces collapsed to one ASCII space.

    >>> text('　山田　　太郎 ')
    '山田 太郎'
    >>> text(None)
    ''
    """
    if not value:
        return ""
    if value.isascii() and value.isprintable():
        # (batch ids, codes, ISO dates) NFKC keeps it and its only space is " ": no regex pass
        return " ".join(value.split()) if " " in value else value
    return _SPACES.sub(" ", japanese.clean(value)).strip()


def name(value: str | None) -> str:
    """A personal name in the form look-ups index it by (words separated by one space).

    :func:`guards.japanese.name_text` (NFKC, upper case, katakana, large kana;
    the words in their own order, so the family name of a Japanese name is
    the first) with variant characters folded
    (:func:`guards.japanese.fold_variants`), so 齋藤 and 斎藤 give one form.
    Without its spaces it keys an index: equal forms always match in
    :func:`guards.check.matches_person`. An index that should also find an
    alphabet name in another word order keys by
    :func:`guards.japanese.name_index_key` instead.

    >>> name('Smith　John'), name('ｽﾐｽ ｼﾞｮﾝ'), name('齋藤　花子'), name('髙橋 優斗')
    ('SMITH JOHN', 'スミス ジヨン', '斎藤 花子', '高橋 優斗')
    """
    return japanese.fold_variants(japanese.name_text(value))


def address(value: str | None) -> str:
    """An address as compared: :func:`guards.japanese.address_key`.

    >>> address('高知市 丸ノ内１－２－２０'), address('高知県高知市丸ノ内一丁目2番20号')
    ('高知市丸の内1-2-20', '高知市丸の内1-2-20')
    """
    return japanese.address_key(value)


@lru_cache(maxsize=32_768)  # a stream reads each birth date in the few notations systems write it
def parse_date(value: str | None, field: str = "date") -> dt.date:
    """Read a date in ISO, slashed, compact or Japanese-era form.

    Raises :class:`InvalidDate` naming ``field`` and what was expected (not cached:
    an unreadable value is read again each time).

    >>> parse_date('')
    Traceback (most recent call last):
    ...
    guards.exceptions.InvalidDate: date: empty; expected a date such as 1980-04-01 or 昭和55年4月1日
    >>> parse_date('2023-02-30', 'birth_date')
    Traceback (most recent call last):
    ...
    guards.exceptions.InvalidDate: birth_date: 2023-02-30 is not a calendar date
    """
    raw = text(value).replace(" ", "")
    if not raw:
        raise InvalidDate(field, "empty; expected a date such as 1980-04-01 or 昭和55年4月1日")
    date = _read_date(field, raw)
    if date is None:
        loose = _loose_date(text(value))
        if loose and loose != raw:
            date = _read_date(field, loose)
    if date is None:
        raise InvalidDate(
            field,
            f"{_shown(raw)!r} is not a date; expected 1980-04-01, 1980/4/1, 19800401, 昭和55年4月1日 or S55.4.1",
        )
    return date


def _shown(raw: str) -> str:
    """A value an error message quotes, with any number in it redacted: a My Number keyed into the
    date or sex column must not reach a log through the message.

    >>> _shown('621498320257'), _shown('昭和64年1月8日')
    ('<12 digits>', '昭和64年1月8日')
    """
    return redact(raw)


def _loose_date(value: str) -> str | None:
    """A date written with what surrounds it in an export, or in an older form, rewritten in a
    form :func:`_read_date` reads: without a time of day, a weekday or 生まれ; an era code or
    letter before a compact YYMMDD written as ``S55.04.01``; kanji numerals as digits.
    ``None`` if nothing applies."""
    value = _TIME_OF_DAY.sub("", value.upper()).replace(" ", "")
    value = _DATE_TRIMMINGS.sub("", value)
    if _COMPACT_TIMESTAMP.match(value):  # 19800401000000: a database's YYYYMMDDhhmmss
        value = value[:8]
    compact = _ERA_COMPACT.match(value)
    if compact:
        era, year, month, day = compact.groups()
        return f"{_ERA_CODES.get(era, era)}{year}.{month}.{day}"
    if _KANJI_DATE_NUMBER.search(value):
        value = _KANJI_DATE_NUMBER.sub(lambda m: _kanji_date_number(m.group()), value)
    return value


def _kanji_date_number(run: str) -> str:
    """A kanji numeral of a date in digits (五十五, 五五, 五拾五, 壱); an unreadable run is kept."""
    try:
        return str(japanese.kanji_number(run.replace("拾", "十").translate(_DAIJI)))
    except (ValueError, KeyError):
        return run


_DAIJI: Final = str.maketrans("壱弐参", "一二三")


def _read_date(field: str, raw: str) -> dt.date | None:
    """The date of ``raw`` (normalised, no spaces) if it is in one of the plain forms, else ``None``."""
    match = _GREGORIAN.match(raw)
    if match:
        year, month, day, compact_month, compact_day = match.groups()
        return _make_date(field, raw, int(year), int(month or compact_month), int(day or compact_day))
    match = _JAPANESE.match(raw.upper() if raw[0].isascii() else raw)
    if match:
        era_name, era_year, month, day = match.groups()
        era = ERA_BY_NAME[_ERA_ABBREVIATIONS.get(era_name, era_name)]
        year_in_era = 1 if era_year == "元" else int(era_year)
        if year_in_era < 1:
            raise InvalidDate(field, f"{_shown(raw)}: era years start at 1 (元年)")
        date = _make_date(field, raw, era.first_day.year + year_in_era - 1, int(month), int(day))
        if date < era.first_day or (era.last_day is not None and date > era.last_day
                                    and not era.written_on):
            span = f"it began on {era.first_day.isoformat()}"
            if era.last_day is not None and date > era.last_day:
                span = f"it ended on {era.last_day.isoformat()}"
            raise InvalidDate(field, f"{_shown(raw)} is not a date of the {era.kanji} era ({span})")
        return date
    return None


def _make_date(field: str, raw: str, year: int, month: int, day: int) -> dt.date:
    try:
        return dt.date(year, month, day)
    except ValueError:
        raise InvalidDate(field, f"{_shown(raw)} is not a calendar date") from None


_SEX_PARTS: Final = re.compile(r"[\s:：()（）/・,-]+")
_SEX: Final = {"1": 1, "男": 1, "M": 1, "MALE": 1, "男性": 1, "2": 2, "女": 2, "F": 2, "FEMALE": 2, "女性": 2}


@lru_cache(maxsize=1024)  # a handful of notations (1, 男, M, 女性, 1:男 …) written again and again
def parse_sex(value: str | None, field: str = "sex") -> int:
    """Sex as the registry codes it: 1 (男) or 2 (女).

    >>> parse_sex('男'), parse_sex('２'), parse_sex('m'), parse_sex('F'), parse_sex('女性')
    (1, 2, 1, 2, 2)
    >>> parse_sex('1:男'), parse_sex('女(2)'), parse_sex('２ 女性')
    (1, 2, 2)
    >>> parse_sex('1:女')
    Traceback (most recent call last):
    ...
    guards.exceptions.InvalidSex: sex: '1:女' is not a sex code; expected 1/2, 男/女 or M/F
    >>> parse_sex('x')
    Traceback (most recent call last):
    ...
    guards.exceptions.InvalidSex: sex: 'X' is not a sex code; expected 1/2, 男/女 or M/F
    """
    raw = text(value).upper()
    try:
        return _SEX[raw]
    except KeyError:
        # a code with its label, as some exports write it: 1:男, 2 女, 男(1), 1（男性）
        codes = {_SEX.get(part, 0) for part in _SEX_PARTS.split(raw) if part}
        if len(codes) == 1 and 0 not in codes and len(_SEX_PARTS.split(raw)) > 1:
            return codes.pop()
        if not raw:
            raise InvalidSex(field, "empty; expected 1/2, 男/女 or M/F") from None
        raise InvalidSex(field, f"{_shown(raw)!r} is not a sex code; expected 1/2, 男/女 or M/F") from None


def split_list(value: str | None) -> tuple[str, ...]:
    """Split a ``|``-separated history column, dropping empty items.

    >>> split_list('山田花子| 佐藤花子 |')
    ('山田花子', '佐藤花子')
    >>> split_list(None)
    ()
    """
    if not value:
        return ()
    return tuple(item for item in (text(part) for part in value.split("|")) if item)
