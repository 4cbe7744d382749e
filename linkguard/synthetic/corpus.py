"""A labelled synthetic corpus for the quality benchmark (``python -m bench.quality``).

Where :mod:`linkguard.synthetic.sample` makes demo data with a few injected errors,
this module makes data whose every record says what it is, so a run of
``linkguard inspect`` can be scored:

* a resident registry of households (parents, children, spouses sharing a
  family name and an address, some twins), same-name same-birth-date
  strangers at other addresses, foreign residents (alphabet names, some with
  a registered 通称), movers (旧住所), married women (旧氏名), number changes
  (旧個人番号), deaths (死亡 with 異動日), moves out (転出) and erased entries
  (消除). Family names come in the variant forms of the 異体字 the guard must
  accept (齋藤/斎藤, 髙橋/高橋, 渡邊/渡邉/渡辺, 山﨑/山崎, 𠮷田/吉田 …);
* business records of several processes (one file per process, in every
  encoding and header style of the data contract), keyed in batches of about
  30 that share ``batch_id``, ``entered_by`` and a day;
* per record a :class:`Label`: ``cause`` (``ok`` or one of :data:`CAUSES`),
  ``variant`` (``plain`` or one of :data:`VARIANTS`), a ``detail`` saying
  exactly what differs, the reason code a guard should give an error
  (``expected_reason``), the true person's number (to judge suggestions) and,
  for a batch swap or a shared number, the other record.

Every correct record is either ``plain`` — the registry's values written the
registry's way (ISO date, 1/2, the same name and address) — or differs from
the registry in exactly one benign way, its ``variant``. So a false hold is
attributed to the one thing that caused it. Error records are plain or carry
one formatting variant (a date in era form, sex as 男/女 …): an error must be
caught however it is written.

The same ``seed`` and sizes give the same corpus, byte for byte (nothing
iterates a set of strings, no clock is read).

>>> corpus = make_corpus(records=1_200, seed=3)
>>> len(corpus.records) == len(corpus.labels) == 1_200
True
>>> sorted({label.cause for label in corpus.labels}) == sorted(("ok", *CAUSES))
True
>>> {label.variant for label in corpus.labels} >= set(VARIANTS)
True
"""

from __future__ import annotations

import csv
import datetime as dt
import itertools
import random
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import jaconv
from stdnum.jp import in_ as stdnum_in

from guards.model import Record, Resident
from linkguard.synthetic import notations, sample
from linkguard.synthetic.sample import (CAUSE_SOURCES, KANJI_NUMERALS, NUMBER_SOURCES, REFERENCE_DATE, SOURCE_WEIGHTS,
                                        era_date, kanji_number, new_my_number, pick_weighted, random_date,
                                        resident_from, write_records, write_registry)
from streams.csvio import RECORD_FIELDS, contract_header

__all__ = [
    "CAUSES",
    "EXPECTED_REASON",
    "VARIANTS",
    "ERROR_VARIANTS",
    "SYSTEMS",
    "STYLES",
    "FileStyle",
    "Label",
    "Corpus",
    "CorpusFiles",
    "TRUTH_HEADER",
    "make_corpus",
    "write_corpus",
    "read_truth",
    "plan_counts",
]

# ---------------------------------------------------------------------------
# what the labels mean

#: Error causes, each a way a wrong number gets linked (see the issue's "What the real errors look like").
CAUSES: tuple[str, ...] = (
    "typo",                # one digit keyed wrong
    "transposition",       # two adjacent digits swapped
    "batch_swap",          # the number of another record's subject in the same input batch
    "family_number",       # the number of a member of the subject's household
    "same_name_stranger",  # the number of a same-name (or same-reading), same-birth-date, same-sex resident elsewhere
    "not_in_registry",     # a valid number nobody in the registry holds
    "superseded_number",   # the subject's former number (a number change)
    "deceased",            # the subject died before the record was updated
    "shared_number",       # the number is linked to another (unrelated) person in another process
)

#: The reason code each cause should produce. The label of each record says
#: which it expects: a typo or transposition that happens to keep a valid
#: check digit expects ``NOT_IN_REGISTRY``; a same-reading stranger (same
#: kana, birth date and sex, another kanji: 斎藤/斉藤, 明/昭) expects
#: ``IDENTITY_MISMATCH``, a same-name one only differs by the address.
EXPECTED_REASON: dict[str, str] = {
    "typo": "CHECK_DIGIT",
    "transposition": "CHECK_DIGIT",
    "batch_swap": "BATCH_SWAP",
    "family_number": "FAMILY_NUMBER",
    "same_name_stranger": "ADDRESS_MISMATCH",
    "not_in_registry": "NOT_IN_REGISTRY",
    "superseded_number": "NUMBER_SUPERSEDED",
    "deceased": "DECEASED",
    "shared_number": "SHARED_NUMBER",
}

#: Benign variants of correct records: name -> what differs from the registry.
VARIANTS: dict[str, str] = {
    "kanji_variant": "異体字: the registry holds one form, the record another (齋藤/斎藤, 𠮷田/吉田 …)",
    "kana_hiragana": "kana in hiragana where the registry has katakana (or the reverse)",
    "kana_halfwidth": "half-width katakana",
    "kana_small_large": "small kana written large (キョウコ → キヨウコ)",
    "kana_spaces": "kana without the space, or with the other width",
    "kana_empty": "no kana in the record",
    "space_width": "name with the other width of space (full-width ↔ ASCII)",
    "space_none": "name without a space between family and given name",
    "date_slash": "birth date as 1980/4/1 or 1980/04/01",
    "date_compact": "birth date as 19800401",
    "date_kanji": "birth date as 1980年4月1日",
    "date_era_long": "birth date as 昭和55年4月1日",
    "date_era_short": "birth date as S55.4.1",
    "date_era_gannen": "birth date in an era's first year (平成元年, 令和元年, H1, R1)",
    "date_era_boundary": "birth date on an era boundary: 昭和64年1月7日, 平成元年1月8日, 平成31年4月30日, 令和元年5月1日",
    "date_fullwidth": "birth date in full-width digits",
    "sex_kanji": "sex as 男/女",
    "sex_letter": "sex as M/F",
    "address_no_prefecture": "address with the prefecture omitted (or added where the registry omits it)",
    "address_numerals": "丁目 in Arabic numerals, or 番/号 in kanji numerals",
    "address_hyphen": "一丁目2番20号 written 1-2-20 (or 1丁目2-20)",
    "address_fullwidth": "address numbers in full-width digits (１－２－２０)",
    "address_space": "a space inside the address",
    "address_banchi": "a 番地 address without the word 番地 (朝倉甲1234番地 → 朝倉甲1234)",
    "address_no_building": "the building and room left off (…2番20号　ハイツ高知101号室 → …2番20号)",
    "address_empty": "no address in the record",
    "former_name": "a former name (旧氏名: maiden name)",
    "former_address": "a former address (旧住所: before a move)",
    "alias_name": "the registered alias (通称) of a foreign resident",
    "alphabet_case": "an alphabet name in another case (Smith John)",
    "alphabet_order": "an alphabet name in another order (JOHN SMITH)",
    "moved_out": "a resident who has moved out (転出)",
    "before_death": "a deceased resident's record last updated before the day of death (its 更新日時)",
    "before_erasure": "an erased (消除) resident's record last updated before the day of erasure",
    "atena_empty": "no 宛名番号 (atena_no) in the record",
    "number_spaced": "My Number with spaces or hyphens between the groups",
    "number_fullwidth": "My Number in full-width digits",
    "combined": "two or three of the formatting variants at once, in different fields",
    "family_in_batch": "household members' own records keyed in the same batch",
    "twins": "twins' own records (same birth date, household, family name) in the same batch",
    "same_name_pair": "a resident with a same-name (or same-reading), same-birth-date namesake elsewhere (own number)",
    "batch_partner": "the record whose subject's number a batch swap carries (itself correct)",
    "shared_partner": "the record whose number a shared-number error carries, in another process (itself correct)",
}

#: Formatting variants an error record may carry (the error must be caught anyway).
ERROR_VARIANTS: tuple[str, ...] = ("date_era_long", "date_era_short", "date_slash", "sex_kanji", "sex_letter",
                                   "space_width", "space_none", "number_spaced", "kanji_variant", "atena_empty",
                                   "address_empty", *notations.NOTATION_ERROR_VARIANTS)

# the notations real municipal data carries (linkguard/synthetic/notations.py): more causes and variants
CAUSES = (*CAUSES, *notations.NOTATION_CAUSES)
EXPECTED_REASON.update(notations.NOTATION_CAUSES)
VARIANTS.update(notations.NOTATION_VARIANTS)

# share of the correct records given to each variant (the rest are plain)
_VARIANT_SHARE: dict[str, float] = {
    "kanji_variant": 0.025, "kana_hiragana": 0.01, "kana_halfwidth": 0.015, "kana_small_large": 0.01,
    "kana_spaces": 0.008, "kana_empty": 0.015, "space_width": 0.02, "space_none": 0.02,
    "date_slash": 0.02, "date_compact": 0.01, "date_kanji": 0.005, "date_era_long": 0.03, "date_era_short": 0.015,
    "date_era_gannen": 0.005, "date_era_boundary": 0.002, "date_fullwidth": 0.005,
    "sex_kanji": 0.02, "sex_letter": 0.01,
    "address_no_prefecture": 0.01, "address_numerals": 0.01, "address_hyphen": 0.015,
    "address_fullwidth": 0.01, "address_space": 0.005, "address_banchi": 0.005, "address_no_building": 0.005,
    "address_empty": 0.03, "combined": 0.03,
    "former_name": 0.012, "former_address": 0.012, "alias_name": 0.005, "alphabet_case": 0.003,
    "alphabet_order": 0.003, "moved_out": 0.005, "before_death": 0.005, "before_erasure": 0.001,
    "atena_empty": 0.02, "number_spaced": 0.02, "number_fullwidth": 0.005,
    "family_in_batch": 0.012, "twins": 0.003, "same_name_pair": 0.006,
}
_VARIANT_SHARE.update(notations.NOTATION_SHARES)
_MIN_PER_VARIANT = 3
_MIN_PER_CAUSE = 3

# ---------------------------------------------------------------------------
# processes and file styles

#: Process codes, one records file each; style i of :data:`STYLES` goes with system i.
SYSTEMS: tuple[str, ...] = ("shintai-techo", "jiritsu-shien", "jido-fuyo", "seikatsu-hogo", "tokubetsu-jido",
                            "ryoiku-techo")

# the contract columns' headers come from the contract (streams.csvio), then the 更新日時/updated_at payload column
_JA = (*contract_header("records", RECORD_FIELDS), "更新日時")
_JA_ALT = (*contract_header("records", RECORD_FIELDS,
                            aliases={"record_id": "管理番号", "my_number": "マイナンバー", "name_kana": "ﾌﾘｶﾞﾅ"}), "更新日時")
_EN = (*contract_header("records", RECORD_FIELDS, english=True), "updated_at")
_EN_ALT = (*contract_header("records", RECORD_FIELDS, english=True, aliases={
    "record_id": "Record ID", "system": "System", "my_number": "My Number", "name": "Name", "name_kana": "Kana",
    "birth_date": "Date of Birth", "sex": "Gender", "address": "Address", "batch_id": "Batch ID"}), "updated_at")


@dataclass(frozen=True, slots=True)
class FileStyle:
    """How one records file is written: encoding, header language, the headers (contract columns,
    then the 更新日時/updated_at column)."""

    encoding: str
    language: str
    headers: tuple[str, ...]

    @property
    def updated_header(self) -> str:
        return self.headers[-1]


#: Every encoding (CP932, UTF-8, UTF-8 with BOM) with Japanese and English headers.
STYLES: tuple[FileStyle, ...] = (
    FileStyle("cp932", "ja", _JA),
    FileStyle("utf-8", "en", _EN),
    FileStyle("utf-8-sig", "ja", _JA_ALT),
    FileStyle("cp932", "en", _EN_ALT),
    FileStyle("utf-8", "ja", _JA_ALT),
    FileStyle("utf-8-sig", "en", _EN),
)

_PAYLOAD = {
    "shintai-techo": ("手帳番号", "等級"), "jiritsu-shien": ("受給者番号", "有効期限"),
    "jido-fuyo": ("証書番号", "支給区分"), "seikatsu-hogo": ("ケース番号", "世帯人員"),
    "tokubetsu-jido": ("証書番号", "障害等級"), "ryoiku-techo": ("手帳番号", "障害の程度"),
}

#: how a wrong number typically got in: the sample's causes, and the corpus's shared number
_CAUSE_SOURCES: dict[str, tuple[str, ...]] = {**CAUSE_SOURCES, "shared_number": ("申請書", "職員入力")}

# ---------------------------------------------------------------------------
# names and places

#: 異体字 groups (the issue's list). 𠮷 (U+20BB7) is not in CP932: records holding it go to UTF-8 files.
VARIANT_GROUPS: tuple[str, ...] = ("齋斎", "髙高", "邊邉辺", "﨑崎", "𠮷吉", "濱浜", "澤沢", "廣広", "櫻桜", "德徳", "冨富",
                                   "嶋島")
_GROUP_OF = {char: group for group in VARIANT_GROUPS for char in group}

# (registered forms — the first the common one —, katakana, weight)
_FAMILIES: tuple[tuple[tuple[str, ...], str, int], ...] = (
    (("山本",), "ヤマモト", 10), (("田中",), "タナカ", 9), (("高橋", "髙橋"), "タカハシ", 9),
    (("渡辺", "渡邊", "渡邉"), "ワタナベ", 8), (("佐藤",), "サトウ", 8), (("山崎", "山﨑"), "ヤマサキ", 7),
    (("浜田", "濱田"), "ハマダ", 7), (("鈴木",), "スズキ", 7), (("斎藤", "齋藤"), "サイトウ", 6),
    (("吉田", "𠮷田"), "ヨシダ", 6), (("岡林",), "オカバヤシ", 6), (("西森",), "ニシモリ", 5), (("森",), "モリ", 5),
    (("伊藤",), "イトウ", 5), (("中村",), "ナカムラ", 5), (("小松",), "コマツ", 4), (("川村",), "カワムラ", 4),
    (("片岡",), "カタオカ", 4), (("沢田", "澤田"), "サワダ", 4), (("島田", "嶋田"), "シマダ", 4),
    (("吉村", "𠮷村"), "ヨシムラ", 4), (("竹内",), "タケウチ", 4), (("和田",), "ワダ", 3), (("広瀬", "廣瀬"), "ヒロセ", 3),
    (("桜井", "櫻井"), "サクライ", 3), (("徳永", "德永"), "トクナガ", 3), (("富田", "冨田"), "トミタ", 3),
    (("田辺", "田邊"), "タナベ", 3), (("高木", "髙木"), "タカギ", 3), (("松本",), "マツモト", 3),
    (("井上",), "イノウエ", 3), (("小林",), "コバヤシ", 3), (("山田",), "ヤマダ", 3), (("筒井",), "ツツイ", 2),
    (("溝渕",), "ミゾブチ", 2), (("公文",), "クモン", 2), (("楠瀬",), "クスノセ", 2), (("中平",), "ナカヒラ", 2),
    (("岡崎", "岡﨑"), "オカザキ", 2), (("中沢", "中澤"), "ナカザワ", 2), (("長島", "長嶋"), "ナガシマ", 2),
    (("斉藤",), "サイトウ", 2), (("佐々木",), "ササキ", 2), (("長谷川",), "ハセガワ", 2), (("武市",), "タケチ", 2),
)
_FAMILY_WEIGHTS = list(itertools.accumulate(w for _, _, w in _FAMILIES))

_GIVEN: dict[tuple[int, bool], tuple[tuple[str, str], ...]] = {
    (1, True): (("茂", "シゲル"), ("博", "ヒロシ"), ("清", "キヨシ"), ("実", "ミノル"), ("勝", "マサル"), ("隆", "タカシ"),
                ("進", "ススム"), ("正", "タダシ"), ("明", "アキラ"), ("修", "オサム"), ("誠", "マコト"), ("一郎", "イチロウ"),
                ("秀樹", "ヒデキ"), ("和夫", "カズオ"), ("正雄", "マサオ"), ("健二", "ケンジ"), ("俊介", "シュンスケ"),
                ("純一", "ジュンイチ"), ("昭", "アキラ"), ("章", "アキラ"), ("勝也", "カツヤ"), ("龍", "リュウ")),
    (1, False): (("大輔", "ダイスケ"), ("翔太", "ショウタ"), ("拓也", "タクヤ"), ("健太", "ケンタ"), ("大樹", "ダイキ"),
                 ("蓮", "レン"), ("湊", "ミナト"), ("陽翔", "ハルト"), ("悠真", "ユウマ"), ("樹", "イツキ"), ("大和", "ヤマト"),
                 ("直樹", "ナオキ"), ("亮", "リョウ"), ("翼", "ツバサ"), ("颯太", "ソウタ"), ("龍馬", "リョウマ"),
                 ("翔", "ショウ"), ("しょう", "ショウ"), ("ケン", "ケン"), ("優斗", "ユウト")),
    (2, True): (("幸子", "サチコ"), ("節子", "セツコ"), ("和子", "カズコ"), ("洋子", "ヨウコ"), ("恵子", "ケイコ"),
                ("京子", "キョウコ"), ("裕子", "ユウコ"), ("久美子", "クミコ"), ("明美", "アケミ"), ("文子", "フミコ"),
                ("春子", "ハルコ"), ("紀子", "ノリコ"), ("美智子", "ミチコ"), ("悦子", "エツコ"), ("祥子", "ショウコ"),
                ("きょうこ", "キョウコ"), ("ちよこ", "チヨコ"), ("キヨ", "キヨ"), ("ハル", "ハル"), ("ミツ", "ミツ")),
    (2, False): (("美咲", "ミサキ"), ("陽菜", "ヒナ"), ("結衣", "ユイ"), ("葵", "アオイ"), ("凛", "リン"), ("芽依", "メイ"),
                 ("さくら", "サクラ"), ("ひかり", "ヒカリ"), ("あかり", "アカリ"), ("美紀", "ミキ"), ("香織", "カオリ"),
                 ("千尋", "チヒロ"), ("優子", "ユウコ"), ("麻衣", "マイ"), ("彩", "アヤ"), ("智子", "トモコ"),
                 ("しょうこ", "ショウコ"), ("ジュリア", "ジュリア"), ("恭子", "キョウコ"), ("友美", "トモミ")),
}

# foreign residents: (family, given, family kana, given kana, sex)
_FOREIGN: tuple[tuple[str, str, str, str, int], ...] = (
    ("NGUYEN", "VAN NAM", "グエン", "ヴァン ナム", 1), ("TRAN", "THI LAN", "チャン", "ティ ラン", 2),
    ("SMITH", "JOHN", "スミス", "ジョン", 1), ("SANTOS", "MARIA", "サントス", "マリア", 2),
    ("KIM", "MINJUN", "キム", "ミンジュン", 1), ("GARCIA", "ANA", "ガルシア", "アナ", 2), ("LI", "WEI", "リ", "ウェイ", 1),
    ("REYES", "JOSE", "レイエス", "ホセ", 1), ("PHAM", "THI HOA", "ファム", "ティ ホア", 2),
    ("WANG", "FANG", "ワン", "ファン", 2), ("SILVA", "LUCAS", "シルバ", "ルーカス", 1),
    ("LE", "VAN DUC", "レ", "ヴァン ドゥック", 1), ("PARK", "JIYEON", "パク", "ジヨン", 2),
    ("DELA CRUZ", "ROSA", "デラクルス", "ロサ", 2), ("CHEN", "JIANHUA", "チェン", "ジェンホア", 1),
)

_PREFECTURE = "高知県"
# (municipality as written, weight, 丁目 towns, 番地 towns)
_PLACES: tuple[tuple[str, int, tuple[str, ...], tuple[str, ...]], ...] = (
    ("高知市", 45, ("丸ノ内", "本町", "帯屋町", "はりまや町", "桟橋通", "旭町", "上町", "北本町", "高須", "中万々", "比島町",
                  "福井町", "塩田町", "愛宕町", "南万々", "鴨部"), ("朝倉甲", "一宮乙", "介良乙", "大津甲")),
    ("南国市", 6, ("後免町", "篠原"), ("大埇甲", "岡豊町小蓮")),
    ("土佐市", 4, ("蓮池", "波介"), ("高岡町甲",)),
    ("須崎市", 3, ("山手町", "原町", "東古市町"), ()),
    ("四万十市", 5, ("中村大橋通", "右山", "具同"), ()),
    ("香南市", 4, ("野市町西野", "赤岡町"), ("吉川町吉原",)),
    ("香美市", 4, ("土佐山田町",), ("物部町大栃",)),
    ("安芸市", 3, ("矢ノ丸", "港町"), ()),
    ("宿毛市", 3, ("中央", "桜町", "片島"), ()),
    ("吾川郡いの町", 3, ("枝川", "駅前町"), ("大内",)),
    ("高岡郡佐川町", 2, (), ("甲", "乙")),
    ("幡多郡黒潮町", 2, (), ("入野", "佐賀")),
)
_PLACE_WEIGHTS = list(itertools.accumulate(w for _, w, _, _ in _PLACES))
_OUTSIDE: tuple[str, ...] = (
    "愛媛県松山市一番町一丁目{0}番{1}号", "香川県高松市番町三丁目{0}番{1}号", "徳島県徳島市幸町二丁目{0}番{1}号",
    "大阪府大阪市北区梅田一丁目{0}番{1}号", "東京都世田谷区太子堂四丁目{0}番{1}号",
)
_BUILDING_NAMES = ("高知", "はりまや", "桜", "南", "中央", "グリーン", "サンシャイン")
_BUILDING = re.compile(r"^(?P<base>.+?(?:号|番地))[ 　]?(?P<building>(?:ハイツ|コーポ|メゾン|レジデンス).+号室)$")
_BANCHI = re.compile(r"^(?P<base>.+?\d+)番地$")
# same reading, different name (never 異体字 of each other: 斎 and 斉 are different characters)
_SAME_READING: dict[str, tuple[str, ...]] = {
    "斎藤": ("斉藤",), "齋藤": ("斉藤",), "斉藤": ("斎藤", "齋藤"), "明": ("昭", "章"), "昭": ("明", "章"),
    "章": ("明", "昭"), "京子": ("恭子",), "恭子": ("京子",), "裕子": ("優子",), "優子": ("裕子",),
}
_CHOME = re.compile(r"^(?P<pref>高知県)?(?P<place>.+?)(?P<chome>[一二三四五六七八九十]+)丁目(?P<ban>\d+)番(?P<go>\d+)号$")
_FULL_WIDTH = str.maketrans("0123456789-", "０１２３４５６７８９－")
_KANA = re.compile("[\u3041-\u309f\u30a0-\u30ff]")
_SMALL_KANA = str.maketrans("ァィゥェォッャュョヮヵヶぁぃぅぇぉっゃゅょゎ", "アイウエオツヤユヨワカケあいうえおつやゆよわ")
_FIRST_BIRTH = dt.date(1930, 1, 1)
_LAST_BIRTH = dt.date(2024, 12, 31)
#: Birth dates on era boundaries; the registry always holds a few residents born on each.
ERA_BOUNDARY_DATES: tuple[dt.date, ...] = (dt.date(1989, 1, 7), dt.date(1989, 1, 8), dt.date(2019, 4, 30),
                                           dt.date(2019, 5, 1))


def _folded(name: str) -> str:
    """A name with every 異体字 of :data:`VARIANT_GROUPS` as its group's last (common) form.

    >>> _folded('齋藤　花子') == _folded('斎藤 花子'), _folded('斎藤') == _folded('斉藤')
    (True, False)
    """
    return "".join(_GROUP_OF[c][-1] if c in _GROUP_OF else c for c in name.replace("　", "").replace(" ", ""))


def _arabic(kanji: str) -> int:
    """Kanji numerals up to 99 back to an int.

    >>> _arabic('三'), _arabic('十'), _arabic('十二'), _arabic('四十')
    (3, 10, 12, 40)
    """
    if "十" not in kanji:
        return KANJI_NUMERALS.index(kanji)
    tens, _, ones = kanji.partition("十")
    return (KANJI_NUMERALS.index(tens) if tens else 1) * 10 + (KANJI_NUMERALS.index(ones) if ones else 0)


def _birth(rng: random.Random, first_year: int, last_year: int) -> dt.date:
    first = max(_FIRST_BIRTH, dt.date(max(first_year, 1930), 1, 1))
    last = min(_LAST_BIRTH, dt.date(min(max(last_year, first.year), 2024), 12, 31))
    return random_date(rng, first, last)


def _cp932(text: str) -> bool:
    try:  # a round trip: Python encodes a few characters (NBSP) cp932 cannot read back
        return text.encode("cp932").decode("cp932") == text
    except UnicodeError:
        return False


# ---------------------------------------------------------------------------
# the registry


@dataclass(slots=True)
class _Person:
    index: int
    household: int
    family: str
    family_kana: str
    given: str
    given_kana: str
    sex: int
    birth: dt.date
    address: str
    space: str
    my_number: str
    resident_code: str
    foreign: bool = False
    alias: str = ""
    twin: int = -1  # index of the twin
    generation: int = 0  # within the household: 0 the eldest couple, 1 their children, 2 grandchildren
    child: bool = False  # born into the household (siblings are children of one generation)
    status: str = "住民"
    status_date: dt.date | None = None
    previous_names: tuple[str, ...] = ()
    previous_addresses: tuple[str, ...] = ()
    previous_my_numbers: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return f"{self.family}{self.space}{self.given}"

    @property
    def kana(self) -> str:
        return f"{self.family_kana}{self.space}{self.given_kana}"

    def resident(self) -> Resident:
        return resident_from(self, self.name, self.kana)


class _RegistryBuilder:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.numbers: set[str] = set()
        self.codes: set[str] = set()
        self.addresses: set[str] = set()
        self.people: list[_Person] = []
        self.households = 0

    def address(self) -> str:
        rng = self.rng
        for attempt in itertools.count():
            city, _, chome_towns, banchi_towns = pick_weighted(rng, _PLACES, _PLACE_WEIGHTS)
            if chome_towns and (not banchi_towns or rng.random() < 0.85):
                text = (f"{city}{rng.choice(chome_towns)}{kanji_number(rng.randint(1, 6))}丁目"
                        f"{rng.randint(1, 40)}番{rng.randint(1, 60)}号")
            else:
                text = f"{city}{rng.choice(banchi_towns)}{rng.randint(1, 4999)}番地"
            if attempt > 6 or rng.random() < 0.12:  # a flat: the building and the room
                building = rng.choice(("ハイツ", "コーポ", "メゾン", "レジデンス"))
                text += f"{rng.choice(('　', ' ', ''))}{building}{rng.choice(_BUILDING_NAMES)}{rng.randint(1, 9)}0{rng.randint(1, 9)}号室"
            if rng.random() < 0.3:
                text = _PREFECTURE + text
            if text not in self.addresses:
                self.addresses.add(text)
                return text
        raise AssertionError("unreachable")

    def outside_address(self) -> str:
        return self.rng.choice(_OUTSIDE).format(self.rng.randint(1, 30), self.rng.randint(1, 40))

    def family(self) -> tuple[str, str]:
        forms, kana, _ = pick_weighted(self.rng, _FAMILIES, _FAMILY_WEIGHTS)
        if len(forms) == 1:
            return forms[0], kana
        rare = "𠮷" in "".join(forms)
        if self.rng.random() < (0.8 if rare else 0.55):
            return forms[0], kana
        return self.rng.choice(forms[1:]), kana

    def given(self, sex: int, birth: dt.date, avoid: Iterable[str] = ()) -> tuple[str, str]:
        pool = _GIVEN[(sex, birth.year < 1975)]
        taken = list(avoid)
        while True:
            choice = self.rng.choice(pool)
            if choice[0] not in taken:
                return choice

    def person(self, family: tuple[str, str], sex: int, birth: dt.date, address: str, space: str,
               avoid: Iterable[str] = (), given: tuple[str, str] | None = None) -> _Person:
        code = f"{self.rng.randrange(10**11):011d}"
        while code in self.codes:
            code = f"{self.rng.randrange(10**11):011d}"
        self.codes.add(code)
        given = given or self.given(sex, birth, avoid)
        person = _Person(len(self.people), self.households, family[0], family[1], given[0], given[1], sex, birth,
                         address, space, new_my_number(self.rng, self.numbers), code)
        self.people.append(person)
        return person

    def household(self) -> None:
        rng = self.rng
        self.households += 1
        address = self.address()
        family = self.family()
        space = "　" if rng.random() < 0.7 else " "
        kind = rng.random()
        if kind < 0.025:
            self.foreigners(address)
        elif kind < 0.33:
            self.person(family, rng.choice((1, 2)), _birth(rng, 1930, 2005), address, space)
        elif kind < 0.55:
            husband = self.person(family, 1, _birth(rng, 1932, 1998), address, space)
            self.wife(family, husband.birth, address, space)
        elif kind < 0.82:
            husband = self.person(family, 1, _birth(rng, 1955, 1996), address, space)
            wife = self.wife(family, husband.birth, address, space)
            self.children(family, wife.birth, address, space, rng.randint(1, 3), [husband.given, wife.given], 1)
        elif kind < 0.90:
            parent = self.person(family, rng.choice((1, 2, 2, 2)), _birth(rng, 1965, 1998), address, space)
            self.children(family, parent.birth, address, space, rng.randint(1, 3), [parent.given], 1)
        else:
            grandfather = self.person(family, 1, _birth(rng, 1930, 1952), address, space)
            grandmother = self.wife(family, grandfather.birth, address, space)
            son = self.person(family, 1, _birth(rng, grandmother.birth.year + 22, grandmother.birth.year + 36),
                              address, space, [grandfather.given])
            son.generation, son.child = 1, True
            daughter_in_law = self.wife(family, son.birth, address, space)
            daughter_in_law.generation = 1
            self.children(family, daughter_in_law.birth, address, space, rng.randint(0, 3),
                          [grandfather.given, grandmother.given, son.given, daughter_in_law.given], 2)

    def wife(self, family: tuple[str, str], husband_birth: dt.date, address: str, space: str) -> _Person:
        rng = self.rng
        wife = self.person(family, 2, _birth(rng, husband_birth.year - 6, husband_birth.year + 3), address, space)
        maiden = self.family()
        if maiden[1] != family[1]:
            wife.previous_names = (f"{maiden[0]}{space}{wife.given}",)
        if rng.random() < 0.6:
            wife.previous_addresses = (self.outside_address(),)
        return wife

    def children(self, family: tuple[str, str], mother_birth: dt.date, address: str, space: str, count: int,
                 elders: list[str], generation: int) -> None:
        names = list(elders)
        first = mother_birth.year + 22
        for _ in range(count):
            birth = _birth(self.rng, first, mother_birth.year + 42)
            if birth.year > 2024:
                return
            child = self.person(family, self.rng.choice((1, 2)), birth, address, space, names)
            child.generation, child.child = generation, True
            names.append(child.given)
            if self.rng.random() < 0.04:  # twins
                twin = self.person(family, self.rng.choice((1, 2)), birth, address, space, names)
                twin.generation, twin.child = generation, True
                names.append(twin.given)
                child.twin, twin.twin = twin.index, child.index
            first = birth.year + 1

    def foreigners(self, address: str) -> None:
        rng = self.rng
        family, given, family_kana, given_kana, sex = rng.choice(_FOREIGN)
        person = self.person((family, family_kana), sex, _birth(rng, 1960, 2004), address, " ",
                             given=(given, given_kana))
        person.foreign = True
        if rng.random() < 0.6:
            alias_family = self.family()
            alias_given = self.given(sex, person.birth)
            person.alias = f"{alias_family[0]}　{alias_given[0]}"
        if rng.random() < 0.3:  # a spouse of the same family name
            spouse = rng.choice([f for f in _FOREIGN if f[4] != sex])
            partner = self.person((family, family_kana), spouse[4], _birth(rng, person.birth.year - 4,
                                                                             person.birth.year + 4),
                                  address, " ", given=(spouse[1], spouse[3]))
            partner.foreign = True

    def finish(self, n: int, strangers: int) -> list[_Person]:
        rng = self.rng
        people = self.people
        minimum = 3
        # era-boundary births (a few each, never twins)
        young = [p for p in people if 1985 <= p.birth.year <= 1993 and p.twin < 0 and not p.foreign]
        babies = [p for p in people if 2015 <= p.birth.year <= 2022 and p.twin < 0 and not p.foreign]
        each = max(2, n // 4000)
        for day in ERA_BOUNDARY_DATES:
            for person in self._choose(young if day.year == 1989 else babies, each):
                person.birth = day
                young = [p for p in young if p is not person]
                babies = [p for p in babies if p is not person]
        elderly = [p for p in people if p.birth.year < 1950]
        for person in self._choose(elderly or people, max(minimum, round(len(people) * 0.012))):
            person.status = "死亡"
            person.status_date = random_date(rng, max(dt.date(2016, 1, 1), person.birth + dt.timedelta(days=1)),
                                               REFERENCE_DATE - dt.timedelta(days=60))
        living = [p for p in people if p.status == "住民"]
        for person in self._choose(living, max(minimum, round(len(people) * 0.01))):
            person.status = "転出"
            person.status_date = random_date(rng, max(dt.date(2020, 1, 1), person.birth), REFERENCE_DATE)
        living = [p for p in people if p.status == "住民"]
        for person in self._choose(living, max(1, round(len(people) * 0.001))):
            person.status = "消除"
            person.status_date = random_date(rng, dt.date(2020, 1, 1), REFERENCE_DATE)
        living = [p for p in people if p.status == "住民"]
        for person in self._choose(living, max(minimum, round(len(people) * 0.005))):
            person.previous_my_numbers = tuple(new_my_number(rng, self.numbers)
                                               for _ in range(2 if rng.random() < 0.1 else 1))
        living = [p for p in people if p.status == "住民" and not p.previous_addresses]
        for person in self._choose(living, round(len(people) * 0.06)):  # moved within the prefecture
            person.previous_addresses = (self.address(),)
        # namesakes: same name, birth date and sex, alone at another address
        readings = max(2, strangers * 2 // 5)
        living = [p for p in people if p.status == "住民" and not p.foreign]
        for original in self._choose(living, strangers - readings):
            self.households += 1
            self.person((original.family, original.family_kana), original.sex, original.birth, self.address(),
                        original.space, given=(original.given, original.given_kana))
        # same reading, other kanji (斎藤/斉藤, 明/昭/章 …): what a look-up by kana and birth date confuses
        living = [p for p in people if p.status == "住民" and not p.foreign
                  and (p.given in _SAME_READING or p.family in _SAME_READING)]
        for original in self._choose(living, readings):
            family, given = original.family, original.given
            if family in _SAME_READING and (given not in _SAME_READING or rng.random() < 0.5):
                family = rng.choice(_SAME_READING[family])
            else:
                given = rng.choice(_SAME_READING[given])
            self.households += 1
            self.person((family, original.family_kana), original.sex, original.birth, self.address(),
                        original.space, given=(given, original.given_kana))
        return people

    def _choose(self, pool: list[_Person], count: int) -> list[_Person]:
        return self.rng.sample(pool, min(count, len(pool)))


def _make_people(n: int, rng: random.Random) -> list[_Person]:
    strangers = max(3, n // 250)
    builder = _RegistryBuilder(rng)
    while len(builder.people) < n - strangers:
        builder.household()
    return builder.finish(n, strangers)


# ---------------------------------------------------------------------------
# labels and the corpus


TRUTH_HEADER = ("system", "record_id", "file", "cause", "variant", "detail", "expected_reason", "true_my_number",
                "other_system", "other_record_id", "batch_id", "number_also_on_error")


@dataclass(frozen=True, slots=True)
class Label:
    """What one record is. ``true_my_number`` is the number of the person the record is about."""

    system: str
    record_id: str
    file: str
    cause: str  # "ok" or one of CAUSES
    variant: str  # "plain" or one of VARIANTS
    detail: str  # what exactly differs (never a number)
    expected_reason: str  # for an error: the reason code it should get; "" for a correct record
    true_my_number: str
    other_system: str = ""  # batch_swap / shared_number: the other record
    other_record_id: str = ""
    batch_id: str = ""
    number_also_on_error: bool = False  # a correct record whose number an error record also carries

    @property
    def is_error(self) -> bool:
        return self.cause != "ok"

    def row(self) -> tuple[str, ...]:
        return (self.system, self.record_id, self.file, self.cause, self.variant, self.detail, self.expected_reason,
                self.true_my_number, self.other_system, self.other_record_id, self.batch_id,
                "1" if self.number_also_on_error else "0")


@dataclass
class Corpus:
    """The registry, the records in file order (per system) and one label per record."""

    seed: int
    residents: list[Resident]
    records: list[Record]
    labels: list[Label]
    styles: dict[str, FileStyle]  # system -> file style
    households: list[int]  # resident index -> household id

    def label_of(self) -> dict[tuple[str, str], Label]:
        return {(label.system, label.record_id): label for label in self.labels}

    @property
    def errors(self) -> int:
        return sum(label.is_error for label in self.labels)

    @property
    def correct(self) -> int:
        return len(self.labels) - self.errors

    def composition(self) -> tuple[Counter[str], Counter[str]]:
        """Records per cause (``ok`` included) and correct records per variant."""
        causes = Counter(label.cause for label in self.labels)
        variants = Counter(label.variant for label in self.labels if not label.is_error)
        return causes, variants


@dataclass(frozen=True)
class CorpusFiles:
    """What :func:`write_corpus` wrote."""

    out_dir: Path
    registry: Path
    records: tuple[tuple[str, Path], ...]  # (system, file) in SYSTEMS order
    truth: Path
    encodings: dict[str, str]  # file name -> encoding


def plan_counts(records: int, error_rate: float = 0.015) -> tuple[int, dict[str, int]]:
    """Errors per cause for a corpus of ``records`` (at least :data:`_MIN_PER_CAUSE` each) and the
    number of correct records.

    >>> correct, per_cause = plan_counts(24_000)
    >>> correct >= 20_000, per_cause['typo'], sum(per_cause.values())
    (True, 26, 364)
    """
    if records < 300:
        raise ValueError(f"a corpus needs at least 300 records to hold every cause and variant, got {records}")
    if not 0 < error_rate < 0.2:
        raise ValueError(f"error_rate must be between 0 and 0.2, got {error_rate}")
    each = max(_MIN_PER_CAUSE, round(records * error_rate / len(CAUSES)))
    per_cause = {cause: each for cause in CAUSES}
    return records - sum(per_cause.values()), per_cause


@dataclass(slots=True)
class _Draft:
    subject: int
    cause: str = "ok"
    variant: str = "plain"
    detail: str = ""
    expected: str = ""
    my_number: str = ""
    name: str = ""
    name_kana: str = ""
    birth_date: str = ""
    sex: str = ""
    address: str = ""
    source: str = ""
    updated: dt.datetime | None = None
    atena: str | None = None  # None: the subject's
    other: "_Draft | None" = None
    system: str = ""
    record_id: str = ""
    batch_id: str = ""

    def text(self) -> str:
        return "".join((self.my_number, self.name, self.name_kana, self.birth_date, self.sex, self.address))


class _Pools:
    """The subjects each variant or cause can be about."""

    def __init__(self, people: list[_Person]) -> None:
        living = [p for p in people if p.status == "住民"]
        self.living = [p.index for p in living]
        self.native = [p.index for p in living if not p.foreign]
        self.moved_out = [p.index for p in people if p.status == "転出"]
        self.before_death = [p.index for p in people if p.status == "死亡" and p.status_date is not None
                             and p.status_date > dt.date(2016, 1, 2)]
        self.before_erasure = [p.index for p in people if p.status == "消除" and p.status_date is not None
                               and p.status_date > max(dt.date(2016, 1, 2), p.birth + dt.timedelta(days=2))]
        self.deceased = [p.index for p in people if p.status == "死亡"]
        self.renumbered = [p.index for p in living if p.previous_my_numbers]
        self.kanji = [p.index for p in living if any(c in _GROUP_OF for c in p.name)]
        self.kana_name = [p.index for p in living if not p.foreign and _KANA.search(p.given)]
        self.small_kana = [p.index for p in living if p.kana != p.kana.translate(_SMALL_KANA)]
        self.gannen = [p.index for p in living if (dt.date(1989, 1, 8) <= p.birth <= dt.date(1989, 12, 31)
                                                   or dt.date(2019, 5, 1) <= p.birth <= dt.date(2019, 12, 31))]
        self.boundary = [p.index for p in living if p.birth in ERA_BOUNDARY_DATES]
        self.chome = [p.index for p in living if _CHOME.match(p.address)]
        self.banchi = [p.index for p in living if _BANCHI.match(p.address)]
        self.building = [p.index for p in living if _BUILDING.match(p.address)]
        self.former_name = [p.index for p in living if p.previous_names]
        self.former_address = [p.index for p in living if p.previous_addresses]
        self.foreign = [p.index for p in living if p.foreign]
        self.alias = [p.index for p in living if p.alias]
        households: dict[int, list[int]] = {}
        for p in living:
            households.setdefault(p.household, []).append(p.index)
        self.households = [members for members in households.values() if len(members) >= 2]
        self.members = households
        self.twins = [(p.index, p.twin) for p in living if p.twin > p.index and people[p.twin].status == "住民"]
        keys: dict[tuple[str, dt.date, int], list[int]] = {}
        for p in people:
            keys.setdefault((p.name.replace("　", "").replace(" ", ""), p.birth, p.sex), []).append(p.index)
        self.namesakes = [(group[0], group[1]) for group in keys.values()
                          if len(group) == 2 and all(people[i].status == "住民" for i in group)
                          and people[group[0]].address != people[group[1]].address]
        readings: dict[tuple[str, dt.date, int], list[int]] = {}
        for p in people:
            readings.setdefault((p.kana.replace("　", "").replace(" ", ""), p.birth, p.sex), []).append(p.index)
        #: same kana, birth date and sex, another name (kanji) and address
        self.same_reading = [(group[0], group[1]) for group in readings.values()
                             if len(group) == 2 and all(people[i].status == "住民" for i in group)
                             and people[group[0]].address != people[group[1]].address
                             and _folded(people[group[0]].name) != _folded(people[group[1]].name)]
        self.has_namesake = {i for pair in (*self.namesakes, *self.same_reading) for i in pair} | {
            i for group in keys.values() if len(group) > 1 for i in group}


class _CorpusBuilder:
    def __init__(self, people: list[_Person], rng: random.Random, registry_numbers: set[str]) -> None:
        self.people = people
        self.rng = rng
        self.pools = _Pools(people)
        self.numbers = registry_numbers  # every current and former number (and the invented ones)
        self.units: list[list[_Draft]] = []
        self.used: dict[int, set[str]] = {}  # subject -> systems it already has a record in
        self.swaps = 0

    # -- placing units into systems --

    def place(self, unit: list[_Draft], exclude: Sequence[str] = ()) -> bool:
        """Give a unit (records that must share a batch) a system; ``False`` if none fits."""
        ascii_only = all(_cp932(d.text()) for d in unit)
        options = [s for i, s in enumerate(SYSTEMS)
                   if s not in exclude and (ascii_only or STYLES[i].encoding != "cp932")
                   and all(s not in self.used.get(d.subject, ()) for d in unit)]
        if not options:
            return False
        system = self.rng.choice(options)
        for draft in unit:
            draft.system = system
            self.used.setdefault(draft.subject, set()).add(system)
        self.units.append(unit)
        notations.placed(self, unit, SYSTEMS)
        return True

    def fits(self, subjects: Sequence[int]) -> bool:
        return any(all(s not in self.used.get(i, ()) for i in subjects) for s in SYSTEMS)

    # -- rendering --

    def plain(self, index: int) -> _Draft:
        p = self.people[index]
        return _Draft(index, my_number=p.my_number, name=p.name, name_kana=p.kana, birth_date=p.birth.isoformat(),
                      sex=str(p.sex), address=p.address)

    def apply(self, draft: _Draft, variant: str) -> bool:
        """Make ``draft`` differ from the registry in the way ``variant`` says; ``False`` if it cannot."""
        rng = self.rng
        p = self.people[draft.subject]
        detail = ""
        if variant in notations.NOTATION_VARIANTS:
            detail = notations.apply_notation(self, draft, variant)
            if detail is None:
                return False
        elif variant == "kanji_variant":
            spots = [i for i, c in enumerate(draft.name) if c in _GROUP_OF]
            if not spots:
                return False
            spot = rng.choice(spots)
            old = draft.name[spot]
            new = rng.choice([c for c in _GROUP_OF[old] if c != old])
            draft.name = draft.name[:spot] + new + draft.name[spot + 1:]
            detail = f"{old}→{new}"
        elif variant in ("kana_hiragana", "kana_halfwidth", "kana_small_large"):
            convert = {"kana_hiragana": _swap_kana,
                       "kana_halfwidth": lambda s: jaconv.z2h(jaconv.hira2kata(s), kana=True, ascii=False,
                                                              digit=False),
                       "kana_small_large": lambda s: s.translate(_SMALL_KANA)}[variant]
            kana = convert(draft.name_kana)
            if kana == draft.name_kana:
                return False
            draft.name_kana = kana
            fields = ["name_kana"]
            if not p.foreign and _KANA.search(p.given):
                given = convert(p.given)
                if given != p.given:
                    draft.name = f"{draft.name[:len(p.family) + len(p.space)]}{given}"
                    fields.insert(0, "name")
            detail = ",".join(fields)
        elif variant == "kana_spaces":
            if p.space not in draft.name_kana:
                return False
            if rng.random() < 0.5:
                draft.name_kana, detail = draft.name_kana.replace(p.space, ""), "no space"
            else:
                other = " " if p.space == "　" else "　"
                draft.name_kana, detail = draft.name_kana.replace(p.space, other), "other width"
        elif variant == "kana_empty":
            draft.name_kana = ""
        elif variant == "space_width":
            other = " " if p.space == "　" else "　"
            draft.name = draft.name.replace(p.space, other)
            detail = "ASCII" if other == " " else "full-width"
        elif variant == "space_none":
            if p.foreign:
                return False
            draft.name = draft.name.replace(p.space, "")
        elif variant.startswith("date_"):
            text, detail = _date_variant(variant, p.birth, rng)
            if not text:
                return False
            draft.birth_date = text
        elif variant == "sex_kanji":
            if rng.random() < 0.3:
                draft.sex, detail = ("男性", "女性")[p.sex - 1], "男性/女性"
            else:
                draft.sex = "男女"[p.sex - 1]
        elif variant == "sex_letter":
            draft.sex = "MF"[p.sex - 1]
        elif variant.startswith("address_"):
            if variant == "address_empty":
                draft.address = ""
            else:
                text, detail = _address_variant(variant, p.address, rng)
                if not text:
                    return False
                draft.address = text
        elif variant == "former_name":
            if not p.previous_names:
                return False
            draft.name = p.previous_names[0]
        elif variant == "former_address":
            if not p.previous_addresses:
                return False
            draft.address = p.previous_addresses[0]
            detail = "outside the prefecture" if not draft.address.startswith(("高知", *_CITY_NAMES)) else "within"
        elif variant == "alias_name":
            if not p.alias:
                return False
            draft.name = p.alias
        elif variant == "alphabet_case":
            if not p.foreign:
                return False
            if rng.random() < 0.7:
                draft.name, detail = draft.name.title(), "title case"
            else:
                draft.name, detail = draft.name.lower(), "lower case"
        elif variant == "alphabet_order":
            if not p.foreign:
                return False
            draft.name, detail = f"{p.given} {p.family}", "given name first"
        elif variant == "moved_out":
            if p.status != "転出":
                return False
        elif variant in ("before_death", "before_erasure"):
            if p.status not in ("死亡", "消除") or p.status_date is None:
                return False
            first = max(dt.date(2016, 1, 1), p.birth + dt.timedelta(days=1))
            day = random_date(rng, first, p.status_date - dt.timedelta(days=1))
            draft.updated = dt.datetime.combine(day, dt.time(rng.randint(9, 16), rng.randint(0, 59)))
            days = (p.status_date - day).days
            detail = f"{days} day{'s' if days > 1 else ''} before"
        elif variant == "atena_empty":
            draft.atena = ""
        elif variant == "number_spaced":
            separator = rng.choice((" ", " ", "-"))
            n = draft.my_number
            draft.my_number = separator.join((n[:4], n[4:8], n[8:]))
            detail = "hyphens" if separator == "-" else "spaces"
        elif variant == "number_fullwidth":
            n = draft.my_number.translate(_FULL_WIDTH)
            if rng.random() < 0.3:
                n, detail = "　".join((n[:4], n[4:8], n[8:])), "with full-width spaces"
            draft.my_number = n
        elif variant in ("family_in_batch", "twins", "same_name_pair", "batch_partner", "shared_partner", "plain"):
            pass
        else:  # pragma: no cover - a typo in a variant name
            raise ValueError(f"unknown variant {variant}")
        draft.variant = variant
        draft.detail = detail
        return True

    # -- correct records --

    def pool_for(self, variant: str) -> list[int]:
        pools = self.pools
        return {
            "kanji_variant": pools.kanji, "kana_small_large": pools.small_kana, "space_none": pools.native,
            "date_era_gannen": pools.gannen, "date_era_boundary": pools.boundary,
            "address_no_prefecture": pools.chome, "address_numerals": pools.chome, "address_hyphen": pools.chome,
            "address_fullwidth": pools.chome, "address_space": pools.chome, "address_banchi": pools.banchi,
            "address_no_building": pools.building, "former_name": pools.former_name,
            "former_address": pools.former_address, "alias_name": pools.alias, "alphabet_case": pools.foreign,
            "alphabet_order": pools.foreign, "moved_out": pools.moved_out, "before_death": pools.before_death,
            "before_erasure": pools.before_erasure,
        }.get(variant, getattr(pools, notations.NOTATION_POOLS.get(variant, "living")))

    def correct(self, variant: str, count: int) -> int:
        """Add up to ``count`` correct records of one variant; returns how many were added."""
        rng = self.rng
        made = 0
        if variant == "family_in_batch":
            attempts = 0
            while made < count and attempts < count * 20:
                attempts += 1
                members = rng.choice(self.pools.households)
                chosen = rng.sample(members, min(len(members), rng.choice((2, 2, 3))))
                if self._clashes(chosen):
                    continue
                unit = [self.plain(i) for i in chosen]
                for draft in unit:
                    self.apply(draft, variant)
                    draft.detail = f"{len(unit)} of a household"
                if self.place(unit):
                    made += len(unit)
            return made
        if variant == "twins":
            attempts = 0
            while made < count and attempts < count * 20 and self.pools.twins:
                attempts += 1
                pair = list(rng.choice(self.pools.twins))
                if self._clashes(pair):
                    continue
                unit = [self.plain(i) for i in pair]
                for draft in unit:
                    self.apply(draft, variant)
                    draft.detail = "same sex" if self.people[pair[0]].sex == self.people[pair[1]].sex else ""
                if self.place(unit):
                    made += 2
            return made
        if variant == "same_name_pair":
            attempts = 0
            pairs = [*self.pools.namesakes, *self.pools.same_reading]
            while made < count and attempts < count * 20 and pairs:
                attempts += 1
                pair = rng.choice(pairs)
                for i in pair:
                    if self._clashes([i]):
                        continue
                    draft = self.plain(i)
                    self.apply(draft, variant)
                    draft.detail = "same reading" if pair in self.pools.same_reading else "same name"
                    if self.place([draft]):
                        made += 1
            return made
        if variant == "combined":
            return self._combined(count)
        pool = self.pool_for(variant)
        if variant == "kana_hiragana" or variant == "kana_halfwidth":
            # half of them about residents whose given name itself is written in kana
            kana_pool = self.pools.kana_name
        else:
            kana_pool = []
        attempts = 0
        while made < count and attempts < count * 30 and pool:
            attempts += 1
            source = kana_pool if kana_pool and rng.random() < 0.5 else pool
            subject = rng.choice(source)
            if self._clashes([subject]):
                continue
            draft = self.plain(subject)
            if not self.apply(draft, variant):
                continue
            if self.place([draft]):
                made += 1
        return made

    def _combined(self, count: int) -> int:
        """Records with two or three formatting variants, each in another field."""
        rng = self.rng
        made = attempts = 0
        while made < count and attempts < count * 30:
            attempts += 1
            subject = rng.choice(self.pools.living)
            if self._clashes([subject]):
                continue
            draft = self.plain(subject)
            fields = rng.sample(list(_COMBINABLE), rng.choice((2, 3, 3)))
            applied = []
            for field_name in sorted(fields, key=list(_COMBINABLE).index):  # kana before the name's spaces
                variant = rng.choice(_COMBINABLE[field_name])
                if self.apply(draft, variant):
                    applied.append(variant)
            if len(applied) < 2:
                continue
            draft.variant, draft.detail = "combined", "+".join(applied)
            if self.place([draft]):
                made += 1
        return made

    def _clashes(self, subjects: Sequence[int]) -> bool:
        """No process is left where none of ``subjects`` has a record yet."""
        return not self.fits(subjects)

    # -- errors --

    def error(self, cause: str) -> bool:
        """Add one error of ``cause`` (with its partner record, if it has one)."""
        if cause in notations.NOTATION_CAUSES:
            return notations.make_error(self, cause)
        rng = self.rng
        pools = self.pools
        if not hasattr(self, "_error_pools"):  # built once: a prefecture-size registry makes them long
            self._error_pools = {
                "family_number": [i for members in pools.households for i in members],
                "same_name_stranger": [i for pair in (*pools.namesakes, *pools.same_reading) for i in pair],
                "superseded_number": pools.renumbered, "deceased": pools.deceased}
        pool = self._error_pools.get(cause, pools.living)
        if not pool:
            return False
        subject = rng.choice(pool)
        if self._clashes([subject]):
            return False
        person = self.people[subject]
        draft = self.plain(subject)  # with the current address: a same-name stranger is only seen by it
        draft.cause = cause
        draft.expected = EXPECTED_REASON[cause]
        draft.source = rng.choice(_CAUSE_SOURCES.get(cause, NUMBER_SOURCES))
        number = person.my_number
        if cause in ("typo", "transposition"):
            for _ in range(50):
                if cause == "typo":
                    position = rng.randrange(12)
                    digit = rng.choice([d for d in "0123456789" if d != number[position]])
                    wrong = number[:position] + digit + number[position + 1:]
                else:
                    positions = [i for i in range(11) if number[i] != number[i + 1]]
                    position = rng.choice(positions)
                    wrong = number[:position] + number[position + 1] + number[position] + number[position + 2:]
                if wrong not in self.numbers:
                    break
            else:  # pragma: no cover
                return False
            if stdnum_in.is_valid(wrong):
                draft.expected = "NOT_IN_REGISTRY"
            draft.detail = f"digit {position + 1}"
            draft.my_number = wrong
        elif cause == "not_in_registry":
            draft.my_number = new_my_number(rng, self.numbers)
        elif cause == "superseded_number":
            draft.my_number = person.previous_my_numbers[0]
        elif cause == "deceased":
            assert person.status_date is not None
            day = random_date(rng, person.status_date + dt.timedelta(days=1), REFERENCE_DATE)
            draft.updated = dt.datetime.combine(day, dt.time(rng.randint(9, 16), rng.randint(0, 59)))
            draft.detail = f"updated {(day - person.status_date).days} days after death"
        elif cause == "family_number":
            relatives = [j for j in pools.members[person.household]
                         if j != subject and self.people[j].name != person.name]
            if not relatives:
                return False
            relative = self.people[rng.choice(relatives)]
            draft.my_number = relative.my_number
            draft.detail = _relation(person, relative)
        elif cause == "same_name_stranger":
            pair = next((pair for pair in pools.namesakes if subject in pair), None)
            if pair is None:  # same reading, other kanji: the name tells them apart
                pair = next(pair for pair in pools.same_reading if subject in pair)
                draft.expected = "IDENTITY_MISMATCH"
            stranger = self.people[pair[0] if pair[1] == subject else pair[1]]
            draft.my_number = stranger.my_number
            draft.detail = ("same name" if _folded(stranger.name) == _folded(person.name)
                            else f"same reading: {person.name.replace(person.space, ' ')} / "
                                 f"{stranger.name.replace(stranger.space, ' ')}")
        if cause in ("batch_swap", "shared_number"):
            return self._with_partner(draft, cause)
        self._format_error(draft)
        return self.place([draft])

    def _with_partner(self, draft: _Draft, cause: str) -> bool:
        """A batch swap (partner in the same batch) or a shared number (partner in another process)."""
        rng = self.rng
        person = self.people[draft.subject]
        for _ in range(20):
            other = rng.choice(self.pools.living)
            partner_person = self.people[other]
            if (partner_person.household == person.household or other in self.pools.has_namesake
                    or draft.subject in self.pools.has_namesake or self._clashes([other])):
                continue
            break
        else:
            return False
        partner = self.plain(other)
        draft.my_number = partner_person.my_number
        draft.other = partner
        mutual = cause == "batch_swap" and self.swaps % 4 == 3  # one in four: both records swapped
        if mutual:
            partner.cause, partner.expected, partner.source = cause, EXPECTED_REASON[cause], draft.source
            partner.my_number = person.my_number
            partner.other = draft
            partner.detail = draft.detail = "mutual swap"
            self._format_error(partner)
        else:
            self.apply(partner, "batch_partner" if cause == "batch_swap" else "shared_partner")
        self._format_error(draft)
        if cause == "batch_swap":
            if not self.place([draft, partner]):
                return False
            self.swaps += 1
        else:
            if not self.place([partner]):
                return False
            if not self.place([draft], exclude=(partner.system,)):
                self.units.pop()
                self.used[partner.subject].discard(partner.system)
                return False
        return True

    def _format_error(self, draft: _Draft) -> None:
        """Most errors are written plainly; some carry one formatting variant."""
        if self.rng.random() < 0.3:
            cause_detail = draft.detail
            variant = self.rng.choice(ERROR_VARIANTS)
            if variant == "address_empty" and draft.cause == "same_name_stranger":
                return  # without an address, a namesake's number is the namesake's: nothing could tell
            if self.apply(draft, variant):
                draft.detail = "; ".join(d for d in (cause_detail, draft.detail) if d)


_CITY_NAMES = tuple(city for city, _, _, _ in _PLACES)
# the variants "combined" draws from, one per field (applied in this order)
_COMBINABLE: dict[str, tuple[str, ...]] = {
    "name_kana": ("kana_hiragana", "kana_halfwidth", "kana_small_large", "kana_empty"),
    "name": ("kanji_variant", "space_width", "space_none", "alphabet_case"),
    "birth_date": ("date_slash", "date_compact", "date_era_long", "date_era_short", "date_fullwidth"),
    "sex": ("sex_kanji", "sex_letter"),
    "address": ("address_no_prefecture", "address_numerals", "address_hyphen", "address_fullwidth",
                "address_banchi", "address_no_building", "address_empty"),
    "my_number": ("number_spaced", "number_fullwidth"),
}


def _relation(person: _Person, relative: _Person) -> str:
    """Whose number the form carries, seen from the record's subject: ``parent``, ``spouse`` …"""
    steps = relative.generation - person.generation
    if steps == 0:
        if person.twin == relative.index:
            return "twin"
        return "sibling" if person.child and relative.child else "spouse"
    return {-2: "grandparent", -1: "parent", 1: "child", 2: "grandchild"}[steps]


def _swap_kana(text: str) -> str:
    """Katakana to hiragana and hiragana to katakana.

    >>> _swap_kana('ヤマダ　さくら')
    'やまだ　サクラ'
    """
    return "".join(jaconv.kata2hira(c) if "\u30a1" <= c <= "\u30f6" else
                   jaconv.hira2kata(c) if "\u3041" <= c <= "\u3096" else c for c in text)


def _date_variant(variant: str, date: dt.date, rng: random.Random) -> tuple[str, str]:
    """A birth date written the variant's way, and a detail; ``("", "")`` if it does not apply.

    >>> _date_variant('date_era_boundary', dt.date(1989, 1, 7), random.Random(1))[0] in ('昭和64年1月7日', 'S64.1.7')
    True
    """
    if variant == "date_slash":
        if rng.random() < 0.5:
            return f"{date.year}/{date.month}/{date.day}", "1980/4/1"
        return f"{date.year}/{date.month:02d}/{date.day:02d}", "1980/04/01"
    if variant == "date_compact":
        return f"{date:%Y%m%d}", ""
    if variant == "date_kanji":
        return f"{date.year}年{date.month}月{date.day}日", ""
    if variant == "date_era_long":
        return era_date(date), ""
    if variant == "date_era_short":
        if rng.random() < 0.3:  # zero-padded: S55.04.01
            letter, rest = era_date(date, letter=True)[0], era_date(date, letter=True)[1:].split(".")
            return f"{letter}{int(rest[0]):02d}.{int(rest[1]):02d}.{int(rest[2]):02d}", "zero-padded"
        return era_date(date, letter=True), ""
    if variant in ("date_era_gannen", "date_era_boundary"):
        gannen = dt.date(1989, 1, 8) <= date <= dt.date(1989, 12, 31) or dt.date(2019, 5, 1) <= date <= dt.date(
            2019, 12, 31)
        if variant == "date_era_gannen" and not gannen:
            return "", ""
        if variant == "date_era_boundary" and date not in ERA_BOUNDARY_DATES:
            return "", ""
        text = era_date(date, letter=rng.random() < 0.3)
        return text, unicodedata.normalize("NFKC", text) if variant == "date_era_boundary" else text[:4]
    if variant == "date_fullwidth":
        if rng.random() < 0.5:
            return date.isoformat().translate(_FULL_WIDTH), "ISO"
        return era_date(date).translate(_FULL_WIDTH), "era"
    raise ValueError(f"unknown date variant {variant}")  # pragma: no cover


def _address_variant(variant: str, address: str, rng: random.Random) -> tuple[str, str]:
    """A 丁目 address written the variant's way, and a detail; ``("", "")`` if it does not apply.

    >>> r = random.Random(2)
    >>> sorted({_address_variant('address_hyphen', '高知市丸ノ内一丁目2番20号', r)[0] for _ in range(20)})
    ['高知市丸ノ内1-2-20', '高知市丸ノ内1丁目2-20']
    >>> _address_variant('address_no_prefecture', '高知県高知市丸ノ内一丁目2番20号', r)
    ('高知市丸ノ内一丁目2番20号', 'prefecture omitted')
    >>> _address_variant('address_numerals', '高知市朝倉甲1234番地', r)  # 番地 addresses have no 丁目
    ('', '')
    """
    if variant == "address_banchi":
        match = _BANCHI.match(address)
        return (match.group("base"), "番地 omitted") if match else ("", "")
    if variant == "address_no_building":
        match = _BUILDING.match(address)
        return (match.group("base"), "building omitted") if match else ("", "")
    match = _CHOME.match(address)
    if not match:
        return "", ""
    pref, place, chome, ban, go = match.group("pref", "place", "chome", "ban", "go")
    pref = pref or ""
    number = _arabic(chome)
    if variant == "address_no_prefecture":
        if pref:
            return address[len(pref):], "prefecture omitted"
        return _PREFECTURE + address, "prefecture added"
    if variant == "address_numerals":
        if rng.random() < 0.6:
            return f"{pref}{place}{number}丁目{ban}番{go}号", "1丁目"
        return f"{pref}{place}{chome}丁目{kanji_number(int(ban))}番{kanji_number(int(go))}号", "番/号 in kanji"
    if variant == "address_hyphen":
        if rng.random() < 0.7:
            return f"{pref}{place}{number}-{ban}-{go}", "1-2-20"
        return f"{pref}{place}{number}丁目{ban}-{go}", "1丁目2-20"
    if variant == "address_fullwidth":
        if rng.random() < 0.6:
            return f"{pref}{place}{number}-{ban}-{go}".translate(_FULL_WIDTH), "１－２－２０"
        return f"{pref}{place}{chome}丁目{ban}番{go}号".translate(_FULL_WIDTH), "一丁目２番２０号"
    if variant == "address_space":
        space = rng.choice((" ", "　"))
        city = next((c for c in _CITY_NAMES if place.startswith(c)), "")
        if city and rng.random() < 0.5:
            return f"{pref}{city}{space}{place[len(city):]}{chome}丁目{ban}番{go}号", "after the municipality"
        return f"{pref}{place}{space}{chome}丁目{ban}番{go}号", "before the 丁目"
    raise ValueError(f"unknown address variant {variant}")  # pragma: no cover


# ---------------------------------------------------------------------------
# the corpus


def make_corpus(records: int = 24_000, seed: int = 2025, error_rate: float = 0.015,
                residents: int | None = None) -> Corpus:
    """A labelled corpus of ``records`` business records over a registry of ``residents``
    (default 1.25 × records), about ``error_rate`` of them errors spread evenly over :data:`CAUSES`.

    The default (24,000 records) holds more than 20,000 correct records, so a false-hold
    rate of 0.1% is about 20 records.
    """
    correct_count, per_cause = plan_counts(records, error_rate)
    residents = residents if residents is not None else max(1_000, round(records * 1.25))
    rng = random.Random(f"corpus-{seed}")
    people = _make_people(residents, rng)
    numbers = {p.my_number for p in people} | {n for p in people for n in p.previous_my_numbers}
    builder = _CorpusBuilder(people, rng, numbers)

    # errors first (their partners count as correct records), then the variants, then plain
    made_errors: Counter[str] = Counter()
    for cause, count in per_cause.items():
        attempts = 0
        while made_errors[cause] < count and attempts < count * 50:
            attempts += 1
            before = len(builder.units)
            if builder.error(cause):
                made_errors[cause] += sum(d.cause == cause for unit in builder.units[before:] for d in unit)
    drafts_so_far = sum(len(unit) for unit in builder.units)
    partners = drafts_so_far - sum(made_errors.values())
    budget = records - drafts_so_far
    variant_total = correct_count - partners
    for variant, share in _VARIANT_SHARE.items():
        want = min(budget, max(_MIN_PER_VARIANT, round(variant_total * share)))
        budget -= builder.correct(variant, want)
    plain = 0
    while plain < budget:
        added = builder.correct("plain", budget - plain)
        if added == 0:
            raise ValueError("the registry is too small for this many records; give more residents")
        plain += added

    return _assemble(builder, seed)


def _assemble(builder: _CorpusBuilder, seed: int) -> Corpus:
    """Shuffle each process's units into batches of about 30, give ids, build records and labels."""
    rng = builder.rng
    people = builder.people
    by_system: dict[str, list[list[_Draft]]] = {s: [] for s in SYSTEMS}
    for unit in builder.units:
        by_system[unit[0].system].append(unit)
    ordered: list[_Draft] = []
    batches: dict[str, tuple[str, str, dt.date]] = {}  # batch id -> (entered_by, source, day)
    for system_index, system in enumerate(SYSTEMS):
        units = by_system[system]
        rng.shuffle(units)
        prefix = "".join(part[:1] for part in system.split("-")).upper()
        staff = [f"{prefix}{rng.randint(100, 999)}" for _ in range(6)]
        day = dt.date(2023, 4, 3)
        position = 0
        batch_number = 0
        size = 0
        target = 0
        batch_id = ""
        for unit in units:
            if size == 0 or size + len(unit) > target:
                batch_number += 1
                day = min(day + dt.timedelta(days=rng.randint(0, 2)), REFERENCE_DATE)
                batch_id = f"{prefix}-{day:%Y%m%d}-{batch_number:04d}"
                batches[batch_id] = (rng.choice(staff), pick_weighted(rng, NUMBER_SOURCES, SOURCE_WEIGHTS), day)
                target = rng.randint(25, 35)
                size = 0
            order = list(unit)
            rng.shuffle(order)
            for draft in order:
                position += 1
                draft.record_id = f"{prefix}-{position:06d}"
                draft.batch_id = batch_id
                ordered.append(draft)
            size += len(unit)
    error_numbers = {d.my_number.translate(_HALF_WIDTH).replace(" ", "").replace("-", "").replace("　", "")
                     for d in ordered if d.cause != "ok" and d.cause != "deceased"}
    residents = [notations.registry_form(builder, p) for p in people]
    styles = {system: STYLES[i] for i, system in enumerate(SYSTEMS)}
    records: list[Record] = []
    labels: list[Label] = []
    minute_in_batch: Counter[str] = Counter()
    for draft in ordered:
        person = people[draft.subject]
        entered_by, batch_source, day = batches[draft.batch_id]
        style = styles[draft.system]
        minute_in_batch[draft.batch_id] += 1
        updated = draft.updated or (dt.datetime.combine(day, dt.time(9, 0))
                                    + dt.timedelta(minutes=5 * minute_in_batch[draft.batch_id]))
        payload = {style.updated_header: f"{updated:%Y-%m-%d %H:%M:%S}",
                   **_business_payload(draft.system, rng)}
        records.append(Record(
            system=draft.system, record_id=draft.record_id, my_number=draft.my_number, name=draft.name,
            birth_date=draft.birth_date, sex=draft.sex, address=draft.address, name_kana=draft.name_kana,
            atena_no=_atena(draft.subject) if draft.atena is None else draft.atena, number_source=draft.source or batch_source, entered_by=entered_by,
            batch_id=draft.batch_id, payload=payload,
        ))
        other = draft.other
        labels.append(Label(
            system=draft.system, record_id=draft.record_id, file=_file_name(draft.system), cause=draft.cause,
            variant=draft.variant, detail=draft.detail, expected_reason=draft.expected,
            true_my_number=person.my_number,
            other_system=other.system if other is not None and draft.cause != "ok" else "",
            other_record_id=other.record_id if other is not None and draft.cause != "ok" else "",
            batch_id=draft.batch_id,
            number_also_on_error=draft.cause == "ok" and person.my_number in error_numbers,
        ))
    households = [p.household for p in people]
    return Corpus(seed, residents, records, labels, styles, households)


_HALF_WIDTH = str.maketrans("０１２３４５６７８９－", "0123456789-")


def _atena(index: int) -> str:
    """The municipality's addressee number of a resident (the same in every process)."""
    return f"{index + 200001:08d}"


def _file_name(system: str) -> str:
    return f"records-{system}.csv"


def _business_payload(system: str, rng: random.Random) -> dict[str, str]:
    values = {
        "手帳番号": lambda: f"第{rng.randint(1, 99999):05d}号", "等級": lambda: f"{rng.randint(1, 6)}級",
        "受給者番号": lambda: f"{rng.randint(1, 9999999):07d}",
        "有効期限": lambda: f"{random_date(rng, dt.date(2025, 4, 1), dt.date(2026, 3, 31)):%Y-%m-%d}",
        "証書番号": lambda: f"{rng.randint(1, 99999):05d}", "支給区分": lambda: rng.choice(("全部支給", "一部支給")),
        "ケース番号": lambda: f"C-{rng.randint(1, 99999):05d}", "世帯人員": lambda: str(rng.randint(1, 5)),
        "障害等級": lambda: rng.choice(("1級", "2級")), "障害の程度": lambda: rng.choice(("A1", "A2", "B1", "B2")),
    }
    return {column: values[column]() for column in _PAYLOAD[system]}


def write_corpus(corpus: Corpus, out_dir: str | Path) -> CorpusFiles:
    """Write ``registry.csv`` (UTF-8 with BOM, Japanese headers, as the registry hands it over),
    one ``records-<system>.csv`` per process in its :data:`STYLES` style, and ``truth.csv`` (UTF-8)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    registry = out / "registry.csv"
    write_registry(registry, corpus.residents, random.Random(f"corpus-registry-{corpus.seed}"))
    encodings = {registry.name: "utf-8-sig"}
    by_system: dict[str, list[Record]] = {s: [] for s in SYSTEMS}
    for record in corpus.records:
        by_system[record.system].append(record)
    files: list[tuple[str, Path]] = []
    for system in SYSTEMS:
        style = corpus.styles[system]
        path = out / _file_name(system)
        # the contract columns' headers; the updated_at header comes in with the payload columns
        write_records(path, by_system[system], sample.FileStyle(style.encoding, style.headers[:-1]))
        files.append((system, path))
        encodings[path.name] = style.encoding
    truth = out / "truth.csv"
    with open(truth, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(TRUTH_HEADER)
        writer.writerows(label.row() for label in corpus.labels)
    encodings[truth.name] = "utf-8"
    return CorpusFiles(out, registry, tuple(files), truth, encodings)


def read_truth(path: str | Path) -> list[Label]:
    """Read ``truth.csv`` back into labels."""
    with open(path, encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle)
        header = tuple(next(reader))
        if header != TRUTH_HEADER:
            raise ValueError(f"{path}: not a corpus truth file (header {header})")
        return [Label(*row[:-1], number_also_on_error=row[-1] == "1") for row in reader]
