"""The quality corpus: deterministic, complete, honestly labelled, readable in every file style.

No timing here: the benchmark (``python -m bench.quality``) reports speed; tests only check
that what it measures is what the labels say.
"""

from __future__ import annotations

import csv
import datetime as dt
import doctest
import hashlib
import inspect as pyinspect
from collections import Counter
from pathlib import Path

import pytest
from stdnum.jp import in_ as stdnum_in

import linkguard.synthetic.corpus as corpus_module
from linkguard.synthetic.corpus import (
    CAUSES,
    EXPECTED_REASON,
    STYLES,
    SYSTEMS,
    TRUTH_HEADER,
    VARIANTS,
    Corpus,
    CorpusFiles,
    make_corpus,
    plan_counts,
    read_truth,
    write_corpus,
)
from bench.quality import Outcome, read_verdicts, score, targets
from guards import index_by_number, registry_keys
from guards.japanese import address_key, addresses_match
from guards.number import compact
from streams.csvio import detect_encoding, read_records, read_registry

RECORDS = 3_000
SEED = 5


@pytest.fixture(scope="module")
def corpus() -> Corpus:
    return make_corpus(records=RECORDS, seed=SEED)


@pytest.fixture(scope="module")
def files(corpus: Corpus, tmp_path_factory: pytest.TempPathFactory) -> CorpusFiles:
    return write_corpus(corpus, tmp_path_factory.mktemp("corpus"))


def digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def key(name: str) -> str:
    return name.replace("　", "").replace(" ", "")


def family(name: str) -> str:
    return name.replace("　", " ").split(" ")[0]


# --- determinism ------------------------------------------------------------------------


def test_same_seed_same_bytes(files: CorpusFiles, tmp_path: Path) -> None:
    again = write_corpus(make_corpus(records=RECORDS, seed=SEED), tmp_path / "again")
    assert digest(again.out_dir) == digest(files.out_dir)


def test_another_seed_another_corpus(files: CorpusFiles, tmp_path: Path) -> None:
    other = write_corpus(make_corpus(records=RECORDS, seed=SEED + 1), tmp_path / "other")
    assert digest(other.out_dir)["truth.csv"] != digest(files.out_dir)["truth.csv"]


def test_doctests_of_the_generator() -> None:
    failures, tried = doctest.testmod(corpus_module, optionflags=doctest.ELLIPSIS)
    assert tried > 0 and failures == 0


# --- composition ------------------------------------------------------------------------


def test_every_cause_and_variant_present(corpus: Corpus) -> None:
    causes, variants = corpus.composition()
    assert set(causes) == {"ok", *CAUSES}
    assert all(causes[c] >= 3 for c in CAUSES), causes
    assert set(variants) == {"plain", *VARIANTS}
    assert all(variants[v] >= 3 for v in VARIANTS), variants
    assert len(corpus.records) == len(corpus.labels) == RECORDS


def test_mostly_plain_correct_records_and_few_errors(corpus: Corpus) -> None:
    causes, variants = corpus.composition()
    assert 0.01 <= corpus.errors / len(corpus.labels) <= 0.03  # small corpora round the minimum per cause up
    # plain is still the largest group; the notations of linkguard/synthetic/notations.py take about a tenth
    assert variants["plain"] > len(corpus.labels) / 3
    assert variants["plain"] == max(variants.values())


def test_default_size_measures_a_false_hold_rate_of_a_tenth_of_a_percent() -> None:
    defaults = pyinspect.signature(make_corpus).parameters
    correct, per_cause = plan_counts(defaults["records"].default, defaults["error_rate"].default)
    errors = sum(per_cause.values())
    assert correct >= 20_000
    assert 0.01 <= errors / (correct + errors) <= 0.02
    assert set(per_cause) == set(CAUSES)


def test_too_small_a_corpus_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 300"):
        make_corpus(records=100)


def test_every_encoding_and_header_language(corpus: Corpus) -> None:
    styles = {(style.encoding, style.language) for style in corpus.styles.values()}
    assert styles == {(e, lang) for e in ("cp932", "utf-8", "utf-8-sig") for lang in ("ja", "en")}
    assert list(corpus.styles) == list(SYSTEMS)


def test_batches_of_about_thirty(corpus: Corpus) -> None:
    sizes = Counter((r.system, r.batch_id) for r in corpus.records)
    assert all(r.batch_id and r.entered_by and r.number_source for r in corpus.records)
    typical = sorted(sizes.values())[len(sizes) // 2]
    assert 20 <= typical <= 40
    assert max(sizes.values()) <= 40


def test_households_spouses_children_foreigners_history_statuses(corpus: Corpus) -> None:
    residents = corpus.residents
    households = Counter(corpus.households)
    assert sum(1 for n in households.values() if n >= 3) > 20  # parents with children
    assert any(r.previous_names for r in residents)  # married names
    assert any(r.previous_addresses for r in residents)  # movers
    assert any(r.previous_my_numbers for r in residents)  # number changes
    assert any(r.alias_name for r in residents)  # 通称
    assert any(r.name.isascii() for r in residents)  # alphabet names
    assert {r.status for r in residents} == {"住民", "転出", "死亡", "消除"}
    assert all(r.status_date for r in residents if r.status != "住民")
    identities = Counter((key(r.name), r.birth_date, r.sex) for r in residents)
    assert sum(1 for n in identities.values() if n > 1) >= 3  # same-name strangers
    readings = Counter((key(r.name_kana), r.birth_date, r.sex) for r in residents)
    assert sum(1 for n in readings.values() if n > 1) >= sum(1 for n in identities.values() if n > 1) + 2
    assert {dt.date(1989, 1, 7), dt.date(1989, 1, 8)} <= {r.birth_date for r in residents}


# --- labels -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def world(corpus: Corpus):
    registry = index_by_number(corpus.residents)
    index_of = {r.my_number: i for i, r in enumerate(corpus.residents)}
    records = {(r.system, r.record_id): r for r in corpus.records}
    labels = corpus.label_of()
    return registry, index_of, records, labels


def test_keys_are_unique_and_labels_match_records(corpus: Corpus) -> None:
    keys = [(r.system, r.record_id) for r in corpus.records]
    assert len(set(keys)) == len(keys)
    assert keys == [(label.system, label.record_id) for label in corpus.labels]
    assert all(label.batch_id == record.batch_id for label, record in zip(corpus.labels, corpus.records))
    assert all(label.file == f"records-{label.system}.csv" for label in corpus.labels)


def test_one_record_per_person_and_process(corpus: Corpus) -> None:
    seen = Counter((label.system, label.true_my_number) for label in corpus.labels)
    assert max(seen.values()) == 1


def test_correct_records_carry_their_own_number(corpus: Corpus, world) -> None:
    registry, _, records, _ = world
    for label in corpus.labels:
        if label.is_error:
            continue
        record = records[(label.system, label.record_id)]
        assert compact(record.my_number) == label.true_my_number
        assert registry[label.true_my_number].my_number == label.true_my_number
        assert label.expected_reason == "" and not label.other_record_id


def test_plain_records_are_the_registry_as_written(corpus: Corpus, world) -> None:
    registry, index_of, records, _ = world
    for label in corpus.labels:
        if label.variant != "plain" or label.is_error:
            continue
        record, resident = records[(label.system, label.record_id)], registry[label.true_my_number]
        assert (record.my_number, record.name, record.name_kana, record.birth_date, record.sex, record.address) == (
            resident.my_number, resident.name, resident.name_kana, resident.birth_date.isoformat(),
            str(resident.sex), resident.address)
        assert resident.status == "住民"
        assert record.atena_no


def test_variant_records_differ_from_the_registry(corpus: Corpus, world) -> None:
    registry, _, records, _ = world
    unchanged = {"family_in_batch", "twins", "same_name_pair", "batch_partner", "shared_partner", "moved_out",
                 "before_death", "before_erasure", "atena_empty"}
    for label in corpus.labels:
        if label.is_error or label.variant == "plain":
            continue
        record, resident = records[(label.system, label.record_id)], registry[label.true_my_number]
        fields = (record.my_number, record.name, record.name_kana, record.birth_date, record.sex, record.address)
        plain = (resident.my_number, resident.name, resident.name_kana, resident.birth_date.isoformat(),
                 str(resident.sex), resident.address)
        differing = [i for i, (a, b) in enumerate(zip(fields, plain)) if a != b]
        if label.variant in unchanged:
            assert not differing, label
        else:
            assert differing, label


def test_history_and_status_variants(corpus: Corpus, world) -> None:
    registry, _, records, _ = world
    for label in corpus.labels:
        record, resident = records[(label.system, label.record_id)], registry[label.true_my_number]
        if label.variant == "former_name":
            assert record.name in resident.previous_names
        elif label.variant == "former_address":
            assert record.address in resident.previous_addresses
        elif label.variant == "alias_name":
            assert record.name == resident.alias_name
        elif label.variant == "moved_out":
            assert resident.status == "転出"
        elif label.variant in ("before_death", "before_erasure"):
            assert resident.status == ("死亡" if label.variant == "before_death" else "消除")
            assert updated(record) < resident.status_date
        elif label.variant == "atena_empty":
            assert record.atena_no == ""
        elif label.variant == "kanji_variant":
            assert key(record.name) != key(resident.name) and len(record.name) == len(resident.name)
        elif label.variant == "date_era_boundary":
            assert resident.birth_date in corpus_module.ERA_BOUNDARY_DATES
        elif label.variant in ("family_in_batch", "twins"):
            mates = [r for r in corpus.records if r.batch_id == record.batch_id and r.system == record.system
                     and corpus.label_of()[(r.system, r.record_id)].variant == label.variant]
            assert len(mates) >= 2


def updated(record) -> dt.date:
    stamp = record.payload.get("更新日時") or record.payload.get("updated_at")
    return dt.datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S").date()


def test_error_labels_are_consistent(corpus: Corpus, world) -> None:
    registry, index_of, records, labels = world
    all_numbers = {k for r in corpus.residents for k in registry_keys(r)}
    seen = Counter()
    for label in corpus.labels:
        if not label.is_error:
            continue
        seen[label.cause] += 1
        record = records[(label.system, label.record_id)]
        number = compact(record.my_number)
        truth = registry[label.true_my_number]
        assert truth.my_number == label.true_my_number
        assert label.expected_reason in (EXPECTED_REASON[label.cause], "NOT_IN_REGISTRY", "IDENTITY_MISMATCH")
        owner = registry.get(number)
        if label.cause in ("typo", "transposition"):
            assert number not in all_numbers
            differing = [i for i in range(12) if number[i] != label.true_my_number[i]]
            if label.cause == "typo":
                assert len(differing) == 1
            else:
                assert len(differing) == 2 and differing[1] == differing[0] + 1
                a, b = differing
                assert number[a] == label.true_my_number[b] and number[b] == label.true_my_number[a]
            assert label.expected_reason == ("NOT_IN_REGISTRY" if stdnum_in.is_valid(number) else "CHECK_DIGIT")
        elif label.cause == "not_in_registry":
            assert stdnum_in.is_valid(number) and number not in all_numbers
        elif label.cause == "superseded_number":
            assert number in truth.previous_my_numbers and owner is truth
        elif label.cause == "deceased":
            assert number == label.true_my_number and truth.status == "死亡"
            assert updated(record) > truth.status_date
        elif label.cause == "family_number":
            assert owner is not None and owner.my_number != truth.my_number
            assert key(owner.name) != key(truth.name)
            assert owner.address == truth.address and family(owner.name) == family(truth.name)
            assert corpus.households[index_of[owner.my_number]] == corpus.households[index_of[truth.my_number]]
            assert owner.status == "住民"
        elif label.cause == "same_name_stranger":
            assert owner is not None and owner.my_number != truth.my_number
            assert (key(owner.name_kana), owner.birth_date, owner.sex) == (
                key(truth.name_kana), truth.birth_date, truth.sex)
            assert owner.address != truth.address
            if key(owner.name) == key(truth.name):
                assert label.expected_reason == "ADDRESS_MISMATCH"
                # the only thing that tells them apart (in whatever notation the error is written)
                written = address_key(record.address)
                assert addresses_match(written, address_key(truth.address))
                assert not addresses_match(written, address_key(owner.address))
            else:  # same reading, other kanji (never 異体字 of each other)
                assert label.expected_reason == "IDENTITY_MISMATCH"
                assert corpus_module._folded(owner.name) != corpus_module._folded(truth.name)
        elif label.cause == "batch_swap":
            other = records[(label.other_system, label.other_record_id)]
            other_label = labels[(label.other_system, label.other_record_id)]
            assert label.other_system == label.system and other.batch_id == record.batch_id
            assert number == other_label.true_my_number != label.true_my_number
            if other_label.cause == "batch_swap":  # a mutual swap names this record back
                assert other_label.other_record_id == label.record_id
                assert compact(other.my_number) == label.true_my_number
            else:
                assert other_label.variant == "batch_partner" and other_label.number_also_on_error
        elif label.cause == "shared_number":
            other = records[(label.other_system, label.other_record_id)]
            other_label = labels[(label.other_system, label.other_record_id)]
            assert label.other_system != label.system
            assert other_label.variant == "shared_partner" and not other_label.is_error
            assert compact(other.my_number) == number == other_label.true_my_number != label.true_my_number
            assert other.atena_no and other.atena_no != record.atena_no
        elif label.cause == "typo_valid":  # linkguard/synthetic/notations.py: a typo that is a living stranger's number
            differing = [i for i in range(12) if number[i] != label.true_my_number[i]]
            assert len(differing) == 1 and stdnum_in.is_valid(number)
            assert owner is not None and owner.my_number == number and owner.status == "住民"
            assert corpus.households[index_of[owner.my_number]] != corpus.households[index_of[truth.my_number]]
        elif label.cause == "deceased_number":
            assert owner is not None and owner.status == "死亡" and owner.my_number == number
            assert truth.status == "住民"
        elif label.cause == "former_number_stranger":
            assert owner is not None and number in owner.previous_my_numbers and owner is not truth
        elif label.cause in ("twin_number", "parent_number"):
            assert owner is not None and owner.my_number != truth.my_number
            assert corpus.households[index_of[owner.my_number]] == corpus.households[index_of[truth.my_number]]
            if label.cause == "twin_number":
                assert owner.birth_date == truth.birth_date and key(owner.name) != key(truth.name)
            else:
                assert owner.birth_date < truth.birth_date
        else:  # pragma: no cover
            raise AssertionError(label.cause)
        if label.cause not in ("batch_swap", "shared_number"):
            assert not label.other_record_id
    assert set(seen) == set(CAUSES)


def test_partners_are_in_the_right_place(corpus: Corpus, world) -> None:
    _, _, records, labels = world
    pointed = {(label.other_system, label.other_record_id) for label in corpus.labels if label.other_record_id}
    for label in corpus.labels:
        if label.variant in ("batch_partner", "shared_partner"):
            assert (label.system, label.record_id) in pointed


# --- files ------------------------------------------------------------------------------


def test_files_are_in_their_encodings(files: CorpusFiles, corpus: Corpus) -> None:
    assert detect_encoding(files.registry) == "utf-8-sig"
    for system, path in files.records:
        assert detect_encoding(path) == corpus.styles[system].encoding
        assert files.encodings[path.name] == corpus.styles[system].encoding
    assert any("𠮷" in r.name for r in corpus.records)  # the 外字 that only UTF-8 files can hold
    cp932 = [system for system, style in corpus.styles.items() if style.encoding == "cp932"]
    assert all("𠮷" not in r.name for r in corpus.records if r.system in cp932)


def test_headers_are_the_styles(files: CorpusFiles, corpus: Corpus) -> None:
    for system, path in files.records:
        style = corpus.styles[system]
        with open(path, encoding=style.encoding, newline="") as handle:
            header = next(csv.reader(handle))
        assert header[:12] == list(style.headers[:12])
        assert header[12] == style.updated_header


def test_registry_reads_back_as_generated(files: CorpusFiles, corpus: Corpus) -> None:
    assert list(read_registry(files.registry)) == corpus.residents


def test_records_read_back_as_generated(files: CorpusFiles, corpus: Corpus) -> None:
    by_system = {s: [r for r in corpus.records if r.system == s] for s in SYSTEMS}
    for system, path in files.records:
        back = list(read_records(path))  # the system comes from the file's 事務 / system column
        assert back == by_system[system]
        assert [dict(r.payload) for r in back] == [dict(r.payload) for r in by_system[system]]


def test_truth_reads_back(files: CorpusFiles, corpus: Corpus) -> None:
    with open(files.truth, encoding="utf-8", newline="") as handle:
        assert tuple(next(csv.reader(handle))) == TRUTH_HEADER
    assert read_truth(files.truth) == corpus.labels


def test_every_style_is_used() -> None:
    assert len(STYLES) == len(SYSTEMS)


# --- the scorer (bench.quality) ---------------------------------------------------------


def perfect(corpus: Corpus) -> dict[tuple[str, str], Outcome]:
    out = {}
    for label, record in zip(corpus.labels, corpus.records):
        record_number = compact(record.my_number)
        if label.is_error:
            other = f"({label.other_record_id})" if label.other_record_id else ""
            suggestion = label.true_my_number if label.true_my_number != record_number else ""
            out[(label.system, label.record_id)] = Outcome(
                "HOLD", (label.expected_reason,), suggestion, (f"{label.expected_reason}{other}",))
        else:
            out[(label.system, label.record_id)] = Outcome("PASS", (), "")
    return out


@pytest.fixture(scope="module")
def small() -> Corpus:
    return make_corpus(records=600, seed=9)


def test_scorer_passes_perfect_verdicts(small: Corpus) -> None:
    scores, misses = score(small, perfect(small), None)
    assert misses == []
    assert all(s["recall"] == 1 for s in scores.per_cause.values())
    assert scores.false_hold["rate"] == 0
    assert scores.suggestions["accuracy"] == 1
    scores.speed = {"check_per_second": 10 ** 6}
    assert all(row["ok"] for row in targets(scores))


def test_scorer_counts_misses_false_holds_and_wrong_suggestions(small: Corpus) -> None:
    verdicts = perfect(small)
    first_error = next(label for label in small.labels if label.cause == "family_number")
    first_correct = next(label for label in small.labels if label.variant == "kanji_variant")
    swap = next(label for label in small.labels if label.cause == "batch_swap")
    verdicts[(first_error.system, first_error.record_id)] = Outcome("PASS", (), "")
    verdicts[(first_correct.system, first_correct.record_id)] = Outcome("HOLD", ("IDENTITY_MISMATCH",), "999")
    verdicts[(swap.system, swap.record_id)] = Outcome("HOLD", ("BATCH_SWAP",), "123", ("BATCH_SWAP",))
    scores, misses = score(small, verdicts, None)
    assert scores.per_cause["family_number"]["passed"] == 1
    assert scores.per_cause["family_number"]["recall"] < 1
    assert scores.per_variant["kanji_variant"]["held"] == 1
    assert scores.false_hold["held"] == 1
    assert scores.suggestions["wrong"] == 1 and scores.suggestions["absent"] == 1
    assert scores.suggestions["wrong_elsewhere"] == {"correct record": 1}
    assert scores.per_cause["batch_swap"]["other_named"] == scores.per_cause["batch_swap"]["with_other"] - 1
    assert {m["record_id"] for m in misses} == {first_error.record_id, first_correct.record_id}
    assert not any(m.get("suggestion") not in ("none", "right", "wrong") for m in misses)


def test_verdicts_file_is_read_by_its_contract_header(tmp_path: Path) -> None:
    path = tmp_path / "verdicts.csv"
    path.write_text("system,record_id,verdict,reasons,suggested_my_number\n"
                    "s,1,HOLD,IDENTITY_MISMATCH;FAMILY_NUMBER,621498320257\ns,2,PASS,,\n", encoding="utf-8")
    verdicts = read_verdicts(path)
    assert verdicts[("s", "1")] == Outcome("HOLD", ("IDENTITY_MISMATCH", "FAMILY_NUMBER"), "621498320257")
    assert not verdicts[("s", "2")].stopped


def test_bytes_do_not_depend_on_the_hash_seed(tmp_path: Path) -> None:
    """Nothing iterates a set of strings: another PYTHONHASHSEED gives the same files."""
    import os
    import subprocess
    import sys

    script = ("import sys; from linkguard.synthetic.corpus import make_corpus, write_corpus; "
              "write_corpus(make_corpus(records=600, seed=4), sys.argv[1])")
    digests = []
    for hash_seed in ("1", "2"):
        out = tmp_path / hash_seed
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        subprocess.run([sys.executable, "-c", script, str(out)], check=True, env=env,
                       cwd=Path(__file__).resolve().parents[3])
        digests.append(digest(out))
    assert digests[0] == digests[1]
