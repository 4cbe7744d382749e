"""The ``linkguard`` commands as a user runs them (typer's runner, real broker, real files)."""

from __future__ import annotations

import csv
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
    (tmp_path / "r.csv").write_text("x\n")
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


def test_inspect_refuses_unpaired_system_codes(sample_files, tmp_path):
    result = runner.invoke(app, ["inspect", "--registry", str(sample_files.registry), "--system", "a",
                                 "--out", str(tmp_path)])
    assert result.exit_code == 1
    assert "one file after each --system" in result.output
