"""An adversarial labelled set of the notations real municipal systems and the registry write
(issue 13), beyond the corpus: every notation on the record's side *and* on the registry's
side, and in combination; then the errors that must still be held, written with the same
notations, with the right reason and the right suggestion."""

from __future__ import annotations

import datetime as dt

import pytest

from guards import Outcome, Reason, Record, Resident, check, index_by_number
from guards.context import Context, build_identity_index, check_in_context
from guards.japanese import address_key, addresses_match, readings_match
from guards.normalize import parse_date, parse_sex
from fixtures.notation_people import BIRTH, HOME, person, record_of



def both_sides(field: str, registered: str, written: str, **fields) -> list:
    """The verdicts with ``written`` on the record's side and on the registry's side."""
    verdicts = []
    for in_registry, in_record in ((registered, written), (written, registered)):
        resident = person(**{("kana" if field == "name_kana" else field): in_registry}, **fields)
        verdicts.append(check(record_of(resident, **{field: in_record}), index_by_number([resident])))
    return verdicts


def assert_pass(verdicts):
    for verdict in verdicts:
        assert verdict.outcome is Outcome.PASS, verdict


# --------------------------------------------------------------------------
# names: variants, selectors, placeholders, spaces
# --------------------------------------------------------------------------

@pytest.mark.parametrize("registered,written", [
    ("髙橋　優斗", "高橋 優斗"), ("山﨑　花子", "山崎 花子"), ("渡邊　花子", "渡辺 花子"), ("渡邉　花子", "渡邊 花子"),
    ("齋藤　花子", "斎藤 花子"), ("髙﨑　花子", "高崎 花子"), ("濵田　花子", "浜田 花子"), ("⽥中　花子", "田中 花子"),
    ("栁田　花子", "柳田 花子"), ("眞田　花子", "真田 花子"), ("竹內　花子", "竹内 花子"),
])
def test_variant_characters_on_either_side(registered, written):
    assert_pass(both_sides("name", registered, written))


@pytest.mark.parametrize("written", [
    "葛\U000E0100城　花子", "山田　花\U000E0101子", "髙\U000E0100橋　優斗", "齋\U000E0107藤　花子",
    "山\ufe00田　花子", "渡邊\U000E0120　花子\ufe01", "\U000E0100山田　花子",
])
def test_a_selector_after_any_kanji_and_a_variant_together(written):
    plain = {"葛": "葛城　花子", "髙": "高橋　優斗", "齋": "斎藤　花子", "渡": "渡辺　花子"}.get(written[0], "山田　花子")
    assert_pass(both_sides("name", plain, written))


PLACEHOLDERS = ["〓", "●", "■", "□", "？", "?", "＿", "_", "＊", "\ufffd", "\ue000", "\ue0a1", "\uf8ff"]


@pytest.mark.parametrize("placeholder", PLACEHOLDERS)
@pytest.mark.parametrize("registered,written,kana", [
    ("𠮷田　花子", "{}田 花子", "ヨシダ ハナコ"),  # in the surname
    ("山田　𠮷子", "山田 {}子", "ヤマダ ヨシコ"),  # in the given name
    ("髙橋　優斗", "{}橋　優斗", "ﾀｶﾊｼ ﾕｳﾄ"),  # a variant the system could not store, half-width kana
    ("山﨑　花子", "山{}花子", "やまざき はなこ"),  # no space, hiragana
    ("髙\U000E0100橋　優斗", "{}橋 優斗", "タカハシ ユウト"),  # the registry writes a selector too
])
def test_a_placeholder_on_either_side(placeholder, registered, written, kana):
    assert_pass(both_sides("name", registered, written.format(placeholder), kana=kana))


@pytest.mark.parametrize("written", ["??田 花子", "〓〓田 花子", "？？田　花子", "山田 ??子"])
def test_two_placeholders_for_one_character(written):
    """A byte-wise Shift_JIS conversion writes ?? for a kanji; a UTF-16 system ?? for 𠮷."""
    registered = "山田　𠮷子" if written.startswith("山") else "𠮷田　花子"
    kana = "ヤマダ ヨシコ" if written.startswith("山") else "ヨシダ ハナコ"
    assert_pass(both_sides("name", registered, written, kana=kana))


@pytest.mark.parametrize("registered,written,kana", [
    ("𠮷田　花子", "????田 花子", "ヨシダ ハナコ"),  # 𠮷's four UTF-8 bytes, each a ?
    ("髙橋　優斗", "???橋 優斗", "タカハシ ユウト"),  # a three-byte kanji
    ("山田　𠮷子", "山田 〓〓〓〓子", "ヤマダ ヨシコ"), ("𠮷田　𠮷子", "??田 ??子", "ヨシダ ヨシコ"),
    ("山田　花子", "山田 ??????", "ヤマダ ハナコ"),  # two three-byte kanji as one run
])
def test_a_run_of_placeholders_for_one_or_more_characters(registered, written, kana):
    """A UTF-8 name read byte by byte writes one ? per byte: up to four for one character."""
    assert_pass(both_sides("name", registered, written, kana=kana))


@pytest.mark.parametrize("registered,written,kana", [
    ("山田　花子", "??? 子", "ヤマダ ハナコ"),  # the run could be 山田花, but then fewer kept than stood for
    ("山田　花子", "?????? ??", "ヤマダ ハナコ"), ("山田　花子", "山 ?????", "ヤマダ ハナコ"),
    ("山田　花子", "????", "ヤマダ ハナコ"), ("山田　花子", "山田 ?????????子", "ヤマダ ハナコ"),
    ("山田　花子", "山田 ???子", "ヤマダ ハルコ"),  # another reading
    ("斎藤　花子", "斉藤 ???", "サイトウ ハナコ"),  # an intact character differs
])
def test_a_run_of_placeholders_never_makes_a_name_of_too_little(registered, written, kana):
    resident = person(registered, "ヤマダ ハナコ" if registered.startswith("山") else kana)
    verdict = check(record_of(resident, name=written, name_kana=kana), index_by_number([resident]))
    assert verdict.outcome is Outcome.HOLD and Reason.IDENTITY_MISMATCH in verdict.reasons, verdict


@pytest.mark.parametrize("registered_kana,written_kana", [
    ("ヤマサキ ハナコ", "ヤマザキ ハナコ"), ("ヤマザキ ハナコ", "ﾔﾏｻﾞｷ ﾊﾅｺ"), ("ヤマザキ ハナコ", "ヤマサ゛キ ハナコ"),
    ("ヤマザキ ハナコ", "やまざき　はなこ"), ("ヤマザキ ヨウコ", "ヤマザキ ヨーコ"), ("ヤマザキ ヨウコ", "ヤマザキ ヨオコ"),
    ("ヤマザキ キョウコ", "ヤマザキ キヨウコ"), ("ヤマザキ ミヅキ", "ヤマザキ ミズキ"), ("ヤマザキ チヂコ", "ヤマザキ チジコ"),
    ("ヤマザキ イネ", "ヤマザキ ヰネ"), ("ヤマザキ エミ", "ヤマザキ ヱミ"),
])
def test_reading_variants_support_a_placeholder_on_either_side(registered_kana, written_kana):
    for in_registry, in_record in ((registered_kana, written_kana), (written_kana, registered_kana)):
        resident = person("山﨑　花子", in_registry)
        verdict = check(record_of(resident, name="山〓 花子", name_kana=in_record), index_by_number([resident]))
        assert verdict.outcome is Outcome.PASS, (in_registry, in_record, verdict)


def test_ji_zu_are_one_reading_but_voicing_is_still_checked():
    assert readings_match("ミカヅキ", "ミカズキ") and readings_match("チヂワ", "ちじわ")
    assert not readings_match("ミカヅキ", "ミカツキ ハナコ")


@pytest.mark.parametrize("written", [
    "山田花子", "山田 花子", "山田\u3000花子", "山田\u00a0花子", "山田\u2002花子", " 山田 花子 ", "\u3000山田花子\u3000",
    "山田\u200b花子", "\ufeff山田 花子", "山田\t花子", "山田\u2060花子", "山田\u200d花子", "山田\u3000\u3000花子",
    "\u00a0山田\u200c\u3000花子\u200b",
])
def test_spaces_and_invisible_characters_on_either_side(written):
    assert_pass(both_sides("name", "山田　花子", written))


@pytest.mark.parametrize("name", ["〓〓 〓子", "●● 花", "?? ?子", "〓", "＿＿ ＿＿"])
def test_a_name_of_mostly_placeholders_is_not_a_match(name):
    resident = person("𠮷田　𠮷子", "ヨシダ ヨシコ")
    verdict = check(record_of(resident, name=name), index_by_number([resident]))
    assert verdict.outcome is Outcome.HOLD and Reason.IDENTITY_MISMATCH in verdict.reasons


def test_a_placeholder_never_joins_same_reading_strangers():
    saito = person("斎藤　花子", "サイトウ ハナコ")
    for name in ("斉藤 〓子", "斉〓 花子", "〓藤 華子"):
        verdict = check(record_of(saito, name=name), index_by_number([saito]))
        assert verdict.outcome is Outcome.HOLD and Reason.IDENTITY_MISMATCH in verdict.reasons, name


# --------------------------------------------------------------------------
# 旧氏 written with the name
# --------------------------------------------------------------------------

FORMER_FORMS = ["山田［佐藤］花子", "山田（佐藤）花子", "山田(佐藤)花子", "山田【佐藤】花子", "山田「佐藤」花子", "山田〈佐藤〉花子",
                "山田｛佐藤｝花子", "山田　［佐藤］　花子", "山田花子（旧姓 佐藤）", "山田花子（旧氏：佐藤）", "山田花子(佐藤)",
                "山田 花子（旧姓：佐藤）"]


@pytest.mark.parametrize("written", FORMER_FORMS)
def test_a_former_surname_in_any_bracket_matches_either_surname(written):
    married = person("山田　花子", previous_names=("佐藤",))  # a 旧氏 column: the surname alone
    assert check(record_of(married, name=written), index_by_number([married])).outcome is Outcome.PASS
    not_updated = person("佐藤　花子")  # the registry still has the former surname
    verdict = check(record_of(not_updated, name=written), index_by_number([not_updated]))
    assert verdict.outcome is Outcome.PASS and Reason.FORMER_NAME in verdict.reasons, verdict


@pytest.mark.parametrize("registered", ["山田［佐藤］花子", "山田花子（旧氏 佐藤）", "山田（佐藤）　花子"])
@pytest.mark.parametrize("written", ["佐藤 花子", "佐藤花子", "山田　花子", "齋藤 花子"])
def test_the_registry_writes_the_former_surname(registered, written):
    resident = person(registered.replace("佐藤", "齋藤") if written.startswith("齋") else registered)
    verdict = check(record_of(resident, name=written), index_by_number([resident]))
    assert verdict.outcome is Outcome.PASS, verdict


def test_a_former_surname_without_a_space_does_not_make_a_stranger():
    married = person("山田　花子", previous_names=("佐藤　花子",))
    for written in ("山田春子（旧姓 佐藤）", "鈴木花子（旧姓 加藤）"):
        assert check(record_of(married, name=written), index_by_number([married])).outcome is Outcome.HOLD


# --------------------------------------------------------------------------
# foreign names
# --------------------------------------------------------------------------

@pytest.mark.parametrize("written", [
    "John William Smith", "SMITH, JOHN", "John Smith", "JOHN W SMITH", "John W. Smith", "Smith, John W",
    "smith john william", "ＳＭＩＴＨ　ＪＯＨＮ　ＷＩＬＬＩＡＭ", "SMITH・JOHN・WILLIAM", "SMITH JOHN WILLIAM PETER",
])
def test_a_foreign_name_in_any_order_case_with_middle_names_or_initials(written):
    resident = person("SMITH JOHN WILLIAM", "スミス ジョン ウィリアム", sex=1)
    assert check(record_of(resident, name=written), index_by_number([resident])).outcome is Outcome.PASS


def test_initials_never_tell_twins_apart():
    """An initial stands for a word only beside two words written in full: twins JOHN WILLIAM and
    JAMES WALTER SMITH share their family name, birth date, sex and address, and J W SMITH is either."""
    john = person("SMITH JOHN WILLIAM", "", serial=1, sex=1)
    james = person("SMITH JAMES WALTER", "", serial=2, sex=1)
    for number in (john.my_number, james.my_number):
        verdict = _judge(record_of(john, my_number=number, name="J W SMITH"), [john, james])
        assert verdict.outcome is Outcome.HOLD and Reason.IDENTITY_MISMATCH in verdict.reasons
        assert verdict.suggested_my_number == ""
    verdict = _judge(record_of(john, my_number=james.my_number, name="John W. Smith"), [john, james])
    assert verdict.outcome is Outcome.HOLD and verdict.suggested_my_number in ("", john.my_number)


@pytest.mark.parametrize("registered,written", [("O'BRIEN MARY", "Mary O’Brien"), ("NGUYEN VAN NAM", "Nguyễn Văn Nam"),
                                                ("MARTIN JEAN-PIERRE", "Jean Pierre Martin")])
def test_apostrophes_accents_and_hyphens(registered, written):
    resident = person(registered, "")
    assert check(record_of(resident, name=written), index_by_number([resident])).outcome is Outcome.PASS


@pytest.mark.parametrize("written", ["JOHN WILLIAM", "J W SMITH", "SMITH JANE", "SMITH", "WILLIAM SMITH JANE"])
def test_a_foreign_name_without_its_family_name_or_with_one_word_in_common_is_held(written):
    resident = person("SMITH JOHN WILLIAM", "", sex=1)
    assert check(record_of(resident, name=written), index_by_number([resident])).outcome is Outcome.HOLD


# --------------------------------------------------------------------------
# dates and sex
# --------------------------------------------------------------------------

@pytest.mark.parametrize("written,day", [
    ("1980-04-01", BIRTH), ("1980/4/1", BIRTH), ("19800401", BIRTH), ("1980年4月1日", BIRTH), ("１９８０年４月１日", BIRTH),
    ("昭和55年4月1日", BIRTH), ("昭和５５年４月１日", BIRTH), ("S55.4.1", BIRTH), ("s55.04.01", BIRTH), ("昭55.4.1", BIRTH),
    ("Ｓ５５．４．１", BIRTH), ("S55/04/01", BIRTH), ("㍼55年4月1日", BIRTH), ("昭和 55年 4月 1日", BIRTH),
    ("1980/04/01 0:00:00", BIRTH), ("1980-04-01T00:00:00", BIRTH), ("1980/4/1(火)", BIRTH), ("3550401", BIRTH),
    ("S550401", BIRTH), ("昭和五十五年四月一日", BIRTH), ("昭和五五年四月一日", BIRTH), ("1980年4月1日生まれ", BIRTH),
    ("平成元年1月8日", dt.date(1989, 1, 8)), ("H1.1.8", dt.date(1989, 1, 8)), ("平成０１年０１月０８日", dt.date(1989, 1, 8)),
    ("4010108", dt.date(1989, 1, 8)), ("昭和64年1月7日", dt.date(1989, 1, 7)), ("S64.1.7", dt.date(1989, 1, 7)),
    ("平成31年4月30日", dt.date(2019, 4, 30)), ("平成32年2月3日", dt.date(2020, 2, 3)), ("令和元年5月1日", dt.date(2019, 5, 1)), ("R1.5.1", dt.date(2019, 5, 1)),
    ("令和元年５月１日", dt.date(2019, 5, 1)), ("㋿1年5月1日", dt.date(2019, 5, 1)), ("5010501", dt.date(2019, 5, 1)),
    ("昭和元年12月25日", dt.date(1926, 12, 25)), ("大正15年12月24日", dt.date(1926, 12, 24)),
])
def test_date_notations(written, day):
    assert parse_date(written) == day
    resident = person(birth_date=day)
    assert check(record_of(resident, birth_date=written), index_by_number([resident])).outcome is Outcome.PASS


@pytest.mark.parametrize("written", ["昭和64年1月8日", "大正15年12月25日", "令和元年4月30日", "S640108", "1980-02-30", "3551301"])
def test_dates_outside_their_era_or_the_calendar_are_bad(written):
    resident = person()
    assert check(record_of(resident, birth_date=written), index_by_number([resident])).reason_codes == "BAD_DATE"


@pytest.mark.parametrize("written,code", [("1", 1), ("2", 2), ("男", 1), ("女", 2), ("M", 1), ("F", 2), ("男性", 1),
                                          ("女性", 2), ("m", 1), ("ｆ", 2), ("１", 1), (" 男 ", 1), ("1:男", 1), ("女(2)", 2)])
def test_sex_notations(written, code):
    assert parse_sex(written) == code


def test_a_code_and_a_label_that_disagree_are_bad():
    resident = person()
    assert check(record_of(resident, sex="1:女"), index_by_number([resident])).reason_codes == "BAD_SEX"


# --------------------------------------------------------------------------
# addresses
# --------------------------------------------------------------------------

SAME_PLACE = [
    (HOME, written) for written in (
        "高知市丸ノ内1-2-20", "高知市丸の内1丁目2番20号", "高知市丸ノ内1丁目2番地20", "高知市丸ノ内1丁目2番地の20",
        "高知市丸ノ内１－２－２０", "高知市丸ノ内1‐2‐20", "高知市丸ノ内1ー2ー20", "高知市丸ノ内1―2―20", "高知市丸ノ内1−2−20",
        "高知市丸ノ内1–2–20", "高知市丸ノ内1ｰ2ｰ20", "高知市丸ノ内1の2の20", "高知市丸ノ内1ノ2ノ20", "高知市丸之内1-2-20",
        "高知市丸ノ内一丁目二番二十号", "高知市丸ノ内壱丁目弐番弐拾号", "高知市丸ノ内 1 - 2 - 20", "高知県 高知市 丸ノ内 一丁目 2番 20号",
        "丸ノ内1-2-20", "丸ノ内一丁目2番20号", "〒780-0850 高知市丸ノ内1-2-20", "〒7800850高知市丸ノ内1-2-20",
        "780-0850 高知県高知市丸ノ内1-2-20", "高知市丸ノ内1丁目2番20号 コーポ丸ノ内101号室", "高知市丸ノ内1-2-20-101",
        "丸ノ内1-2-20 コーポ丸ノ内101",
    )
] + [
    ("高知県幡多郡黒潮町大字入野字浜123番地", written) for written in (
        "黒潮町入野浜123", "黒潮町入野字浜123", "幡多郡黒潮町入野123", "黒潮町入野123", "黒潮町大字入野123番地",
        "黒潮町入野字浜百二十三番地", "高知県黒潮町入野浜１２３番地")
] + [
    ("高知県高岡郡四万十町窪川955番地", "四万十町窪川955"), ("高知県高岡郡四万十町窪川955番地", "四万十町大字窪川九百五十五番地"),
    ("東京都千代田区霞が関一丁目1番1号", "千代田区霞ヶ関1-1-1"), ("東京都千代田区霞が関一丁目1番1号", "千代田区霞ガ関1丁目1番1号"),
    ("北海道札幌市中央区北一条西二丁目1番地", "中央区北1条西2丁目1番地"), ("高知市比島町四丁目10番105号", "高知市比島町四丁目十番百五号"),
    ("高知市一宮1234番地5", "高知市一宮千二百三十四番地五"), ("高知市一宮1234番地5", "高知市一宮一二三四番地五"),
    ("高知県高知市大津乙２７６９番地", "高知市大津乙二七六九"), ("高知県香美市土佐山田町宝町一丁目1番1号", "土佐山田町宝町1-1-1"),
    ("南国市後免町二丁目3番4号", "後免町2丁目3-4"), ("高知県吾川郡いの町1234番地", "いの町1234"),
    ("高知県高知市〓町1-1", "高知市𠮷町1-1"), ("高知市丸ノ内1丁目2番20号 Sunny Court 101", "高知市丸ノ内1-2-20 SUNNY COURT 101"),
    ("高知市丸ノ内1丁目2番20号 コーポ丸ノ内A棟101号室", "高知市丸ノ内1-2-20 コーポ丸ノ内A-101"),
    ("高知市丸ノ内1丁目2番20号 サンハイツ丸ノ内101号室", "高知市丸ノ内1-2-20 ｻﾝﾊｲﾂ丸ノ内１０１"),
    # the ward of a 政令指定都市 left out by a city-wide system, with the rest of the notations
    ("神奈川県横浜市中区本町一丁目2番3号", "横浜市本町1-2-3"), ("北海道札幌市中央区北一条西二丁目1番地", "札幌市北1条西2-1"),
    ("大阪府大阪市北区梅田一丁目1番1号 コーポ梅田101号室", "大阪市梅田1-1-1"), ("さいたま市大宮区桜木町1-1", "さいたま市桜木町一丁目1番"),
    # a ward by its old name: 浜松市's seven wards became three in 2024 (北区 went to 中央区 and 浜名区)
    ("静岡県浜松市中央区元城町103番地の2", "浜松市中区元城町103-2"), ("浜松市中央区三方原町1", "浜松市北区三方原町1"),
    ("浜松市浜名区細江町気賀1", "浜松市北区細江町気賀一番地"), ("浜松市浜名区小林1", "浜松市浜北区小林1"),
    # Kyoto: the street and its direction (上ル/上る/上がる, 東入/東入る) before the town, or left out
    ("京都市中京区河原町通三条上る下丸屋町123番地", "京都市中京区下丸屋町123"),
    ("京都市中京区河原町通三条上ル下丸屋町123番地", "京都市中京区河原町通三条上る下丸屋町123"),
    ("京都府京都市下京区四条通烏丸東入長刀鉾町10番地", "京都市下京区四条通烏丸東入る長刀鉾町10"),
    ("京都市上京区寺町通今出川上ル二丁目鶴山町14番地", "上京区鶴山町14"),
    ("京都市中京区新町通六角下がる六角町5", "京都市六角町5"),
    ("京都市中京区河原町通三条上る下丸屋町123番地", "京都市中京区河原町三条上ル下丸屋町123"),  # the street without 通
    ("京都市中京区河原町通り三条上がる下丸屋町123", "中京区下丸屋町123番地"),
    # a run of placeholders for one character of the place name (a UTF-8 address read byte by byte)
    ("高知県高知市𠮷町1-1", "高知市????町1-1"), ("高知市𠮷町1-1", "高知市？？町1-1"), ("高知市鴨部1-1", "高知市???部1-1"),
    # 第 before a lot number (岩手の地割)
    ("岩手県紫波郡矢巾町大字西徳田第五地割10番地", "矢巾町西徳田5地割10"), ("紫波町日詰第12地割5番地", "紫波町日詰十二地割5"),
] + [
    # a period or a chain of wave dashes between the lot's numbers (〜 and ～: Shift_JIS 0x8160 decodes to either)
    (registered, written)
    for registered in ("高知市本町1丁目2番3号", "高知市本町1-2-3", "高知県高知市本町一丁目二番三号")
    for written in ("高知市本町1.2.3", "高知市本町１．２．３", "高知市本町1〜2〜3", "高知市本町1～2～3", "高知市本町1~2~3",
                    "高知市本町 1 . 2 . 3", "高知市本町1.2.3 コーポ本町101号室", "高知市本町1〜2〜3番地")
] + [
    ("高知市一宮1234番地5", "高知市一宮1234.5"), ("高知市丸ノ内1丁目2番20号", "丸ノ内1.2.20-101"),
]


@pytest.mark.parametrize("registered,written", SAME_PLACE, ids=lambda v: v)
def test_address_notations_on_either_side(registered, written):
    assert addresses_match(address_key(registered), address_key(written))
    assert_pass(both_sides("address", registered, written))


DIFFERENT_PLACES = [
    ("高知市本町1-1", "南国市本町1-1"), ("高知市丸ノ内1-2-20", "高知市1-2-20"), ("高知市朝倉東1-1", "高知市朝倉1-1"),
    ("南国市大埇甲1234", "南国市大埇1234"), ("南国市大埇甲1234", "南国市大埇乙1234"), ("高知市朝倉本町1-1", "高知市朝倉1-1"),
    ("黒潮町入野123", "黒潮町佐賀123"), ("黒潮町入野浜123", "黒潮町入野松原123"), ("高知市丸ノ内1-2-20", "丸ノ内1-2-2"),
    ("高知市〓町1-1", "高知市本町1-2"), ("〓〓町1-1", "本通町1-1"), ("高知県高岡郡四万十町窪川955番地", "四万十町窪川955番地1号"),
    ("高知市丸ノ内1-2-20 コーポA101", "高知市丸ノ内1-2-20 メゾンB101"), ("札幌市北1条西2-1", "札幌市北1条東2-1"),
    ("南国市大埇甲浜1234", "南国市大埇甲1234"),  # a 小字 stands before the lot letter, never after it
    # two wards of one city, both written; another city's ward; a Tokyo ward is a municipality of its own
    ("横浜市中区本町1-2-3", "横浜市西区本町1-2-3"), ("さいたま市大宮区桜木町1-1", "さいたま市浦和区桜木町1-1"),
    ("横浜市中区本町1-2-3", "川崎市本町1-2-3"), ("大阪市北区梅田1-1-1", "大阪市梅田1-1-2"),
    ("東京都千代田区丸の内1-1", "東京都中央区丸の内1-1"),
    # an old ward name is only the new wards its area went to; two old wards are two places
    ("浜松市中区元城町1", "浜松市浜名区元城町1"), ("浜松市天竜区二俣町1", "浜松市中央区二俣町1"), ("浜松市東区X町1", "浜松市西区X町1"),
    ("横浜市中区本町1-2-3", "横浜市中央区本町1-2-3"),  # no rename in 横浜市
    # Kyoto: two streets or two directions, both written, are two places; so are two towns
    ("京都市中京区河原町通三条上ル下丸屋町123", "京都市中京区寺町通三条上ル下丸屋町123"),
    ("京都市中京区河原町通三条上ル下丸屋町123", "京都市中京区河原町通三条下ル下丸屋町123"),
    ("京都市中京区河原町通三条上る下丸屋町123", "京都市中京区上丸屋町123"),
    ("京都市中京区河原町通三条上る下丸屋町123", "京都市中京区下丸屋町124"),
    ("京都市中京区河原町通三条上る下丸屋町123", "京都市下京区下丸屋町123"),
    ("紫波町日詰第12地割5", "紫波町日詰13地割5"),
    ("京都市中京区河原町三条上ル下丸屋町123", "京都市中京区寺町三条上ル下丸屋町123"),
    ("高知市桟橋通3-1", "高知市桟橋3-1"),  # 通 of a town's name outside Kyoto is part of the name
    # a town of placeholders is no town, however much of the city is written
    ("高知市𠮷町1-1", "高知市〓〓1-1"), ("高知市𠮷町1-1", "高知市??????1-1"), ("高知市鴨部1-1", "高知市??????1-1"),
    ("高知市鴨部1-1", "高知市???田1-1"),
    # a lot letter before the number and one after it are not known to be one lot (甲123 / 123甲)
    ("高知市大津甲123番地", "高知市大津123番地甲"),
    # a period is a separator, never a decimal point that drops or moves a digit
    ("高知市本町1.5", "高知市本町15"), ("高知市本町1.5", "高知市本町1-50"), ("高知市本町1.2.3", "高知市本町1-2-30"),
    ("高知市本町1.23", "高知市本町1-2-3"), ("高知市本町1.2.3", "高知市本町12-3"), ("高知市本町1.2.3", "高知市本町1.2.4"),
    # a wave dash between two numbers is a range of lots (1〜3番地: lots 1, 2 and 3), not the lot 1-3
    ("高知市本町1〜3番地", "高知市本町1-3"), ("高知市本町1～3", "高知市本町1番地3"), ("高知市本町1~3", "高知市本町1-3"),
    ("高知市本町1〜3番地", "高知市本町1番地"), ("高知市本町1〜3番地", "高知市本町3番地"),
    ("高知市本町1-2〜3", "高知市本町1-2-3"), ("高知市本町1丁目2〜3番", "高知市本町1-2-3"),
    # a chain of waves is one lot, so a different last number is another lot
    ("高知市本町1〜2〜3", "高知市本町1-2-4"), ("高知市本町1〜2〜3", "高知市本町1-2-30"), ("高知市本町1〜2〜3", "高知市本町1〜2"),
]


@pytest.mark.parametrize("a,b", DIFFERENT_PLACES, ids=lambda v: v)
def test_different_places_stay_different(a, b):
    assert not addresses_match(address_key(a), address_key(b))
    assert not addresses_match(address_key(b), address_key(a))


# --------------------------------------------------------------------------
# the errors that must still be held, written with the notations
# --------------------------------------------------------------------------

def _judge(wrong: Record, residents: list[Resident]):
    return check_in_context(wrong, index_by_number(residents), Context(identities=build_identity_index(residents)))


@pytest.mark.parametrize("written", ["朝倉一丁目1番", "高知市朝倉1-1", "〒780-8062 高知県高知市朝倉１－１"])
def test_identical_strangers_told_apart_by_an_address_in_any_notation(written):
    here = person("田中　一郎", "タナカ イチロウ", "高知市朝倉1-1", serial=1, sex=1)
    there = person("田中　一郎", "タナカ イチロウ", "南国市大埇甲1-1", serial=2, sex=1)
    verdict = _judge(record_of(here, my_number=there.my_number, address=written, name="田中\u3000一郎\u200b"),
                     [here, there])
    assert verdict.outcome is Outcome.HOLD and Reason.ADDRESS_MISMATCH in verdict.reasons
    assert verdict.suggested_my_number == here.my_number


@pytest.mark.parametrize("written", ["斉藤　花子", "斉藤\U000E0100 花子", "斉藤 花子\u200b", "齊藤 花子"])
def test_same_reading_strangers_whatever_the_notation(written):
    saito = person("齋藤　花子", "サイトウ ハナコ", serial=1)
    other = person("斉藤　花子", "サイトウ ハナコ", "南国市後免町1-1", serial=2)
    verdict = _judge(record_of(saito, my_number=other.my_number, name=written.replace("斉", "斎").replace("齊", "齋")),
                     [saito, other])
    assert Reason.IDENTITY_MISMATCH in verdict.reasons and verdict.suggested_my_number == saito.my_number
    # the other way: 斎藤's number on 斉藤's record, written with the notation
    verdict = _judge(record_of(other, my_number=saito.my_number, name=written), [saito, other])
    assert Reason.IDENTITY_MISMATCH in verdict.reasons and verdict.suggested_my_number == other.my_number


def test_twins_and_a_parent_written_with_notations():
    mother = person("髙橋　洋子", "タカハシ ヨウコ", serial=1, birth_date=dt.date(1975, 5, 5))
    twin_a = person("髙橋　一郎", "タカハシ イチロウ", serial=2, birth_date=dt.date(2010, 6, 6), sex=1)
    twin_b = person("髙橋　次郎", "タカハシ ジロウ", serial=3, birth_date=dt.date(2010, 6, 6), sex=1)
    residents = [mother, twin_a, twin_b]
    for number in (twin_b.my_number, mother.my_number):
        wrong = record_of(twin_a, my_number=number, name="高橋 一郎", birth_date="平成22年6月6日",
                          address="高知市丸ノ内1-2-20")
        verdict = _judge(wrong, residents)
        assert Reason.FAMILY_NUMBER in verdict.reasons, verdict
        assert verdict.suggested_my_number == twin_a.my_number
    placeholder = record_of(twin_a, my_number=twin_b.my_number, name="〓橋 一郎", name_kana="ﾀｶﾊｼ ｲﾁﾛｳ")
    verdict = _judge(placeholder, residents)
    assert Reason.FAMILY_NUMBER in verdict.reasons and verdict.suggested_my_number == twin_a.my_number


def test_a_typo_and_a_deceased_number_written_with_notations():
    subject = person("山﨑　花子", "ヤマザキ ハナコ", serial=10)
    stranger = person("鈴木　次郎", "スズキ ジロウ", "高知市本町1-1", serial=11, sex=1, birth_date=dt.date(1970, 1, 1))
    dead = person("山﨑　ハル", serial=12, birth_date=dt.date(1930, 1, 1), status="死亡", status_date=dt.date(2020, 1, 1))
    residents = [subject, stranger, dead]
    for number, reasons in ((stranger.my_number, {Reason.IDENTITY_MISMATCH}),
                            (dead.my_number, {Reason.IDENTITY_MISMATCH, Reason.DECEASED})):
        wrong = record_of(subject, my_number=number, name="山〓 花子", name_kana="ﾔﾏｻｷ ﾊﾅｺ", birth_date="S55.4.1",
                          sex="女性", address="丸ノ内一丁目2番20号")
        verdict = _judge(wrong, residents)
        assert reasons <= set(verdict.reasons), verdict
        assert verdict.suggested_my_number == subject.my_number


def test_no_suggestion_when_a_notation_makes_two_residents_fit():
    """A city left out fits two namesakes in two cities: never a guess."""
    here = person("田中　一郎", "タナカ イチロウ", "高知市本町1-1", serial=1, sex=1)
    there = person("田中　一郎", "タナカ イチロウ", "南国市本町1-1", serial=2, sex=1)
    unknown = person("田中　一郎", "タナカ イチロウ", "本町1-1", serial=3, sex=1)
    verdict = _judge(record_of(unknown, address="本町1-1"), [here, there])
    assert verdict.outcome is Outcome.HOLD and verdict.suggested_my_number == ""


@pytest.mark.parametrize("registered,written", [("DELA CRUZ ROSA", "Rosa Delacruz"), ("DELACRUZ ROSA", "DE LA CRUZ, ROSA"),
                                                ("SILVA LUCAS", "silva lucas")])
def test_a_family_name_of_two_words_written_as_one(registered, written):
    resident = person(registered, "")
    assert check(record_of(resident, name=written), index_by_number([resident])).outcome is Outcome.PASS


@pytest.mark.parametrize("registered,written", [("山田　ルーカス", "山田 ル－カス"), ("山田　ルーカス", "山田 ル―カス"),
                                                ("山田　ルーシー", "山田 ルーシ－")])
def test_a_dash_keyed_for_the_long_vowel_mark(registered, written):
    assert_pass(both_sides("name", registered, written))


@pytest.mark.parametrize("registered,written", [("横浜市青葉区つつじヶ丘1-1", "横浜市青葉区つつじが丘1-1"),
                                                ("高知市丸ノ内1-2-20 コーポ丸ノ内101", "高知市丸ノ内1-2-20 コ－ポ丸ノ内101"),
                                                ("高知市丸ノ内1-2-20 コーポ丸ノ内101", "高知市丸ノ内1-2-20 コーポ丸ノ内一〇一号室")])
def test_kana_place_names_and_building_names_keyed_differently(registered, written):
    assert_pass(both_sides("address", registered, written))


def test_heisei_written_after_its_end():
    """Forms and systems not yet changed for 令和 went on writing 平成31年5月1日, 平成32年…"""
    resident = person(birth_date=dt.date(2019, 5, 1))
    for written in ("平成31年5月1日", "H31.5.1", "令和元年5月1日"):
        assert check(record_of(resident, birth_date=written), index_by_number([resident])).outcome is Outcome.PASS


@pytest.mark.parametrize("registered,written,detail", [
    ("高知県幡多郡黒潮町大字入野字浜123番地", "入野123", "municipality left out; 小字 left out"),
    ("高知県高知市〓町1-1", "𠮷町1-1 コーポ101", "placeholder in the place name; municipality left out; "
                                               "building/room (方書) written differently"),
    ("高知市丸ノ内1-2-20", "丸ノ内1-2-20", "municipality left out"),
    ("横浜市中区本町1-2-3", "横浜市本町1-2-3", "ward (区) of a designated city left out"),
    ("京都市中京区河原町通三条上る下丸屋町123", "京都市下丸屋町123",
     "ward (区) of a designated city left out; Kyoto street (通…上ル/下ル/東入/西入) left out"),
])
def test_shortened_addresses_together_and_their_explanation(registered, written, detail):
    from guards.check import explain

    assert_pass(both_sides("address", registered, written))
    resident = person(address=registered)
    explained = {e.field: e for e in explain(record_of(resident, address=written), resident)}["address"]
    assert explained.detail == detail


@pytest.mark.parametrize("registered,written", [
    ("檜山　花子", "桧山 花子"), ("藪内　花子", "薮内 花子"), ("籔内　花子", "藪内 花子"), ("大籠　花子", "大篭 花子"),
    ("山田　遙", "山田 遥"), ("山田　凜", "山田 凛"), ("山田　晄", "山田 晃"), ("山田　巖", "山田 巌"), ("山田　穰", "山田 穣"),
    ("山田　亙", "山田 亘"), ("𠮟田　花子", "叱田 花子"),
])
def test_one_character_in_forms_the_mj_map_keeps_apart(registered, written):
    assert_pass(both_sides("name", registered, written))


@pytest.mark.parametrize("registered,written", [("斎藤　花子", "斉藤 花子"), ("齋藤　花子", "齊藤 花子"), ("檜山　花子", "桧川 花子"),
                                                ("遥　花子", "遙 華子")])
def test_other_characters_stay_other(registered, written):
    for verdict in both_sides("name", registered, written):
        assert verdict.outcome is Outcome.HOLD and Reason.IDENTITY_MISMATCH in verdict.reasons


@pytest.mark.parametrize("registered,written", [
    ("高知市丸ノ内1丁目2番20号 コーポ丸ノ内101号室", "高知市丸ノ内1-2-20（コーポ丸ノ内101）"),
    ("高知市丸ノ内1丁目2番20号 コーポ丸ノ内101号室", "高知市丸ノ内1・2・20 コーポ・丸ノ内101"),
    ("高知市丸ノ内1丁目2番地ノ20", "高知市丸ノ内1-2-20"),
    ("高知市丸ノ内1丁目2番20号 サンハイツ丸ノ内101号室", "高知市丸ノ内1-2-20 サンハイツ101"),  # the name shortened
])
def test_brackets_and_dots_in_an_address(registered, written):
    assert_pass(both_sides("address", registered, written))


@pytest.mark.parametrize("registered,written", [("佐々木　花子", "佐〻木 花子"), ("佐佐木　花子", "佐〻木花子")])
def test_the_vertical_iteration_mark(registered, written):
    assert_pass(both_sides("name", registered, written))


@pytest.mark.parametrize("written", ["佐〻 花子", "〻木 花子", "佐々々木 花子"])
def test_an_iteration_mark_does_not_stand_for_another_character(written):
    resident = person("佐々木　花子", "ササキ ハナコ")
    assert check(record_of(resident, name=written), index_by_number([resident])).outcome is Outcome.HOLD


@pytest.mark.parametrize("written", ["1980/04/01 午前 0:00:00", "1980/4/1 12:00 AM", "昭和55年4月1日（火曜日）", "19800401000000",
                                     "1980-04-01 00:00:00.000", "1980-04-01T00:00:00+09:00"])
def test_dates_as_spreadsheets_and_databases_export_them(written):
    assert parse_date(written) == BIRTH


@pytest.mark.parametrize("registered_kana", ["ヤマザキ（サトウ）ハナコ", "ヤマザキ ハナコ［サトウ］", "ヤマザキ　ハナコ"])
def test_a_former_surnames_reading_beside_the_kana_does_not_break_a_placeholder(registered_kana):
    resident = person("山﨑（佐藤）花子", registered_kana)
    verdict = check(record_of(resident, name="山〓 花子", name_kana="ﾔﾏｻﾞｷ ﾊﾅｺ"), index_by_number([resident]))
    assert verdict.outcome is Outcome.PASS, verdict


# --------------------------------------------------------------------------
# notations together, on real-looking residents
# --------------------------------------------------------------------------

def _written_otherwise(resident: Resident, rng) -> dict[str, str]:
    """The resident's fields, each written in one of the ways real systems write it."""
    import re

    from linkguard.synthetic.notations import kanji_numeral

    day = resident.birth_date
    era, letter, start = next(e for e in (("令和", "R", dt.date(2019, 5, 1)), ("平成", "H", dt.date(1989, 1, 8)),
                                          ("昭和", "S", dt.date(1926, 12, 25)), ("大正", "T", dt.date(1912, 7, 30)))
                              if day >= e[2])
    year = day.year - start.year + 1
    full = str.maketrans("0123456789-", "０１２３４５６７８９－")
    birth = rng.choice((f"{era}{'元' if year == 1 else year}年{day.month}月{day.day}日".translate(full),
                        f"{letter}{year:02d}.{day.month:02d}.{day.day:02d}", f"{day.year}/{day.month}/{day.day} 0:00:00",
                        f"{'MTSHR'.index(letter) + 1}{year:02d}{day.month:02d}{day.day:02d}",
                        f"{era}{kanji_numeral(year)}年{kanji_numeral(day.month)}月{kanji_numeral(day.day)}日"))
    sex = rng.choice(("男性", "Ｍ", "1:男") if resident.sex == 1 else ("女性", "Ｆ", "2:女"))
    name, kana = resident.name, resident.name_kana
    if not name.isascii():
        spots = [i for i, c in enumerate(name) if "\u4e00" <= c <= "\u9fff"]
        spot = rng.choice(spots)
        name = name[:spot + 1] + "\U000E0101" + name[spot + 1:] if rng.random() < 0.5 else (
            name[:spot] + rng.choice(PLACEHOLDERS) + name[spot + 1:])
        name = rng.choice((name.replace("\u3000", ""), " " + name.replace("\u3000", "\u00a0"), name + "\u200b"))
        kana = rng.choice((kana.replace("\u3000", " "), "\u200b" + kana))
    address = re.sub(r"^高知県", "", resident.address)
    address = re.sub(r"\d+", lambda m: kanji_numeral(int(m.group())) if rng.random() < 0.5 else m.group().translate(full),
                     address)
    if rng.random() < 0.3:
        address = re.sub(r"^(?:[^市町村郡]+郡)?[^市町村]+?[市町村]", "", address)
    address = rng.choice(("", "〒780-0850 ", "高知県")) + address
    return {"name": name, "name_kana": kana, "birth_date": birth, "sex": sex, "address": address}


def test_notations_together_on_corpus_residents_pass_and_errors_are_still_held():
    import random
    from dataclasses import replace

    from linkguard.synthetic.corpus import make_corpus

    rng = random.Random(13)
    living = [r for r in make_corpus(records=2_000, seed=13).residents if r.status == "住民" and r.name_kana]
    sample = rng.sample(living, 150)
    for resident, stranger in zip(sample, sample[1:]):
        written = _written_otherwise(resident, rng)
        record = record_of(resident, **written)
        verdict = check(record, index_by_number([resident]))
        assert verdict.outcome is Outcome.PASS, (written, resident, verdict)
        # the registry writes it so, the record plainly
        registered = replace(resident, name=written["name"], name_kana=written["name_kana"],
                             address=written["address"])
        assert check(record_of(resident), index_by_number([registered])).outcome is Outcome.PASS, registered
        # the same record on a stranger's number is held
        wrong = replace(record, my_number=stranger.my_number)
        assert check(wrong, index_by_number([resident, stranger])).outcome is Outcome.HOLD


@pytest.mark.parametrize("written", ["生", "生まれ", "(火)", "0:00:00", "T00:00", "午前 0:00", "昭和"])
def test_what_is_left_of_a_date_once_its_trimmings_are_gone_is_a_bad_date(written):
    resident = person()
    assert check(record_of(resident, birth_date=written), index_by_number([resident])).reason_codes == "BAD_DATE"


def test_no_mix_of_the_notations_raises():
    """Random mixes of the characters every rule reacts to, in every field, on both sides."""
    import random

    rng = random.Random(7)
    letters = ("〓●■□？?＿_＊\ufffd\ue000山田花子高橋𠮷﨑邊齋斉髙 　\u200b\U000E0100\ufe00（）［］【】「」旧姓氏：:ABC abc,.'-ー－‐―"
               "ヶケがノの之丁目番地号字大小甲乙〒0123456789０１２一二三十百千壱拾市町村郡区県高知ハイツコーポ棟室・")
    date_letters = "0123456789０１年月日/.-: 元昭和平成令和SHRMTshr午前AM()（火曜）生まれ一二三四五六七八九十拾壱T"

    def text(alphabet, longest):
        return "".join(rng.choice(alphabet) for _ in range(rng.randint(0, longest)))

    known = person(previous_names=("佐藤",))
    other = person("𠮷田　花子", "ヨシダ ハナコ", "高知市本町1-1", serial=8)
    registry, context = index_by_number([known, other]), Context(identities=build_identity_index([known, other]))
    for i in range(1_500):
        record = Record("s", str(i), rng.choice((known.my_number, other.my_number)), text(letters, 20),
                        text(date_letters, 18), text("12男女性MF:() ", 5), text(letters, 40), text("ヤマダハナコ ｶﾞ゛・（）", 12))
        check_in_context(record, registry, context)
        odd = person(text(letters, 20), text("ヤマダハナコ（）", 10), text(letters, 40), serial=9,
                     previous_names=(text(letters, 8),))
        check(record_of(known, my_number=odd.my_number), index_by_number([odd]))


@pytest.mark.parametrize("registered,written", [("鈴木　すゞ", "鈴木 すず"), ("鈴木　いすゝ", "鈴木 いすす"), ("鈴木　スヾ", "鈴木 すず")])
def test_kana_iteration_marks_in_older_names(registered, written):
    assert_pass(both_sides("name", registered, written))


@pytest.mark.parametrize("registered,written", [("NGUYEN VAN NAM（通称：山田 太郎）", "山田太郎"),
                                                ("NGUYEN VAN NAM", "Nguyen Van Nam（通称 山田太郎）"),
                                                ("NGUYEN VAN NAM（山田 太郎）", "nguyen nam")])
def test_the_alias_written_beside_a_foreign_name(registered, written):
    resident = person(registered, "", sex=1, alias_name="" if "（" in registered else "山田 太郎")
    verdict = check(record_of(resident, name=written), index_by_number([resident]))
    assert verdict.outcome is Outcome.PASS, verdict


@pytest.mark.parametrize("registered,written,outcome", [
    ("DA SILVA SANTOS MARIA", "Maria Silva Santos", Outcome.PASS), ("DA SILVA SANTOS MARIA", "MARIA DA SANTOS", Outcome.HOLD),
    ("VAN DER BERG JAN", "Jan Berg", Outcome.PASS), ("LE VAN DUC", "LE DUC", Outcome.PASS), ("DO THI LAN", "DO LAN", Outcome.PASS),
    ("DO THI LAN", "THI LAN", Outcome.HOLD),
])
def test_particles_before_a_family_name(registered, written, outcome):
    resident = person(registered, "")
    assert check(record_of(resident, name=written), index_by_number([resident])).outcome is outcome


@pytest.mark.parametrize("registered,kana,written", [
    ("髙\U000E0100橋　花子", "タカハシ ハナコ", "高橋 花子"),  # the true person's registry name carries a selector
    ("〓橋　花子", "タカハシ ハナコ", "髙橋 花子"),  # … a placeholder it never converted
    ("山田［髙橋］花子", "ヤマダ ハナコ", "高橋 花子"),  # … the 旧氏 beside the name
    ("山田花子（旧姓 髙橋）", "ヤマダ ハナコ", "高橋花子"),
    ("NGUYEN VAN NAM（通称：髙橋 花男）", "グエン ヴァン ナム", "高橋 花男"),
])
def test_the_suggestion_finds_a_true_person_whose_registry_name_carries_a_notation(registered, kana, written):
    true = person(registered, kana, "高知市本町1-1", serial=30)
    stranger = person("鈴木　次郎", "スズキ ジロウ", "南国市大埇甲1-1", serial=31, sex=1, birth_date=dt.date(1970, 1, 1))
    wrong = record_of(true, my_number=stranger.my_number, name=written, name_kana="ﾀｶﾊｼ ﾊﾅｺ")
    verdict = _judge(wrong, [true, stranger])
    assert Reason.IDENTITY_MISMATCH in verdict.reasons and verdict.suggested_my_number == true.my_number, verdict
