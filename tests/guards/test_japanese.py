"""Japanese-aware matching: every benign variant passes, a different person is still held."""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import replace

import pytest

from guards import Finding, Outcome, Reason, Record, Resident, check, index_by_number
from guards import japanese, normalize
from guards.check import matches_person, parse_subject
from guards.japanese import NameMatch, address_key, addresses_match, compare_names, kana_key, name_key
from fixtures.support import my_number

BIRTH = dt.date(1980, 4, 1)


def resident(name: str, kana: str = "", address: str = "高知市丸ノ内一丁目2番20号", **fields) -> Resident:
    return Resident(my_number(7), name, BIRTH, 2, address, name_kana=kana, **fields)


def record(person: Resident, **changes) -> Record:
    fields = dict(system="shintai-techo", record_id="1", my_number=person.my_number, name=person.name,
                  birth_date=BIRTH.isoformat(), sex="2", address=person.address, name_kana=person.name_kana)
    fields.update(changes)
    return Record(**fields)


def verdict(person: Resident, **changes):
    return check(record(person, **changes), index_by_number([person]))


VARIANT_PAIRS = [
    ("齋藤", "斎藤"), ("髙橋", "高橋"), ("渡邊", "渡辺"), ("渡邉", "渡辺"), ("渡邊", "渡邉"),
    ("山﨑", "山崎"), ("𠮷田", "吉田"), ("濱田", "浜田"), ("澤田", "沢田"), ("廣田", "広田"),
    ("櫻井", "桜井"), ("德永", "徳永"), ("田邊", "田辺"), ("冨田", "富田"), ("嶋田", "島田"),
    ("髙﨑", "高崎"),
]


# --------------------------------------------------------------------------
# kanji variants (MJ 縮退マップ)
# --------------------------------------------------------------------------

@pytest.mark.parametrize("registered,keyed", VARIANT_PAIRS + [(b, a) for a, b in VARIANT_PAIRS],
                         ids=lambda v: v)
def test_kanji_variants_pass_with_a_note(registered, keyed):
    person = resident(f"{registered}　花子")
    v = verdict(person, name=f"{keyed} 花子")
    assert v.outcome is Outcome.PASS, v
    assert v.findings == (Finding(Reason.VARIANT_CHARACTERS, "name"),)


def test_the_same_characters_pass_without_a_note():
    person = resident("齋藤　花子")
    assert verdict(person, name="齋藤花子").findings == ()


@pytest.mark.parametrize("registered,keyed", [
    ("斎藤 花子", "斉藤 花子"),  # 斎 and 斉 are different characters
    ("齋藤 花子", "齊藤 花子"),  # and so are their old forms
    ("玉田 花子", "王田 花子"),  # the map's 誤字 entry 玉→王 joins two 常用漢字
    ("山田 功", "山田 切"),
    ("山田 花子", "山田 華子"),
])
def test_different_characters_are_held(registered, keyed):
    v = verdict(resident(registered), name=keyed)
    assert v.outcome is Outcome.HOLD
    assert [str(f) for f in v.findings] == ["IDENTITY_MISMATCH(name)"]


def test_only_variant_pairs_of_jouyou_kanji_are_blocked():
    assert len(japanese.JOYO_KANJI) == 2137  # 2,136 and 𠮟
    assert japanese.chars_match("沢", "澤") and not japanese.chars_match("沢", "浜")


def test_folding_never_joins_characters_that_do_not_match():
    # fold(a) == fold(b) must imply chars_match(a, b): the fold is one of each character's variants
    for code in [*range(0x4E00, 0xA000), *range(0xF900, 0xFB00), *range(0x20000, 0x20200)]:
        char = chr(code)
        folded = japanese.fold_variants(char)
        assert folded == char or folded in japanese.variants(char), char
        if char in japanese.JOYO_KANJI:
            assert folded == char


# --------------------------------------------------------------------------
# 外字 the business system could not store, and kana
# --------------------------------------------------------------------------

GAIJI = resident("𠮷田　花子", "ヨシダ　ハナコ")


@pytest.mark.parametrize("name", ["〓田 花子", "?田 花子", "？田　花子", "\ue000田花子", "\ufffd田 花子"])
@pytest.mark.parametrize("kana", ["ヨシダ ハナコ", "よしだ はなこ", "ﾖｼﾀﾞ ﾊﾅｺ", "ヨシダハナコ", "ヨシダ　ハナコ"])
def test_a_gaiji_placeholder_passes_when_the_kana_agrees(name, kana):
    v = verdict(GAIJI, name=name, name_kana=kana)
    assert v.outcome is Outcome.PASS, v
    assert v.reasons == (Reason.VARIANT_CHARACTERS,)


@pytest.mark.parametrize("changes", [
    {"name": "〓田 花子", "name_kana": ""},  # no reading to support it
    {"name": "〓田 花子", "name_kana": "ヨシダ ハナエ"},  # another reading
    {"name": "〓田 華子", "name_kana": "ヨシダ ハナコ"},  # an intact character differs
    {"name": "〓〓 〓子", "name_kana": "ヨシダ ハナコ"},  # more placeholders than intact characters
    {"name": "〓田 花子 ", "name_kana": "ヨシダハナコ", "birth_date": "1980-04-02"},
])
def test_a_gaiji_placeholder_without_support_is_held(changes):
    v = verdict(GAIJI, **changes)
    assert v.outcome is Outcome.HOLD and Reason.IDENTITY_MISMATCH in v.reasons


def test_a_gaiji_placeholder_needs_the_registry_reading_too():
    person = replace(GAIJI, name_kana="")
    assert verdict(person, name="〓田 花子", name_kana="ヨシダ ハナコ").outcome is Outcome.HOLD


def test_the_same_reading_is_not_the_same_person():
    # the classic wrong look-up: same kana, same birth date, different kanji
    person = resident("山田 花子", "ヤマダ ハナコ")
    v = verdict(person, name="山田 華子", name_kana="ヤマダ ハナコ")
    assert v.outcome is Outcome.HOLD and [str(f) for f in v.findings] == ["IDENTITY_MISMATCH(name)"]


def test_a_name_kept_only_in_kana_is_not_enough():
    person = resident("山田 花子", "ヤマダ ハナコ")
    v = verdict(person, name="ヤマダ ハナコ", name_kana="ヤマダ ハナコ")
    assert v.outcome is Outcome.HOLD and [str(f) for f in v.findings] == ["IDENTITY_MISMATCH(name)"]


def test_a_differing_reading_never_holds_a_matching_name():
    # readings are not part of the registered identity: the kanji decide
    person = resident("山田 花子", "ヤマダ ハナコ")
    assert verdict(person, name_kana="ヤマダ カコ").outcome is Outcome.PASS


@pytest.mark.parametrize("keyed", ["キヨウコ", "きょうこ", "ｷｮｳｺ", "キョウコ", " キョウコ "])
def test_kana_names_in_any_kana_form(keyed):
    person = resident("山田 キョウコ")
    assert verdict(person, name=f"山田 {keyed}").findings == ()


@pytest.mark.parametrize("a,b", [("キョウコ", "キヨウコ"), ("きょうこ", "キョウコ"), ("ｷｮｳｺ", "キョウコ"),
                                 ("ヤマダ　キョウコ", "ヤマダキョウコ"), ("ヤマダ ｷｮｳｺ", "やまだ きようこ")])
def test_kana_keys(a, b):
    assert kana_key(a) == kana_key(b)


# --------------------------------------------------------------------------
# spaces, alphabet names, aliases and former names
# --------------------------------------------------------------------------

@pytest.mark.parametrize("keyed", ["齋藤 花子", "齋藤　花子", "齋藤花子", "　齋藤　　花子 "])
def test_spaces_between_family_and_given_name(keyed):
    assert verdict(resident("齋藤　花子"), name=keyed).findings == ()


LEE = Resident(my_number(8), "LEE MINHO", dt.date(1975, 1, 2), 1, "高知市本町1-1",
               name_kana="リー ミンホ", alias_name="李 敏浩")


@pytest.mark.parametrize("keyed", ["LEE MINHO", "Lee Minho", "Minho Lee", "lee, minho", "MINHO, LEE",
                                   "ＬＥＥ　ＭＩＮＨＯ", "LEE  MINHO", "minho lee"])
def test_alphabet_names_in_any_case_or_order(keyed):
    v = check(record(LEE, name=keyed, birth_date="1975-01-02", sex="1"), index_by_number([LEE]))
    assert v.outcome is Outcome.PASS and v.findings == (), (keyed, v)


def test_alphabet_names_without_accents():
    person = replace(LEE, name="NGUYỄN VĂN AN", alias_name="")
    v = check(record(person, name="Nguyen Van An", birth_date="1975-01-02", sex="1"), index_by_number([person]))
    assert v.findings == ()


@pytest.mark.parametrize("keyed,reasons", [
    ("李 敏浩", (Reason.ALIAS_NAME,)),
    ("李敏浩", (Reason.ALIAS_NAME,)),
    ("LEE MINJUN", (Reason.IDENTITY_MISMATCH,)),
    ("リー ミンホ", (Reason.IDENTITY_MISMATCH,)),  # the reading alone, again
])
def test_registered_alias(keyed, reasons):
    v = check(record(LEE, name=keyed, birth_date="1975-01-02", sex="1"), index_by_number([LEE]))
    assert v.reasons == reasons


def test_alias_through_variants():
    person = replace(LEE, alias_name="李 敏濱")
    v = check(record(person, name="李 敏浜", birth_date="1975-01-02", sex="1"), index_by_number([person]))
    assert v.outcome is Outcome.PASS and v.reasons == (Reason.ALIAS_NAME, Reason.VARIANT_CHARACTERS)


@pytest.mark.parametrize("keyed,reasons", [
    ("渡邊 花子", (Reason.FORMER_NAME,)),
    ("渡辺　花子", (Reason.FORMER_NAME, Reason.VARIANT_CHARACTERS)),
    ("渡辺 春子", (Reason.IDENTITY_MISMATCH,)),
])
def test_former_names(keyed, reasons):
    person = resident("髙橋 花子", previous_names=("渡邊 花子",))
    assert verdict(person, name=keyed).reasons == reasons


# --------------------------------------------------------------------------
# addresses
# --------------------------------------------------------------------------

ADDRESS_FORMS = [
    "高知市丸ノ内一丁目2番20号", "高知県高知市丸ノ内一丁目2番20号", "高知市丸ノ内1-2-20",
    "高知県高知市丸ノ内1-2-20", "高知市丸ノ内１－２－２０", "高知市 丸ノ内 1‐2‐20", "高知市丸ノ内1ー2ー20",
    "高知市丸ノ内1丁目2番20号", "高知市丸ノ内1丁目2番地20", "高知市丸ノ内1丁目2の20", "高知市丸ノ内一丁目二番二十号",
    "高知市丸の内1-2-20", "高知市丸ノ内1-2-20 丸ノ内ハイツ101号",
]


@pytest.mark.parametrize("keyed", ADDRESS_FORMS)
def test_address_forms_pass(keyed):
    v = verdict(resident("山田 花子"), address=keyed)
    assert v.outcome is Outcome.PASS and v.findings == (), v


@pytest.mark.parametrize("registered", ["高知県高知市丸ノ内1丁目2番20号", "高知市丸ノ内1-2-20 丸ノ内ハイツ101"])
def test_address_forms_pass_either_way(registered):
    v = verdict(resident("山田 花子", address=registered), address="高知市丸ノ内１－２－２０")
    assert v.outcome is Outcome.PASS and v.findings == (), v


@pytest.mark.parametrize("keyed", [
    "高知市丸ノ内1-2-21", "高知市丸ノ内1-2-2", "高知市丸ノ内1-2", "高知市丸ノ内2-2-20", "南国市丸ノ内1-2-20",
    "高知市丸ノ内1-2-20-3",
])
def test_other_addresses_are_mismatches(keyed):
    person = resident("山田 花子", address="高知市丸ノ内1-2-20 丸ノ内ハイツ101")
    v = verdict(person, address=keyed)
    assert v.reasons == (Reason.ADDRESS_MISMATCH,), (keyed, v)


def test_different_buildings_at_one_number_are_a_mismatch():
    person = resident("山田 花子", address="高知市丸ノ内1-2-20 丸ノ内ハイツ101")
    assert verdict(person, address="高知市丸ノ内1-2-20 丸ノ内ハイツ102").reasons == (Reason.ADDRESS_MISMATCH,)


@pytest.mark.parametrize("keyed", ["愛媛県松山市一番町一丁目25番13号", "松山市一番町1-25-13", "松山市一番町１丁目２５－１３"])
def test_former_address_in_any_form(keyed):
    person = resident("山田 花子", previous_addresses=("愛媛県松山市一番町1丁目25番13号",))
    assert verdict(person, address=keyed).reasons == (Reason.FORMER_ADDRESS,)


@pytest.mark.parametrize("a,b", [
    ("高岡郡四万十町窪川955番地", "四万十町窪川955"),
    ("南国市大そね甲1番地の3", "南国市大そね甲1-3"),
    ("札幌市中央区北一条西二丁目1番地", "北海道札幌市中央区北1条西2-1"),
    ("横浜市青葉区希望ヶ丘1-1", "横浜市青葉区希望が丘1-1"),
    ("大﨑市1-1", "大崎市1-1"),
])
def test_address_keys_agree(a, b):
    assert address_key(a) == address_key(b)


@pytest.mark.parametrize("a,b", [
    ("郡山市1-1", "山市1-1"),  # 郡山市 is a city, not a 郡
    ("高知市本町1-1", "南国市本町1-1"),  # one town name in two cities
    ("京都市東山区1", "大阪市東山区1"),  # a municipality left out matches, another one does not
    ("高知市本町1-1", "高知市本町1-11"),
])
def test_address_keys_differ(a, b):
    assert not addresses_match(address_key(a), address_key(b))


# --------------------------------------------------------------------------
# negative cases: a different person is held
# --------------------------------------------------------------------------

@pytest.mark.parametrize("changes,detail", [
    ({"name": "齋藤 春子"}, "name"),  # another given name
    ({"name": "斉藤 花子"}, "name"),  # 斎 vs 斉
    ({"birth_date": "1980-04-02"}, "birth_date"),
    ({"name": "斎藤 花子", "birth_date": "1981-04-01"}, "birth_date"),  # variant name, other date
    ({"name": "斎藤 華子", "name_kana": "サイトウ ハナコ"}, "name"),  # same reading, different kanji
    ({"sex": "1"}, "sex"),
])
def test_a_different_person_is_held(changes, detail):
    person = resident("齋藤 花子", "サイトウ ハナコ")
    v = verdict(person, **changes)
    assert v.outcome is Outcome.HOLD
    assert [(f.reason, f.detail) for f in v.findings if f.reason is Reason.IDENTITY_MISMATCH] == [
        (Reason.IDENTITY_MISMATCH, detail)]


# --------------------------------------------------------------------------
# the context rules' view: matches_person and the index form
# --------------------------------------------------------------------------

def test_matches_person_follows_the_name_matching():
    person = resident("齋藤 花子", "サイトウ ハナコ", previous_names=("渡邊 花子",))
    for name, kana, expected in [("斎藤花子", "", True), ("渡辺 花子", "", True), ("〓藤 花子", "ｻｲﾄｳ ﾊﾅｺ", True),
                                 ("斉藤 花子", "サイトウ ハナコ", False), ("〓藤 花子", "", False)]:
        subject = parse_subject(record(person, name=name, name_kana=kana))
        assert matches_person(subject, person) is expected, name


def test_index_forms_join_the_usual_variants():
    assert normalize.name("齋藤　花子").replace(" ", "") == normalize.name("斎藤花子").replace(" ", "")
    assert japanese.name_index_key("渡邊 花子") == japanese.name_index_key("渡邉花子") == "渡辺花子"
    assert japanese.name_index_key("Minho Lee") == japanese.name_index_key("LEE MINHO")
    assert japanese.name_index_key("斉藤") != japanese.name_index_key("斎藤")


def test_compare_names_is_symmetric():
    for a, b in VARIANT_PAIRS + [("斎藤", "斉藤"), ("〓田", "吉田")]:
        ka, kb = name_key(a), name_key(b)
        assert compare_names(ka, kb, "ヨシダ", "ヨシダ") == compare_names(kb, ka, "ヨシダ", "ヨシダ")
    assert compare_names(name_key("齋藤"), name_key("斎藤")) is NameMatch.VARIANT


# --------------------------------------------------------------------------
# the look-ups a step skips: a text without any character the step changes is left as it is
# --------------------------------------------------------------------------

def _every_character() -> str:
    return "".join(chr(c) for c in range(0x110000) if not 0xD800 <= c < 0xE000)


def test_fold_variants_skips_only_characters_that_are_their_own_representative():
    skipped = [c for c in _every_character() if not japanese._MAY_FOLD.match(c)]
    assert len(skipped) > 0x3100 + 2000  # everything before U+3100 and the 常用漢字
    assert [c for c in skipped if japanese._fold_char(c) != c] == []
    assert "".join(skipped).translate(japanese._FOLDS) == "".join(skipped)
    assert japanese.fold_variants("𠮟") == "叱" and japanese.fold_variants("高知市丸の内") == "高知市丸の内"


def test_fold_kana_changes_nothing_outside_the_kana():
    import jaconv

    others = "".join(c for c in _every_character() if not japanese._KANA.match(c))
    assert jaconv.hira2kata(others) == others and others.translate(japanese._SMALL_KANA) == others
    assert not any(c in others for c in "ヽヾ") and not japanese._DASH_AS_LONG_MARK.search(others)
    assert japanese._fold_kana("ㇰ") == "ク" and japanese._fold_kana("山田") == "山田"


def test_clean_translates_only_what_it_must():
    changed = "".join(chr(c) for c in japanese._BEFORE_NFKC)
    assert all(japanese._CHANGED_BEFORE_NFKC.fullmatch(c) for c in changed)
    others = "".join(c for c in _every_character() if not japanese._CHANGED_BEFORE_NFKC.match(c))
    assert others.translate(japanese._BEFORE_NFKC) == others


def test_address_translations_are_skipped_only_without_their_characters():
    dashes = "".join(chr(c) for c in japanese._DASHES)
    assert all(japanese._DASH_OR_BRACKET.fullmatch(c) for c in dashes)
    others = "".join(c for c in _every_character() if not japanese._DASH_OR_BRACKET.match(c))
    assert others.translate(japanese._DASHES) == others
    assert [c for c in "ヶヵケがガ" if not japanese._KE_CHARS.fullmatch(c)] == []


def test_prefectures_and_kyoto_heads_are_found_by_their_first_characters():
    names = japanese._PREFECTURES
    assert sorted(japanese._PREFECTURE_BY_LENGTH[3] | japanese._PREFECTURE_BY_LENGTH[4]) == sorted(names)
    assert [(a, b) for a in names for b in names if a != b and b.startswith(a)] == []
    assert {len(head) for head in japanese._KYOTO_HEADS} == {3}
    assert address_key("神奈川県横浜市中区本町1-1") == "横浜市中区本町1-1" and address_key("北海道札幌市") == "札幌市"


def test_a_hyphen_between_katakana_is_a_long_vowel_mark():
    assert address_key("高知市本町1-1コ-ポ3") == "高知市本町1-1コーポ3"
    assert address_key("高知市本町1-1-コーポ") == "高知市本町1-1コーポ"  # after a number: a hyphen (dropped)


@functools.lru_cache(maxsize=1)  # two tests read them
def _address_texts() -> tuple[str, ...]:
    """Addresses of the labelled corpus and the sample generator, and 200,000 strings made of the
    pieces address_key's steps act on (prefectures, Kyoto heads, 郡 字 通 ノ ヶ, kanji numerals,
    markers, dashes, spaces, placeholders, variants) around plain place names and numbers."""
    import random

    from linkguard.synthetic.corpus import make_corpus
    from linkguard.synthetic.sample import make_registry

    corpus = make_corpus(records=3_000, seed=7)
    texts = [r.address for r in corpus.residents] + [r.address for r in corpus.records]
    texts += [a for r in corpus.residents for a in r.previous_addresses]
    texts += [r.address for r in make_registry(2_000, random.Random(3))]
    pieces = ["高知県", "神奈川県", "三重県", "京都府", "北海道", "京都市", "中京区", "上京区", "高知市", "丸", "内",
              "四万十町", "幡多郡", "黒潮町", "大字", "字", "通", "ノ", "之", "第", "ヶ", "が", "ケ", "・", "ー", "ｰ",
              "一", "二", "十", "三十一", "百", "〇", "壱", "拾", "丁目", "番地", "番", "号", "地割", "条", "の", "-",
              "－", "‐", "〜", "~", ".", "1", "12", "305", "０", "２３", "甲", "乙", " ", "　", "\t", "〒780-0850",
              "コーポ", "ハイツ", "室", "〓", "?", "●", "齋", "髙", "𠮷", "々", "ゝ", "\u200b", "\ufe00", "A", "b",
              "上ル", "東入", "（", "）", "本町", "山田", "やまだ", "ヤマダ"]
    rng = random.Random(13)
    texts += ["".join(rng.choice(pieces) for _ in range(rng.randint(1, 9))) for _ in range(200_000)]
    # the plain form itself, its place names (a prefecture alone, a Kyoto head…) and numbers in every form
    places = ["高知県", "神奈川県", "北海道", "京都市", "中京区", "高知市", "本町", "丸", "やまだ", "ヤマダ", "齋", "𠮷",
              "々", "ゝ", "一", "〓", "上る", "東入る", "下がる"]
    numbers = ["二丁目29番21号", "十一丁目3番4号", "２丁目２９番２１号", "123番地", "1-2-3", "5", "1-", "一番地",
               "2丁目1番", "3番4号", "千二百三十四五六七八丁目1番2号", "〇丁目0番0号"]
    texts += ["".join(rng.choice(places) for _ in range(rng.randint(1, 4))) + rng.choice(numbers)
              + rng.choice(["", "", "", rng.choice(pieces)]) for _ in range(50_000)]
    return tuple(dict.fromkeys(t for t in texts if t))


def test_the_plain_address_form_is_read_as_the_steps_read_it():
    """address_key reads an address in the plain form (place name, 二丁目29番21号 / 123番地 / 1-2-3)
    without its steps: the same key as the steps give, for every address tried."""
    texts = _address_texts()
    plain = [t for t in texts if japanese._PLAIN_ADDRESS.fullmatch(japanese.clean(t).upper())]
    assert len(plain) > 5_000
    assert [t for t in texts if address_key(t) != japanese._address_key_of(japanese.clean(t).upper())] == []


def test_keys_whose_first_numbers_differ_are_two_places_however_written():
    """address_difference answers None for two keys whose first numbers differ without trying the
    ways of writing apart: the same answer as trying them, for pairs of the corpus (a record and its
    resident, a resident and their former addresses) and for keys written apart on purpose (the
    municipality, ward or 小字 left out, a placeholder, a Kyoto street, a building, another number)."""
    import random

    texts = _address_texts()
    rng = random.Random(17)
    keys = rng.sample([k for k in dict.fromkeys(address_key(t) for t in texts) if k], 20_000)

    def apart(key: str) -> str:
        cut = rng.randint(0, min(len(key), 6))
        return rng.choice([key[cut:], key[:cut] + "〓" + key[cut + 1:], key[:cut] + "浜" + key[cut:],
                           key + rng.choice(["コーポ101", "-101", "2"]), key.replace("1", "2", 1),
                           "京都市中京区河原町3条上ル" + key[cut:], "横浜市中区" + key[cut:], "❶" + key])

    pairs = [(k, rng.choice(keys)) for k in keys] + [(k, apart(k)) for k in keys] + [(apart(k), k) for k in keys]
    # a number cut with a Kyoto street; a name that ends in a digit \d does not match, the room's number after it
    pairs += [("京都市中京区河原町3条上ル下丸屋町1", "京都市中京区下丸屋町1"), ("高知市本町❶コーポ1", "本町❶")]
    unkeyed = japanese.address_difference.__wrapped__

    def tried(a: str, b: str) -> str | None:
        same = japanese._same_lot(a, b)
        return same if same is not None or not a or not b else japanese._written_apart(a, b)

    assert sum(japanese._first_numbers_differ(a, b) for a, b in pairs) > len(pairs) // 5
    assert [(a, b) for a, b in pairs if unkeyed(a, b) != tried(a, b)] == []


def test_every_digit_but_a_decimal_one_is_known():
    """_first_numbers_differ stands aside for a key holding a digit that \\d does not match: all of them
    are below U+20000."""
    beyond = [hex(c) for c in range(0x20000, 0x110000) if chr(c).isdigit() and not chr(c).isdecimal()]
    assert beyond == [] and japanese._DIGITS_BUT_DECIMAL.search("❶") and not japanese._DIGITS_BUT_DECIMAL.search("1１")


def test_text_of_printable_ascii_is_the_regex_pass():
    """normalize.text reads printable ASCII without NFKC or the regex (its only space is " "): the
    same text as the full pass, for every ASCII character alone and for random mixes of spaces,
    control characters (tab, \\x1c, DEL) and letters."""
    import random

    def full(value: str) -> str:
        return normalize._SPACES.sub(" ", japanese.clean(value)).strip()

    rng = random.Random(29)
    values = [chr(c) for c in range(128)]
    pieces = [" ", "  ", "\t", "\x1c", "\x7f", "\n", "a", "B-1", "0", "\u3000", "Ａ"]
    values += ["".join(rng.choice(pieces) for _ in range(rng.randint(1, 8))) for _ in range(20_000)]
    assert [v for v in values if normalize.text(v) != full(v)] == []
