"""Every stored schema version can be read by the next one (keep old versions in the repo)."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest

import schemas
from schemas.compat import backward_problems


def version_pairs():
    for name in schemas.NAMES:
        for old, new in itertools.pairwise(schemas.versions(name)):
            yield pytest.param(old, new, id=f"{name}-v{old.version}-v{new.version}")


@pytest.mark.parametrize("old,new", list(version_pairs()))
def test_each_version_is_backward_compatible_with_the_previous(old, new):
    assert backward_problems(old.raw, new.raw) == []


def test_there_is_a_version_history_to_check():
    # the list above must not be empty, or the test above proves nothing
    assert len(list(version_pairs())) >= 1


def test_an_incompatible_change_is_caught():
    old = schemas.versions("record_changed")[0].raw
    broken = dict(old, fields=[*old["fields"], {"name": "must_have", "type": "string"}])
    assert "RecordChanged.must_have: added without a default" in backward_problems(old, broken)
    renamed_type = dict(old, fields=[dict(f, type="int") if f["name"] == "system" else f for f in old["fields"]])
    assert any("does not resolve" in p for p in backward_problems(old, renamed_type))


def test_old_messages_decode_into_the_newest_version():
    codec = schemas.Codec()
    v1 = schemas.versions("record_changed")[0]
    import io

    import fastavro

    event = {"event_id": "e1", "system": "shintai-techo", "record_id": "1", "operation": "create",
             "occurred_at": dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc), "my_number": "",
             "name": "山田", "payload": {"手帳番号": "1"}}
    buffer = io.BytesIO()
    buffer.write(schemas.MAGIC + v1.fingerprint)
    fastavro.schemaless_writer(buffer, v1.schema, event)
    decoded = codec.decode("record_changed", buffer.getvalue())
    assert decoded["updated_at"] is None and decoded["payload"] == {"手帳番号": "1"}


def test_the_fingerprint_follows_the_avro_specification():
    # The Avro spec's CRC-64-AVRO of the schema "int", little-endian
    from fastavro.schema import fingerprint

    assert bytes.fromhex(fingerprint('"int"', "CRC-64-AVRO")) == bytes.fromhex("8f5c393f1ad57572")


def test_garbage_is_refused_with_a_reason():
    codec = schemas.Codec()
    with pytest.raises(schemas.DecodeError, match="C3 01"):
        codec.decode("record_changed", b"hello world")
    with pytest.raises(schemas.DecodeError, match="unknown schema fingerprint"):
        codec.decode("record_changed", b"\xc3\x01" + b"\x00" * 8 + b"x")
    resident = codec.encode("resident", {"my_number": "1", "name": "a", "birth_date": dt.date(2000, 1, 1),
                                         "sex": 1, "address": "x"})
    with pytest.raises(schemas.DecodeError, match="expected a record_changed"):
        codec.decode("record_changed", resident)


def test_every_schema_folder_is_checked():
    # a schema missing from NAMES would escape the compatibility check above (and the codec)
    folders = {p.parent.name for p in schemas.SCHEMA_DIR.glob("*/v*.avsc")}
    assert folders == set(schemas.NAMES)
    assert {"decision", "verdict"} <= folders and schemas.latest("verdict").version >= 2
