"""The single-object codec refuses anything but exactly one Avro body."""

from __future__ import annotations

import pytest

import schemas
from guards import Record
from streams.events import record_to_event
from fixtures.support import my_number


@pytest.mark.parametrize("junk", [b"\x00", b"\x00junk" * 20_000])
def test_bytes_after_the_avro_body_make_the_message_malformed(junk: bytes) -> None:
    codec = schemas.Codec()
    event = record_to_event(Record("shintai-techo", "R-1", my_number(1), "山田 太郎", "1980-04-01", "1", "高知市"))
    data = codec.encode("record_changed", event)
    assert codec.decode("record_changed", data)["record_id"] == "R-1"
    with pytest.raises(schemas.DecodeError, match=f"followed by {len(junk)} unexpected bytes"):
        codec.decode("record_changed", data + junk)
