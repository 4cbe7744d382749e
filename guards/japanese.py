"""Japanese-aware comparison of names, kana and addresses.

Every function is pure; the per-string work is cached (bounded
:func:`functools.lru_cache`), because the same registry names and addresses
are compared again and again.

Names
-----
A name is compared in a *key*: NFKC (half-width kana, full-width letters),
upper case, katakana for hiragana, large kana for small (キョウコ = キヨウコ),
々 written out (佐々木 = 佐佐木), no spaces; the words of an alphabet name are
sorted, so their order and case do not matter:

>>> name_key('山田　花子'), name_key('ﾔﾏﾀﾞ ﾊﾅｺ'), name_key('やまだ きょうこ')
('山田花子', 'ヤマダハナコ', 'ヤマダキヨウコ')
>>> name_key('LEE MINHO') == name_key('Minho Lee') == name_key('lee, minho')
True
>>> name_key('佐々木 一郎') == name_key('佐佐木 一郎') == name_key('佐〻木 一郎')
True

Two keys are compared character by character (:func:`compare_names`). Two
characters match when the candidate sets the official MJ 縮退マップ gives
for them intersect (:func:`variants`, via ``jntajis.mj_shrink_candidates``
with all four schemes): 齋藤 = 斎藤, 渡邊 = 渡邉 = 渡辺, 𠮷田 = 吉田.

>>> compare_names(name_key('齋藤 花子'), name_key('斎藤 花子'))
<NameMatch.VARIANT: 'variant'>
>>> compare_names(name_key('渡邊'), name_key('渡邉')), compare_names(name_key('𠮷田'), name_key('吉田'))
(<NameMatch.VARIANT: 'variant'>, <NameMatch.VARIANT: 'variant'>)

斎 and 斉 are different characters, and the map keeps them apart:

>>> compare_names(name_key('斎藤'), name_key('斉藤')) is None
True

The map also carries a few 誤字→正字 entries that join two different
everyday characters (玉→王, 功↔切, 師→帥, 着→著, 書→昼). Two different
常用漢字 therefore never match each other (:data:`JOYO_KANJI`), whatever the
map says:

>>> compare_names(name_key('玉田 功'), name_key('王田 功')) is None
True
>>> compare_names(name_key('山田 功'), name_key('山田 切')) is None
True

Kana
----
The kana reading is never enough on its own: a different kanji name with the
same reading is the classic wrong look-up (same-reading strangers), so
山田 華子 does not match 山田 花子 even when both read ヤマダ ハナコ, and a
name kept only in kana does not match a kanji name. The kana only *supports*
a name the business system could not store (外字): a placeholder (〓, ?,
□, ■, U+FFFD) or a private-use character stands for any one character, and
the names then match only if the intact characters match, they are at least
as many as the placeholders, and both kana readings are present and equal
(:func:`kana_key`):

>>> compare_names(name_key('〓田 花子'), name_key('𠮷田 花子'), kana_key('ﾖｼﾀﾞ ﾊﾅｺ'), kana_key('ヨシダ　ハナコ'))
<NameMatch.GAIJI: 'gaiji'>
>>> compare_names(name_key('〓田 花子'), name_key('𠮷田 花子')) is None  # no reading to support it
True
>>> compare_names(name_key('〓田 花子'), name_key('森田 花子'), kana_key('ヨシダ ハナコ'), kana_key('モリタ ハナコ')) is None
True
>>> compare_names(name_key('〓〓 〓子'), name_key('𠮷田 花子'), kana_key('ヨシダハナコ'), kana_key('ヨシダハナコ')) is None
True

Addresses
---------
An address key (:func:`address_key`) drops the prefecture, the 郡 before a
町 or 村, spaces and the 丁目/番地/番/号/の markers; numbers become Arabic
numerals joined by hyphens; variant characters are folded:

>>> address_key('高知県高知市丸ノ内一丁目2番20号') == address_key('高知市丸ノ内１－２－２０')
True
>>> address_key('高知市丸ノ内1丁目2番地20'), address_key('高岡郡四万十町窪川955番地')
('高知市丸の内1-2-20', '四万十町窪川955')

A building name (方書) present on one side only does not make a mismatch;
two different ones do (:func:`addresses_match`):

>>> addresses_match(address_key('高知市丸ノ内1-2-20 丸ノ内ハイツ101号'), address_key('高知市丸ノ内一丁目2番20号'))
True
>>> addresses_match(address_key('高知市丸ノ内1-2-20 ハイツ101'), address_key('高知市丸ノ内1-2-20 ハイツ102'))
False
>>> addresses_match(address_key('高知市丸ノ内1-2-2'), address_key('高知市丸ノ内1-2-20'))
False
"""

from __future__ import annotations

import enum
import itertools
import re
import unicodedata
from functools import lru_cache
from typing import Final, Iterable, NamedTuple

import jaconv
from jntajis import MJShrinkSchemeCombo, mj_shrink_candidates

__all__ = [
    "NameMatch",
    "NameParts",
    "JOYO_KANJI",
    "EXTRA_VARIANTS",
    "PLACEHOLDERS",
    "clean",
    "name_text",
    "name_parts",
    "name_key",
    "name_keys",
    "NameKeys",
    "former_key",
    "former_surname_match",
    "alias_key",
    "name_index_key",
    "alphabet_words",
    "alphabet_names_match",
    "kana_key",
    "reading_key",
    "readings_match",
    "variants",
    "chars_match",
    "fold_variants",
    "is_placeholder",
    "compare_names",
    "name_differences",
    "kanji_number",
    "address_key",
    "addresses_match",
    "address_difference",
]

_CACHE: Final = 32_768  # strings per cache: a few MB at most

# Every scheme of the MJ 縮退マップ: JIS 包摂規準・UCS 統合規則, 読み・字形による類推,
# 法務省告示582号 別表第四, 法務省戸籍法関連通達・通知.
_ALL_SCHEMES: Final = int(
    MJShrinkSchemeCombo.JIS_INCORPORATION_UCS_UNIFICATION_RULE
    | MJShrinkSchemeCombo.INFERENCE_BY_READING_AND_GLYPH
    | MJShrinkSchemeCombo.MOJ_NOTICE_582
    | MJShrinkSchemeCombo.MOJ_FAMILY_REGISTER_ACT_RELATED_NOTICE
)


class NameMatch(str, enum.Enum):
    """How two name keys matched (:func:`compare_names` returns ``None`` when they do not)."""

    EXACT = "exact"  # the same key
    VARIANT = "variant"  # only through variant characters (異体字)
    GAIJI = "gaiji"  # a placeholder for an unstorable character, supported by the kana


#: Characters a system writes for a character it cannot store (after NFKC: ？ is ?, ＿ is _,
#: ＊ is *). The intermediate server itself writes ● for a character it cannot hold.
PLACEHOLDERS: Final = frozenset("〓?□■●_*\ufffd")


def is_placeholder(char: str) -> bool:
    """A placeholder or a private-use character (a system's own 外字 area, U+E000–U+F8FF).

    >>> is_placeholder('〓'), is_placeholder('●'), is_placeholder('\\ue001'), is_placeholder('吉')
    (True, True, True, False)
    >>> [is_placeholder(clean(c)) for c in '？＿＊\\ufffd\\uf8ff']
    [True, True, True, True, True]
    """
    return char in PLACEHOLDERS or unicodedata.category(char) == "Co"


# ---------------------------------------------------------------------------
# invisible characters
# ---------------------------------------------------------------------------

def _char_class(characters: Iterable[str | int]) -> str:
    """The inside of a regular-expression class of ``characters`` (characters or code points),
    runs of code points written as ranges.

    >>> _char_class('ぁあぃ'), _char_class([0x30A2, 0x3041, 0x3042, 0x3043, 0x30A4])
    ('ぁ-ぃ', 'ぁ-ぃアイ')
    """
    ranges: list[list[int]] = []
    for code in sorted({c if isinstance(c, int) else ord(c) for c in characters}):
        if ranges and ranges[-1][1] == code - 1:
            ranges[-1][1] = code
        else:
            ranges.append([code, code])
    return "".join(re.escape(chr(first)) + ("" if first == last else "-" + re.escape(chr(last)))
                   for first, last in ranges)


def _any_of(characters: Iterable[str | int]) -> re.Pattern[str]:
    """A pattern that finds any one of ``characters``: a search for it is far cheaper than a
    ``str.translate`` by a mapping, so a step runs its translation only on a text that needs it.

    >>> _any_of('ab').search('xyz') is None, _any_of('ab').search('xbz').group(), _any_of([]).search('xyz') is None
    (True, 'b', True)
    """
    inside = _char_class(characters)
    return re.compile(f"[{inside}]" if inside else "(?!)")


def _any_but(characters: Iterable[str | int]) -> re.Pattern[str]:
    """A pattern that finds any character but ``characters``.

    >>> _any_but('ab').search('abba') is None, _any_but('ab').search('abc').group()
    (True, 'c')
    """
    return re.compile(f"[^{_char_class(characters)}]")


# Characters that carry no letter: variation selectors (standardized U+FE00–FE0F,
# the Ideographic Variation Sequences' U+E0100–E01EF that MJ-based registry
# systems export, Mongolian free variation selectors), zero-width spaces and
# joiners, word joiner and invisible operators, bidi controls, BOM, soft hyphen,
# the combining grapheme joiner, the tag characters. NFKC keeps all of them, so they go first.
_INVISIBLE: Final[dict[int, None]] = dict.fromkeys((
    0x00AD, 0x034F, 0x180B, 0x180C, 0x180D, 0x180E, 0x180F, 0xFEFF,
    *range(0x200B, 0x2010), *range(0x202A, 0x202F), *range(0x2060, 0x2065), *range(0x2066, 0x2070),
    *range(0xFE00, 0xFE10), *range(0xE0100, 0xE01F0), *range(0xE0000, 0xE0080),
))


#: every character that is blank once normalised: white space of any width and the invisible ones
BLANK_CHARACTERS: Final = "".join(chr(c) for c in range(0x3001) if chr(c).isspace()) + "".join(map(chr, _INVISIBLE))

# Before NFKC: the invisible characters go, and the spacing (semi-)voiced sound marks ゛゜ that a
# system keys after a kana (カ゛) become the combining ones, so NFKC composes them (カ゛ = ガ),
# as it already does for the half-width ﾞ ﾟ (ｶﾞ = ガ).
_BEFORE_NFKC: Final[dict[int, str | None]] = {**_INVISIBLE, 0x309B: "\u3099", 0x309C: "\u309a"}
_CHANGED_BEFORE_NFKC: Final = _any_of(_BEFORE_NFKC)


def clean(value: str | None) -> str:
    """NFKC without the invisible characters (variation selectors, zero-width, bidi, BOM).

    Spaces of every width (NBSP, U+3000, thin spaces) become ASCII spaces (NFKC).

    >>> clean('葛\\U000E0100城'), clean('辻\\ufe00'), clean('\\ufeff山田\\u200b花子\\u00a0'), clean(None)
    ('葛城', '辻', '山田花子 ', '')
    >>> clean('ｶﾞﾝﾀﾞﾑ'), clean('カ゛ン'), clean('ハ゜ク')
    ('ガンダム', 'ガン', 'パク')
    """
    if not value:
        return ""
    if value.isascii():
        return value
    if _CHANGED_BEFORE_NFKC.search(value):  # rare: a translation costs tens of ns a character
        value = value.translate(_BEFORE_NFKC)
    return unicodedata.normalize("NFKC", value)


# ---------------------------------------------------------------------------
# kana
# ---------------------------------------------------------------------------

_SMALL_KANA: Final = str.maketrans("ァィゥェォッャュョヮヵヶㇰㇱㇲㇳㇴㇵㇶㇷㇸㇹㇺㇻㇼㇽㇾㇿ",
                                   "アイウエオツヤユヨワカケクシストヌハヒフヘホムラリルレロ")
_SEPARATORS: Final = re.compile(r"[\s・･=＝,、.。]+")


_DASH_CHARACTERS: Final = "-‐‑‒–—―−─━~〜"
# a dash keyed for the long vowel mark after a kana (ル－カス, コ-ポ: a Shift_JIS system's － or ―)
_DASH_AS_LONG_MARK: Final = re.compile(f"(?<=[\u30a1-\u30fa\u30fc])[{_DASH_CHARACTERS}]")
_DASH: Final = _any_of(_DASH_CHARACTERS)
# everything _fold_kana changes is a hiragana or katakana (jaconv's table too: a test checks every character)
_KANA: Final = _any_of([*range(0x3041, 0x3100), *_SMALL_KANA])


def _fold_kana(value: str) -> str:
    """Hiragana as katakana (jaconv), small kana written large, a dash after a kana as ー.

    >>> _fold_kana('きょうこ'), _fold_kana(clean('ル－カス')), _fold_kana('ル―カス'), _fold_kana('ルカ-2')
    ('キヨウコ', 'ルーカス', 'ルーカス', 'ルカー2')
    >>> _fold_kana('すゞ'), _fold_kana('いすゝ'), _fold_kana('ハヽ')
    ('スズ', 'イスス', 'ハハ')
    """
    if not _KANA.search(value):  # a name in kanji or letters: nothing to fold
        return value
    value = jaconv.hira2kata(value).translate(_SMALL_KANA)
    if _DASH.search(value):
        value = _DASH_AS_LONG_MARK.sub("ー", value)
    if "ヽ" in value or "ヾ" in value:
        value = _KANA_ITERATION.sub(_repeat_kana, value)
    return value


# the kana iteration marks (すゞ = すず, いすゝ = いすす), as older names are written
_KANA_ITERATION: Final = re.compile(r"([\u30a1-\u30fa])([ヽヾ])")


def _repeat_kana(match: re.Match) -> str:
    kana, mark = match.groups()
    base = unicodedata.normalize("NFD", kana)[0]
    return kana + (unicodedata.normalize("NFC", base + "\u3099") if mark == "ヾ" else base)


@lru_cache(maxsize=_CACHE)
def kana_key(value: str | None) -> str:
    """A kana reading as compared: full-width katakana, large kana, no spaces or dots.

    >>> kana_key('ｷｮｳｺ'), kana_key('きょうこ'), kana_key('キヨウコ'), kana_key('リー・ミンホ')
    ('キヨウコ', 'キヨウコ', 'キヨウコ', 'リーミンホ')
    >>> kana_key(None), kana_key(' ヤマダ\\u200b　ハナコ\\u00a0')
    ('', 'ヤマダハナコ')

    The reading of a 旧氏 written in brackets, as beside the name, is left out:

    >>> kana_key('ヤマダ（サトウ）ハナコ'), kana_key('ヤマダ ハナコ［サトウ］')
    ('ヤマダハナコ', 'ヤマダハナコ')
    """
    if not value:
        return ""
    text = clean(value)
    if _OPENER.search(text):
        text = _BRACKETED.sub(" ", text)
    return _SEPARATORS.sub("", _fold_kana(text))


# kana one sound is written with: the old ヰ ヱ ヲ, ヷ–ヺ; ヂ/ジ and ヅ/ズ (ミカヅキ = ミカズキ)
# only in readings_match (ヂ is also チ voiced, and reading_key folds the voicing)
_SAME_SOUND: Final = str.maketrans("ヰヱヲヷヸヹヺ", "イエオバビベボ")
_JI_ZU: Final = str.maketrans("ヂヅ", "ジズ")
# ヴ and its combinations as the ba-row (ヴァイオリン = バイオリン)
_VU: Final = (("ヴア", "バ"), ("ヴイ", "ビ"), ("ヴエ", "ベ"), ("ヴオ", "ボ"), ("ヴ", "ブ"))
# voiced and semi-voiced katakana to their unvoiced kana (ザ→サ, パ→ハ)
_UNVOICED: Final = str.maketrans({c: unicodedata.normalize("NFD", c)[0] for c in map(chr, range(0x30A1, 0x30FB))
                                  if len(unicodedata.normalize("NFD", c)) == 2})
_ROW: Final = {c: vowel for vowel, chars in (
    ("a", "アカサタナハマヤラワ"), ("i", "イキシチニヒミリ"), ("u", "ウクスツヌフムユル"),
    ("e", "エケセテネヘメレ"), ("o", "オコソトノホモヨロヲ")) for c in chars}
# the vowel kana that only lengthen the one before (ヨウコ = ヨーコ = ヨオコ, ケイコ = ケーコ)
_LENGTHENS: Final = {"a": "ア", "i": "イ", "u": "ウ", "e": "イエ", "o": "ウオ"}


@lru_cache(maxsize=_CACHE)
def reading_key(value: str | None) -> str:
    """A kana reading with the differences one name is read and written with folded:
    voiced and unvoiced (ヤマサキ = ヤマザキ), long vowels (ヨーコ = ヨウコ = ヨオコ),
    small and large kana, ヴ for ブ (ヴァ = バ), the old kana ヰ ヱ ヲ (for イ エ
    オ), dots and spaces. Two readings are compared by :func:`readings_match`.

    Used only where the reading supports a name (a placeholder) and in the
    explanation; the kana never makes a match on its own.

    >>> reading_key('ヤマサキ') == reading_key('ヤマザキ'), reading_key('ヨーコ') == reading_key('ようこ') == reading_key('ヨオコ')
    (True, True)
    >>> reading_key('ヴァン・ナム') == reading_key('バン ナム'), reading_key('ｼｮｳｺ') == reading_key('ショーコ')
    (True, True)
    >>> reading_key('ヰヅツ') == reading_key('イツツ'), reading_key('チヂワ') == reading_key('チチワ')
    (True, True)
    >>> reading_key('カ゛ク') == reading_key('ｶﾞｸ') == reading_key('ガク')
    True
    >>> reading_key('ヤマダ') == reading_key('ヤマモト')
    False
    """
    key = kana_key(value)
    if not key:
        return ""
    key = key.translate(_SAME_SOUND)
    if "ヴ" in key:
        for old, new in _VU:
            key = key.replace(old, new)
    key = key.translate(_UNVOICED)
    out: list[str] = []
    vowel = ""
    for char in key:
        if char == "ー" or (vowel and char in _LENGTHENS[vowel]):
            continue
        out.append(char)
        vowel = _ROW.get(char, "")
    return "".join(out)


def readings_match(a: str | None, b: str | None) -> bool:
    """Whether two kana readings are one reading (:func:`reading_key`), also when one writes
    ヂ/ヅ and the other ジ/ズ (ミカヅキ = ミカズキ, チヂワ = チジワ). Two empty readings do not match.

    >>> readings_match('ミカヅキ', 'みかずき'), readings_match('チヂワ', 'チジワ'), readings_match('ﾁﾁﾜ', 'チヂワ')
    (True, True, True)
    >>> readings_match('ヤマダ', 'ヤマモト'), readings_match('', '')
    (False, False)
    """
    first = reading_key(a)
    if not first:
        return False
    if first == reading_key(b):
        return True
    mine, theirs = kana_key(a), kana_key(b)
    if not any(c in "ヂヅ" for c in mine + theirs):
        return False
    return reading_key(mine.translate(_JI_ZU)) == reading_key(theirs.translate(_JI_ZU))


# ---------------------------------------------------------------------------
# names
# ---------------------------------------------------------------------------

_LATIN_NAME: Final = re.compile(r"[A-Z][A-Z\s,.'\-]*")
_LATIN_WORD: Final = re.compile(r"[A-Z]+")
_ITERATION: Final = re.compile(r"(.)[々〻]")  # 〻, the vertical-text mark, as some systems key it (佐〻木)
_OPENERS: Final = "[(【〔<《「『〈{〖"
_CLOSERS: Final = "])】〕>》」』〉}〗"
_FORMER_PREFIX: Final = re.compile(r"^(?:旧姓|旧氏)[:：\s]*")
_ALIAS_PREFIX: Final = re.compile(r"^通称(?:名)?[:：\s]*")
_BRACKETED: Final = re.compile(f"[{re.escape(_OPENERS)}][^{re.escape(_CLOSERS)}]*[{re.escape(_CLOSERS)}]")


_APOSTROPHES: Final = str.maketrans(dict.fromkeys("\u2018\u2019\u02bc\u0060\u00b4\u2032", "'"))


def _strip_accents(value: str) -> str:
    decomposed = unicodedata.normalize("NFKD", value)
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def _alphabet(text: str) -> str | None:
    """An alphabet name's words, upper case, one space apart; ``None`` if ``text`` is not one."""
    if text and ord(text[0]) < 0x250:  # starts with a Latin letter: maybe an alphabet name
        latin = text if text.isascii() else _strip_accents(text.translate(_APOSTROPHES))
        if _LATIN_NAME.fullmatch(latin):
            return " ".join(_LATIN_WORD.findall(latin.replace("'", "")))
    return None


def _plain_name(text: str) -> str:
    """:func:`name_text` of an NFKC, upper-case text without brackets."""
    text = text.strip()
    alphabet = _alphabet(text)
    if alphabet is not None:
        return alphabet
    text = _fold_kana(text)
    if "々" in text or "〻" in text:
        text = _ITERATION.sub(r"\1\1", text)
    return " ".join(_SEPARATORS.split(text)).strip()


class NameParts(NamedTuple):
    """A name as written, split: the current name, the name with the 旧氏 (former
    surname) written beside it, the alias (通称) written beside an alphabet name.
    Each in :func:`name_text` form; ``''`` where the name carries none.

    ``former_surname`` is the 旧氏 alone, when the name is written without a
    space (``山田花子（旧姓 佐藤）``) so that its given name cannot be told: it is
    matched by :func:`former_surname_match` against a whole name.
    """

    current: str
    former: str = ""
    alias: str = ""
    former_surname: str = ""


@lru_cache(maxsize=_CACHE)
def name_parts(value: str | None) -> NameParts:
    """Split a name written with its 旧氏 or 通称 in brackets.

    The My Number card and the Digital Agency's name matcher write the former
    surname in brackets after the current one: ``山田［佐藤］花子``; systems
    also write ``山田（佐藤）花子`` or ``山田花子（旧姓 佐藤）``. A bracket after
    an alphabet name holds its 通称.

    >>> name_parts('山田［佐藤］花子')[:2], name_parts('山田（佐藤）花子')[:2], name_parts('山田「佐藤」花子')[:2]
    (('山田 花子', '佐藤 花子'), ('山田 花子', '佐藤 花子'), ('山田 花子', '佐藤 花子'))
    >>> name_parts('山田 花子（旧姓 佐藤）')[:2], name_parts('山田　花子')[:2]
    (('山田 花子', '佐藤 花子'), ('山田 花子', ''))
    >>> name_parts('山田花子（旧氏：佐藤）')
    NameParts(current='山田花子', former='', alias='', former_surname='佐藤')
    >>> name_parts('NGUYEN VAN NAM（山田 太郎）')
    NameParts(current='NGUYEN VAN NAM', former='', alias='山田 太郎', former_surname='')
    >>> name_parts('NGUYEN VAN NAM（通称：山田 太郎）').alias
    '山田 太郎'

    """
    if not value:
        return NameParts("")
    text = clean(value).upper()
    opened = _OPENER.search(text)
    closed = _CLOSER.search(text, opened.end()) if opened else None
    if opened is None or closed is None or not text[opened.end():closed.start()].strip():
        return NameParts(_plain_name(text.translate(_NO_BRACKETS) if _BRACKET.search(text) else text))
    opener, closer = opened.start(), closed.start()
    before, inside, after = text[:opener].strip(), text[opener + 1:closer].strip(), text[closer + 1:].strip()
    current = _plain_name(f"{before} {after}".translate(_NO_BRACKETS))
    if _alphabet(current) is not None and current:
        return NameParts(current, alias=_plain_name(_ALIAS_PREFIX.sub("", inside).translate(_NO_BRACKETS)))
    inside = _FORMER_PREFIX.sub("", inside)
    if after:
        given = after
    elif " " in before:
        given = before.split(" ", 1)[1]
    else:  # 山田花子（旧姓 佐藤）: where the given name starts is not written
        return NameParts(current, former_surname=_plain_name(inside.translate(_NO_BRACKETS)).replace(" ", ""))
    return NameParts(current, former=_plain_name(f"{inside} {given}".translate(_NO_BRACKETS)))


_NO_BRACKETS: Final = str.maketrans(dict.fromkeys(_OPENERS + _CLOSERS, " "))
_OPENER: Final = _any_of(_OPENERS)
_CLOSER: Final = _any_of(_CLOSERS)
_BRACKET: Final = _any_of(_OPENERS + _CLOSERS)


def name_text(value: str | None) -> str:
    """A name in its compared form, in its own word order, words separated by one space.

    NFKC, no invisible characters (:func:`clean`), upper case, katakana for
    hiragana, large kana for small, 々 written out, ・ and ＝ as spaces. An
    alphabet name keeps only its letters (no accents, apostrophes, commas or
    hyphens). A 旧氏 or 通称 in brackets is left out (:func:`name_parts`).

    >>> name_text('　山田　　花子 '), name_text('ｽﾐｽ ｼﾞｮﾝ'), name_text('Nguyễn Văn An')
    ('山田 花子', 'スミス ジヨン', 'NGUYEN VAN AN')
    >>> name_text("O'Brien, Mary-Jane"), name_text('リー・ミンホ'), name_text('')
    ('OBRIEN MARY JANE', 'リー ミンホ', '')
    >>> name_text('\\u200b辻\\U000E0101 花子\\u00a0'), name_text('山田［佐藤］花子')
    ('辻 花子', '山田 花子')
    """
    return name_parts(value).current


def _key_of_text(text: str) -> str:
    if text.isascii():  # an alphabet name: only letters and spaces are left
        return "".join(sorted(text.split()))
    return text.replace(" ", "")


@lru_cache(maxsize=_CACHE)
def name_key(value: str | None) -> str:
    """:func:`name_text` without spaces: what :func:`compare_names` compares.

    The words of an alphabet name are sorted first, so their order does not
    matter (a family name may come first or last).

    >>> name_key('山田　花子') == name_key('山田花子') == name_key(' 山田 花子 ')
    True
    >>> name_key('Minho Lee'), name_key('LEE, MINHO')
    ('LEEMINHO', 'LEEMINHO')
    """
    return _key_of_text(name_text(value))


class NameKeys(NamedTuple):
    """Everything a record's name is compared by, computed once (:func:`name_keys`)."""

    key: str  # name_key
    former: str  # former_key
    alias: str  # alias_key
    words: tuple[str, ...]  # alphabet_words
    former_surname: str = ""  # NameParts.former_surname


@lru_cache(maxsize=_CACHE)
def name_keys(value: str | None) -> NameKeys:
    """:func:`name_key`, :func:`former_key`, :func:`alias_key` and :func:`alphabet_words` at once.

    >>> name_keys('山田［佐藤］花子')
    NameKeys(key='山田花子', former='佐藤花子', alias='', words=(), former_surname='')
    """
    parts = name_parts(value)
    text = parts.current
    words = tuple(sorted(text.split())) if text and text.isascii() else ()
    return NameKeys(_key_of_text(text), _key_of_text(parts.former), _key_of_text(parts.alias), words,
                    parts.former_surname)


def former_surname_match(whole: str, surname: str, other: str) -> NameMatch | None:
    """How ``other`` matches the name ``whole`` (a key) with its surname replaced by
    ``surname``, when ``whole`` does not say where its surname ends: the given
    name is taken as the part of ``whole`` as long as ``other``'s given name.

    >>> former_surname_match('山田花子', '佐藤', '佐藤花子'), former_surname_match('山田花子', '齋藤', '斎藤花子')
    (<NameMatch.EXACT: 'exact'>, <NameMatch.VARIANT: 'variant'>)
    >>> former_surname_match('山田花子', '佐藤', '佐藤春子'), former_surname_match('山田花子', '佐藤', '佐藤')
    (None, None)
    """
    given = len(other) - len(surname)
    if not surname or given < 1 or given >= len(whole):
        return None
    return compare_names(surname + whole[-given:], other)


def former_key(value: str | None) -> str:
    """The key of the name with the 旧氏 written beside it, ``''`` without one.

    >>> former_key('山田［佐藤］花子'), former_key('山田 花子')
    ('佐藤花子', '')
    """
    return _key_of_text(name_parts(value).former)


def alias_key(value: str | None) -> str:
    """The key of the 通称 written beside an alphabet name, ``''`` without one.

    >>> alias_key('KIM MINJUN (金田 民夫)')
    '金田民夫'
    """
    return _key_of_text(name_parts(value).alias)


def alphabet_words(value: str | None) -> tuple[str, ...]:
    """The words of an alphabet name, sorted; ``()`` for any other name.

    >>> alphabet_words('Smith, John William'), alphabet_words('山田 花子')
    (('JOHN', 'SMITH', 'WILLIAM'), ())
    """
    text = name_text(value)
    return tuple(sorted(text.split())) if text and text.isascii() else ()


@lru_cache(maxsize=_CACHE)
def alphabet_names_match(mine: tuple[str, ...], registered: tuple[str, ...]) -> bool:
    """Two alphabet names that differ only in their middle names.

    ``mine`` are the record's words in any order; ``registered`` the registry's
    words in its own order, the family name first (as the residence card writes
    it). One side may leave out up to two words or write a word as its
    initial (``JOHN W. SMITH``), as long as the family name is written in full
    and at least two words are written in full on both sides.

    >>> reg = tuple('SMITH JOHN WILLIAM'.split())
    >>> [alphabet_names_match(alphabet_words(n), reg) for n in ('John Smith', 'John W. Smith', 'SMITH, JOHN W')]
    [True, True, True]
    >>> [alphabet_names_match(alphabet_words(n), reg) for n in ('JOHN WILLIAM', 'J W SMITH', 'SMITH JANE', 'SMITH')]
    [False, False, False, False]
    >>> alphabet_names_match(alphabet_words('NGUYEN VAN NAM ANH'), ('NGUYEN', 'VAN', 'NAM'))
    True
    >>> alphabet_names_match(alphabet_words('NGUYEN VAN'), ('NGUYEN', 'VAN', 'NAM', 'ANH', 'THI'))
    False

    A family name of two words may be written as one (DELA CRUZ = DELACRUZ):

    >>> alphabet_names_match(alphabet_words('Rosa Delacruz'), ('DELA', 'CRUZ', 'ROSA'))
    True
    >>> alphabet_names_match(alphabet_words('DE LA CRUZ ROSA'), ('DELACRUZ', 'ROSA'))
    True

    A particle before the family name may be left out (DA SILVA), never the family name:

    >>> reg = ('DA', 'SILVA', 'SANTOS', 'MARIA')
    >>> alphabet_names_match(alphabet_words('Maria Silva Santos'), reg), alphabet_names_match(alphabet_words('MARIA DA SANTOS'), reg)
    (True, False)
    >>> alphabet_names_match(alphabet_words('LE DUC'), ('LE', 'VAN', 'DUC')), alphabet_names_match(alphabet_words('DO LAN'), ('DO', 'THI', 'LAN'))
    (True, True)
    """
    if len(mine) < 2 or len(registered) < 2:
        return False
    mine, registered = _joined_words(mine, registered)
    if len(mine) < 2 or len(registered) < 2 or abs(len(mine) - len(registered)) > 2:
        return False
    # the family name, written in full (its particles may be left out: DA SILVA, VAN DER BERG)
    family = next((word for word in registered if word not in _NAME_PARTICLES), registered[0])
    if family not in mine:
        return False
    short, long = (mine, registered) if len(mine) <= len(registered) else (registered, mine)
    rest = list(long)
    initials = []
    for word in short:  # full words first: an initial must not take a word another writes in full
        if word in rest:
            rest.remove(word)
        else:
            initials.append(word)
    if len(short) - len(initials) < 2:
        return False
    for word in initials:
        fits = next((w for w in rest if (len(word) == 1 and w.startswith(word))
                     or (len(w) == 1 and word.startswith(w))), None)
        if fits is None:
            return False
        rest.remove(fits)
    return True


# particles before a family name (never DO or LE: Vietnamese family names)
_NAME_PARTICLES: Final = frozenset("DA DE DI DOS DAS DEL DELLA LA VAN VON DER DEN TER BIN BINTI AL EL".split())


def _joined_words(mine: tuple[str, ...], registered: tuple[str, ...]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Both names with the words one side writes as one word joined on the other side too
    (two or three neighbouring words of the registry's name; any of the record's, whose
    order is not known)."""
    mine_set, registered_set = set(mine), set(registered)
    out = list(registered)
    for size in (3, 2):
        i = 0
        while i + size <= len(out):
            if "".join(out[i:i + size]) in mine_set:
                out[i:i + size] = ["".join(out[i:i + size])]
            i += 1
    joined = list(mine)
    for size in (3, 2):
        for combination in itertools.permutations(joined, size) if len(joined) <= 6 else ():
            word = "".join(combination)
            if word in registered_set and all(w in joined for w in combination):
                for w in combination:
                    joined.remove(w)
                joined.append(word)
    return tuple(joined), tuple(out)


#: Forms of one character the MJ 縮退マップ keeps apart because JIS X 0208/0213 codes both,
#: the representative first: the 許容字体 of the 常用漢字表 (剝/剥, 叱/𠮟, 塡/填, 頰/頬), the
#: pairs the 人名用漢字 table (戸籍法施行規則 別表第二) lists as one character (亘/亙, 凜/凛,
#: 巌/巖, 晃/晄, 桧/檜, 穣/穰, 遥/遙), the everyday 俗字 of names (薮/藪/籔, 篭/籠), and the
#: Chinese form a GB-based conversion writes (值 for 値). 斎/斉 are two characters, not one.
EXTRA_VARIANTS: Final[tuple[str, ...]] = ("剝剥", "叱𠮟", "塡填", "頰頬", "亘亙", "凜凛", "巌巖", "晃晄", "桧檜", "穣穰",
                                          "遥遙", "藪薮籔", "籠篭", "値值")
_EXTRA: Final = {char: group for group in EXTRA_VARIANTS for char in group}


@lru_cache(maxsize=_CACHE)
def variants(char: str) -> frozenset[str]:
    """The character and its MJ 縮退マップ candidates (all four schemes), with :data:`EXTRA_VARIANTS`.

    >>> sorted(variants('齋')), sorted(variants('斎')), sorted(variants('斉'))
    (['斎', '齋'], ['斎'], ['斉'])
    >>> sorted(variants('髙')), sorted(variants('邉')), sorted(variants('檜'))
    (['高', '髙'], ['辺', '邉', '邊'], ['桧', '檜'])
    """
    if char.isascii():
        return frozenset((char,))
    return frozenset((char, *mj_shrink_candidates(char, _ALL_SCHEMES), *_EXTRA.get(char, "")))


def chars_match(a: str, b: str) -> bool:
    """Whether two characters are one character in variant forms.

    Two different 常用漢字 never match (see :data:`JOYO_KANJI`).

    >>> [chars_match(a, b) for a, b in ('澤沢', '濱浜', '廣広', '櫻桜', '德徳', '冨富', '嶋島', '﨑崎')]
    [True, True, True, True, True, True, True, True]
    >>> chars_match('斎', '斉'), chars_match('玉', '王'), chars_match('a', 'b')
    (False, False, False)
    >>> chars_match('𠮟', '叱'), chars_match('桧', '檜'), chars_match('薮', '籔'), chars_match('篭', '籠')
    (True, True, True, True)
    """
    if a == b:
        return True
    if a in _EXTRA:
        return b in _EXTRA[a]
    if a in JOYO_KANJI and b in JOYO_KANJI:
        return False
    return not variants(a).isdisjoint(variants(b))


@lru_cache(maxsize=_CACHE)
def _fold_char(char: str) -> str:
    """One representative of a character's variants: the 常用漢字 among them, else the smallest
    (the first of its :data:`EXTRA_VARIANTS` group)."""
    if char in _EXTRA:
        return _EXTRA[char][0]
    if char in JOYO_KANJI:
        return char
    candidates = variants(char)
    if len(candidates) == 1:
        return char
    joyo = sorted(candidates & JOYO_KANJI)
    return joyo[0] if len(joyo) == 1 else min(candidates)


def fold_variants(text: str) -> str:
    """Each character replaced by one representative of its variants.

    Equal folds mean a match by :func:`chars_match` (never a false one), so a
    folded name can key an index; a rare pair of variants may still fold
    differently, so a match must be confirmed with :func:`compare_names`.

    >>> fold_variants('齋藤髙橋'), fold_variants('渡邊'), fold_variants('渡邉'), fold_variants('𠮷田')
    ('斎藤高橋', '渡辺', '渡辺', '吉田')
    >>> fold_variants('斉藤'), fold_variants('玉田')
    ('斉藤', '玉田')
    """
    if text.isascii() or not _MAY_FOLD.search(text):  # most texts: no character to look up
        return text
    return text.translate(_FOLDS)


class _Folds(dict):
    """A ``str.translate`` table that learns each character's fold on first sight (C-speed after that)."""

    def __missing__(self, code: int) -> str:
        char = chr(code)
        folded = self[code] = char if char.isascii() else _fold_char(char)
        return folded


_FOLDS: Final = _Folds()


def name_index_key(value: str | None) -> str:
    """The key to index names by: :func:`name_key` with variants folded.

    >>> name_index_key('齋藤　花子') == name_index_key('斎藤花子')
    True
    """
    return fold_variants(name_key(value))


@lru_cache(maxsize=_CACHE)
def _relation(a: str, b: str) -> NameMatch | None:
    """Character-by-character relation of two keys; GAIJI still needs the kana."""
    if len(a) != len(b):
        return _placeholder_runs(a, b)
    variant = False
    placeholders = 0
    for x, y in zip(a, b):
        if x == y:
            continue
        if is_placeholder(x) or is_placeholder(y):
            placeholders += 1
        elif chars_match(x, y):
            variant = True
        else:
            return _placeholder_runs(a, b)
    if placeholders:
        # at least as many intact characters as placeholders
        return NameMatch.GAIJI if len(a) - placeholders >= placeholders else None
    return NameMatch.VARIANT if variant else NameMatch.EXACT


_LONGEST_NAME: Final = 40  # characters of a name key; a longer one is no name a placeholder stands in
_BYTES_PER_CHARACTER: Final = 4  # the most placeholders one character becomes: its four UTF-8 bytes
# is_placeholder of any character, in one search (private use: U+E000–U+F8FF and planes 15–16)
_ANY_PLACEHOLDER: Final = re.compile(
    "[" + re.escape("".join(sorted(PLACEHOLDERS))) + "\ue000-\uf8ff\U000f0000-\U0010fffd]")


def _placeholder_runs(a: str, b: str) -> NameMatch | None:
    """A run of placeholders standing for fewer characters than it has: a byte-wise Shift_JIS
    conversion writes ``??`` for one kanji it cannot map, a UTF-16 system ``??`` for one
    character beyond the BMP (𠮷 is two code units), a UTF-8 one read as bytes ``???`` or
    ``????`` (𠮷 is four bytes). A run of *k* placeholders in one key stands for *k* down to
    *k*/4 characters of the other; the intact characters must match in order
    (:func:`chars_match`) and be at least as many as the characters the placeholders stand for.

    >>> _placeholder_runs('??田花子', '𠮷田花子'), _placeholder_runs('〓〓〓田花子', '髙田花子')
    (<NameMatch.GAIJI: 'gaiji'>, <NameMatch.GAIJI: 'gaiji'>)
    >>> _placeholder_runs('𠮷田花子', '????田花子'), _placeholder_runs('山田??????', '山田𠮷子')
    (<NameMatch.GAIJI: 'gaiji'>, <NameMatch.GAIJI: 'gaiji'>)

    Never a name that is mostly placeholders, nor one missing a character:

    >>> _placeholder_runs('???子', '山田花子'), _placeholder_runs('??田??', '𠮷田花子'), _placeholder_runs('〓〓〓', '花子')
    (None, None, None)
    >>> _placeholder_runs('??田花子', '田花子'), _placeholder_runs('??田花子', '𠮷田花'), _placeholder_runs('山田花子', '山田花')
    (None, None, None)
    """
    for x, y in ((a, b), (b, a)):
        if len(x) > _LONGEST_NAME or len(y) > _LONGEST_NAME or not _ANY_PLACEHOLDER.search(x):
            continue
        intact = _intact_in_runs(x, y)
        if intact is not None and intact * 2 >= len(y):  # no more stood for than kept
            return NameMatch.GAIJI
    return None


def _intact_in_runs(x: str, y: str) -> int | None:
    """The most characters of ``y`` ``x`` keeps intact when each run of placeholders in ``x``
    stands for one to four of its placeholders' worth of ``y``; ``None`` if ``x`` cannot be ``y``."""
    items: list[str | int] = []  # a character, or the length of a run of two or more placeholders
    for placeholder, run in itertools.groupby(x, is_placeholder):
        chars = list(run)
        items.extend([len(chars)] if placeholder and len(chars) > 1 else chars)
    memo: dict[tuple[int, int], int | None] = {}

    def best(i: int, j: int) -> int | None:
        if i == len(items):
            return 0 if j == len(y) else None
        if (i, j) in memo:
            return memo[i, j]
        item = items[i]
        found: int | None = None
        if isinstance(item, int):
            for stands_for in range(-(-item // _BYTES_PER_CHARACTER), min(item, len(y) - j) + 1):
                rest = best(i + 1, j + stands_for)
                if rest is not None and (found is None or rest > found):
                    found = rest
        elif j < len(y) and (item == y[j] or is_placeholder(item) or is_placeholder(y[j]) or chars_match(item, y[j])):
            rest = best(i + 1, j + 1)
            if rest is not None:
                found = rest + (not (is_placeholder(item) or is_placeholder(y[j])))
        memo[i, j] = found
        return found

    return best(0, 0)


def compare_names(a: str, b: str, a_kana: str = "", b_kana: str = "") -> NameMatch | None:
    """How two name keys (:func:`name_key`) match, or ``None``.

    ``a_kana`` and ``b_kana`` (:func:`kana_key`) are used only when a
    placeholder stands in one of the names (:data:`NameMatch.GAIJI`); they
    are compared as :func:`reading_key` reads them (ヤマサキ = ヤマザキ).

    >>> compare_names('山田花子', '山田花子')
    <NameMatch.EXACT: 'exact'>
    >>> compare_names('山田花子', '山田華子', 'ヤマダハナコ', 'ヤマダハナコ') is None  # same reading, other person
    True
    >>> compare_names('ヤマダハナコ', '山田花子', 'ヤマダハナコ', 'ヤマダハナコ') is None  # kana alone
    True
    >>> compare_names(name_key('山●花子'), name_key('山﨑花子'), kana_key('ヤマサキ ハナコ'), kana_key('ヤマザキ ハナコ'))
    <NameMatch.GAIJI: 'gaiji'>
    """
    if a == b:
        return NameMatch.EXACT if a else None
    relation = _relation(a, b)
    if relation is NameMatch.GAIJI:
        if not readings_match(a_kana, b_kana):
            return None
    return relation


def name_differences(a: str, b: str) -> tuple[tuple[str, str], ...]:
    """The character pairs two equally long keys differ in (for an explanation).

    >>> name_differences('齋藤花子', '斎藤花子'), name_differences('〓田花子', '𠮷田花子')
    ((('齋', '斎'),), (('〓', '𠮷'),))
    >>> name_differences('山田', '山田花子')
    ()
    """
    if len(a) != len(b):
        return ()
    return tuple(dict.fromkeys((x, y) for x, y in zip(a, b) if x != y))


# ---------------------------------------------------------------------------
# addresses
# ---------------------------------------------------------------------------

_PREFECTURES: Final = (
    "北海道 青森県 岩手県 宮城県 秋田県 山形県 福島県 茨城県 栃木県 群馬県 埼玉県 千葉県 東京都 神奈川県 "
    "新潟県 富山県 石川県 福井県 山梨県 長野県 岐阜県 静岡県 愛知県 三重県 滋賀県 京都府 大阪府 兵庫県 "
    "奈良県 和歌山県 鳥取県 島根県 岡山県 広島県 山口県 徳島県 香川県 愛媛県 高知県 福岡県 佐賀県 長崎県 "
    "熊本県 大分県 宮崎県 鹿児島県 沖縄県"
).split()
# a prefecture's name is three characters or four (神奈川県), and none begins another: a look-up of the
# first three and four characters finds it (a startswith of 47 names costs more)
_PREFECTURE_BY_LENGTH: Final = {length: frozenset(p for p in _PREFECTURES if len(p) == length) for length in (3, 4)}
_KE_CHARS: Final = _any_of("ヶヵケがガ")
# a 郡 before a 町 or 村 (高岡郡四万十町), often left out; not 郡山市 nor 大和郡山市
_GUN: Final = re.compile(r"^[^市区町村郡\d]{1,5}郡(?=[^市区町村郡\d]{1,6}[町村])")
# every kind of dash is "-"; brackets (a building written in brackets) carry nothing
_DASHES: Final = str.maketrans({**{c: "-" for c in "‐‑‒–—―−─━﹣⁃˗"}, **dict.fromkeys("()[]{}<>「」『』【】〔〕〈〉《》")})
_DASH_OR_BRACKET: Final = _any_of(_DASHES)
# ・ or . between two numbers is a lot's separator (1・2・20, 1.2.20): an address has no decimals
_DOT_BETWEEN_DIGITS: Final = re.compile(r"(?<=\d)[・.](?=\d)")
# a wave dash (〜, or ～ which NFKC writes ~; Shift_JIS 0x8160 decodes to either) separates a lot's numbers only
# in a chain of three or more (1〜2〜3): between two numbers it is a range (1〜3番地: lots 1 to 3), kept as written
_WAVE_CHAIN: Final = re.compile(r"(?<![\d\-.〜~目番地号割の])\d+(?:[〜~]\d+){2,}(?![\d\-.〜~])")
_WAVES: Final = str.maketrans("〜~", "--")
_RANGE_WAVES: Final = frozenset("〜~")
_LONG_MARK_DASH: Final = re.compile(r"(?<=\d)[ーｰ](?=\d)")
_SPACE_BETWEEN_DIGITS: Final = re.compile(r"(?<=\d)\s+(?=\d)")
_KANJI_NUMERAL: Final = "〇○零一二三四五六七八九十百千壱弐参拾"
_KANJI_RUN: Final = re.compile(f"[{_KANJI_NUMERAL}]+")
# 壱 弐 参 拾: the 大字 (formal numerals) older address lines and the 戸籍 write
_KANJI_DIGITS: Final = {c: i for i, c in enumerate("〇一二三四五六七八九")} | {"○": 0, "零": 0, "壱": 1, "弐": 2, "参": 3}
_KANJI_UNITS: Final = {"十": 10, "拾": 10, "百": 100, "千": 1000}
_MAX_KANJI_RUN: Final = 8  # 千二百三十四 is six; a longer run is no address number
_UNIT_AFTER: Final = ("丁目", "番地", "番", "号", "地割", "条", "線", "-")
_UNIT_CHARS: Final = frozenset("丁目番地号割の-")
_KANJI_FOLLOWS_UNIT: Final = re.compile(r"\d(?:丁目|番地|番|号|地割|の|-)+$")
# ノ and 之 (丸之内) between two kanji or two numbers (2ノ20); a placeholder counts as a kanji (●ノ内)
_KANJI_OR_PLACEHOLDER: Final = "\\u3400-\\u9fff\\ue000-\\uf8ff〓●■□?_*\\ufffd"
_NO_BETWEEN: Final = re.compile(f"(?<=[{_KANJI_OR_PLACEHOLDER}\\d])[ノ之](?=[{_KANJI_OR_PLACEHOLDER}\\d])")
# ヶ/ケ/が/ガ after a kanji or a kana (つつじヶ丘 = つつじが丘), before a kanji
_KE_BETWEEN: Final = re.compile(f"(?<=[{_KANJI_OR_PLACEHOLDER}\\u3041-\\u3096\\u30a1-\\u30fa])[ヶヵケがガ]"
                                f"(?=[{_KANJI_OR_PLACEHOLDER}])")
# a dash keyed for ー between two katakana of a building's name (コ－ポ = コーポ)
# (the hyphen first, then what is before it: a pattern that starts with a lookbehind is tried at every position)
_DASH_IN_KATAKANA: Final = re.compile(r"-(?<=[\u30a1-\u30fa\u30fc]-)(?=[\u30a1-\u30fa])")
_AZA: Final = re.compile(r"[大小]字|(?<=[^\d〇一二三四五六七八九十])字(?=[^\d])")
# a postal code written before the address (〒780-0850, 780-0850)
_POSTAL_CODE: Final = re.compile(r"^〒?\d{3}-?\d{4}(?!\d)")
_LOT_LETTERS: Final = tuple("甲乙丙丁戊己庚辛")  # a part of the lot (南国市大埇甲1234), never a building
_ORDINAL: Final = re.compile(r"(?<![\d第])第(?=\d)")
_MARKERS: Final = re.compile(r"(?<=\d)(?:丁目|番地|番|号|地割|の|-)+")
_HYPHEN_BEFORE_TEXT: Final = re.compile(r"-+(?=[^\d]|$)")
_ROOM_SUFFIX: Final = re.compile(r"(?:号室|号|室)$")
# Kyoto's directions after a street (河原町通三条上る): 上る 上ル 上がる 上ガル are one, so are 東入 東入る 東入ル
_KYOTO_DIRECTION: Final = re.compile(r"([上下])(?:る|ル|がる|ガル)|([東西])入(?:る|ル)?")


def _wave_chain_as_hyphens(match: re.Match) -> str:
    """A chain of numbers joined by wave dashes written with hyphens (1〜2〜3 = 1-2-3)."""
    return match.group().translate(_WAVES)


def _kyoto_direction(match: re.Match) -> str:
    up_down, east_west = match.groups()
    return f"{up_down}ル" if up_down else f"{east_west}入"


# how a Kyoto address begins once the prefecture is dropped (not 北区 or 南区: other cities have them too)
_KYOTO_HEADS: Final = ("京都市", "上京区", "左京区", "中京区", "東山区", "下京区", "右京区", "伏見区", "山科区", "西京区")
_KYOTO_HEAD_SET: Final = frozenset(_KYOTO_HEADS)  # each three characters (a test checks)


def _kyoto_street_form(text: str) -> str:
    """A Kyoto street designation as compared: the direction one way (上る = 上ル = 上がる, 東入る = 東入),
    and the street without 通/通り, often left out (河原町通三条上る = 河原町三条上ル). Outside a
    Kyoto address only a designation that writes 通 is one.

    >>> _kyoto_street_form('京都市中京区河原町通り三条上る下丸屋町'), _kyoto_street_form('京都市中京区河原町三条上ガル下丸屋町')
    ('京都市中京区河原町三条上ル下丸屋町', '京都市中京区河原町三条上ル下丸屋町')
    >>> _kyoto_street_form('高知市桟橋通三丁目'), _kyoto_street_form('浦安市東入船1')
    ('高知市桟橋通三丁目', '浦安市東入船1')
    """
    text = _KYOTO_DIRECTION.sub(_kyoto_direction, text)
    kyoto = text.startswith(_KYOTO_HEADS)
    return _KYOTO_STREET.sub(lambda m: m.group().replace("通り", "").replace("通", "")
                             if kyoto or "通" in m.group() else m.group(), text)


def kanji_number(value: str) -> int:
    """A number written in kanji, positional (二〇) or with 十/百/千.

    Raises ``ValueError`` for a run longer than an address number has
    (:func:`address_key` leaves such a run as it is).

    >>> kanji_number('三'), kanji_number('十'), kanji_number('二十'), kanji_number('三十二')
    (3, 10, 20, 32)
    >>> kanji_number('二〇'), kanji_number('百五'), kanji_number('千二百三十四')
    (20, 105, 1234)
    >>> kanji_number('一' * 5000)
    Traceback (most recent call last):
    ...
    ValueError: a kanji number of 5000 characters is not an address number
    """
    if len(value) > _MAX_KANJI_RUN:
        raise ValueError(f"a kanji number of {len(value)} characters is not an address number")
    if not any(c in _KANJI_UNITS for c in value):
        return int("".join(str(_KANJI_DIGITS[c]) for c in value))
    total = 0
    digit: int | None = None
    for char in value:
        unit = _KANJI_UNITS.get(char)
        if unit is None:
            digit = _KANJI_DIGITS[char] if digit is None else digit * 10 + _KANJI_DIGITS[char]
        else:
            total += (1 if digit is None else digit) * unit
            digit = None
    return total + (digit or 0)


def _kanji_numbers_to_arabic(text: str) -> str:
    """Kanji numbers next to an address marker written in Arabic numerals, in one pass.

    A run is converted when a marker follows it (丁目, 番地, 番, 号, 地割, 条,
    線, a hyphen, or の and another number), or when it follows a number and
    a marker (2番地の二十) or a lot letter (乙二七六九). Linear in the text: each
    run is looked at once.
    """
    out: list[str] = []
    position = 0
    for match in _KANJI_RUN.finditer(text):
        start, end = match.span()
        out.append(text[position:start])
        position = end
        run = match.group()
        if len(run) <= _MAX_KANJI_RUN:
            rest = text[end:end + 3]
            if (rest.startswith(_UNIT_AFTER)
                    or (rest[:1] == "の" and (rest[1:2].isdigit() or rest[1:2] in _KANJI_NUMERAL))):
                run = _arabic(run)
            else:
                # the last 12 characters written, only when needed: every piece but the first is
                # at least one character, so the last 12 pieces hold them (never the whole output:
                # that would be quadratic)
                tail = "".join(piece[-12:] for piece in out[-12:])[-12:]
                if _KANJI_FOLLOWS_UNIT.search(tail) or tail.endswith(_LOT_LETTERS):
                    run = _arabic(run)
        out.append(run)
    out.append(text[position:])
    return "".join(out)


@lru_cache(maxsize=1024)  # an address writes a few small numbers (一, 二十, 三一) again and again
def _arabic(run: str) -> str:
    """A kanji number in Arabic numerals (:func:`kanji_number`).

    >>> _arabic('二十'), _arabic('三一')
    ('20', '31')
    """
    return str(kanji_number(run))


@lru_cache(maxsize=_CACHE)
def address_key(value: str | None) -> str:
    """An address as compared.

    - NFKC without invisible characters (:func:`clean`); spaces dropped
      (between two numbers, a space is a hyphen: ``20 101`` is a room);
      every kind of dash (and ー between digits) is ``-``;
    - a postal code before the address is dropped (〒780-0850), letters are
      upper case (a building's name);
    - the prefecture is dropped (高知県高知市… = 高知市…), so is a 郡 before
      its 町 or 村 (高岡郡四万十町 = 四万十町), and 大字, 小字 and 字;
    - ノ and 之 between kanji or numbers are written の (丸ノ内 = 丸之内 =
      丸の内, 2ノ20 = 2の20); ヶ/ケ/が/ガ between kanji are written ケ
      (霞ヶ関 = 霞ケ関 = 霞が関);
    - kanji numbers (also 壱 弐 参 拾) next to 丁目/番地/番/号/の/条/地割, or
      after 甲/乙…, become Arabic (一丁目 = 1丁目, 二十号 = 20号,
      百二十三番地 = 123番地, 乙二七六九 = 乙2769);
    - ・ or . between two numbers is ``-`` (1・2・3 = 1.2.3 = 1-2-3); so is a
      wave dash (〜, ～, ~) in a chain of three or more numbers (1〜2〜3), never
      between two (1〜3番地 is a range of lots);
    - after a number, 丁目, 番地, 番, 号, の and hyphens are one ``-``,
      dropped at the end and before a building name (方書);
    - variant characters are folded (:func:`fold_variants`).

    Every step is linear in the input (an address of 180,000 characters takes
    milliseconds), and no input raises.

    >>> address_key('高知市 丸ノ内１－２－２０'), address_key('高知県高知市丸の内一丁目二番二十号')
    ('高知市丸の内1-2-20', '高知市丸の内1-2-20')
    >>> address_key('南国市大そね甲1番地の3'), address_key('札幌市中央区北一条西二丁目1番地')
    ('南国市大そね甲1-3', '札幌市中央区北1条西2-1')
    >>> address_key('高知市本町1ー1'), address_key('京都市東山区'), address_key(None)
    ('高知市本町1-1', '京都市東山区', '')
    >>> address_key('幡多郡黒潮町大字入野字浜百二十三番地') == address_key('黒潮町入野浜123')
    True
    >>> len({address_key(a) for a in ('2番地20', '2番地の20', '2-20', '2番20号', '２番２０号', '二番二十号')})
    1
    >>> address_key('千代田区霞ヶ関1丁目') == address_key('千代田区霞が関一丁目') == address_key('千代田区霞ケ関1')
    True
    >>> address_key('〒780-0850 高知市丸之内1ノ2ノ20'), address_key('高知市大津乙二七六九'), address_key('高知市壱丁目拾番')
    ('高知市丸の内1-2-20', '高知市大津乙2769', '高知市1-10')
    >>> address_key('横浜市つつじヶ丘1-1コ－ポ3') == address_key('横浜市つつじが丘1-1コーポ3')
    True
    >>> address_key('高知市丸ノ内1・2・20（コーポ・丸ノ内101）')
    '高知市丸の内1-2-20コーポ丸の内101'
    >>> address_key('高知市本町1.2.3'), address_key('高知市本町１．２．３'), address_key('本町NO.5ビル')
    ('高知市本町1-2-3', '高知市本町1-2-3', '本町NO.5ビル')
    >>> address_key('高知市本町1〜2〜3'), address_key('高知市本町1～2～3'), address_key('高知市本町1~2~3番地')
    ('高知市本町1-2-3', '高知市本町1-2-3', '高知市本町1-2-3')

    A wave dash between two numbers is a range (lots 1 to 3), not one lot, and stays:

    >>> address_key('高知市本町1〜3番地'), address_key('高知市本町1-2〜3'), address_key('高知市本町1丁目2〜3〜4')
    ('高知市本町1〜3', '高知市本町1-2〜3', '高知市本町1-2〜3〜4')

    >>> address_key('高知市' + '一' * 5000 + '丁目')[:6]
    '高知市一一一'
    """
    if not value:
        return ""
    text = clean(value).upper()
    plain = _PLAIN_ADDRESS.fullmatch(text)
    if plain is not None:
        key = _plain_address_key(plain)
        if key is not None:
            return key
    return _address_key_of(text)


def _address_key_of(text: str) -> str:
    """:func:`address_key` of an NFKC, upper-case text (:func:`clean`), step by step."""
    # each step only where its character occurs: most addresses need few of them
    if " " in text or "\t" in text or not text.isprintable():
        text = "".join(_SPACE_BETWEEN_DIGITS.sub("-", text).split())
    if _DASH_OR_BRACKET.search(text):
        text = text.translate(_DASHES)
    if "・" in text:  # 1・2・20 is a lot; elsewhere (コーポ・丸ノ内) a dot carries nothing
        text = _DOT_BETWEEN_DIGITS.sub("-", text).replace("・", "")
    if "." in text:  # 1.2.20 is a lot; elsewhere (NO.5) the period stays
        text = _DOT_BETWEEN_DIGITS.sub("-", text)
    if "〜" in text or "~" in text:
        text = _WAVE_CHAIN.sub(_wave_chain_as_hyphens, text)
    if text[:1] == "〒" or text[:1].isdigit():
        text = _POSTAL_CODE.sub("", text, count=1)
    if "ー" in text or "ｰ" in text:
        text = _LONG_MARK_DASH.sub("-", text)
    if text[:3] in _PREFECTURE_BY_LENGTH[3]:
        text = text[3:]
    elif text[:4] in _PREFECTURE_BY_LENGTH[4]:
        text = text[4:]
    if "郡" in text:
        text = _GUN.sub("", text, count=1)
    if "字" in text:
        text = _AZA.sub("", text)
    if "通" in text or text[:3] in _KYOTO_HEAD_SET:
        text = _kyoto_street_form(text)
    if "ノ" in text or "之" in text:
        text = _NO_BETWEEN.sub("の", text)
    if _KANJI_RUN.search(text):
        text = _kanji_numbers_to_arabic(text)
    if _KE_CHARS.search(text):
        text = _KE_BETWEEN.sub("ケ", text)
    if "第" in text:  # 第5地割 = 5地割, 第12号 = 12号: the ordinal adds nothing to the number
        text = _ORDINAL.sub("", text)
    text = _MARKERS.sub("-", text)
    if "-" in text:
        text = _HYPHEN_BEFORE_TEXT.sub("", _DASH_IN_KATAKANA.sub("ー", text))
    return fold_variants(text)


# The form most registry lines and many extracts write, read without the steps: a place name of
# characters none of them acts on (kanji, kana; no kanji numeral, none of 郡 字 通 之 第 ノ ヶ ケ が ・ ー,
# no digit, space, dash or bracket), then 二丁目29番21号, 123番地 or 1-2-3 (a test compares with the steps)
_STEPPED: Final = frozenset(_KANJI_NUMERAL + "郡字通之第ノがガケヵヶ")  # (・ and ー are past the katakana taken)
_PLAIN_PLACE = _char_class(c for c in (0x3005, *range(0x3041, 0x3097), *range(0x30A1, 0x30FB), *range(0x4E00, 0xA000))
                           if chr(c) not in _STEPPED)
_PLAIN_ADDRESS: Final = re.compile(
    f"(?P<place>[{_PLAIN_PLACE}]+)(?:(?P<chome>[{_KANJI_NUMERAL}]{{1,{_MAX_KANJI_RUN}}})丁目"
    f"(?P<ban>[0-9]+)番(?P<go>[0-9]+)号|(?P<lot>[0-9]+)番地|(?P<lots>[0-9]+(?:-[0-9]+)*))")


def _plain_address_key(plain: re.Match) -> str | None:
    """:func:`address_key` of a text in the plain form (:data:`_PLAIN_ADDRESS`); ``None`` for one
    whose place is only a prefecture or begins a Kyoto address (the steps read those)."""
    place, chome, ban, go, lot, lots = plain.groups()
    if place[:3] in _PREFECTURE_BY_LENGTH[3]:
        place = place[3:]
    elif place[:4] in _PREFECTURE_BY_LENGTH[4]:
        place = place[4:]
    if not place or place[:3] in _KYOTO_HEAD_SET:
        return None
    return fold_variants(place + (f"{_arabic(chome)}-{ban}-{go}" if chome else lot or lots))


def _room(building: str) -> str:
    """A building-and-room part as compared: no hyphens or 棟, no 号室/号/室 at the end
    (コーポA棟101号室 = コーポA-101)."""
    return _ROOM_SUFFIX.sub("", building.replace("-", "").replace("棟", ""))


@lru_cache(maxsize=_CACHE)
def address_difference(a: str, b: str) -> str | None:
    """How two address keys (:func:`address_key`) name the same place: ``''`` when
    equal, ``'building'`` when only the building and room (方書) is written on one
    side or written differently; ``'placeholder'``, ``'municipality'`` or ``'koaza'``
    (each perhaps with ``',building'``) when one side writes a placeholder in the
    place name, leaves out the municipality or the 小字 (:func:`_written_apart`);
    ``None`` when they are different places.

    >>> address_difference('高知市本町1-1', '高知市本町1-1'), address_difference('高知市本町1-1', '高知市本町1-1コーポ本町2F')
    ('', 'building')
    >>> address_difference('高知市丸の内1-2-20コーポ丸の内101室', '高知市丸の内1-2-20-101')
    'building'
    >>> address_difference('高知市丸の内1-2-20ハイツ101', '高知市丸の内1-2-20ハイツ102') is None
    True
    >>> address_difference('高知市丸の内1-2-20サンハイツ丸の内101', '高知市丸の内1-2-20サンハイツ101')
    'building'
    >>> address_difference('高知市丸の内1-2-20コーポA101', '高知市丸の内1-2-20メゾンB101') is None
    True
    >>> address_difference('南国市大埇甲1234', '南国市大埇甲1234-101') is None  # 枝番, not a room
    True
    >>> address_difference('高知市本町1〜3', '高知市本町1') is None  # a range of lots, not lot 1 and a building
    True
    >>> address_difference('高知市丸の内1-2-20', '丸の内1-2-20コーポ101'), address_difference('黒潮町入野浜123', '黒潮町入野123')
    ('municipality,building', 'koaza')
    """
    same = _same_lot(a, b)
    if same is not None or not a or not b or _first_numbers_differ(a, b):
        return same
    return _written_apart(a, b)


# Every way _written_apart reads two keys keeps each key's first number (it cuts or fills in only
# names, before the lot or between a name and the lot, never a digit nor between two), and
# _same_lot needs the first numbers equal: keys whose first numbers differ name two places. Not
# so where a Kyoto street may be cut (上ル2, 3条: with its numbers), nor for a digit that \d does
# not match (❶, ፩: a cut name may hold one).
_FIRST_NUMBER: Final = re.compile(r"\d+")
_DIGITS_BUT_DECIMAL: Final = _any_of(c for c in range(0x20000) if chr(c).isdigit() and not chr(c).isdecimal())


def _first_numbers_differ(a: str, b: str) -> bool:
    """Whether two address keys certainly name two places by their first numbers (see above).

    >>> _first_numbers_differ('高知市本町1-1', '南国市後免町2-1'), _first_numbers_differ('本町1-1', '高知市本町1-2')
    (True, False)
    >>> _first_numbers_differ('京都市中京区河原町3条上ル下丸屋町1', '京都市中京区下丸屋町1')
    False
    """
    if "ル" in a or "入" in a or "ル" in b or "入" in b or _DIGITS_BUT_DECIMAL.search(a) or _DIGITS_BUT_DECIMAL.search(b):
        return False
    first_a, first_b = _FIRST_NUMBER.search(a), _FIRST_NUMBER.search(b)
    return (first_a and first_a.group()) != (first_b and first_b.group())


def _same_lot(a: str, b: str) -> str | None:
    """:func:`address_difference` of two keys that write the place alike: ``''``, ``'building'`` or ``None``."""
    if a == b:
        return "" if a else None
    common = 0
    for x, y in zip(a, b):
        if x != y:
            break
        common += 1
    # the shared part must end a number: the rest on either side is a building or nothing
    # (a building name both write alike up to a point is part of the rest: コーポA棟101/コーポA-101)
    while common and not a[common - 1].isdigit():
        common -= 1
    if not common:
        return None
    rest_a, rest_b = a[common:], b[common:]
    # a room written as one more number ("1-2-20-101") only after a full 丁目-番-号
    room_number_allowed = a[:common].count("-") >= 2
    for rest in (rest_a, rest_b):
        if rest and (rest[0].isdigit() or rest[0] in _LOT_LETTERS or rest[0] in _RANGE_WAVES):
            return None  # more of the lot, or a range of lots (1〜3番地 is not the lot 1 and a building)
        if rest.startswith("-") and not (room_number_allowed and _ROOM_HYPHEN.match(rest)):
            return None
    if not rest_a or not rest_b:
        rest = rest_a or rest_b
        return "building" if not rest.startswith("-") or _ROOM_HYPHEN.fullmatch(rest) else None
    room_a, room_b = _room(rest_a), _room(rest_b)
    if room_a == room_b or (room_a and room_b and (room_a.endswith(room_b) or room_b.endswith(room_a))
                            and room_a[-1:].isdigit()):
        return "building"
    # one room of one building whose name one side shortens (サンハイツ丸の内101 / サンハイツ101)
    numbered_a, numbered_b = _NUMBERED_ROOM.fullmatch(room_a), _NUMBERED_ROOM.fullmatch(room_b)
    if (numbered_a and numbered_b and numbered_a["room"] == numbered_b["room"] and numbered_a["building"]
            and numbered_b["building"] and (numbered_a["building"] in numbered_b["building"]
                                            or numbered_b["building"] in numbered_a["building"])):
        return "building"
    return None


_ROOM_HYPHEN: Final = re.compile(r"-\d{3,4}(?:号室|号|室)?")
_NUMBERED_ROOM: Final = re.compile(r"(?P<building>.*?\D)(?P<room>\d{2,4})")
_HAS_DIGIT: Final = re.compile(r"\d")
_WARD_HEAD: Final = re.compile(r"[^\d市区町村]{1,4}区")
_TOWN_HEAD: Final = re.compile(r"[^\d市区町村]{1,5}[区町村]")
_NOT_DIGITS: Final = re.compile(r"\D+")
_KOAZA_NAME: Final = re.compile(f"[^\\d{''.join(_LOT_LETTERS)}]+")
# a 小字 name is short and is none of: a lot letter, a direction or position a town name
# carries (朝倉東, 朝倉本町), a 町/丁/条/通 of the town itself
_NOT_A_KOAZA: Final = re.compile(r".{6,}|^[東西南北上下中新本元]$|[甲乙丙丁戊己庚辛市区町村郡丁条通\-]")


def _written_apart(a: str, b: str) -> str | None:
    """Two keys of one place that one side writes with less: a placeholder (〓, ●…, a 外字
    code) for a character of the place name it could not store; no municipality (a city's
    own system writes 丸ノ内1-2-20 for 高知市丸ノ内…, a ward's 中央区… for 札幌市中央区…);
    no 小字 (黒潮町入野123 for 黒潮町入野字浜123). The rest must be :func:`_same_lot`.

    >>> _written_apart('高知市〓町1-1', '高知市𠮷町1-1'), _written_apart('札幌市中央区北1条西2-1', '中央区北1条西2-1')
    ('placeholder', 'municipality')
    >>> _written_apart('高知市本町1-1', '南国市本町1-1'), _written_apart('高知市丸の内1-2-20', '高知市1-2-20')
    (None, None)
    >>> _written_apart('四日市市本町1-1', '本町1-1'), _written_apart('市川市本町1-1', '本町1-1')
    ('municipality', 'municipality')
    >>> _written_apart('高知市朝倉東1-1', '高知市朝倉1-1'), _written_apart('南国市大埇甲1234', '南国市大埇1234')
    (None, None)
    >>> _written_apart('高知市大津浜甲123', '高知市大津甲123'), _written_apart('高知市大津浜甲123', '高知市大津乙123')
    ('koaza', None)
    >>> _written_apart('〓〓町1-1', '本通町1-1') is None  # more placeholders than characters kept
    True

    Together: a city's own system leaves the municipality and the 小字 out, or writes a placeholder:

    >>> _written_apart('黒潮町入野浜123', '入野123'), _written_apart('入野浜123', '黒潮町入野123')
    ('municipality,koaza', 'municipality,koaza')
    >>> _written_apart('高知市〓町1-1コーポ101', '𠮷町1-1')
    'placeholder,municipality,building'

    """
    for x, y in ((a, b), (b, a)):
        for shorter, left_out in _ward_and_street_left_out(x, y):
            for municipality in (shorter, *_without_municipality(shorter, y)):
                for filled in (municipality, _placeholders_filled(municipality, y)):
                    if filled is None:
                        continue
                    for mine, theirs in ((filled, y), (_koaza_left_out(filled, y), y),
                                         (filled, _koaza_left_out(y, filled))):
                        if mine is None or theirs is None or (mine, theirs) == (x, y):
                            continue
                        same = _same_lot(mine, theirs)
                        if same is not None:
                            how = [*left_out] + [name for name, applies in (
                                ("placeholder", filled is not municipality),
                                ("municipality", municipality is not shorter),
                                ("koaza", (mine, theirs) != (filled, y)),
                                ("building", same)) if applies]
                            return ",".join(how)
    return None


#: the 政令指定都市, whose wards (区) a city-wide system may leave out (横浜市本町… for 横浜市中区本町…);
#: not Tokyo's 特別区, each a municipality of its own
DESIGNATED_CITIES: Final = ("札幌市", "仙台市", "さいたま市", "千葉市", "横浜市", "川崎市", "相模原市", "新潟市", "静岡市",
                            "浜松市", "名古屋市", "京都市", "大阪市", "堺市", "神戸市", "岡山市", "広島市", "北九州市",
                            "福岡市", "熊本市")
#: wards a designated city has renamed, the old name to the new ones its area went to: 浜松市's seven
#: wards became three on 2024-01-01 (北区 was split between 中央区 and 浜名区); a system not yet changed
#: writes the old ward of the same place
WARD_RENAMES: Final[dict[str, dict[str, tuple[str, ...]]]] = {
    "浜松市": {"中区": ("中央区",), "東区": ("中央区",), "西区": ("中央区",), "南区": ("中央区",),
               "北区": ("中央区", "浜名区"), "浜北区": ("浜名区",)},
}
_DESIGNATED_WARD: Final = re.compile(f"(?P<city>{'|'.join(DESIGNATED_CITIES)})(?P<ward>[^\\d市区町村]{{1,4}}区)(?=[^\\d-])")
# a Kyoto street designation before the town: 河原町通3条上ル (三条 is 3条 in a key), 四条通烏丸東入,
# 寺町通御池下ル西入, 寺町通今出川上ル2 (上ル二丁目: the second block) — a street, then one or more
# of 上ル 下ル 東入 西入 (as address_key writes them)
_KYOTO_STREET: Final = re.compile(r"(?:^|(?<=[区市]))(?:(?:[^\d区市]|\d+条){1,24}?(?:上ル|下ル|東入|西入)\d*)+(?=[^\d-])")


def _ward_and_street_left_out(x: str, y: str) -> list[tuple[str, tuple[str, ...]]]:
    """``x`` itself, and ``x`` without what ``y`` does not write: the ward of a 政令指定都市 when ``y``
    writes the city without a ward (横浜市中区本町1-1 / 横浜市本町1-1); a Kyoto street designation
    when ``y`` writes none (京都市中京区河原町3条上ル下丸屋町123 / 京都市中京区下丸屋町123: a key writes
    the street without 通, :func:`_kyoto_street_form`).

    >>> _ward_and_street_left_out('横浜市中区本町1-1', '横浜市本町1-1')
    [('横浜市中区本町1-1', ()), ('横浜市本町1-1', ('ward',))]
    >>> _ward_and_street_left_out('京都市中京区河原町3条上ル下丸屋町123', '中京区下丸屋町123')[1]
    ('京都市中京区下丸屋町123', ('street',))
    >>> len(_ward_and_street_left_out('横浜市中区本町1-1', '横浜市西区本町1-1'))  # both write a ward
    1

    A ward written by its old name (:data:`WARD_RENAMES`):

    >>> _ward_and_street_left_out('浜松市北区細江町気賀1', '浜松市浜名区細江町気賀1')[1]
    ('浜松市浜名区細江町気賀1', ('ward_renamed',))
    >>> len(_ward_and_street_left_out('浜松市中区元城町1', '浜松市浜名区元城町1'))
    1
    """
    forms: list[tuple[str, tuple[str, ...]]] = [(x, ())]
    if "区" in x and y.startswith(DESIGNATED_CITIES):
        ward = _DESIGNATED_WARD.match(x)
        theirs = _DESIGNATED_WARD.match(y)
        if ward and y.startswith(ward["city"]) and not theirs:
            forms.append((ward["city"] + x[ward.end():], ("ward",)))
        elif (ward and theirs and ward["city"] == theirs["city"]
              and theirs["ward"] in WARD_RENAMES.get(ward["city"], {}).get(ward["ward"], ())):
            forms.append((ward["city"] + theirs["ward"] + x[ward.end():], ("ward_renamed",)))
    if ("ル" in x or "入" in x) and not _KYOTO_STREET.search(y):
        for form, left_out in list(forms):
            street = _KYOTO_STREET.search(form)
            if street and (form.startswith(_KYOTO_HEADS) or street.start() == 0):
                forms.append((form[:street.start()] + form[street.end():], (*left_out, "street")))
    return forms


def _placeholders_filled(x: str, y: str) -> str | None:
    """``x`` with the placeholders of its place name (the part before the first number)
    taken from ``y``, if the rest of the place name is ``y``'s and the town (after the city, ward
    or 郡 both write) keeps at least as many characters as its placeholders stand for. A run of
    placeholders may stand for fewer characters, as in a name (:func:`_placeholder_runs`).

    >>> _placeholders_filled('高知市〓町1-1', '高知市𠮷町1-1'), _placeholders_filled('高知市????町1-1', '高知市𠮷町1-1')
    ('高知市𠮷町1-1', '高知市𠮷町1-1')

    Never a town of placeholders, however much of the city is written:

    >>> _placeholders_filled('高知市??????1-1', '高知市𠮷町1-1'), _placeholders_filled('高知市〓〓1-1', '高知市𠮷町1-1')
    (None, None)
    >>> _placeholders_filled('????町1-1', '𠮷田町1-1'), _placeholders_filled('高知市〓町1-1', '高知市〓町1-2')
    (None, None)
    """
    place_x, place_y = _NOT_DIGITS.match(x), _NOT_DIGITS.match(y)
    if not place_x or not place_y:
        return None
    written, meant = place_x.group(), place_y.group()
    if (len(written) > _LONGEST_NAME or _ANY_PLACEHOLDER.search(meant)
            or not _ANY_PLACEHOLDER.search(written)):
        return None
    town = _town_start(written, meant)
    intact = _intact_in_runs(written[town:], meant[town:])
    if intact is None or intact * 2 < len(meant) - town:
        return None
    return meant + x[place_x.end():]


def _town_start(written: str, meant: str) -> int:
    """Where the town begins in two place names: after the last 市, 区 or 郡 of the part both write alike."""
    common = 0
    for p, q in zip(written, meant):
        if p != q:
            break
        common += 1
    return max((i + 1 for i in range(common) if meant[i] in "市区郡"), default=0)


def _without_municipality(x: str, y: str) -> list[str]:
    """``x`` without its municipality (city, city and ward, or a town or village), each way it
    can be cut, when ``y`` starts with a place name that is not that municipality."""
    if not y[:1] or y[0].isdigit() or y[0] == "-":
        return []
    heads = []
    # a city's name may hold 市 itself (市川市, 四日市市): every 市 of the first seven characters ends one
    for city_end in (i + 1 for i in range(1, min(len(x), 7)) if x[i] == "市" and not _HAS_DIGIT.search(x, 0, i)):
        heads.append(city_end)
        ward = _WARD_HEAD.match(x, city_end)
        if ward:
            heads.append(ward.end())
    if not heads:
        town = _TOWN_HEAD.match(x)
        if town:
            heads.append(town.end())
    return [x[h:] for h in heads if x[h:h + 1] and not x[h].isdigit() and not y.startswith(x[:h])]


def _koaza_left_out(x: str, y: str) -> str | None:
    """``x`` without the 小字 name ``y`` leaves out just before the lot number, or ``None``."""
    common = 0
    for p, q in zip(x, y):
        if p != q:
            break
        common += 1
    lot_starts = y[common:common + 1]
    if (common < 2 or not (lot_starts.isdigit() or lot_starts in _LOT_LETTERS) or x[common - 1] in "市区町村郡-"
            or x[common - 1].isdigit() or x[common - 1] in _LOT_LETTERS):
        return None
    name = _KOAZA_NAME.match(x, common)
    if name is None or name.end() == len(x) or _NOT_A_KOAZA.search(name.group()):
        return None
    return x[:common] + x[name.end():]


def addresses_match(a: str, b: str) -> bool:
    """Whether two address keys (:func:`address_key`) name the same place.

    Equal keys match; so do keys where one is the other followed by a
    building name (not by more of the number, nor by 甲/乙…), or where both
    carry the same room of one building, written differently
    (:func:`address_difference`).

    >>> addresses_match('高知市本町1-1', '高知市本町1-1コーポ本町2F')
    True
    >>> addresses_match('高知市本町1-1', '高知市本町1-12'), addresses_match('高知市本町1', '高知市本町1-1')
    (False, False)
    >>> addresses_match('', '高知市本町1-1')
    False
    """
    return address_difference(a, b) is not None


# ---------------------------------------------------------------------------
# data
# ---------------------------------------------------------------------------

#: 常用漢字表 (平成22年内閣告示第2号): the 2,136 characters, plus 𠮟 (U+20B9F),
#: the notice's own form of 叱. Two different characters of this list are two
#: different characters, never variants of each other, whatever a map says.
JOYO_KANJI: Final = frozenset("".join("""
亜哀挨愛曖悪握圧扱宛嵐安案暗以衣位囲医依委威為畏胃尉異移萎偉椅彙意違維慰遺緯域育一
壱逸茨芋引印因咽姻員院淫陰飲隠韻右宇羽雨唄鬱畝浦運雲永泳英映栄営詠影鋭衛易疫益液駅悦越謁閲円延沿炎
宴怨媛援園煙猿遠鉛塩演縁艶汚王凹央応往押旺欧殴桜翁奥横岡屋億憶臆虞乙俺卸音恩温穏下化火加可仮何花佳
価果河苛科架夏家荷華菓貨渦過嫁暇禍靴寡歌箇稼課蚊牙瓦我画芽賀雅餓介回灰会快戒改怪拐悔海界皆械絵開階
塊楷解潰壊懐諧貝外劾害崖涯街慨蓋該概骸垣柿各角拡革格核殻郭覚較隔閣確獲嚇穫学岳楽額顎掛潟括活喝渇割
葛滑褐轄且株釜鎌刈干刊甘汗缶完肝官冠巻看陥乾勘患貫寒喚堪換敢棺款間閑勧寛幹感漢慣管関歓監緩憾還館環
簡観韓艦鑑丸含岸岩玩眼頑顔願企伎危机気岐希忌汽奇祈季紀軌既記起飢鬼帰基寄規亀喜幾揮期棋貴棄毀旗器畿
輝機騎技宜偽欺義疑儀戯擬犠議菊吉喫詰却客脚逆虐九久及弓丘旧休吸朽臼求究泣急級糾宮救球給嗅窮牛去巨居
拒拠挙虚許距魚御漁凶共叫狂京享供協況峡挟狭恐恭胸脅強教郷境橋矯鏡競響驚仰暁業凝曲局極玉巾斤均近金菌
勤琴筋僅禁緊錦謹襟吟銀区句苦駆具惧愚空偶遇隅串屈掘窟熊繰君訓勲薫軍郡群兄刑形系径茎係型契計恵啓掲渓
経蛍敬景軽傾携継詣慶憬稽憩警鶏芸迎鯨隙劇撃激桁欠穴血決結傑潔月犬件見券肩建研県倹兼剣拳軒健険圏堅検
嫌献絹遣権憲賢謙鍵繭顕験懸元幻玄言弦限原現舷減源厳己戸古呼固孤弧股虎故枯個庫湖雇誇鼓錮顧五互午呉後
娯悟碁語誤護口工公勾孔功巧広甲交光向后好江考行坑孝抗攻更効幸拘肯侯厚恒洪皇紅荒郊香候校耕航貢降高康
控梗黄喉慌港硬絞項溝鉱構綱酵稿興衡鋼講購乞号合拷剛傲豪克告谷刻国黒穀酷獄骨駒込頃今困昆恨根婚混痕紺
魂墾懇左佐沙査砂唆差詐鎖座挫才再災妻采砕宰栽彩採済祭斎細菜最裁債催塞歳載際埼在材剤財罪崎作削昨柵索
策酢搾錯咲冊札刷刹拶殺察撮擦雑皿三山参桟蚕惨産傘散算酸賛残斬暫士子支止氏仕史司四市矢旨死糸至伺志私
使刺始姉枝祉肢姿思指施師恣紙脂視紫詞歯嗣試詩資飼誌雌摯賜諮示字寺次耳自似児事侍治持時滋慈辞磁餌璽鹿
式識軸七叱失室疾執湿嫉漆質実芝写社車舎者射捨赦斜煮遮謝邪蛇尺借酌釈爵若弱寂手主守朱取狩首殊珠酒腫種
趣寿受呪授需儒樹収囚州舟秀周宗拾秋臭修袖終羞習週就衆集愁酬醜蹴襲十汁充住柔重従渋銃獣縦叔祝宿淑粛縮
塾熟出述術俊春瞬旬巡盾准殉純循順準潤遵処初所書庶暑署緒諸女如助序叙徐除小升少召匠床抄肖尚招承昇松沼
昭宵将消症祥称笑唱商渉章紹訟勝掌晶焼焦硝粧詔証象傷奨照詳彰障憧衝賞償礁鐘上丈冗条状乗城浄剰常情場畳
蒸縄壌嬢錠譲醸色拭食植殖飾触嘱織職辱尻心申伸臣芯身辛侵信津神唇娠振浸真針深紳進森診寝慎新審震薪親人
刃仁尽迅甚陣尋腎須図水吹垂炊帥粋衰推酔遂睡穂随髄枢崇数据杉裾寸瀬是井世正生成西声制姓征性青斉政星牲
省凄逝清盛婿晴勢聖誠精製誓静請整醒税夕斥石赤昔析席脊隻惜戚責跡積績籍切折拙窃接設雪摂節説舌絶千川仙
占先宣専泉浅洗染扇栓旋船戦煎羨腺詮践箋銭潜線遷選薦繊鮮全前善然禅漸膳繕狙阻祖租素措粗組疎訴塑遡礎双
壮早争走奏相荘草送倉捜挿桑巣掃曹曽爽窓創喪痩葬装僧想層総遭槽踪操燥霜騒藻造像増憎蔵贈臓即束足促則息
捉速側測俗族属賊続卒率存村孫尊損遜他多汰打妥唾堕惰駄太対体耐待怠胎退帯泰堆袋逮替貸隊滞態戴大代台第
題滝宅択沢卓拓託濯諾濁但達脱奪棚誰丹旦担単炭胆探淡短嘆端綻誕鍛団男段断弾暖談壇地池知値恥致遅痴稚置
緻竹畜逐蓄築秩窒茶着嫡中仲虫沖宙忠抽注昼柱衷酎鋳駐著貯丁弔庁兆町長挑帳張彫眺釣頂鳥朝貼超腸跳徴嘲潮
澄調聴懲直勅捗沈珍朕陳賃鎮追椎墜通痛塚漬坪爪鶴低呈廷弟定底抵邸亭貞帝訂庭逓停偵堤提程艇締諦泥的笛摘
滴適敵溺迭哲鉄徹撤天典店点展添転塡田伝殿電斗吐妬徒途都渡塗賭土奴努度怒刀冬灯当投豆東到逃倒凍唐島桃
討透党悼盗陶塔搭棟湯痘登答等筒統稲踏糖頭謄藤闘騰同洞胴動堂童道働銅導瞳峠匿特得督徳篤毒独読栃凸突届
屯豚頓貪鈍曇丼那奈内梨謎鍋南軟難二尼弐匂肉虹日入乳尿任妊忍認寧熱年念捻粘燃悩納能脳農濃把波派破覇馬
婆罵拝杯背肺俳配排敗廃輩売倍梅培陪媒買賠白伯拍泊迫剝舶博薄麦漠縛爆箱箸畑肌八鉢発髪伐抜罰閥反半氾犯
帆汎伴判坂阪板版班畔般販斑飯搬煩頒範繁藩晩番蛮盤比皮妃否批彼披肥非卑飛疲秘被悲扉費碑罷避尾眉美備微
鼻膝肘匹必泌筆姫百氷表俵票評漂標苗秒病描猫品浜貧賓頻敏瓶不夫父付布扶府怖阜附訃負赴浮婦符富普腐敷膚
賦譜侮武部舞封風伏服副幅復福腹複覆払沸仏物粉紛雰噴墳憤奮分文聞丙平兵併並柄陛閉塀幣弊蔽餅米壁璧癖別
蔑片辺返変偏遍編弁便勉歩保哺捕補舗母募墓慕暮簿方包芳邦奉宝抱放法泡胞俸倣峰砲崩訪報蜂豊飽褒縫亡乏忙
坊妨忘防房肪某冒剖紡望傍帽棒貿貌暴膨謀頰北木朴牧睦僕墨撲没勃堀本奔翻凡盆麻摩磨魔毎妹枚昧埋幕膜枕又
末抹万満慢漫未味魅岬密蜜脈妙民眠矛務無夢霧娘名命明迷冥盟銘鳴滅免面綿麺茂模毛妄盲耗猛網目黙門紋問冶
夜野弥厄役約訳薬躍闇由油喩愉諭輸癒唯友有勇幽悠郵湧猶裕遊雄誘憂融優与予余誉預幼用羊妖洋要容庸揚揺葉
陽溶腰様瘍踊窯養擁謡曜抑沃浴欲翌翼拉裸羅来雷頼絡落酪辣乱卵覧濫藍欄吏利里理痢裏履璃離陸立律慄略柳流
留竜粒隆硫侶旅虜慮了両良料涼猟陵量僚領寮療瞭糧力緑林厘倫輪隣臨瑠涙累塁類令礼冷励戻例鈴零霊隷齢麗暦
歴列劣烈裂恋連廉練錬呂炉賂路露老労弄郎朗浪廊楼漏籠六録麓論和話賄脇惑枠湾腕
""".split()) + "\U00020b9f")

# fold_variants: the characters that are their own representative (_fold_char), which it need not look
# up — the 常用漢字 but 𠮟 (叱's group) and every character before U+3100 (kana, Latin, symbols; a
# test checks each)
_MAY_FOLD: Final = _any_but([*range(0x3100), *(c for c in JOYO_KANJI if _EXTRA.get(c, c)[0] == c)])
