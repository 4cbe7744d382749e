"""The synthetic data generator: deterministic, realistic enough, readable, and honest about its truth."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import os
import random
import subprocess
import sys
from collections import Counter
from itertools import groupby
from pathlib import Path

import pytest
from stdnum.jp import in_ as stdnum_in

from guards import check, index_by_number
from guards.normalize import parse_date
from linkguard.synthetic.sample import (
    CAUSES,
    DEFAULT_SYSTEMS,
    INVALID_CAUSES,
    LINKAGE_CAUSES,
    Population,
    SampleFiles,
    generate,
    make_records,
    make_registry,
)
from streams.csvio import detect_encoding, read_records, read_registry

RESIDENTS = 3_000
RECORDS = 600
SEED = 11


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> SampleFiles:
    return generate(tmp_path_factory.mktemp("sample"), residents=RESIDENTS, records_per_system=RECORDS, seed=SEED)


def truth_of(files: SampleFiles) -> dict[tuple[str, str], str]:
    with open(files.truth, encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["system", "record_id", "cause"]
    return {(system, record_id): cause for system, record_id, cause in rows[1:]}


def digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


# --- determinism ---------------------------------------------------------------------


def test_same_seed_same_bytes(tmp_path: Path, sample: SampleFiles) -> None:
    again = generate(tmp_path / "again", residents=RESIDENTS, records_per_system=RECORDS, seed=SEED)
    assert digest(again.out_dir) == digest(sample.out_dir)
    assert again.cause_counts == sample.cause_counts


def test_another_seed_other_data(tmp_path: Path, sample: SampleFiles) -> None:
    other = generate(tmp_path / "other", residents=RESIDENTS, records_per_system=RECORDS, seed=SEED + 1)
    assert other.registry.read_bytes() != sample.registry.read_bytes()


def test_independent_of_string_hash_seed(tmp_path: Path) -> None:
    """Nothing may iterate over a set of strings: PYTHONHASHSEED must not change the files."""
    script = ("import sys, pathlib; from linkguard.synthetic.sample import generate; "
              "generate(pathlib.Path(sys.argv[1]), residents=400, records_per_system=120, seed=5)")
    for hash_seed in ("1", "2"):
        subprocess.run([sys.executable, "-c", script, str(tmp_path / hash_seed)], check=True,
                       env={**os.environ, "PYTHONHASHSEED": hash_seed})
    assert digest(tmp_path / "1") == digest(tmp_path / "2")


def test_files_are_a_rendering_of_the_in_memory_api(sample: SampleFiles) -> None:
    rng = random.Random(SEED)
    residents = make_registry(RESIDENTS, rng)
    assert list(read_registry(sample.registry)) == residents
    population = Population(residents)
    for system in DEFAULT_SYSTEMS:
        expected = make_records(population, system, RECORDS, rng)
        read = list(read_records(sample.records[system]))
        assert read == [record for record, _ in expected]
        assert [dict(r.payload) for r in read] == [dict(r.payload) for r, _ in expected]


# --- counts, files and encodings ----------------------------------------------------


def test_counts(sample: SampleFiles) -> None:
    assert sample.residents == RESIDENTS
    assert set(sample.records) == set(DEFAULT_SYSTEMS)
    assert sample.record_counts == {system: RECORDS for system in DEFAULT_SYSTEMS}
    assert sample.total_records == RECORDS * len(DEFAULT_SYSTEMS)
    assert sum(sample.cause_counts.values()) == sample.total_records
    assert len(truth_of(sample)) == sample.total_records
    linkage = sum(sample.cause_counts[c] for c in LINKAGE_CAUSES)
    assert linkage == round(RECORDS * 0.02) * len(DEFAULT_SYSTEMS)


def test_every_cause_is_present(sample: SampleFiles) -> None:
    assert set(sample.cause_counts) == set(CAUSES)
    assert Counter(truth_of(sample).values()) == Counter(sample.cause_counts)


def test_files_in_their_encodings_and_readable(sample: SampleFiles) -> None:
    assert sample.encodings["registry.csv"] == "utf-8-sig"
    assert sample.registry.read_bytes().startswith(b"\xef\xbb\xbf")
    assert {sample.encodings[p.name] for p in sample.records.values()} == {"cp932", "utf-8", "utf-8-sig"}
    for system, path in sample.records.items():
        assert detect_encoding(path) == sample.encodings[path.name]
        header = path.read_bytes().split(b"\r\n", 1)[0].decode(sample.encodings[path.name])
        assert ("record_id" in header) == (sample.encodings[path.name] == "utf-8")
        records = list(read_records(path))  # the system comes from the file's 事務/system column
        assert len(records) == RECORDS
        assert {r.system for r in records} == {system}
        assert len({r.record_id for r in records}) == RECORDS
    assert len(list(read_registry(sample.registry))) == RESIDENTS


# --- the registry ------------------------------------------------------------------------


def test_registry_numbers_valid_and_unique(sample: SampleFiles) -> None:
    residents = list(read_registry(sample.registry))
    current = [r.my_number for r in residents]
    former = [n for r in residents for n in r.previous_my_numbers]
    assert all(stdnum_in.is_valid(n) for n in current + former)
    assert len(set(current)) == len(current)
    assert len(set(current + former)) == len(current) + len(former)
    assert former, "some residents changed their number"


def test_registry_is_realistic(sample: SampleFiles) -> None:
    residents = list(read_registry(sample.registry))
    statuses = Counter(r.status for r in residents)
    assert statuses["死亡"] and statuses["転出"] and statuses["消除"]
    assert all(r.status_date is not None and r.status_date > r.birth_date for r in residents if r.status != "住民")
    assert all(dt.date(1930, 1, 1) <= r.birth_date <= dt.date(2024, 12, 31) for r in residents)
    assert {r.sex for r in residents} == {1, 2}
    households = Counter(r.address for r in residents)
    assert sum(1 for size in households.values() if size >= 3) > RESIDENTS // 50
    family_names = Counter(r.name.split("\u3000")[0] for r in residents if "\u3000" in r.name)
    assert {"斎藤", "高橋", "渡辺", "山崎"} <= set(family_names)
    assert all(r.name_kana and all("\u30a0" <= c <= "\u30ff" or c in "\u3000 " for c in r.name_kana)
               for r in residents)
    married = [r for r in residents if r.previous_names]
    assert married and all(r.sex == 2 for r in married)
    assert any(r.previous_addresses for r in married)
    assert all(r.address.startswith(("高知市", "南国市", "土佐市", "須崎市", "四万十市", "香南市", "香美市",
                                      "安芸市", "室戸市", "宿毛市", "土佐清水市", "吾川郡", "高岡郡", "幡多郡",
                                      "長岡郡", "安芸郡")) for r in residents)
    identities = Counter((r.name, r.birth_date, r.sex) for r in residents)
    namesakes = [key for key, n in identities.items() if n > 1]
    assert len(namesakes) >= RESIDENTS // 500
    assert any(r.alias_name for r in residents), "some foreign residents register a 通称"


def test_registry_file_uses_era_dates_and_varied_forms(sample: SampleFiles) -> None:
    with open(sample.registry, encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.DictReader(handle))
    births = [row["生年月日"] for row in rows]
    assert any("昭和" in b for b in births) and any(b[:1] in "SHR" and "." in b for b in births)
    assert any("-" in b and b[:4].isdigit() for b in births)
    assert any(" " in row["個人番号"] for row in rows)
    assert any(row["旧氏名"] for row in rows) and any("|" in row["旧個人番号"] or row["旧個人番号"] for row in rows)
    for row in rows[:200]:
        parse_date(row["生年月日"])


# --- the records and their truth ----------------------------------------------------------


def test_guard_agrees_with_the_truth(sample: SampleFiles) -> None:
    """ok passes, every linkage error is held, every malformed or unlinked row is invalid."""
    registry = index_by_number(read_registry(sample.registry))
    truth = truth_of(sample)
    expected = {"ok": "PASS", **{c: "HOLD" for c in LINKAGE_CAUSES}, **{c: "INVALID" for c in INVALID_CAUSES}}
    disagreements = Counter()
    reasons: dict[str, Counter] = {}
    for path in sample.records.values():
        for record in read_records(path):
            cause = truth[(record.system, record.record_id)]
            verdict = check(record, registry)
            if verdict.outcome.value != expected[cause]:
                disagreements[(cause, verdict.outcome.value, verdict.reason_codes)] += 1
            reasons.setdefault(cause, Counter()).update(r.value for r in verdict.reasons)
    assert not disagreements
    assert reasons["superseded_number"]["NUMBER_SUPERSEDED"] == sample.cause_counts["superseded_number"]
    assert reasons["deceased"]["DECEASED"] == sample.cause_counts["deceased"]
    assert reasons["not_in_registry"]["NOT_IN_REGISTRY"] == sample.cause_counts["not_in_registry"]
    assert reasons["same_name_stranger"]["ADDRESS_MISMATCH"] == sample.cause_counts["same_name_stranger"]
    assert reasons["unlinked"]["NOT_LINKED"] == sample.cause_counts["unlinked"]
    assert reasons["typo"]["CHECK_DIGIT"] >= sample.cause_counts["typo"] // 2
    assert reasons["ok"]["FORMER_NAME"] and reasons["ok"]["MOVED_OUT"]


def test_records_look_like_business_extracts(sample: SampleFiles) -> None:
    registry = {r.my_number: r for r in read_registry(sample.registry)}
    truth = truth_of(sample)
    for system, path in sample.records.items():
        records = list(read_records(path))
        prefix = records[0].record_id.split("-")[0]
        assert all(r.record_id.startswith(prefix + "-") for r in records)
        assert {r.number_source for r in records} <= {"申請書", "職員入力", "J-LIS照会", "住基連携", "本人確認書類"}
        sizes = [len(list(group)) for _, group in groupby(r.batch_id for r in records)]
        assert len(sizes) == len({r.batch_id for r in records}), "a batch is consecutive"
        assert all(20 <= size <= 41 for size in sizes[:-1]) and 2 <= sizes[-1] <= 41, sizes
        assert all(r.atena_no and r.entered_by for r in records)
        assert all("更新日時" in r.payload and len(r.payload) >= 3 for r in records)
        forms = Counter("full-width" if r.my_number[:1].isdigit() and not r.my_number[:1].isascii()
                        else "spaced" if " " in r.my_number else "hyphen" if "-" in r.my_number else "plain"
                        for r in records if r.my_number)
        assert set(forms) == {"plain", "spaced", "hyphen", "full-width"}
        for record in records:
            if truth[(system, record.record_id)] == "deceased":
                resident = registry[record.my_number.translate(str.maketrans("０１２３４５６７８９", "0123456789"))
                                    .replace(" ", "").replace("-", "")]
                updated = dt.datetime.fromisoformat(record.payload["更新日時"]).date()
                assert resident.status == "死亡" and updated > resident.status_date


def test_small_and_odd_sizes() -> None:
    rng = random.Random(3)
    residents = make_registry(30, rng)
    assert len(residents) == 30
    rows = make_records(residents, "tokubetsu-shien", 80, rng, error_rate=0.5)
    assert len(rows) == 80 and {cause for _, cause in rows} <= set(CAUSES)
    assert make_records(residents, "shoman", 0, rng) == []
    assert make_registry(0, rng) == []
    with pytest.raises(ValueError, match="error_rate"):
        make_records(residents, "shoman", 5, rng, error_rate=2)
