"""Deterministic synthetic data: a resident registry and business records with known errors.

Everything comes from one seeded :class:`random.Random`, so the same seed
gives the same files, byte for byte. The in-memory API is what benchmarks
use; :func:`generate` only renders it as the CSV files of the data contract:

* ``registry.csv`` — the resident registry (UTF-8 with BOM, Japanese headers,
  birth dates partly in era form such as ``昭和55年4月1日`` or ``S55.4.1``);
* ``records-<code>.csv`` — one business-system extract per process, cycling
  through three styles: CP932 with Japanese headers, UTF-8 with English
  headers, UTF-8 with BOM with alternative Japanese headers (管理番号,
  ﾌﾘｶﾞﾅ). Every file has a ``事務``/``system`` column;
* ``truth.csv`` — UTF-8 ``system,record_id,cause``: ``ok`` or the injected
  cause, so recall can be measured.

Injected causes (see :data:`LINKAGE_CAUSES`, :data:`INVALID_CAUSES`): a
linkage error makes the guard HOLD the record, an invalid row makes it
INVALID, and an ``ok`` record passes (possibly with an informational code:
a former name, a former address, the registered alias, a moved-out resident).

>>> rng = random.Random(7)
>>> residents = make_registry(200, rng)
>>> len(residents), len({r.my_number for r in residents})
(200, 200)
>>> rows = make_records(residents, 'shintai-techo', 100, rng, error_rate=0.1)
>>> rows[0][0].record_id, sorted({cause for _, cause in rows})[:3]
('ST-000001', ['batch_swap', 'deceased', 'family_number'])
"""

from __future__ import annotations

import bisect
import csv
import datetime as dt
import itertools
import random
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import jaconv
from stdnum.jp import in_ as stdnum_in

from guards.model import Record, Resident
from guards.normalize import ERAS
from streams.csvio import RECORD_FIELDS, REGISTRY_FIELDS, contract_header

__all__ = [
    "DEFAULT_SYSTEMS",
    "LINKAGE_CAUSES",
    "INVALID_CAUSES",
    "CAUSES",
    "REFERENCE_DATE",
    "SampleFiles",
    "Population",
    "generate",
    "make_registry",
    "make_records",
    "new_my_number",
    "era_date",
    "write_registry",
    "write_records",
    "write_truth",
    "FileStyle",
    "RECORD_STYLES",
    "REGISTRY_HEADER",
]

DEFAULT_SYSTEMS: tuple[str, ...] = ("shintai-techo", "jiritsu-shien", "jido-fuyo", "seikatsu-hogo", "ryoiku-techo")

#: Injected linkage errors: the guard must HOLD these.
LINKAGE_CAUSES: tuple[str, ...] = (
    "typo",                # one digit changed (usually caught by the check digit)
    "transposition",       # two adjacent digits swapped
    "batch_swap",          # the number of another record's subject in the same input batch
    "family_number",       # the number of a household member
    "same_name_stranger",  # the number of another resident with the same name, birth date and sex
    "not_in_registry",     # a valid number nobody in the registry holds
    "superseded_number",   # the resident's former number
    "deceased",            # a record for a deceased resident, updated after the death
)
#: Rows that are unusable as they stand: the guard must call them INVALID.
INVALID_CAUSES: tuple[str, ...] = ("malformed", "unlinked")
CAUSES: tuple[str, ...] = ("ok", *LINKAGE_CAUSES, *INVALID_CAUSES)

#: "Today" for the generated data (no clock: the files must not depend on when they are made).
REFERENCE_DATE = dt.date(2025, 3, 31)
_FIRST_BIRTH = dt.date(1930, 1, 1)
_LAST_BIRTH = dt.date(2024, 12, 31)

# ---------------------------------------------------------------------------
# names and places (all encodable in CP932)

# (kanji, katakana), most common first; 高知 favourites among them.
_FAMILY_NAMES: tuple[tuple[str, str], ...] = (
    ("山本", "ヤマモト"), ("山崎", "ヤマサキ"), ("田中", "タナカ"), ("浜田", "ハマダ"), ("高橋", "タカハシ"),
    ("佐藤", "サトウ"), ("鈴木", "スズキ"), ("渡辺", "ワタナベ"), ("斎藤", "サイトウ"), ("岡林", "オカバヤシ"),
    ("西森", "ニシモリ"), ("森", "モリ"), ("伊藤", "イトウ"), ("中村", "ナカムラ"), ("小松", "コマツ"),
    ("川村", "カワムラ"), ("片岡", "カタオカ"), ("岡村", "オカムラ"), ("竹内", "タケウチ"), ("吉村", "ヨシムラ"),
    ("山中", "ヤマナカ"), ("和田", "ワダ"), ("野村", "ノムラ"), ("松本", "マツモト"), ("井上", "イノウエ"),
    ("小林", "コバヤシ"), ("加藤", "カトウ"), ("吉田", "ヨシダ"), ("山田", "ヤマダ"), ("山口", "ヤマグチ"),
    ("筒井", "ツツイ"), ("溝渕", "ミゾブチ"), ("公文", "クモン"), ("楠瀬", "クスノセ"), ("西内", "ニシウチ"),
    ("中平", "ナカヒラ"), ("弘田", "ヒロタ"), ("門田", "カドタ"), ("大崎", "オオサキ"), ("岡崎", "オカザキ"),
    ("佐々木", "ササキ"), ("木村", "キムラ"), ("林", "ハヤシ"), ("清水", "シミズ"), ("池田", "イケダ"),
    ("橋本", "ハシモト"), ("石川", "イシカワ"), ("前田", "マエダ"), ("藤田", "フジタ"), ("坂本", "サカモト"),
    ("長谷川", "ハセガワ"), ("岡本", "オカモト"), ("西村", "ニシムラ"), ("武市", "タケチ"), ("植田", "ウエダ"),
    ("髙橋", "タカハシ"), ("齋藤", "サイトウ"), ("渡邊", "ワタナベ"), ("濱田", "ハマダ"), ("山﨑", "ヤマサキ"),
)
_FAMILY_WEIGHTS = list(itertools.accumulate(1.0 / (rank + 4) for rank in range(len(_FAMILY_NAMES))))

# given names by sex (1 男, 2 女) and generation (born before 1975 or later)
_GIVEN_NAMES: dict[tuple[int, bool], tuple[tuple[str, str], ...]] = {
    (1, True): (("茂", "シゲル"), ("博", "ヒロシ"), ("清", "キヨシ"), ("実", "ミノル"), ("勝", "マサル"),
                ("隆", "タカシ"), ("進", "ススム"), ("豊", "ユタカ"), ("正", "タダシ"), ("明", "アキラ"),
                ("修", "オサム"), ("誠", "マコト"), ("一郎", "イチロウ"), ("太郎", "タロウ"), ("秀樹", "ヒデキ"),
                ("和夫", "カズオ"), ("幸雄", "ユキオ"), ("正雄", "マサオ"), ("健二", "ケンジ"), ("哲也", "テツヤ")),
    (1, False): (("大輔", "ダイスケ"), ("翔太", "ショウタ"), ("拓也", "タクヤ"), ("健太", "ケンタ"), ("大樹", "ダイキ"),
                 ("蓮", "レン"), ("湊", "ミナト"), ("陽翔", "ハルト"), ("悠真", "ユウマ"), ("蒼", "アオイ"),
                 ("樹", "イツキ"), ("大和", "ヤマト"), ("直樹", "ナオキ"), ("和也", "カズヤ"), ("亮", "リョウ"),
                 ("翼", "ツバサ"), ("颯太", "ソウタ"), ("陸", "リク"), ("優斗", "ユウト"), ("龍馬", "リョウマ")),
    (2, True): (("幸子", "サチコ"), ("節子", "セツコ"), ("和子", "カズコ"), ("洋子", "ヨウコ"), ("恵子", "ケイコ"),
                ("京子", "キョウコ"), ("裕子", "ユウコ"), ("久美子", "クミコ"), ("由美子", "ユミコ"), ("明美", "アケミ"),
                ("文子", "フミコ"), ("千代子", "チヨコ"), ("春子", "ハルコ"), ("紀子", "ノリコ"), ("花子", "ハナコ"),
                ("美智子", "ミチコ"), ("悦子", "エツコ"), ("静香", "シズカ"), ("直美", "ナオミ"), ("真由美", "マユミ")),
    (2, False): (("美咲", "ミサキ"), ("陽菜", "ヒナ"), ("結衣", "ユイ"), ("葵", "アオイ"), ("凛", "リン"),
                 ("芽依", "メイ"), ("結菜", "ユイナ"), ("さくら", "サクラ"), ("美紀", "ミキ"), ("香織", "カオリ"),
                 ("恵美", "エミ"), ("千尋", "チヒロ"), ("優子", "ユウコ"), ("麻衣", "マイ"), ("舞", "マイ"),
                 ("友美", "トモミ"), ("愛", "アイ"), ("彩", "アヤ"), ("美穂", "ミホ"), ("智子", "トモコ")),
}

# foreign residents: (name as registered, katakana); some also register a 通称
_FOREIGN_NAMES: tuple[tuple[str, str, int], ...] = (
    ("NGUYEN VAN NAM", "グエン ヴァン ナム", 1), ("TRAN THI LAN", "チャン ティ ラン", 2),
    ("SMITH JOHN", "スミス ジョン", 1), ("SANTOS MARIA", "サントス マリア", 2), ("KIM MINJUN", "キム ミンジュン", 1),
    ("GARCIA ANA", "ガルシア アナ", 2), ("LI WEI", "リ ウェイ", 1), ("REYES JOSE", "レイエス ホセ", 1),
)

# (municipality as written, weight, town names; a town ending in 甲/乙 takes 番地 addressing)
_MUNICIPALITIES: tuple[tuple[str, int, tuple[str, ...]], ...] = (
    ("高知市", 45, ("丸ノ内", "本町", "帯屋町", "はりまや町", "桟橋通", "旭町", "上町", "北本町", "高須", "中万々",
                  "比島町", "福井町", "塩田町", "愛宕町", "南万々", "朝倉甲", "一宮乙", "介良乙", "大津甲", "鴨部")),
    ("南国市", 6, ("後免町", "大埇甲", "岡豊町小蓮", "篠原")),
    ("土佐市", 4, ("高岡町甲", "蓮池", "波介")),
    ("須崎市", 3, ("山手町", "原町", "東古市町")),
    ("四万十市", 5, ("中村大橋通", "右山", "具同")),
    ("香南市", 4, ("野市町西野", "赤岡町", "吉川町吉原")),
    ("香美市", 4, ("土佐山田町", "物部町大栃")),
    ("安芸市", 3, ("矢ノ丸", "本町", "港町")),
    ("室戸市", 2, ("浮津", "室津", "吉良川町甲")),
    ("宿毛市", 3, ("中央", "桜町", "片島")),
    ("土佐清水市", 2, ("天神町", "旭町", "中浜")),
    ("吾川郡いの町", 3, ("枝川", "駅前町", "大内")),
    ("高岡郡佐川町", 2, ("甲", "乙")),
    ("高岡郡四万十町", 2, ("茂串町", "琴平町", "窪川")),
    ("幡多郡黒潮町", 2, ("入野", "佐賀")),
    ("長岡郡本山町", 1, ("本山", "吉延")),
    ("安芸郡奈半利町", 1, ("乙", "甲")),
)
_MUNICIPALITY_WEIGHTS = list(itertools.accumulate(weight for _, weight, _ in _MUNICIPALITIES))
_OUTSIDE_ADDRESSES: tuple[str, ...] = (
    "愛媛県松山市一番町一丁目{0}番{1}号", "香川県高松市番町三丁目{0}番{1}号", "徳島県徳島市幸町二丁目{0}番{1}号",
    "大阪府大阪市北区梅田一丁目{0}番{1}号", "東京都世田谷区太子堂四丁目{0}番{1}号", "岡山県岡山市北区表町一丁目{0}番{1}号",
)
KANJI_NUMERALS = "〇一二三四五六七八九"

NUMBER_SOURCES = ("申請書", "職員入力", "J-LIS照会", "住基連携", "本人確認書類")
SOURCE_WEIGHTS = list(itertools.accumulate((35, 25, 10, 25, 5)))
# how a wrong number typically got in
CAUSE_SOURCES: dict[str, tuple[str, ...]] = {
    "typo": ("職員入力", "職員入力", "申請書"),
    "transposition": ("職員入力", "職員入力", "申請書"),
    "batch_swap": ("職員入力",),
    "family_number": ("申請書", "申請書", "職員入力"),
    "same_name_stranger": ("J-LIS照会",),
    "not_in_registry": ("職員入力", "申請書"),
    "superseded_number": ("申請書", "本人確認書類"),
}

# ---------------------------------------------------------------------------
# small helpers


def new_my_number(rng: random.Random, taken: set[str]) -> str:
    """A valid My Number (stdnum check digit) not in ``taken``; adds it there.

    >>> from stdnum.jp import in_
    >>> number = new_my_number(random.Random(1), set())
    >>> len(number), in_.is_valid(number)
    (12, True)
    """
    while True:
        eleven = f"{rng.randrange(10**11):011d}"
        number = eleven + stdnum_in.calc_check_digit(eleven)
        if number not in taken:
            taken.add(number)
            return number


def era_date(date: dt.date, letter: bool = False) -> str:
    """A date in Japanese-era form, as municipal files write it.

    >>> era_date(dt.date(1980, 4, 1)), era_date(dt.date(1980, 4, 1), letter=True)
    ('昭和55年4月1日', 'S55.4.1')
    >>> era_date(dt.date(2019, 5, 1)), era_date(dt.date(1989, 1, 8), letter=True)
    ('令和元年5月1日', 'H1.1.8')
    """
    era = next(e for e in reversed(ERAS) if date >= e.first_day)
    year = date.year - era.first_day.year + 1
    if letter:
        return f"{era.letter}{year}.{date.month}.{date.day}"
    return f"{era.kanji}{'元' if year == 1 else year}年{date.month}月{date.day}日"


def random_date(rng: random.Random, first: dt.date, last: dt.date) -> dt.date:
    if last <= first:
        return first
    return first + dt.timedelta(days=rng.randrange((last - first).days + 1))


def _birth_in(rng: random.Random, first_year: int, last_year: int) -> dt.date:
    first = max(_FIRST_BIRTH, dt.date(max(first_year, 1930), 1, 1))
    last = min(_LAST_BIRTH, dt.date(min(last_year, 2024), 12, 31))
    return random_date(rng, first, max(first, last))


def kanji_number(n: int) -> str:
    """1-99 in kanji, as 丁目 are written.

    >>> kanji_number(3), kanji_number(10), kanji_number(12), kanji_number(20)
    ('三', '十', '十二', '二十')
    """
    tens, ones = divmod(n, 10)
    return (KANJI_NUMERALS[tens] if tens > 1 else "") + ("十" if tens else "") + (KANJI_NUMERALS[ones] if ones else "")


def pick_weighted(rng: random.Random, items: Sequence, cumulative: list[float]):
    return items[bisect.bisect(cumulative, rng.random() * cumulative[-1])]


# ---------------------------------------------------------------------------
# the registry


@dataclass(slots=True)
class _Person:
    family: tuple[str, str]
    given: tuple[str, str]
    sex: int
    birth: dt.date
    address: str
    my_number: str
    resident_code: str
    foreign: tuple[str, str] | None = None
    alias: str = ""
    status: str = "住民"
    status_date: dt.date | None = None
    previous_names: tuple[str, ...] = ()
    previous_addresses: tuple[str, ...] = ()
    previous_my_numbers: tuple[str, ...] = ()

    def resident(self) -> Resident:
        if self.foreign:
            name, kana = self.foreign
        else:
            name, kana = f"{self.family[0]}　{self.given[0]}", f"{self.family[1]}　{self.given[1]}"
        return resident_from(self, name, kana)


def resident_from(person, name: str, kana: str) -> Resident:
    """The registry entry of a generated person (the sample's and the corpus's persons carry these fields)."""
    return Resident(
        my_number=person.my_number, name=name, birth_date=person.birth, sex=person.sex, address=person.address,
        name_kana=kana, alias_name=person.alias, resident_code=person.resident_code, status=person.status,
        status_date=person.status_date, previous_names=person.previous_names,
        previous_addresses=person.previous_addresses, previous_my_numbers=person.previous_my_numbers,
    )


class _RegistryBuilder:
    """Households first (shared family name and address), then statuses and histories."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.numbers: set[str] = set()
        self.codes: set[str] = set()
        self.addresses: set[str] = set()
        self.people: list[_Person] = []

    # -- places and names --

    def address(self) -> str:
        rng = self.rng
        for attempt in itertools.count():
            city, _, towns = pick_weighted(rng, _MUNICIPALITIES, _MUNICIPALITY_WEIGHTS)
            town = rng.choice(towns)
            if town.endswith(("甲", "乙")):
                text = f"{city}{town}{rng.randint(1, 4999)}番地"
            else:
                text = f"{city}{town}{kanji_number(rng.randint(1, 6))}丁目{rng.randint(1, 40)}番{rng.randint(1, 60)}号"
            if attempt > 8:
                text += f"　{rng.choice(('コーポ', 'ハイツ', 'メゾン'))}{town[:2]}{rng.randint(1, 9)}0{rng.randint(1, 9)}号室"
            if text not in self.addresses:
                self.addresses.add(text)
                return text
        raise AssertionError("unreachable")

    def outside_address(self) -> str:
        rng = self.rng
        if rng.random() < 0.5:
            return rng.choice(_OUTSIDE_ADDRESSES).format(rng.randint(1, 30), rng.randint(1, 40))
        city, _, towns = pick_weighted(rng, _MUNICIPALITIES, _MUNICIPALITY_WEIGHTS)
        return f"{city}{rng.choice(towns)}{rng.randint(1, 3000)}番地"

    def family(self) -> tuple[str, str]:
        return pick_weighted(self.rng, _FAMILY_NAMES, _FAMILY_WEIGHTS)

    def given(self, sex: int, birth: dt.date, avoid: Iterable[str] = ()) -> tuple[str, str]:
        pool = _GIVEN_NAMES[(sex, birth.year < 1975)]
        taken = set(avoid)
        while True:
            choice = self.rng.choice(pool)
            if choice[0] not in taken:
                return choice

    def person(self, family: tuple[str, str], sex: int, birth: dt.date, address: str,
               siblings: Iterable[str] = ()) -> _Person:
        code = f"{self.rng.randrange(10**11):011d}"
        while code in self.codes:
            code = f"{self.rng.randrange(10**11):011d}"
        self.codes.add(code)
        person = _Person(family, self.given(sex, birth, siblings), sex, birth, address,
                         new_my_number(self.rng, self.numbers), code)
        self.people.append(person)
        return person

    # -- households --

    def household(self) -> None:
        rng = self.rng
        kind = rng.random()
        address = self.address()
        family = self.family()
        if kind < 0.004:
            self.foreigner(address)
        elif kind < 0.33:  # one person
            self.person(family, rng.choice((1, 2)), _birth_in(rng, 1930, 2005), address)
        elif kind < 0.55:  # couple
            husband = self.person(family, 1, _birth_in(rng, 1932, 1998), address)
            self.wife(family, husband.birth, address)
        elif kind < 0.82:  # couple and children
            husband = self.person(family, 1, _birth_in(rng, 1955, 1996), address)
            wife = self.wife(family, husband.birth, address)
            self.children(family, wife.birth, address, rng.randint(1, 3))
        elif kind < 0.90:  # one parent and children
            parent = self.person(family, rng.choice((1, 2, 2, 2)), _birth_in(rng, 1965, 1998), address)
            self.children(family, parent.birth, address, rng.randint(1, 3))
        else:  # three generations
            grandfather = self.person(family, 1, _birth_in(rng, 1930, 1952), address)
            grandmother = self.wife(family, grandfather.birth, address)
            son = self.person(family, 1, _birth_in(rng, grandmother.birth.year + 22, grandmother.birth.year + 36),
                              address, [grandfather.given[0]])
            daughter_in_law = self.wife(family, son.birth, address)
            self.children(family, daughter_in_law.birth, address, rng.randint(0, 3),
                          [grandfather.given[0], grandmother.given[0], son.given[0]])

    def wife(self, family: tuple[str, str], husband_birth: dt.date, address: str) -> _Person:
        """A married woman: her maiden name (and often her address before marriage) are history."""
        rng = self.rng
        birth = _birth_in(rng, husband_birth.year - 6, husband_birth.year + 3)
        wife = self.person(family, 2, birth, address)
        maiden = self.family()
        if maiden != family:
            wife.previous_names = (f"{maiden[0]}　{wife.given[0]}",)
        if rng.random() < 0.6:
            wife.previous_addresses = (self.outside_address(),)
        return wife

    def children(self, family: tuple[str, str], mother_birth: dt.date, address: str, count: int,
                 elders: Sequence[str] = ()) -> None:
        names = list(elders)
        first = mother_birth.year + 22
        for _ in range(count):
            birth = _birth_in(self.rng, first, mother_birth.year + 42)
            if birth > _LAST_BIRTH or birth.year > 2024:
                return
            child = self.person(family, self.rng.choice((1, 2)), birth, address, names)
            names.append(child.given[0])
            first = birth.year + 1

    def foreigner(self, address: str) -> None:
        rng = self.rng
        name, kana, sex = rng.choice(_FOREIGN_NAMES)
        person = self.person(self.family(), sex, _birth_in(rng, 1960, 2004), address)
        person.foreign = (name, kana)
        if rng.random() < 0.6:  # a registered 通称 (alias)
            person.alias = f"{person.family[0]}　{person.given[0]}"

    # -- after the households: statuses, number changes, namesakes --

    def finish(self, n: int, strangers: int) -> list[Resident]:
        rng = self.rng
        people = self.people[: n - strangers]
        minimum = 3 if len(people) >= 60 else 0
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
        for person in self._choose(living, max(minimum // 3, round(len(people) * 0.001))):
            person.status = "消除"
            person.status_date = random_date(rng, dt.date(2020, 1, 1), REFERENCE_DATE)
        living = [p for p in people if p.status == "住民"]
        for person in self._choose(living, max(minimum, round(len(people) * 0.003))):
            former = [new_my_number(rng, self.numbers) for _ in range(2 if rng.random() < 0.1 else 1)]
            person.previous_my_numbers = tuple(former)
        # namesakes: another resident with the same name, birth date and sex, elsewhere
        living = [p for p in people if p.status == "住民" and not p.foreign]
        for original in self._choose(living, strangers):
            stranger = self.person(original.family, original.sex, original.birth, self.address())
            stranger.given = original.given
            people.append(stranger)
        return [p.resident() for p in people]

    def _choose(self, pool: list[_Person], count: int) -> list[_Person]:
        return self.rng.sample(pool, min(count, len(pool)))


def make_registry(n: int, rng: random.Random) -> list[Resident]:
    """``n`` residents in households, with statuses and histories; numbers valid and unique.

    About 1.2% are deceased (死亡), 1% moved out (転出), 0.1% erased (消除),
    0.3% had a number change, married women carry their maiden name, and
    0.2% are namesakes: a second resident with the same name, birth date
    and sex at another address.
    """
    if n < 0:
        raise ValueError(f"residents must be 0 or more, got {n}")
    strangers = max(2, n // 500) if n >= 20 else 0
    builder = _RegistryBuilder(rng)
    while len(builder.people) < n - strangers:
        builder.household()
    return builder.finish(n, strangers)


# ---------------------------------------------------------------------------
# the business records


class Population:
    """A registry with the look-ups the record generator needs (built once, reused per system)."""

    def __init__(self, residents: Sequence[Resident]) -> None:
        self.residents: list[Resident] = list(residents)
        self.numbers: set[str] = set()
        households: dict[str, list[int]] = {}
        identities: dict[tuple[str, dt.date, int], list[int]] = {}
        self.living: list[int] = []
        self.deceased: list[int] = []
        self.renumbered: list[int] = []
        for index, resident in enumerate(self.residents):
            self.numbers.add(resident.my_number)
            self.numbers.update(resident.previous_my_numbers)
            households.setdefault(resident.address, []).append(index)
            if resident.status == "死亡":
                self.deceased.append(index)
            elif resident.status in ("住民", "転出"):
                self.living.append(index)
                if resident.previous_my_numbers:
                    self.renumbered.append(index)
                identities.setdefault(_identity(resident), []).append(index)
        self.household_of = households
        #: living residents sharing a household with someone of another name
        self.with_family: list[int] = [i for i in self.living if len(self.relatives(i)) > 0]
        #: living resident -> a living namesake (same name, birth date, sex) at another address
        self.namesake: dict[int, int] = {}
        for group in identities.values():
            for i, j in itertools.permutations(group, 2):
                if i not in self.namesake and self.residents[i].address != self.residents[j].address:
                    self.namesake[i] = j
        self.with_namesake: list[int] = sorted(self.namesake)

    def relatives(self, index: int) -> list[int]:
        """Other members of a resident's household (same address), of another identity."""
        me = _identity(self.residents[index])
        return [j for j in self.household_of[self.residents[index].address] if _identity(self.residents[j]) != me]

    def atena_no(self, index: int) -> str:
        """The municipality's addressee number of a resident (stable across processes)."""
        return f"{index + 100001:08d}"


def _identity(resident: Resident) -> tuple[str, dt.date, int]:
    return resident.name.replace("　", "").replace(" ", ""), resident.birth_date, resident.sex


@dataclass(slots=True)
class _Slot:
    cause: str
    subject: int = -1
    batch: int = 0


def _record_prefix(system: str) -> str:
    """``shintai-techo`` → ``ST``."""
    return "".join(part[:1] for part in system.split("-") if part).upper() or "R"


def make_records(population: Population | Sequence[Resident], system: str, count: int, rng: random.Random,
                 error_rate: float = 0.02) -> list[tuple[Record, str]]:
    """``count`` records of one process, each about one true resident, with the cause injected.

    ``error_rate`` is the share of records with a linkage error (spread
    evenly over :data:`LINKAGE_CAUSES`); on top of that about a quarter as
    many ``malformed`` and ``unlinked`` rows each. A cause the registry
    cannot support (no deceased resident in a tiny registry…) falls back
    to ``typo``. Record ids are ``<PREFIX>-000001``…, batches of 20–40
    consecutive records share ``batch_id``, ``entered_by`` and a day.
    """
    if not isinstance(population, Population):
        population = Population(population)
    if not population.living:
        raise ValueError("the registry has no living resident to write records about")
    if not 0 <= error_rate <= 1:
        raise ValueError(f"error_rate must be between 0 and 1, got {error_rate}")
    slots = _plan(population, count, rng, error_rate)
    prefix = _record_prefix(system)
    batches = _batches(slots, rng, prefix)
    rows = []
    for position, slot in enumerate(slots):
        batch = batches[slot.batch]
        record = _render_record(population, system, f"{prefix}-{position + 1:06d}", slot, slots, batch,
                                position - batch.members[0], rng)
        rows.append((record, slot.cause))
    return rows


def _plan(population: Population, count: int, rng: random.Random, error_rate: float) -> list[_Slot]:
    """Decide each record's cause and subject."""
    linkage = round(count * error_rate)
    invalid = max(1, round(count * error_rate / 4)) if error_rate > 0 and count >= 20 else 0
    causes = list(LINKAGE_CAUSES)
    rng.shuffle(causes)
    planned = [causes[i % len(causes)] for i in range(linkage)] + ["malformed"] * invalid + ["unlinked"] * invalid
    planned = planned[:count]
    slots = [_Slot("ok") for _ in range(count)]
    for position, cause in zip(rng.sample(range(count), len(planned)), planned):
        slots[position].cause = cause
    pools = {"family_number": population.with_family, "same_name_stranger": population.with_namesake,
             "superseded_number": population.renumbered, "deceased": population.deceased}
    taken: set[int] = set()
    for slot in slots:  # the constrained causes first, while their small pools are free
        pool = pools.get(slot.cause)
        if pool is None:
            continue
        free = [i for i in (rng.choice(pool) for _ in range(8)) if i not in taken] if pool else []
        if not free:
            slot.cause = "typo"
            continue
        slot.subject = free[0]
        taken.add(free[0])
    ordinary = [slot for slot in slots if slot.subject < 0]
    living = population.living
    if len(ordinary) <= len(living) - len(taken):
        chosen = (i for i in rng.sample(living, min(len(living), len(ordinary) + len(taken))) if i not in taken)
    else:  # more records than residents: people appear more than once
        chosen = (rng.choice(living) for _ in itertools.count())
    for slot, subject in zip(ordinary, chosen):
        slot.subject = subject
    return slots


@dataclass(slots=True)
class _Batch:
    batch_id: str
    entered_by: str
    source: str
    day: dt.date
    members: list[int] = field(default_factory=list)


def _batches(slots: list[_Slot], rng: random.Random, prefix: str) -> list[_Batch]:
    batches: list[_Batch] = []
    position = 0
    staff = [f"{prefix}{rng.randint(100, 999)}" for _ in range(6)]
    day = dt.date(2023, 4, 3)
    while position < len(slots):
        size = rng.randint(20, 40)
        if len(slots) - position - size < 2:  # no batch of one: a swap needs a partner
            size = len(slots) - position
        day = min(day + dt.timedelta(days=rng.randint(0, 3)), REFERENCE_DATE)
        batch = _Batch(f"{prefix}-{day:%Y%m%d}-{len(batches) + 1:04d}", rng.choice(staff),
                       pick_weighted(rng, NUMBER_SOURCES, SOURCE_WEIGHTS), day)
        for member in range(position, position + size):
            slots[member].batch = len(batches)
            batch.members.append(member)
        batches.append(batch)
        position += size
    return batches


def _render_record(population: Population, system: str, record_id: str, slot: _Slot, slots: list[_Slot],
                   batch: _Batch, place_in_batch: int, rng: random.Random) -> Record:
    """One record about ``slot.subject`` with its cause injected; every field a raw string."""
    resident = population.residents[slot.subject]
    cause = slot.cause
    number = resident.my_number
    if cause == "typo":
        position = rng.randrange(12)
        digit = rng.choice([d for d in "0123456789" if d != number[position]])
        number = number[:position] + digit + number[position + 1:]
    elif cause == "transposition":
        position = rng.choice([i for i in range(11) if number[i] != number[i + 1]] or [0])
        number = number[:position] + number[position + 1] + number[position] + number[position + 2:]
    elif cause == "batch_swap":
        partners = [population.residents[slots[m].subject] for m in batch.members
                    if _identity(population.residents[slots[m].subject]) != _identity(resident)]
        if partners:
            number = rng.choice(partners).my_number
        else:  # pragma: no cover - a batch of namesakes only
            slot.cause = cause = "not_in_registry"
    elif cause == "family_number":
        number = population.residents[rng.choice(population.relatives(slot.subject))].my_number
    elif cause == "same_name_stranger":
        number = population.residents[population.namesake[slot.subject]].my_number
    elif cause == "superseded_number":
        number = resident.previous_my_numbers[0]
    if cause == "not_in_registry":
        number = new_my_number(rng, population.numbers)
    plain_identity = cause in ("same_name_stranger",)
    name = _record_name(resident, rng, allow_history=not plain_identity)
    birth_date = _record_date(resident.birth_date, rng)
    sex = rng.choice((("1", "2"), ("1", "2"), ("男", "女"), ("M", "F")))[resident.sex - 1]
    address = _record_address(resident, rng, required=plain_identity)
    if cause == "malformed":
        problem = rng.randrange(3)
        if problem == 0:
            name = ""
        elif problem == 1:
            birth_date = rng.choice(("昭和64年1月8日", "2023-02-30", "平成32年1月1日", "不明"))
        else:
            sex = rng.choice(("X", "9", "不明"))
    updated = dt.datetime.combine(batch.day, dt.time(9, 0)) + dt.timedelta(
        minutes=5 * place_in_batch + rng.randint(0, 4))
    if cause == "deceased":
        assert resident.status_date is not None
        death = resident.status_date
        updated = dt.datetime.combine(random_date(rng, death + dt.timedelta(days=1), REFERENCE_DATE),
                                      dt.time(rng.randint(9, 16), rng.randint(0, 59)))
    source = rng.choice(CAUSE_SOURCES[cause]) if cause in CAUSE_SOURCES else batch.source
    return Record(
        system=system,
        record_id=record_id,
        my_number="" if cause == "unlinked" else _number_form(number, rng),
        name=name,
        birth_date=birth_date,
        sex=sex,
        address=address,
        name_kana=_record_kana(resident, rng),
        atena_no=population.atena_no(slot.subject),
        number_source=source,
        entered_by=batch.entered_by,
        batch_id=batch.batch_id,
        payload={"更新日時": f"{updated:%Y-%m-%d %H:%M:%S}", **_business_payload(system, record_id, rng)},
    )



def _number_form(number: str, rng: random.Random) -> str:
    """A number as keyed: plain, spaced, hyphenated or in full-width digits."""
    form = rng.random()
    if form < 0.6:
        return number
    if form < 0.8:
        return _grouped(number, " ")
    if form < 0.9:
        return _grouped(number, "-")
    return number.translate(_FULL_WIDTH_DIGITS)


def _grouped(number: str, separator: str) -> str:
    """``1234 5678 9012`` as printed on the card (or with hyphens)."""
    return separator.join((number[:4], number[4:8], number[8:]))


_FULL_WIDTH_DIGITS = str.maketrans("0123456789", "０１２３４５６７８９")


def _record_name(resident: Resident, rng: random.Random, allow_history: bool) -> str:
    """The name as the business system holds it: the registry's, spaced differently,
    or (for some) the maiden name or the registered alias — all of which the guard accepts."""
    if allow_history and resident.previous_names and rng.random() < 0.35:
        name = resident.previous_names[0]
    elif allow_history and resident.alias_name and rng.random() < 0.5:
        name = resident.alias_name
    else:
        name = resident.name
    form = rng.random()
    if form < 0.5:
        return name
    if form < 0.85:
        return name.replace("　", " ")
    return name.replace("　", "")


def _record_kana(resident: Resident, rng: random.Random) -> str:
    form = rng.random()
    if form < 0.1:
        return ""
    if form < 0.4:
        return jaconv.z2h(resident.name_kana, kana=True, ascii=False, digit=False)
    return resident.name_kana


def _record_date(date: dt.date, rng: random.Random) -> str:
    form = rng.random()
    if form < 0.4:
        return date.isoformat()
    if form < 0.65:
        return era_date(date)
    if form < 0.8:
        return era_date(date, letter=True)
    if form < 0.9:
        return f"{date.year}/{date.month}/{date.day}"
    return f"{date:%Y%m%d}"


def _record_address(resident: Resident, rng: random.Random, required: bool) -> str:
    """The address as held: often none, else the registry's (maybe in full-width digits or
    with a space after the municipality) or an address before a move."""
    form = rng.random()
    if not required and form < 0.2:
        return ""
    if not required and resident.previous_addresses and form < 0.35:
        return resident.previous_addresses[0]
    address = resident.address
    if form > 0.8:
        return address.translate(_FULL_WIDTH_DIGITS)
    if form > 0.7:
        for marker in ("市", "町"):
            if marker in address:
                cut = address.index(marker) + 1
                return address[:cut] + " " + address[cut:]
    return address


_PAYLOADS: dict[str, tuple[str, ...]] = {
    "shintai-techo": ("手帳番号", "等級", "障害区分"),
    "ryoiku-techo": ("手帳番号", "障害の程度"),
    "jiritsu-shien": ("受給者番号", "有効期限", "医療機関"),
    "jido-fuyo": ("証書番号", "児童数", "支給区分"),
    "seikatsu-hogo": ("ケース番号", "扶助種別", "世帯人員"),
}
_DEFAULT_PAYLOAD = ("受給者番号", "決定日")


def _business_payload(system: str, record_id: str, rng: random.Random) -> dict[str, str]:
    """The business columns of a process (carried unchanged to the intermediate server)."""
    values = {
        "手帳番号": lambda: f"第{rng.randint(1, 99999):05d}号",
        "等級": lambda: f"{rng.randint(1, 6)}級",
        "障害区分": lambda: rng.choice(("肢体不自由", "視覚障害", "聴覚障害", "内部障害", "音声・言語機能障害")),
        "障害の程度": lambda: rng.choice(("A1", "A2", "B1", "B2")),
        "受給者番号": lambda: f"{rng.randint(1, 9999999):07d}",
        "有効期限": lambda: f"{random_date(rng, dt.date(2025, 4, 1), dt.date(2026, 3, 31)):%Y-%m-%d}",
        "医療機関": lambda: rng.choice(("高知医療センター", "高知大学医学部附属病院", "近森病院", "細木病院")),
        "証書番号": lambda: f"{rng.randint(1, 99999):05d}",
        "児童数": lambda: str(rng.choice((1, 1, 1, 2, 2, 3))),
        "支給区分": lambda: rng.choice(("全部支給", "一部支給", "全部停止")),
        "ケース番号": lambda: f"C-{rng.randint(1, 99999):05d}",
        "扶助種別": lambda: "|".join(sorted(rng.sample(("生活扶助", "住宅扶助", "医療扶助", "介護扶助"), rng.randint(1, 3)))),
        "世帯人員": lambda: str(rng.randint(1, 5)),
        "決定日": lambda: f"{random_date(rng, dt.date(2015, 4, 1), REFERENCE_DATE):%Y-%m-%d}",
    }
    return {column: values[column]() for column in _PAYLOADS.get(system, _DEFAULT_PAYLOAD)}


# ---------------------------------------------------------------------------
# the files

# every header comes from the contract (streams.csvio): a generator cannot write one the importers refuse
REGISTRY_HEADER = contract_header("registry", REGISTRY_FIELDS, aliases={"status": "異動区分"})


@dataclass(frozen=True, slots=True)
class FileStyle:
    """How one records file is written: its encoding and the header of each contract column."""

    encoding: str
    headers: tuple[str, ...]  # in the order of streams.csvio.RECORD_FIELDS


RECORD_STYLES: tuple[FileStyle, ...] = (
    FileStyle("cp932", contract_header("records", RECORD_FIELDS)),
    FileStyle("utf-8", contract_header("records", RECORD_FIELDS, english=True)),
    FileStyle("utf-8-sig", contract_header("records", RECORD_FIELDS,
                                           aliases={"record_id": "管理番号", "name_kana": "ﾌﾘｶﾞﾅ"})),
)


def write_registry(path: Path, residents: Iterable[Resident], rng: random.Random) -> int:
    """Write the registry as a municipality would hand it over (UTF-8 with BOM, Japanese headers).

    Numbers are mostly plain, some spaced or hyphenated; birth dates about
    40% in era form; sex mostly 1/2, some 男/女; status 住民 sometimes left
    empty (the default). Returns the number of rows.
    """
    count = 0
    with open(path, "w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(REGISTRY_HEADER)
        for resident in residents:
            form = rng.random()
            if form < 0.9:
                number = resident.my_number
            else:
                number = _grouped(resident.my_number, " " if form < 0.97 else "-")
            form = rng.random()
            birth = (era_date(resident.birth_date) if form < 0.3 else
                     era_date(resident.birth_date, letter=True) if form < 0.4 else resident.birth_date.isoformat())
            sex = ("1", "2")[resident.sex - 1] if rng.random() < 0.9 else ("男", "女")[resident.sex - 1]
            status = "" if resident.status == "住民" and rng.random() < 0.2 else resident.status
            status_date = ""
            if resident.status_date is not None:
                status_date = (era_date(resident.status_date) if rng.random() < 0.3
                               else resident.status_date.isoformat())
            writer.writerow((number, resident.resident_code, resident.name, resident.name_kana, resident.alias_name,
                             birth, sex, resident.address, status, status_date,
                             "|".join(resident.previous_names), "|".join(resident.previous_addresses),
                             "|".join(resident.previous_my_numbers)))
            count += 1
    return count


def write_records(path: Path, records: Sequence[Record], style: FileStyle) -> int:
    """Write one process's records; payload columns follow the contract columns. Returns the row count."""
    payload_columns: list[str] = list(dict.fromkeys(key for record in records for key in record.payload))
    with open(path, "w", encoding=style.encoding, newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow((*style.headers, *payload_columns))
        for record in records:
            writer.writerow((*(getattr(record, f) for f in RECORD_FIELDS),
                             *(record.payload.get(column, "") for column in payload_columns)))
    return len(records)


def write_truth(path: Path, rows: Iterable[tuple[str, str, str]]) -> int:
    """Write ``system,record_id,cause`` (UTF-8). Returns the row count."""
    count = 0
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(("system", "record_id", "cause"))
        for count, row in enumerate(rows, 1):
            writer.writerow(row)
    return count


@dataclass(frozen=True)
class SampleFiles:
    """What :func:`generate` wrote, and how many of what."""

    out_dir: Path
    registry: Path
    records: dict[str, Path]  # process code -> records file
    truth: Path
    residents: int
    record_counts: dict[str, int]  # process code -> rows
    cause_counts: dict[str, int]  # cause -> rows over all processes
    encodings: dict[str, str]  # file name -> encoding it was written in

    @property
    def total_records(self) -> int:
        return sum(self.record_counts.values())


def generate(out_dir: str | Path, residents: int = 10_000, records_per_system: int = 2_000,
             systems: Sequence[str] = DEFAULT_SYSTEMS, seed: int = 2024, error_rate: float = 0.02) -> SampleFiles:
    """Write ``registry.csv``, ``records-<code>.csv`` per process and ``truth.csv`` into ``out_dir``.

    The same arguments always give the same bytes.
    """
    if not systems:
        raise ValueError("give at least one process code, e.g. shintai-techo")
    if len(set(systems)) != len(systems):
        raise ValueError(f"process codes must be distinct, got {list(systems)}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    people = make_registry(residents, rng)
    population = Population(people)
    registry_path = out / "registry.csv"
    write_registry(registry_path, people, random.Random(f"registry-{seed}"))
    encodings = {registry_path.name: "utf-8-sig"}
    paths: dict[str, Path] = {}
    counts: dict[str, int] = {}
    causes: Counter[str] = Counter()
    truth: list[tuple[str, str, str]] = []
    for position, system in enumerate(systems):
        rows = make_records(population, system, records_per_system, rng, error_rate)
        style = RECORD_STYLES[position % len(RECORD_STYLES)]
        path = out / f"records-{system}.csv"
        counts[system] = write_records(path, [record for record, _ in rows], style)
        paths[system] = path
        encodings[path.name] = style.encoding
        causes.update(cause for _, cause in rows)
        truth.extend((system, record.record_id, cause) for record, cause in rows)
    truth_path = out / "truth.csv"
    write_truth(truth_path, truth)
    encodings[truth_path.name] = "utf-8"
    return SampleFiles(out, registry_path, paths, truth_path, len(people), counts,
                       {cause: causes[cause] for cause in CAUSES if causes[cause]}, encodings)
