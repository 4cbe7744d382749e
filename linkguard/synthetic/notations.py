"""Labelled cases of the notations real municipal systems and the registry write (issue 13).

:mod:`linkguard.synthetic.corpus` builds the registry and the records; this module adds, through a
few hooks, the ways real data writes one person differently on the two sides:

* correct records (``NOTATION_VARIANTS``), each differing from the registry in one
  notation — on the record's side or, for the ``*_registry`` variants, on the
  registry's side (the registry entry is written with the notation, the record
  plainly). A registry-side notation is given only to a resident with no other
  record, living alone, so the label stays the one thing that differs;
* error causes (``NOTATION_CAUSES``) the issue names beside the existing ones: a
  one-digit typo that is another living resident's valid number, a deceased
  resident's number on a living person's record, a *stranger's* former number,
  a twin's number and a parent's number on a child's record;
* ``NOTATION_ERROR_VARIANTS``: notations error records carry too (an error must be
  caught, and the right person suggested, however it is written).

How each notation is written follows what the systems do: MJ-based registry
systems export Ideographic Variation Sequences; a business system that cannot
store a character writes 〓, ●, ■, □, ？, ＿, U+FFFD or a code of its own 外字
area (U+E000–U+F8FF), the intermediate server writes ●; address lines keep or
drop 大字/字, the prefecture and the 郡, write the lot as 2番地20, 2番地の20,
2-20 or 2番20号, numbers in kanji (百二十三番地) or full width, the 方書 with or
without 号室 or as a fourth number; the My Number card writes the 旧氏 in
brackets (山田［佐藤］花子); foreign names come in any order and case, with
or without middle names, with the 通称 in brackets. Conversions and exports add
their own: ?? for one kanji (byte-wise Shift_JIS, UTF-16), a time of day after a
date, the era code before YYMMDD (3550401), a code with its label (1:男), a postal
code before the address; a city's own systems leave the municipality out.

>>> sorted(NOTATION_CAUSES) == sorted(('typo_valid', 'deceased_number', 'former_number_stranger',
...                                    'twin_number', 'parent_number'))
True
>>> kanji_numeral(1234), kanji_numeral(20), kanji_numeral(105), kanji_numeral(7)
('千二百三十四', '二十', '百五', '七')
"""

from __future__ import annotations

import datetime as dt
import random
import re
import unicodedata
from dataclasses import replace
from typing import TYPE_CHECKING, Sequence

from stdnum.jp import in_ as stdnum_in

from guards.model import Resident

if TYPE_CHECKING:  # the corpus imports this module; these are only its types
    from linkguard.synthetic.corpus import _CorpusBuilder, _Draft

__all__ = [
    "NOTATION_VARIANTS", "NOTATION_SHARES", "NOTATION_POOLS", "NOTATION_CAUSES", "NOTATION_ERROR_VARIANTS",
    "apply_notation", "make_error", "placed", "registry_form", "kanji_numeral",
]

NOTATION_VARIANTS: dict[str, str] = {
    "ivs_record": "an Ideographic Variation Sequence (U+E0100–) or a standardized selector (U+FE00–) after a "
                  "kanji of the record's name",
    "ivs_registry": "the registry's name carries a variation selector (MJ export); the record is plain",
    "placeholder_record": "one kanji of the record's name written as a placeholder (〓 ● ■ □ ？ ? ＿ U+FFFD or a 外字 "
                          "code), the kana present (sometimes with a reading variant: ヤマサキ/ヤマザキ, ヨウコ/ヨーコ)",
    "placeholder_registry": "the registry holds the placeholder (its 外字 was never converted); the record the kanji",
    "stray_characters": "leading/trailing spaces of any width, NBSP, zero-width spaces or joiners, a BOM, in "
                        "name, kana or address",
    "kana_reading": "the kana reading written another way: voiced/unvoiced, long vowel, ヴ/ブ, dots and spaces",
    "address_aza": "大字/字 written on one side and not on the other",
    "address_lot_forms": "the lot written 2番地20, 2番地の20, 2の20, 2番20, with ー or − for hyphens",
    "address_kanji_numbers": "every number of the address in kanji, with 十/百/千 (二十三番地, 百五号)",
    "address_building_forms": "the 方書 written differently: without 号室, 号 for 号室, the room as a fourth number, in "
                              "brackets, with ・, the building's name shortened, the room in kanji",
    "address_building_registry": "the registry holds the 方書, the record not (or the reverse)",
    "address_no_ke": "ノ/の and ケ/ヶ/が/ガ written the other way in the place name (丸ノ内/丸の内, 旭ケ丘/旭が丘)",
    "address_gun": "the 郡 (and the prefecture) left out, or written where the registry leaves it out",
    "former_surname_bracket": "the 旧氏 written with the name, as the My Number card does: 山田［佐藤］花子 / 山田（佐藤）花子",
    "former_surname_registry": "the registry writes 山田［佐藤］花子; the record one of the two surnames",
    "former_surname_column": "the registry's 旧氏 column holds the surname alone; the record the former name",
    "foreign_middle_name": "a foreign name with a middle name left out or added, or with a comma",
    "alias_bracket": "a foreign name with its 通称 in brackets (NGUYEN VAN NAM（山田 太郎）), or the registry so",
    "date_notations": "dates as 1980年04月01日, 昭和５５年４月１日, 昭55.4.1, S55/04/01, R01.05.01",
    "placeholder_doubled": "two placeholders for one kanji of the record's name (a byte-wise Shift_JIS or UTF-16 "
                           "conversion: ??田 for 𠮷田), the kana present",
    "former_surname_nospace": "the 旧氏 beside a name written without a space (山田花子（旧姓 佐藤）), or in another "
                              "bracket (【】「」〈〉); on the record's side or the registry's",
    "foreign_initials": "a foreign name's middle name written as its initial (NGUYEN V. NAM), in another order",
    "date_exports": "a date as exports and older systems write it: with a time of day or weekday, 生まれ, the era "
                    "code or letter before YYMMDD (3550401, S550401), kanji numerals (昭和五十五年四月一日)",
    "sex_notations": "sex as 男性/女性, full-width Ｍ/Ｆ, or a code with its label (1:男, 女(2))",
    "address_postal_code": "a postal code written before the address (〒780-0850 高知市…)",
    "address_municipality": "the municipality left out (a city's own system: 上町2-29-46 for 高知市上町…), on the "
                            "record's side or the registry's",
    "address_koaza": "the registry writes a 小字 before the lot (いの町大内字浜1964番地), the record not (or the reverse)",
    "address_placeholder": "one character of the place name written as a placeholder (〓, ●, a 外字 code) or as a run "
                           "of them (??? for a kanji, one per UTF-8 byte)",
    "address_no_separator": "the lot joined with ノ (2ノ29ノ46), the town's の written 之 or ノ",
    "placeholder_run": "a run of placeholders for one or two kanji of the record's name: ??? or ???? per kanji (a "
                       "UTF-8 name read byte by byte), the kana present",
    "address_ward": "a 政令指定都市 address: the registry writes the ward (横浜市中区本町…), the record not (or the "
                    "reverse), or the ward by its old name (浜松市中区… for 浜松市中央区…)",
    "address_kyoto_street": "a Kyoto address: the registry writes the street and direction before the town "
                            "(河原町通三条上る下丸屋町), the record only the town, the direction spelt otherwise or "
                            "the street without 通",
    "notations_together": "several of the record-side notations at once, one per field: a selector or placeholder in "
                          "the name, a reading variant, an exported or era date, sex with its label, an address "
                          "without its municipality, with a postal code, ノ-joined or in kanji numbers",
}

NOTATION_SHARES: dict[str, float] = {
    "ivs_record": 0.006, "ivs_registry": 0.004, "placeholder_record": 0.008, "placeholder_registry": 0.003,
    "stray_characters": 0.01, "kana_reading": 0.006, "address_aza": 0.004, "address_lot_forms": 0.008,
    "address_kanji_numbers": 0.005, "address_building_forms": 0.004, "address_building_registry": 0.002,
    "address_no_ke": 0.005, "address_gun": 0.003, "former_surname_bracket": 0.005,
    "former_surname_registry": 0.003, "former_surname_column": 0.003, "foreign_middle_name": 0.002,
    "alias_bracket": 0.002, "date_notations": 0.008, "placeholder_doubled": 0.003, "former_surname_nospace": 0.004,
    "foreign_initials": 0.002, "date_exports": 0.006, "sex_notations": 0.006, "address_postal_code": 0.004,
    "address_municipality": 0.006, "address_koaza": 0.003, "address_placeholder": 0.003,
    "address_no_separator": 0.004, "notations_together": 0.01, "placeholder_run": 0.003, "address_ward": 0.004,
    "address_kyoto_street": 0.003,
}

#: the corpus's subject pool (an attribute of its ``_Pools``) each variant draws from; else every living resident
NOTATION_POOLS: dict[str, str] = {
    "foreign_middle_name": "foreign", "alias_bracket": "alias", "former_surname_bracket": "former_name",
    "former_surname_registry": "former_name", "former_surname_column": "former_name", "address_aza": "banchi",
    "address_building_forms": "building", "address_building_registry": "living", "address_lot_forms": "living",
    "address_kanji_numbers": "living", "former_surname_nospace": "former_name", "foreign_initials": "foreign",
    "address_koaza": "banchi", "address_ward": "living", "address_kyoto_street": "living",
}

#: error causes and the reason code each must be held with
NOTATION_CAUSES: dict[str, str] = {
    "typo_valid": "IDENTITY_MISMATCH",  # a one-digit typo that is another living resident's valid number
    "deceased_number": "IDENTITY_MISMATCH",  # a deceased resident's number on a living person's record
    "former_number_stranger": "IDENTITY_MISMATCH",  # a former number of a resident who is not the subject
    "twin_number": "FAMILY_NUMBER",  # the twin's number
    "parent_number": "FAMILY_NUMBER",  # a parent's number on a child's record
}

NOTATION_ERROR_VARIANTS: tuple[str, ...] = (
    "ivs_record", "ivs_registry", "placeholder_record", "placeholder_registry", "stray_characters",
    "address_lot_forms", "address_kanji_numbers", "former_surname_bracket", "former_surname_registry",
    "date_notations", "placeholder_doubled", "date_exports", "sex_notations", "address_postal_code",
    "address_municipality", "address_no_separator", "notations_together", "placeholder_run",
)

_PLACEHOLDERS = ("〓", "●", "■", "□", "？", "?", "＿", "\ufffd", "\ue0a1", "\ue7a0")
_INVISIBLE = ("\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u200e", "\u00ad")
_EDGE_SPACES = (" ", "\u3000", "\u00a0", "\u2002")
_KANJI = re.compile(r"[\u3400-\u9fff\U00020000-\U0002ffff]")
_DIGITS = "〇一二三四五六七八九"
_MUNICIPALITY = re.compile(r"^(?P<pref>高知県)?(?P<city>(?:[^市町村郡]+郡)?[^市町村]+?[市町村])(?P<rest>.+)$")
_GUN = re.compile(r"^(?P<pref>高知県)?(?P<gun>[^市町村郡]+郡)(?P<rest>.+)$")
_LOT = re.compile(r"^(?P<head>.*?)(?P<chome>[一二三四五六七八九十]+)丁目(?P<ban>\d+)番(?P<go>\d+)号(?P<tail>.*)$")
_BANCHI_LOT = re.compile(r"^(?P<head>.*?\D)(?P<lot>\d+)番地(?P<tail>.*)$")
_BUILDING = re.compile(r"^(?P<base>.+?(?:号|番地))(?P<space>[ 　]?)(?P<name>(?:ハイツ|コーポ|メゾン|レジデンス)\D+)"
                       r"(?P<room>\d+)号室$")
_VOICED = str.maketrans("カキクケコサシスセソタチツテトハヒフヘホガギグゲゴザジズゼゾダヂヅデドバビブベボ",
                        "ガギグゲゴザジズゼゾダヂヅデドバビブベボカキクケコサシスセソタチツテトハヒフヘホ")
_O_ROW = "オコソトノホモヨロゴゾドボポョ"
_MARKED = frozenset(c for c in map(chr, range(0x30A1, 0x30F7)) if len(unicodedata.normalize("NFD", c)) == 2)
#: place names written with ケ/が (the corpus's towns have none): a resident given one, registry and record
_KE_TOWNS = (("旭ケ丘", ("旭ヶ丘", "旭が丘", "旭ガ丘")), ("霞ケ丘", ("霞ヶ丘", "霞が丘")),
             ("桜ケ丘", ("桜ヶ丘", "桜が丘", "桜ガ丘")), ("月ケ瀬", ("月ヶ瀬", "月が瀬")))


def kanji_numeral(n: int) -> str:
    """1–9999 in kanji with 千/百/十, as addresses write them."""
    out = []
    for value, unit in ((1000, "千"), (100, "百"), (10, "十")):
        count, n = divmod(n, value)
        if count:
            out.append(("" if count == 1 else _DIGITS[count]) + unit)
    if n:
        out.append(_DIGITS[n])
    return "".join(out) or "〇"


def _positional(n: int) -> str:
    """A number written digit by digit in kanji (二〇, 一二三四)."""
    return "".join(_DIGITS[int(d)] for d in str(n))


# ---------------------------------------------------------------------------
# the registry side


def _overrides(builder: "_CorpusBuilder") -> dict[int, tuple["_Draft", dict[str, object]]]:
    """Registry-side notations waiting for their record: applied only if that record was placed."""
    if not hasattr(builder, "registry_overrides"):
        builder.registry_overrides = {}
    return builder.registry_overrides


def registry_form(builder: "_CorpusBuilder", person) -> Resident:
    """The person's registry entry, with the registry-side notation given to them, if any."""
    resident = person.resident()
    pending = _overrides(builder).get(person.index)
    if pending is None or not pending[0].system:  # the record that carried it was never placed
        return resident
    return replace(resident, **pending[1])


def placed(builder: "_CorpusBuilder", unit: list["_Draft"], systems: Sequence[str]) -> None:
    """After a unit is placed: a resident whose registry entry carries a notation gets no other record
    (of any of the corpus's ``systems``), so the notation stays the one thing their record's label names."""
    for draft in unit:
        pending = _overrides(builder).get(draft.subject)
        if pending is not None and pending[0] is draft:
            builder.used[draft.subject] = set(systems)


def _alone(builder: "_CorpusBuilder", subject: int) -> bool:
    """A resident whose registry entry may be written differently: no record yet, living alone,
    no namesake, nobody's relative (an error's number or household check cannot reach them)."""
    person = builder.people[subject]
    return (not builder.used.get(subject) and len(builder.pools.members.get(person.household, ())) == 1
            and subject not in builder.pools.has_namesake and subject not in getattr(builder, "reserved", set()))


def _free(builder: "_CorpusBuilder", subject: int) -> bool:
    """No record yet and no registry-side notation yet."""
    return not builder.used.get(subject) and subject not in getattr(builder, "reserved", set())


def _set_registry(builder: "_CorpusBuilder", draft: "_Draft", **changes) -> None:
    overrides = _overrides(builder)
    earlier = overrides.get(draft.subject)
    merged = {**earlier[1], **changes} if earlier is not None and earlier[0] is draft else dict(changes)
    overrides[draft.subject] = (draft, merged)
    builder.reserved = getattr(builder, "reserved", set()) | {draft.subject}


# ---------------------------------------------------------------------------
# correct records


def apply_notation(builder: "_CorpusBuilder", draft: "_Draft", variant: str) -> str | None:
    """Write ``draft`` with the notation ``variant``; the detail, or ``None`` if it does not apply."""
    return _WRITERS[variant](builder, draft, builder.people[draft.subject], builder.rng)


def _kanji_spots(text: str) -> list[int]:
    return [m.start() for m in _KANJI.finditer(text)]


def _ivs_record(builder, draft, person, rng: random.Random) -> str | None:
    spots = _kanji_spots(draft.name)
    if not spots:
        return None
    spot = rng.choice(spots)
    selector = chr(0xE0100 + rng.randrange(4)) if rng.random() < 0.8 else chr(0xFE00 + rng.randrange(3))
    draft.name = draft.name[:spot + 1] + selector + draft.name[spot + 1:]
    return f"U+{ord(selector):X} after {draft.name[spot]}"


def _ivs_registry(builder, draft, person, rng) -> str | None:
    if not _alone(builder, draft.subject):
        return None
    spots = _kanji_spots(person.name)
    if not spots:
        return None
    spot = rng.choice(spots)
    _set_registry(builder, draft, name=person.name[:spot + 1] + chr(0xE0100 + rng.randrange(3)) + person.name[spot + 1:])
    return f"IVS after {person.name[spot]} in the registry"


def _reading_variant(kana: str, rng: random.Random) -> tuple[str, str]:
    """The kana with one reading variant (voiced/unvoiced, long vowel, ヴ/ブ); ``(kana, '')`` if none applies."""
    options = []
    for i, char in enumerate(kana):
        if char in "カキクケコサシスセソタチツテトハヒフヘホガギグゲゴザジズゼゾダヂヅデドバビブベボ" and i > 0:
            options.append(("voiced", kana[:i] + char.translate(_VOICED) + kana[i + 1:]))
        if char == "ウ" and i > 0 and kana[i - 1] in _O_ROW:
            options.append(("long vowel", kana[:i] + rng.choice("ーオ") + kana[i + 1:]))
        if char == "ヴ":
            options.append(("ヴ/ブ", kana[:i] + "ブ" + kana[i + 1:]))
        if char in _MARKED:  # the (semi-)voiced mark keyed as its own character: ガ as カ゛
            base = unicodedata.normalize("NFD", char)
            options.append(("゛ apart", kana[:i] + base[0] + ("゛" if base[1] == "\u3099" else "゜") + kana[i + 1:]))
        if char in "ジズヂヅ" and i > 0:
            options.append(("ヂ/ジ", kana[:i] + "ジズヂヅ"["ヂヅジズ".index(char)] + kana[i + 1:]))
    if not options:
        return kana, ""
    what, text = rng.choice(options)
    return text, what


def _placeholder_record(builder, draft, person, rng) -> str | None:
    if person.foreign or not draft.name_kana:
        return None
    spots = _kanji_spots(draft.name)
    if len(spots) < 1 or len(draft.name.replace(person.space, "")) < 2:
        return None
    spot = rng.choice(spots)
    placeholder = rng.choice(_PLACEHOLDERS)
    draft.name = draft.name[:spot] + placeholder + draft.name[spot + 1:]
    detail = f"{placeholder!a} for {person.name[spot]}"
    if rng.random() < 0.4:
        draft.name_kana, what = _reading_variant(draft.name_kana, rng)
        detail += f"; kana {what}" if what else ""
    return detail


def _placeholder_registry(builder, draft, person, rng) -> str | None:
    if person.foreign or not _alone(builder, draft.subject) or len(person.name.replace(person.space, "")) < 2:
        return None
    spots = _kanji_spots(person.name)
    if not spots:
        return None
    spot = rng.choice(spots)
    placeholder = rng.choice(("〓", "●", "\ue0a1", "?"))
    _set_registry(builder, draft, name=person.name[:spot] + placeholder + person.name[spot + 1:])
    return f"registry {placeholder!a} for {person.name[spot]}"


def _stray_characters(builder, draft, person, rng) -> str | None:
    field = rng.choice(("name", "name_kana", "address") if draft.address else ("name", "name_kana"))
    value = getattr(draft, field)
    if not value:
        return None
    how = rng.choice(("edges", "inside", "bom"))
    if how == "edges":
        value = rng.choice(_EDGE_SPACES) + value + rng.choice(_EDGE_SPACES) * rng.randint(1, 2)
    elif how == "inside":
        at = rng.randrange(1, len(value)) if len(value) > 1 else 0
        value = value[:at] + rng.choice(_INVISIBLE) + value[at:]
    else:
        value = "\ufeff" + value
    setattr(draft, field, value)
    return f"{field}: {how}"


def _kana_reading(builder, draft, person, rng) -> str | None:
    if not draft.name_kana:
        return None
    if person.foreign and rng.random() < 0.5:
        draft.name_kana = draft.name_kana.replace(person.space, rng.choice(("・", "･", "　", "")))
        return "dots/spaces"
    kana, what = _reading_variant(draft.name_kana, rng)
    if not what:
        return None
    draft.name_kana = kana
    return what


def _address_aza(builder, draft, person, rng) -> str | None:
    match = _MUNICIPALITY.match(person.address)
    if not match or not _BANCHI_LOT.match(person.address) or not _alone(builder, draft.subject):
        return None
    aza = f"{match.group('pref') or ''}{match.group('city')}大字{match.group('rest')}"
    if rng.random() < 0.5:
        _set_registry(builder, draft, address=aza)
        return "大字 in the registry"
    draft.address = aza
    return "大字 in the record"


def _address_lot_forms(builder, draft, person, rng) -> str | None:
    match = _LOT.match(person.address)
    if match:
        head, chome, ban, go, tail = match.group("head", "chome", "ban", "go", "tail")
        number = _kanji_to_int(chome)
        form = rng.choice(("番地", "番地の", "の", "番", "ー", "−", "‐"))
        if form in ("ー", "−", "‐"):
            draft.address = f"{head}{number}{form}{ban}{form}{go}{tail}"
        else:
            draft.address = f"{head}{number}丁目{ban}{form}{go}{tail}"
        return f"丁目 lot with {form}"
    match = _BANCHI_LOT.match(person.address)
    if match:
        form = rng.choice(("番", "", "番地"))
        draft.address = f"{match.group('head')}{match.group('lot').translate(_FULL)}{form}{match.group('tail')}"
        return f"番地 lot as {form or 'bare number'}"
    return None


_FULL = str.maketrans("0123456789", "０１２３４５６７８９")


def _kanji_to_int(text: str) -> int:
    if "十" not in text:
        return _DIGITS.index(text)
    tens, _, ones = text.partition("十")
    return (_DIGITS.index(tens) if tens else 1) * 10 + (_DIGITS.index(ones) if ones else 0)


def _address_kanji_numbers(builder, draft, person, rng) -> str | None:
    write = kanji_numeral if rng.random() < 0.75 else _positional
    match = _LOT.match(person.address)
    if match:
        head, chome, ban, go, tail = match.group("head", "chome", "ban", "go", "tail")
        draft.address = f"{head}{chome}丁目{write(int(ban))}番{write(int(go))}号{tail}"
        return "丁目 lot in kanji"
    match = _BANCHI_LOT.match(person.address)
    if match:
        draft.address = f"{match.group('head')}{write(int(match.group('lot')))}番地{match.group('tail')}"
        return "番地 in kanji"
    return None


def _address_building_forms(builder, draft, person, rng) -> str | None:
    match = _BUILDING.match(person.address)
    if not match:
        return None
    base, name, room = match.group("base", "name", "room")
    forms = ("no 号室", "号", "space", "brackets", "dots", "short name", "kanji room")
    form = rng.choice((*forms, "room number") if _LOT.match(base) else forms)
    if form == "brackets":
        draft.address = f"{base}（{name}{room}号室）"
    elif form == "dots":  # ハイツ南 → ハイツ・南
        kana = re.match(r"[\u30a1-\u30fc]+", name)
        draft.address = f"{base} {kana.group()}・{name[kana.end():]}{room}号室" if kana else f"{base}{name}{room}"
    elif form == "short name":  # the building's name cut to its first word (ハイツ南 → ハイツ)
        kana = re.match(r"[\u30a1-\u30fc]+", name)
        draft.address = f"{base} {kana.group() if kana else name}{room}"
    elif form == "kanji room":
        draft.address = f"{base}{name}{_positional(int(room))}号室"
    elif form == "no 号室":
        draft.address = f"{base}{name}{room}"
    elif form == "号":
        draft.address = f"{base}{name}{room}号"
    elif form == "space":
        draft.address = f"{base}　{name} {room}号室"
    else:  # 一丁目2番20号 101 → 1-2-20-101
        lot = _LOT.match(base)
        draft.address = (f"{lot.group('head')}{_kanji_to_int(lot.group('chome'))}-{lot.group('ban')}-"
                         f"{lot.group('go')}-{room}")
    return form


def _address_building_registry(builder, draft, person, rng) -> str | None:
    if not _alone(builder, draft.subject):
        return None
    match = _BUILDING.match(person.address)
    if match:  # the registry without the 方書, the record with it
        _set_registry(builder, draft, address=match.group("base"))
        return "方書 only in the record"
    if not person.address.endswith(("号", "番地")):
        return None
    _set_registry(builder, draft, address=f"{person.address}　コーポ{rng.choice(('高知', '桜'))}{rng.randint(1, 5)}0{rng.randint(1, 9)}号室")
    return "方書 only in the registry"


def _address_no_ke(builder, draft, person, rng) -> str | None:
    if "ノ" in person.address and rng.random() < 0.6:
        draft.address = person.address.replace("ノ", "の", 1)
        return "ノ → の"
    if not _alone(builder, draft.subject):
        return None
    match = _MUNICIPALITY.match(person.address)
    lot = _LOT.match(person.address)
    if not match or not lot:
        return None
    town, spellings = rng.choice(_KE_TOWNS)
    tail = person.address[len(lot.group("head")):]
    written = rng.choice(spellings)
    registry = f"{match.group('pref') or ''}{match.group('city')}{town}{tail}"
    _set_registry(builder, draft, address=registry)
    draft.address = f"{match.group('pref') or ''}{match.group('city')}{written}{tail}"
    if rng.random() < 0.5:  # either side may write the other form
        _set_registry(builder, draft, address=draft.address)
        draft.address = registry
    return f"{town}/{written}"


def _address_gun(builder, draft, person, rng) -> str | None:
    match = _GUN.match(person.address)
    if not match:
        return None
    if rng.random() < 0.5 or not _alone(builder, draft.subject):
        draft.address = match.group("rest")
        return "郡 and prefecture left out in the record"
    _set_registry(builder, draft, address=match.group("rest"))
    draft.address = "高知県" + match.group("gun") + match.group("rest")
    return "郡 left out in the registry"


def _maiden(person) -> str | None:
    if not person.previous_names or person.foreign:
        return None
    maiden = person.previous_names[0].replace("　", " ").split(" ")[0]
    return maiden if maiden and maiden != person.family else None


def _former_surname_bracket(builder, draft, person, rng) -> str | None:
    maiden = _maiden(person)
    if maiden is None:
        return None
    opener, closer = rng.choice(_BRACKETS)
    draft.name = f"{person.family}{opener}{maiden}{closer}{person.given}"
    return f"{opener}{closer}"


def _former_surname_registry(builder, draft, person, rng) -> str | None:
    maiden = _maiden(person)
    if maiden is None or not _free(builder, draft.subject) or draft.subject in builder.pools.has_namesake:
        return None
    _set_registry(builder, draft, name=f"{person.family}［{maiden}］{person.given}")
    if rng.random() < 0.5:
        draft.name = f"{maiden}{person.space}{person.given}"
        return "record writes the 旧氏"
    return "record writes the current surname"


def _former_surname_column(builder, draft, person, rng) -> str | None:
    maiden = _maiden(person)
    if maiden is None or not _free(builder, draft.subject):
        return None
    _set_registry(builder, draft, previous_names=(maiden,))
    draft.name = f"{maiden}{person.space}{person.given}"
    return "旧氏 column"


def _foreign_middle_name(builder, draft, person, rng) -> str | None:
    if not person.foreign:
        return None
    words = person.given.split(" ")
    if len(words) >= 2 and rng.random() < 0.6:
        draft.name = f"{person.family} {words[-1]}"
        return "middle name left out"
    if rng.random() < 0.5:
        draft.name = f"{person.family}, {person.given}"
        return "comma"
    if not _alone(builder, draft.subject):
        return None
    _set_registry(builder, draft, name=f"{person.family} {person.given} {rng.choice(('ANTONIO', 'MARIE', 'LEE'))}")
    return "registry with a middle name"


def _alias_bracket(builder, draft, person, rng) -> str | None:
    if not person.alias:
        return None
    if rng.random() < 0.6 or not _free(builder, draft.subject):
        draft.name = f"{person.name}（{person.alias}）"
        return "通称 in brackets in the record"
    _set_registry(builder, draft, name=f"{person.name}（{person.alias}）")
    draft.name = person.alias
    return "通称 in brackets in the registry"


_ERA = (("令和", "R", dt.date(2019, 5, 1)), ("平成", "H", dt.date(1989, 1, 8)), ("昭和", "S", dt.date(1926, 12, 25)))


def _date_notations(builder, draft, person, rng) -> str | None:
    birth = person.birth
    era = next(((kanji, letter, start) for kanji, letter, start in _ERA if birth >= start), None)
    forms = [("年月日 zero-padded", f"{birth.year}年{birth.month:02d}月{birth.day:02d}日")]
    if era is not None:
        kanji, letter, start = era
        year = birth.year - start.year + 1
        forms += [("full-width era", f"{kanji}{year}年{birth.month}月{birth.day}日".translate(_FULL)),
                  ("one-kanji era", f"{kanji[0]}{year}.{birth.month}.{birth.day}"),
                  ("two-digit era", f"{letter}{year:02d}/{birth.month:02d}/{birth.day:02d}"),
                  ("two-digit era", f"{letter}{year:02d}.{birth.month:02d}.{birth.day:02d}")]
    what, text = rng.choice(forms)
    draft.birth_date = text
    return what


def _gaiji_spots(draft, person, shortest: int) -> list[int]:
    """Where the kanji of a Japanese name with its kana are, for placeholders to stand in; ``[]`` for a
    foreign name, a name without kana, or one shorter than ``shortest`` characters."""
    if person.foreign or not draft.name_kana or len(draft.name.replace(person.space, "")) < shortest:
        return []
    return _kanji_spots(draft.name)


def _placeholder_doubled(builder, draft, person, rng) -> str | None:
    spots = _gaiji_spots(draft, person, 3)
    if not spots:
        return None
    spot = rng.choice(spots)
    pair = rng.choice(("??", "？？", "〓〓", "??"))
    draft.name = draft.name[:spot] + pair + draft.name[spot + 1:]
    return f"{pair} for {person.name[spot]}"


_BRACKETS = (("［", "］"), ("（", "）"), ("【", "】"), ("「", "」"), ("〈", "〉"), ("(", ")"))


def _former_surname_nospace(builder, draft, person, rng) -> str | None:
    maiden = _maiden(person)
    if maiden is None:
        return None
    opener, closer = rng.choice(_BRACKETS)
    label = rng.choice(("旧姓 ", "旧氏：", "旧氏 ", ""))
    written = f"{person.family}{person.given}{opener}{label}{maiden}{closer}"
    if rng.random() < 0.7 or not _free(builder, draft.subject) or draft.subject in builder.pools.has_namesake:
        draft.name = written
        return f"record {opener}{closer} without a space"
    _set_registry(builder, draft, name=written)
    draft.name = rng.choice((f"{maiden}{person.space}{person.given}", person.name))
    return f"registry {opener}{closer} without a space"


def _foreign_initials(builder, draft, person, rng) -> str | None:
    if not person.foreign:
        return None
    words = person.given.split(" ")
    if len(words) < 2:
        return None
    initial = words[0][0] + rng.choice((".", ""))
    if rng.random() < 0.5:
        draft.name = f"{words[-1].title()} {initial} {person.family.title()}"
    else:
        draft.name = f"{person.family}, {initial} {words[-1]}"
    return f"{words[0]} as {initial}"


_ERA_CODE = {"明治": "1", "大正": "2", "昭和": "3", "平成": "4", "令和": "5"}
_KANJI_DATE_DIGITS = "〇一二三四五六七八九"


def _date_exports(builder, draft, person, rng) -> str | None:
    birth = person.birth
    era = next(((kanji, letter, start) for kanji, letter, start in _ERA if birth >= start), None)
    forms = [("time of day", f"{birth.year}/{birth.month:02d}/{birth.day:02d} 0:00:00"),
             ("ISO time", f"{birth.isoformat()}T00:00:00"),
             ("weekday", f"{birth.year}/{birth.month}/{birth.day}({'月火水木金土日'[birth.weekday()]})"),
             ("生まれ", f"{birth.year}年{birth.month}月{birth.day}日生まれ")]
    if era is not None:
        kanji, letter, start = era
        year = birth.year - start.year + 1
        forms += [("era code", f"{_ERA_CODE[kanji]}{year:02d}{birth.month:02d}{birth.day:02d}"),
                  ("era letter compact", f"{letter}{year:02d}{birth.month:02d}{birth.day:02d}"),
                  ("kanji numerals", f"{kanji}{'元' if year == 1 else kanji_numeral(year)}年"
                                     f"{kanji_numeral(birth.month)}月{kanji_numeral(birth.day)}日"),
                  ("positional kanji", f"{kanji}{_positional(year)}年{_positional(birth.month)}月"
                                       f"{_positional(birth.day)}日")]
    what, text = rng.choice(forms)
    draft.birth_date = text
    return what


def _sex_notations(builder, draft, person, rng) -> str | None:
    label = "男" if person.sex == 1 else "女"
    letter = "Ｍ" if person.sex == 1 else "Ｆ"
    what, text = rng.choice((("男性/女性", f"{label}性"), ("full-width letter", letter),
                             ("code:label", f"{person.sex}:{label}"), ("label(code)", f"{label}({person.sex})"),
                             ("full-width code", "１" if person.sex == 1 else "２")))
    draft.sex = text
    return what


def _postal_code(rng: random.Random) -> str:
    return f"{rng.randint(780, 789)}-{rng.randint(0, 9999):04d}"


def _address_postal_code(builder, draft, person, rng) -> str | None:
    code = _postal_code(rng)
    draft.address = rng.choice((f"〒{code} ", f"〒{code}", f"{code} ", "〒" + code.replace("-", ""))) + person.address
    return "postal code"


def _address_municipality(builder, draft, person, rng) -> str | None:
    match = _MUNICIPALITY.match(person.address)
    if not match or "郡" in match.group("city"):
        return None
    if rng.random() < 0.7 or not _alone(builder, draft.subject):
        draft.address = match.group("rest")
        return f"{match.group('city')} left out in the record"
    _set_registry(builder, draft, address=match.group("rest"))
    return f"{match.group('city')} left out in the registry"


_KOAZA = ("浜", "松原", "東谷", "宮ノ前", "川原", "中島")


def _address_koaza(builder, draft, person, rng) -> str | None:
    lot = _BANCHI_LOT.match(person.address)
    if not lot or not _alone(builder, draft.subject):
        return None
    head, letter = lot.group("head"), ""
    if head[-1:] in "甲乙丙丁":  # the lot letter stays with the lot: 大津字浜甲3023
        head, letter = head[:-1], head[-1]
    if head[-1:] in "市町村":  # no 大字 to write a 小字 under
        return None
    koaza = rng.choice(_KOAZA)
    with_koaza = f"{head}字{koaza}{letter}{lot.group('lot')}番地{lot.group('tail')}"
    if rng.random() < 0.6:
        _set_registry(builder, draft, address=with_koaza)
        if rng.random() < 0.3 and _without_city(person.address):  # and the record without the municipality
            draft.address = _without_city(person.address)
            return f"字{koaza} only in the registry, the municipality only there too"
        return f"字{koaza} only in the registry"
    draft.address = with_koaza.replace("字", "") if rng.random() < 0.3 else with_koaza
    return f"字{koaza} only in the record"


def _without_city(address: str) -> str | None:
    """The address as a municipality's own system writes it: from the town on."""
    match = _MUNICIPALITY.match(address)
    return match.group("rest") if match else None


def _address_placeholder(builder, draft, person, rng) -> str | None:
    match = _MUNICIPALITY.match(person.address)
    if not match:
        return None
    rest = match.group("rest")
    town = re.match(r"[^\d一二三四五六七八九十甲乙丙丁]+", rest)
    spots = [i for i in (_kanji_spots(town.group()) if town else []) if town.group()[i] not in "町村字大"]
    if not spots or len(town.group()) < 2:
        return None
    spot = rng.choice(spots)
    placeholder = rng.choice(("〓", "●", "\ue0a1", "？"))
    if rng.random() < 0.3:  # one ? per UTF-8 byte, as a conversion writes it
        placeholder = rng.choice("?？") * len(rest[spot].encode())
    draft.address = (person.address[:match.start("rest")] + rest[:spot] + placeholder + rest[spot + 1:])
    return f"{placeholder!a} for {rest[spot]} in the place name"


def _address_no_separator(builder, draft, person, rng) -> str | None:
    match = _LOT.match(person.address)
    if match:
        head, chome, ban, go, tail = match.group("head", "chome", "ban", "go", "tail")
        draft.address = f"{head}{_kanji_to_int(chome)}ノ{ban}ノ{go}{tail}"
        return "lot joined with ノ"
    written = _NO_IN_A_NAME.sub("之", person.address, count=1)  # 丸ノ内 → 丸之内 (not いの町)
    if written != person.address:
        draft.address = written
        return "之 for ノ/の"
    return None


_NO_IN_A_NAME = re.compile(r"(?<=[\u4e00-\u9fff])[ノの](?=[\u4e00-\u9fff])")


def _placeholder_run(builder, draft, person, rng) -> str | None:
    spots = _gaiji_spots(draft, person, 4)
    if not spots:
        return None
    spot = rng.choice(spots)
    mark = rng.choice(("?", "？", "〓"))
    # one ? per UTF-8 byte: three for a kanji of the BMP, four beyond it (𠮷)
    if spot + 1 in spots and rng.random() < 0.3 and len(draft.name.replace(person.space, "")) >= 5:
        run, kanji = mark * 6, draft.name[spot:spot + 2]
    else:
        kanji = draft.name[spot]
        run = mark * len(kanji.encode())
    draft.name = draft.name[:spot] + run + draft.name[spot + len(kanji):]
    return f"{run} for {kanji}"


# (prefecture, city, ward, town with 丁目)
_WARD_TOWNS = (("神奈川県", "横浜市", "中区", "本町"), ("北海道", "札幌市", "中央区", "北一条西"), ("大阪府", "大阪市", "北区", "梅田"),
               ("愛知県", "名古屋市", "中区", "栄"), ("福岡県", "福岡市", "博多区", "博多駅前"),
               ("埼玉県", "さいたま市", "大宮区", "桜木町"), ("静岡県", "浜松市", "中央区", "元城町"))


def _address_ward(builder, draft, person, rng) -> str | None:
    lot = _LOT.match(person.address)
    if not lot or not _alone(builder, draft.subject):
        return None
    prefecture, city, ward, town = rng.choice(_WARD_TOWNS)
    chome, ban, go = _kanji_to_int(lot.group("chome")), lot.group("ban"), lot.group("go")
    registry = f"{prefecture}{city}{ward}{town}{kanji_numeral(chome)}丁目{ban}番{go}号"
    record = rng.choice((f"{city}{town}{chome}-{ban}-{go}", f"{prefecture}{city}{town}{chome}丁目{ban}番{go}号"))
    if city == "浜松市" and rng.random() < 0.5:  # the ward by its name before 2024 (中区 → 中央区)
        return _full_and_short(builder, draft, rng, registry, f"{city}中区{town}{chome}-{ban}-{go}", "old ward")
    return _full_and_short(builder, draft, rng, registry, record, ward)


def _full_and_short(builder, draft, rng, full: str, short: str, what: str) -> str:
    """The address written in ``full`` on one side and ``short`` on the other, mostly the registry in full."""
    if rng.random() < 0.7:
        _set_registry(builder, draft, address=full)
        draft.address = short
        return f"{what}: the registry in full"
    _set_registry(builder, draft, address=short)
    draft.address = full
    return f"{what}: the record in full"


# (ward, street and direction as the registry writes them, the direction spelt otherwise, town)
_KYOTO_TOWNS = (("中京区", "河原町通三条上る", "河原町通三条上ル", "下丸屋町"), ("下京区", "四条通烏丸東入", "四条通烏丸東入ル", "長刀鉾町"),
                ("上京区", "寺町通今出川上ル二丁目", "寺町通今出川上る二丁目", "鶴山町"),
                ("中京区", "新町通六角下る", "新町通六角下ル", "六角町"), ("東山区", "大和大路通四条下る", "大和大路通四条下ガル", "小松町"))


def _address_kyoto_street(builder, draft, person, rng) -> str | None:
    if not _alone(builder, draft.subject):
        return None
    ward, street, respelt, town = rng.choice(_KYOTO_TOWNS)
    lot = rng.randint(1, 999)
    registry = f"京都府京都市{ward}{street}{town}{lot}番地"
    how = rng.choice(("town only", "town only", "no city", "direction respelt", "no 通"))
    record = {"town only": f"京都市{ward}{town}{lot}", "no city": f"{ward}{town}{lot}番地",
              "direction respelt": f"京都市{ward}{respelt}{town}{lot}",
              "no 通": f"京都市{ward}{street.replace('通', '')}{town}{lot}"}[how]
    return _full_and_short(builder, draft, rng, registry, record, how)


#: the record-side writers "notations_together" draws one from per field
_TOGETHER: tuple[tuple[str, ...], ...] = (
    ("ivs_record", "placeholder_record", "placeholder_doubled", "placeholder_run", "stray_characters"),
    ("date_exports", "date_notations"),
    ("sex_notations",),
    ("address_postal_code", "address_no_separator", "address_kanji_numbers", "address_lot_forms"),
)


def _notations_together(builder, draft, person, rng) -> str | None:
    done = []
    for writers in _TOGETHER:
        name = rng.choice(writers)
        detail = _WRITERS[name](builder, draft, person, rng)
        if detail is not None:
            done.append(f"{name}: {detail}")
    if rng.random() < 0.4:  # and the municipality left out, after the other address notation
        rest = _without_city(draft.address)
        if rest and not draft.address.startswith(("〒", "7")):
            draft.address = rest
            done.append("municipality left out")
    return "; ".join(done) if len(done) >= 2 else None


_WRITERS = {
    "ivs_record": _ivs_record, "ivs_registry": _ivs_registry, "placeholder_record": _placeholder_record,
    "placeholder_registry": _placeholder_registry, "stray_characters": _stray_characters,
    "kana_reading": _kana_reading, "address_aza": _address_aza, "address_lot_forms": _address_lot_forms,
    "address_kanji_numbers": _address_kanji_numbers, "address_building_forms": _address_building_forms,
    "address_building_registry": _address_building_registry, "address_no_ke": _address_no_ke,
    "address_gun": _address_gun, "former_surname_bracket": _former_surname_bracket,
    "former_surname_registry": _former_surname_registry, "former_surname_column": _former_surname_column,
    "foreign_middle_name": _foreign_middle_name, "alias_bracket": _alias_bracket,
    "date_notations": _date_notations, "placeholder_doubled": _placeholder_doubled,
    "former_surname_nospace": _former_surname_nospace, "foreign_initials": _foreign_initials,
    "date_exports": _date_exports, "sex_notations": _sex_notations, "address_postal_code": _address_postal_code,
    "address_municipality": _address_municipality, "address_koaza": _address_koaza,
    "address_placeholder": _address_placeholder, "address_no_separator": _address_no_separator,
    "notations_together": _notations_together, "placeholder_run": _placeholder_run, "address_ward": _address_ward,
    "address_kyoto_street": _address_kyoto_street,
}
assert set(_WRITERS) == set(NOTATION_VARIANTS)


# ---------------------------------------------------------------------------
# errors


def make_error(builder: "_CorpusBuilder", cause: str) -> bool:
    """Add one error of a :data:`NOTATION_CAUSES` cause; ``False`` when the try did not fit."""
    rng = builder.rng
    people = builder.people
    pools = builder.pools
    if cause in ("twin_number", "parent_number"):
        if cause == "twin_number":
            if not pools.twins:
                return False
            subject, other = rng.choice(pools.twins)
            if rng.random() < 0.5:
                subject, other = other, subject
        else:
            if not hasattr(builder, "children"):
                builder.children = [i for i in pools.living if people[i].child and people[i].generation >= 1
                                    and len(pools.members.get(people[i].household, ())) >= 2]
            children = builder.children
            if not children:
                return False
            subject = rng.choice(children)
            parents = [j for j in pools.members[people[subject].household]
                       if people[j].generation == people[subject].generation - 1]
            if not parents:
                return False
            other = rng.choice(parents)
        detail = "twin" if cause == "twin_number" else "parent"
    elif cause in ("deceased_number", "former_number_stranger"):
        deceased = cause == "deceased_number"
        subject = rng.choice(pools.living)
        donors = pools.deceased if deceased else pools.renumbered
        if not donors:
            return False
        other = rng.choice(donors)
        if people[other].household == people[subject].household:
            return False
        detail = "a deceased resident's number" if deceased else "a stranger's former number"
    elif cause == "typo_valid":
        return _typo_valid(builder)
    else:  # pragma: no cover - a typo in a cause name
        raise ValueError(f"unknown cause {cause}")
    if builder._clashes([subject]) or subject in builder.pools.has_namesake:
        return False
    draft = builder.plain(subject)
    other_person = people[other]
    draft.my_number = (other_person.previous_my_numbers[0] if cause == "former_number_stranger"
                       else other_person.my_number)
    if cause == "twin_number" and other_person.name == people[subject].name:
        return False
    draft.cause, draft.expected, draft.detail = cause, NOTATION_CAUSES[cause], detail
    draft.source = rng.choice(("申請書", "職員入力"))
    builder._format_error(draft)
    return builder.place([draft])


def _typo_valid(builder: "_CorpusBuilder") -> bool:
    """A one-digit typo of the subject's number that is a living stranger's valid number.

    Such a typo keeps the check digit only when the weighted sum's remainder
    moves between 0 and 1 (both give check digit 0), so the stranger is given
    that number: the registry then holds it, as it would in a real municipality.
    """
    rng = builder.rng
    people = builder.people
    subject = rng.choice(builder.pools.living)
    number = people[subject].my_number
    if builder._clashes([subject]) or subject in builder.pools.has_namesake:
        return False
    typos = [number[:i] + d + number[i + 1:] for i in range(11) for d in "0123456789"
             if d != number[i] and stdnum_in.is_valid(number[:i] + d + number[i + 1:])]
    typos = [t for t in typos if t not in builder.numbers]
    if not typos:
        return False
    stranger = next((i for i in (rng.choice(builder.pools.living) for _ in range(50))
                     if i != subject and _alone(builder, i)), None)
    if stranger is None:
        return False
    wrong = rng.choice(typos)
    old = people[stranger].my_number
    draft = builder.plain(subject)
    draft.my_number = wrong
    draft.cause, draft.expected = "typo_valid", NOTATION_CAUSES["typo_valid"]
    position = next(i for i in range(12) if wrong[i] != number[i])
    draft.detail = f"digit {position + 1}: another resident's number"
    draft.source = "職員入力"
    builder._format_error(draft)
    if not builder.place([draft]):
        return False
    people[stranger].my_number = wrong
    builder.numbers.add(wrong)
    builder.numbers.discard(old)
    builder.reserved = getattr(builder, "reserved", set()) | {stranger}
    return True
