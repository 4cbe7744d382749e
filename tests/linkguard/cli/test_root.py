"""The ``linkguard`` commands as a user runs them (typer's runner, real broker, real files)."""

from __future__ import annotations

import csv
import os
import uuid

import pytest
from typer.testing import CliRunner

import schemas
from linkguard.cli.root import app
from linkguard.synthetic.sample import generate
from streams.settings import KafkaSettings
from streams.topics import names
from fixtures.support import consume

runner = CliRunner()

COMMANDS = [["registry", "load"], ["publish"], ["worker"], ["sink"], ["inspect"], ["sample"], ["demo"],
            ["broker"], ["lag"], ["dlq", "list"], ["dlq", "show"], ["dlq", "replay"]]


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_every_command_has_help(command):
    result = runner.invoke(app, [*command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output


def test_publishing_without_a_cluster_says_how_to_fix_it(tmp_path, monkeypatch):
    monkeypatch.delenv("LINKGUARD_KAFKA_BOOTSTRAP", raising=False)
    (tmp_path / "r.csv").write_text("レコード番号,個人番号,氏名,生年月日,性別\nR-1,621498320257,山田 花子,1980-04-01,2\n")
    result = runner.invoke(app, ["publish", "--system", "shintai-techo", str(tmp_path / "r.csv")])
    assert result.exit_code == 2
    assert "LINKGUARD_KAFKA_BOOTSTRAP" in result.output


@pytest.fixture(scope="module")
def sample_files(tmp_path_factory):
    return generate(tmp_path_factory.mktemp("sample"), residents=400, records_per_system=120)


@pytest.mark.integration
def test_registry_load_and_publish_reach_their_topics(local_broker, sample_files, monkeypatch):
    prefix = f"cli{uuid.uuid4().hex[:6]}."
    monkeypatch.setenv("LINKGUARD_KAFKA_BOOTSTRAP", local_broker.bootstrap)
    monkeypatch.setenv("LINKGUARD_TOPIC_PREFIX", prefix)
    settings = KafkaSettings()
    codec = schemas.Codec()

    result = runner.invoke(app, ["registry", "load", str(sample_files.registry)])
    assert result.exit_code == 0, result.output
    with open(sample_files.registry, encoding="utf-8-sig") as f:
        rows = list(csv.DictReader(f))
    former = sum(len([n for n in row["旧個人番号"].split("|") if n.strip()]) for row in rows)
    messages = consume(names(settings).residents, settings.kafka_bootstrap, len(rows) + former)
    assert len(messages) == len(rows) + former  # every resident, once more per former number
    for message in messages:
        resident = codec.decode("resident", message.value)
        key = message.key.decode()
        assert key == resident["my_number"] or key in resident["previous_my_numbers"]

    system, path = next(iter(sample_files.records.items()))
    result = runner.invoke(app, ["publish", str(path)])
    assert result.exit_code == 0, result.output
    records = consume(names(settings).records, settings.kafka_bootstrap, sample_files.record_counts[system])
    assert len(records) == sample_files.record_counts[system]
    events = [codec.decode("record_changed", m.value) for m in records]
    assert {e["system"] for e in events} == {system}
    assert len({e["event_id"] for e in events}) == len(events)


def test_inspect_writes_the_contract_files(sample_files, tmp_path):
    args = ["inspect", "--registry", str(sample_files.registry), "--out", str(tmp_path / "out")]
    for system, path in sample_files.records.items():
        args += ["--system", system, str(path)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    verdicts = (tmp_path / "out" / "verdicts.csv").read_text(encoding="utf-8").splitlines()
    assert verdicts[0] == "system,record_id,verdict,reasons,suggested_my_number"
    assert len(verdicts) - 1 == sample_files.total_records
    assert (tmp_path / "out" / "report.csv").exists() and (tmp_path / "out" / "report.html").exists()


def test_the_inspect_command_ends_at_once_with_its_output_and_files_complete(sample_files, tmp_path):
    """The installed command ends without the interpreter's teardown (root._end_at_once): what it
    printed into a pipe and the files it wrote are all there, and the exit status is 0."""
    import subprocess
    import sys

    args = [sys.executable, "-m", "linkguard", "inspect", "--registry", str(sample_files.registry),
            "--out", str(tmp_path / "out")]
    for system, path in sample_files.records.items():
        args += ["--system", system, str(path)]
    done = subprocess.run(args, capture_output=True, text=True, env={**os.environ, "COLUMNS": "200"}, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "suggested numbers:" in done.stdout and done.stdout.rstrip().endswith("explanations.csv")
    verdicts = (tmp_path / "out" / "verdicts.csv").read_text(encoding="utf-8").splitlines()
    assert len(verdicts) - 1 == sample_files.total_records
    assert runner.invoke(app, ["inspect", *args[4:]]).exit_code == 0  # in-process: this interpreter lives on


def test_inspect_refuses_unpaired_system_codes(sample_files, tmp_path):
    result = runner.invoke(app, ["inspect", "--registry", str(sample_files.registry), "--system", "a",
                                 "--out", str(tmp_path)])
    assert result.exit_code == 1
    assert "one file after each --system" in result.output


# -- issue 12 items 10 and 11: what a file holds is shown as text; each file has its own encoding --------
REGISTRY = "個人番号,氏名,生年月日,性別,住所,状態\n{number},山田 花子,{birth},2,高知市本町1丁目1-1,{status}\n"
RECORDS = "レコード番号,個人番号,氏名,生年月日,性別,[/b],[/b]\nR-1,{number},山田 花子,1980-04-01,2,x,y\n"


def test_markup_and_withheld_numbers_in_file_errors_are_shown_as_text(tmp_path, monkeypatch):
    from fixtures.support import my_number

    monkeypatch.delenv("LINKGUARD_KAFKA_BOOTSTRAP", raising=False)
    number = my_number(1)
    registry = tmp_path / "registry.csv"
    registry.write_text(REGISTRY.format(number=number, birth="1980-04-01", status="[/b]"), encoding="utf-8")
    records = tmp_path / "records.csv"
    records.write_text(RECORDS.format(number=number), encoding="utf-8")
    loaded = runner.invoke(app, ["registry", "load", str(registry)])
    assert loaded.exit_code == 1 and "'[/b]' is not a status" in loaded.output, loaded.output
    published = runner.invoke(app, ["publish", "--system", "shintai-techo", str(records)])
    assert published.exit_code == 1 and "[/b]: columns 6 and 7 have the same header" in published.output
    inspected = runner.invoke(app, ["inspect", "--registry", str(registry), "--system", "shintai-techo",
                                    str(records), "--out", str(tmp_path / "out")])
    assert inspected.exit_code == 1 and "[/b]" in inspected.output and "MarkupError" not in inspected.output
    registry.write_text(REGISTRY.format(number=number, birth="6214 9832 0257", status="住民"), encoding="utf-8")
    withheld = runner.invoke(app, ["registry", "load", str(registry)])
    assert withheld.exit_code == 1 and "[number withheld]" in withheld.output
    assert "6214" not in withheld.output


def test_inspect_reads_each_file_in_its_own_encoding(tmp_path):
    from fixtures.support import my_number

    registry = tmp_path / "registry.csv"
    registry.write_text(REGISTRY.format(number=my_number(1), birth="1980-04-01", status="住民"), encoding="utf-8")
    records = tmp_path / "records.csv"
    records.write_bytes("レコード番号,個人番号,氏名,生年月日,性別\nR-1,{n},山田 花子,1980-04-01,2\n"
                        .format(n=my_number(1)).encode("cp932"))
    out = tmp_path / "out"
    both = runner.invoke(app, ["inspect", "--registry", str(registry), "--system", "shintai-techo", str(records),
                               "--out", str(out), "--encoding", "cp932"])
    assert both.exit_code == 0, both.output  # --encoding is the extracts'; the UTF-8 registry is detected
    assert "PASS" in (out / "verdicts.csv").read_text(encoding="utf-8")
    for bad, says in (("rot13", "unknown encoding"), ("utf-16", "utf-16")):
        refused = runner.invoke(app, ["inspect", "--registry", str(registry), "--system", "shintai-techo",
                                      str(records), "--out", str(out), "--registry-encoding", bad])
        assert refused.exit_code == 1 and says in refused.output and "Traceback" not in refused.output
