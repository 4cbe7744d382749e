"""``linkguard dlq list|show|replay`` as an operator runs them: a real SQLite sink, the real local broker.

The dead letters are written the way the sink writes them (``SinkWriter.apply``
with Avro-round-tripped dead-letter messages), holding the raw messages the
guard could not check. No output may ever contain the full My Number.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid

import pytest
from typer.testing import CliRunner

import schemas
from guards.number import mask
from linkguard.cli.root import app
from linkguard.ops.deadletters import describe
from sinks import SinkMessage, SinkWriter, make_engine
from streams import topics
from fixtures.support import consume, my_number
from streams.children import spawn

runner = CliRunner()
codec = schemas.Codec()
SYSTEM = "shintai-techo"
NUMBER = my_number(62149832025)
FIXED_NUMBER = my_number(71234567890)
WHEN = dt.datetime(2026, 4, 1, 9, 0, tzinfo=dt.timezone.utc)


def event(record_id: str, **fields) -> dict:
    base = {
        "event_id": str(uuid.uuid4()), "system": SYSTEM, "record_id": record_id, "operation": "update",
        "occurred_at": WHEN, "my_number": NUMBER, "name": "山田 花子", "name_kana": "ヤマダ ハナコ",
        "birth_date": "1980-04-01", "sex": "2", "address": "高知県高知市本町1丁目1-1", "atena_no": "000123",
        "number_source": "申請書", "entered_by": "staff-7", "batch_id": "b-1",
        "payload": {"手帳番号": "第123号", "等級": "2級"}, "updated_at": None,
    }
    base.update(fields)
    return base


class Letters:
    """Dead-letter messages for the sink writer, positions handed out in order."""

    def __init__(self, prefix: str) -> None:
        self.names = topics.TopicNames(prefix)
        self.offset = 0

    def __call__(self, value: bytes | None, *, key: bytes | None = None, reason: str, error: str,
                 stage: str = "guard", topic: str | None = None, system: str = "", record_id: str = "") -> SinkMessage:
        letter = {
            "topic": topic or self.names.records, "partition": 1, "offset": 100 + self.offset, "key": key,
            "value": value, "reason": reason, "error": error, "stage": stage, "system": system,
            "record_id": record_id, "failed_at": WHEN + dt.timedelta(seconds=self.offset),
        }
        letter = codec.decode("dead_letter", codec.encode("dead_letter", letter))
        self.offset += 1
        return SinkMessage(topic=self.names.dlq, partition=0, offset=self.offset, kind="dead_letter",
                           payload=letter, raw=codec.encode("dead_letter", letter))


@pytest.fixture
def dlq(tmp_path, monkeypatch):
    """A sink database with one dead letter of each kind of bad input; returns {name: (id, original event)}."""
    prefix = f"dlq{uuid.uuid4().hex[:8]}."
    url = f"sqlite:///{tmp_path / 'sink.sqlite'}"
    monkeypatch.setenv("LINKGUARD_DATABASE_URL", url)
    monkeypatch.setenv("LINKGUARD_TOPIC_PREFIX", prefix)
    monkeypatch.delenv("LINKGUARD_KAFKA_BOOTSTRAP", raising=False)
    writer = SinkWriter(make_engine(url))
    writer.create_schema()
    make = Letters(prefix)
    # an event id whose hex groups happen to be all digits (as a random one's are now and then):
    # shown whole, not redacted as if it held a number
    bad_date = event("ST-1", birth_date="昭和64年1月8日", event_id="3fa56651-0775-4859-9720-2c963f66afa6")
    bad_number = event("ST-2", my_number=NUMBER[:8] + "AB12")
    unknown_system = event("XX-3", system="no-such-system")
    key = topics.record_key
    writer.apply("sink", [
        make(codec.encode("record_changed", bad_date), key=key(SYSTEM, "ST-1"), reason="BAD_DATE",
             error="BAD_DATE(birth_date): 昭和64年1月8日 is not a date (昭和 ended on 64年1月7日)",
             system=SYSTEM, record_id="ST-1"),
        make(codec.encode("record_changed", bad_number), key=key(SYSTEM, "ST-2"), reason="NUMBER_FORMAT",
             error="NUMBER_FORMAT(my_number): expected 12 digits", system=SYSTEM, record_id="ST-2"),
        make(b"this is not avro", key=b"raw-key", reason="UNDECODABLE",
             error="not a single-object Avro message (expected marker C3 01, got 7468)"),
        make(codec.encode("resident", {"my_number": NUMBER, "name": "山田 花子", "birth_date": dt.date(1980, 4, 1),
                                       "sex": 2, "address": "高知市"}),
             key=NUMBER.encode(), reason="UNDECODABLE", error="message is a resident v1, expected a record_changed",
             stage="registry", topic=make.names.residents),
        make(codec.encode("record_changed", unknown_system), key=key("no-such-system", "XX-3"),
             reason="UNKNOWN_SYSTEM;BAD_DATE", error="UNKNOWN_SYSTEM(system)", system="no-such-system",
             record_id="XX-3"),
    ])
    by_offset = {letter.source_offset: letter.id for letter in writer.find_dead_letters()}
    ids = [by_offset[100 + n] for n in range(5)]  # the writer inserts in key order, not in batch order
    yield {"writer": writer, "prefix": prefix, "names": make.names,
           "bad_date": (ids[0], bad_date), "bad_number": (ids[1], bad_number), "not_avro": (ids[2], None),
           "registry": (ids[3], None), "unknown_system": (ids[4], unknown_system)}
    writer.engine.dispose()


def assert_no_number(text: str, *numbers: str) -> None:
    """No full My Number, however grouped, anywhere in the output."""
    digits = re.sub(r"[\s\-]", "", text)
    for number in numbers or (NUMBER, FIXED_NUMBER):
        assert number not in digits, "a full My Number was printed"


def invoke(*args: str, input: str | None = None):
    result = runner.invoke(app, ["dlq", *args], input=input, env={"COLUMNS": "200"})
    assert_no_number(result.output)
    return result


@pytest.mark.parametrize("command", [[], ["list"], ["show"], ["replay"]], ids=lambda c: " ".join(c) or "dlq")
def test_every_dlq_command_has_help(command):
    result = runner.invoke(app, ["dlq", *command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output


# -- list --------------------------------------------------------------------------------
def test_list_shows_where_and_why_never_the_value(dlq):
    result = invoke("list")
    assert result.exit_code == 0, result.output
    for reason in ("BAD_DATE", "NUMBER_FORMAT", "UNDECODABLE"):
        assert reason in result.output
    assert "ST-1" in result.output and "registry" in result.output
    assert "昭和64年" not in result.output  # neither the value nor the error text in the table

    rows = json.loads(invoke("list", "--json").output)
    assert [row["id"] for row in rows] == sorted((v[0] for k, v in dlq.items() if isinstance(v, tuple)),
                                                 reverse=True)
    first = rows[-1]
    assert first["source_topic"] == dlq["names"].records
    assert (first["source_partition"], first["source_offset"], first["stage"]) == (1, 100, "guard")
    assert (first["system"], first["record_id"], first["replayed"], first["replayed_at"]) == (SYSTEM, "ST-1", False, None)
    assert first["value_bytes"] > 0 and "value" not in first and "raw_value" not in first


def test_list_filters_by_reason_stage_and_limit(dlq):
    by_reason = json.loads(invoke("list", "--reason", "BAD_DATE", "--json").output)
    assert [row["record_id"] for row in by_reason] == ["XX-3", "ST-1"]  # one code of 'UNKNOWN_SYSTEM;BAD_DATE'
    by_stage = json.loads(invoke("list", "--stage", "registry", "--json").output)
    assert [row["id"] for row in by_stage] == [dlq["registry"][0]]
    assert len(json.loads(invoke("list", "--limit", "2", "--json").output)) == 2
    assert "no dead letters matching" in invoke("list", "--reason", "DECEASED").output


def test_texts_are_redacted_even_if_a_number_got_into_them(dlq):
    letter = dlq["writer"].dead_letter(dlq["bad_date"][0])
    letter.error = f"found {NUMBER[:4]} {NUMBER[4:8]} {NUMBER[8:]} where a date was expected"
    letter.record_id = NUMBER
    shown = json.dumps(describe(letter), ensure_ascii=False)
    assert_no_number(shown)
    assert "<12 digits>" in shown


def test_without_tables_the_database_is_named_not_a_traceback(tmp_path, monkeypatch):
    monkeypatch.setenv("LINKGUARD_DATABASE_URL", f"sqlite:///{tmp_path / 'empty.sqlite'}")
    result = invoke("list")
    assert result.exit_code == 1
    assert "LINKGUARD_DATABASE_URL" in result.output and "linkguard sink" in result.output


# -- show --------------------------------------------------------------------------------
def test_show_decodes_the_record_with_the_number_masked(dlq):
    letter_id, original = dlq["bad_date"]
    result = invoke("show", str(letter_id))
    assert result.exit_code == 0, result.output
    assert mask(NUMBER) in result.output
    assert "昭和64年1月8日" in result.output and "山田 花子" in result.output and "BAD_DATE" in result.output

    shown = json.loads(invoke("show", str(letter_id), "--json").output)
    assert shown["record"]["my_number"] == mask(NUMBER) == "**** **** " + NUMBER[-4:]
    assert shown["record"]["event_id"] == original["event_id"]
    assert shown["record"]["payload"] == original["payload"]
    assert shown["key"] == f"{SYSTEM} / ST-1" and shown["undecodable"] is None
    assert (shown["source_topic"], shown["source_offset"], shown["reason"]) == (dlq["names"].records, 100, "BAD_DATE")


def test_show_of_bytes_that_are_not_a_record_says_why(dlq):
    for name, why in (("not_avro", "not a single-object Avro message"), ("registry", "is a resident")):
        letter_id, _ = dlq[name]
        result = invoke("show", str(letter_id))
        assert result.exit_code == 0, result.output
        assert "not a RecordChanged" in result.output and why in result.output
        shown = json.loads(invoke("show", str(letter_id), "--json").output)
        assert shown["record"] is None and why in shown["undecodable"]
    registry = json.loads(invoke("show", str(dlq["registry"][0]), "--json").output)
    assert registry["key"] == "<12 digits>"  # the registry is keyed by number


def test_show_of_a_missing_dead_letter(dlq):
    result = invoke("show", "9999")
    assert result.exit_code == 1 and "no dead letter 9999" in result.output


# -- replay: refusals (no broker needed) -------------------------------------------------
def test_replay_needs_a_cluster(dlq):
    result = invoke("replay", str(dlq["bad_date"][0]), "--set", "birth_date=1989-01-07")
    assert result.exit_code == 2 and "LINKGUARD_KAFKA_BOOTSTRAP" in result.output
    assert dlq["writer"].dead_letter(dlq["bad_date"][0]).replayed_at is None


@pytest.mark.parametrize("name, args, says", [
    ("not_avro", ["--set", "name=x"], "cannot be fixed here"),
    ("not_avro", [], "--as-is"),
    ("bad_date", ["--as-is"], "without --as-is"),
    ("registry", [], "only records can be replayed"),
    ("bad_date", ["--set", "event_id=mine"], "new event_id"),
    ("bad_date", ["--set", "colour=blue"], "unknown field"),
    ("bad_date", ["--set", "birth_date"], "FIELD=VALUE"),
    ("bad_date", ["--set", "operation=upsert"], "create, update, delete"),
])
def test_replay_refuses_what_it_cannot_do(dlq, monkeypatch, name, args, says):
    monkeypatch.setenv("LINKGUARD_KAFKA_BOOTSTRAP", "127.0.0.1:1")  # never reached: refused before sending
    letter_id, _ = dlq[name]
    result = invoke("replay", str(letter_id), *args)
    assert result.exit_code == 1, result.output
    assert says in " ".join(result.output.split())
    assert dlq["writer"].dead_letter(letter_id).replayed_at is None


def test_dry_run_shows_the_fixed_record_masked_and_sends_nothing(dlq):
    letter_id, _ = dlq["bad_number"]
    result = invoke("replay", str(letter_id), "--set", "my_number=-", "--set", "payload.等級=1級", "--dry-run",
                    input=FIXED_NUMBER + "\n")
    assert result.exit_code == 0, result.output
    assert "dry run" in result.output and mask(FIXED_NUMBER) in result.output and "1級" in result.output
    assert dlq["writer"].dead_letter(letter_id).replayed_at is None


# -- replay on the real broker -----------------------------------------------------------
@pytest.mark.integration
def test_replay_publishes_the_fixed_event_once(dlq, local_broker, monkeypatch):
    monkeypatch.setenv("LINKGUARD_KAFKA_BOOTSTRAP", local_broker.bootstrap)
    monkeypatch.setenv("LINKGUARD_LOCAL_MODE", "1")
    writer, records = dlq["writer"], dlq["names"].records
    letter_id, original = dlq["bad_date"]

    result = invoke("replay", str(letter_id), "--set", "birth_date=1989-01-07")
    assert result.exit_code == 0, result.output
    assert "replayed dead letter" in result.output and records in result.output
    replayed_at = writer.dead_letter(letter_id).replayed_at
    assert replayed_at is not None

    [message] = consume(records, local_broker.bootstrap, 1)
    assert message.key == topics.record_key(SYSTEM, "ST-1")  # the same key: same partition, same order
    sent = codec.decode("record_changed", message.value)
    assert sent["event_id"] != original["event_id"] and uuid.UUID(sent["event_id"])
    assert sent["event_id"] in result.output
    assert sent["birth_date"] == "1989-01-07"
    assert {k: v for k, v in sent.items() if k not in ("event_id", "birth_date")} == \
           {k: v for k, v in original.items() if k not in ("event_id", "birth_date")}

    again = invoke("replay", str(letter_id), "--set", "birth_date=1989-01-07")
    assert again.exit_code == 1 and "already replayed" in again.output and "--force" in again.output
    assert writer.dead_letter(letter_id).replayed_at == replayed_at
    assert len(consume(records, local_broker.bootstrap, 2)) == 1  # nothing more was sent

    forced = invoke("replay", str(letter_id), "--force", "--set", "birth_date=1989-01-07")
    assert forced.exit_code == 0, forced.output
    messages = consume(records, local_broker.bootstrap, 2)
    assert len(messages) == 2
    second = codec.decode("record_changed", messages[1].value)
    assert second["event_id"] not in (original["event_id"], sent["event_id"])
    assert writer.dead_letter(letter_id).replayed_at > replayed_at


@pytest.mark.integration
def test_replay_with_a_corrected_number_never_prints_it(dlq, local_broker, monkeypatch):
    monkeypatch.setenv("LINKGUARD_KAFKA_BOOTSTRAP", local_broker.bootstrap)
    monkeypatch.setenv("LINKGUARD_LOCAL_MODE", "1")
    letter_id, original = dlq["bad_number"]
    result = invoke("replay", str(letter_id), "--set", "my_number=-", input=FIXED_NUMBER + "\n")
    assert result.exit_code == 0, result.output
    [message] = consume(dlq["names"].records, local_broker.bootstrap, 1)
    sent = codec.decode("record_changed", message.value)
    assert message.key == topics.record_key(SYSTEM, "ST-2")
    assert sent["my_number"] == FIXED_NUMBER and sent["event_id"] != original["event_id"]
    assert dlq["writer"].dead_letter(letter_id).replayed_at is not None


@pytest.mark.integration
def test_a_corrected_system_code_is_sent_under_the_records_own_key(dlq, local_broker, monkeypatch):
    monkeypatch.setenv("LINKGUARD_KAFKA_BOOTSTRAP", local_broker.bootstrap)
    monkeypatch.setenv("LINKGUARD_LOCAL_MODE", "1")
    letter_id, original = dlq["unknown_system"]
    result = invoke("replay", str(letter_id), "--set", f"system={SYSTEM}")
    assert result.exit_code == 0, result.output
    [message] = consume(dlq["names"].records, local_broker.bootstrap, 1)
    assert message.key == topics.record_key(SYSTEM, "XX-3")  # versions compare offsets of one partition
    assert codec.decode("record_changed", message.value)["system"] == SYSTEM


@pytest.mark.integration
def test_bytes_that_are_not_a_record_are_replayed_only_as_they_are(dlq, local_broker, monkeypatch):
    monkeypatch.setenv("LINKGUARD_KAFKA_BOOTSTRAP", local_broker.bootstrap)
    monkeypatch.setenv("LINKGUARD_LOCAL_MODE", "1")
    letter_id, _ = dlq["not_avro"]
    result = invoke("replay", str(letter_id), "--as-is")
    assert result.exit_code == 0, result.output
    [message] = consume(dlq["names"].records, local_broker.bootstrap, 1)
    assert (message.key, message.value) == (b"raw-key", b"this is not avro")
    assert dlq["writer"].dead_letter(letter_id).replayed_at is not None


# -- the whole loop: guard → dead letter → fix → guard → intermediate-server copy ----------
@pytest.mark.integration
@pytest.mark.slow
def test_a_fixed_replay_goes_through_the_guard_and_reaches_the_sink_only_with_a_pass(local_broker, tmp_path,
                                                                                     monkeypatch):
    import os
    import subprocess
    import sys
    import time

    import sqlalchemy as sa

    from guards import Record, Resident
    from linkguard.synthetic.demo import registry_consumed
    from streams.publish import Publisher
    from streams.settings import KafkaSettings
    from fixtures.support import birth

    run = uuid.uuid4().hex[:8]
    url = f"sqlite:///{tmp_path / 'sink.sqlite'}"
    env = {"LINKGUARD_KAFKA_BOOTSTRAP": local_broker.bootstrap, "LINKGUARD_LOCAL_MODE": "1",
           "LINKGUARD_TOPIC_PREFIX": f"dlqe2e{run}.", "LINKGUARD_APP_ID": f"lg-dlq-{run}",
           "LINKGUARD_TOPIC_PARTITIONS": "2", "LINKGUARD_DATABASE_URL": url}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings = KafkaSettings()
    topics.ensure_topics(settings)
    processes = {}
    for name in ("worker", "sink"):
        log = open(tmp_path / f"{name}.log", "ab")
        processes[name] = spawn([sys.executable, "-m", "linkguard", name], env={**os.environ, **env},
                                 stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        log.close()
    engine = sa.create_engine(url)

    def scalar(sql: str):
        try:
            with engine.connect() as conn:
                return conn.execute(sa.text(sql)).scalar()
        except sa.exc.OperationalError:
            return None  # the sink has not created its tables yet

    def wait_for(condition, what: str, timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if condition():
                return
            for name, process in processes.items():
                assert process.poll() is None, f"{name} exited:\n{(tmp_path / f'{name}.log').read_text()[-3000:]}"
            time.sleep(0.3)
        logs = "\n".join(f"--- {n}\n{(tmp_path / f'{n}.log').read_text()[-3000:]}" for n in processes)
        raise AssertionError(f"timed out waiting for {what}\n{logs}")

    try:
        hanako = Resident(NUMBER, "山田 花子", birth(1989).replace(month=1, day=7), 2, "高知市丸ノ内1-2-20")
        with Publisher(settings) as publisher:
            result = publisher.publish_residents([hanako])
        ends = {tp: end for tp, end in result.next_offsets.items() if tp[0] == topics.names(settings).residents}
        wait_for(lambda: registry_consumed(settings, ends) >= sum(ends.values()), "the registry to load")
        with Publisher(settings) as publisher:
            publisher.publish_records([Record("shintai-techo", "ST-64", NUMBER, "山田 花子", "昭和64年1月8日", "2",
                                              "高知市丸ノ内1-2-20")])
        wait_for(lambda: scalar("SELECT COUNT(*) FROM dead_letters"), "the guard to dead-letter the bad date")
        letter_id = scalar("SELECT id FROM dead_letters WHERE record_id = 'ST-64'")
        assert scalar(f"SELECT reason FROM dead_letters WHERE id = {letter_id}") == "BAD_DATE"
        assert scalar("SELECT COUNT(*) FROM intermediate_copies") == 0

        shown = invoke("show", str(letter_id))
        assert shown.exit_code == 0 and mask(NUMBER) in shown.output, shown.output
        replayed = invoke("replay", str(letter_id), "--set", "birth_date=1989-01-07")
        assert replayed.exit_code == 0, replayed.output

        wait_for(lambda: scalar("SELECT COUNT(*) FROM intermediate_copies"), "the fixed record's PASS in the sink")
        with engine.connect() as conn:
            copy = conn.execute(sa.text("SELECT * FROM intermediate_copies")).one()
        assert (copy.record_id, copy.birth_date, copy.my_number) == ("ST-64", "1989-01-07", NUMBER)
        assert copy.event_id in replayed.output
        assert scalar("SELECT COUNT(*) FROM dead_letters") == 1
        assert scalar(f"SELECT replayed_at FROM dead_letters WHERE id = {letter_id}") is not None
    finally:
        for process in processes.values():
            process.terminate()
        for process in processes.values():
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
        engine.dispose()
