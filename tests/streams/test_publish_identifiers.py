"""The publishing SDK refuses a record whose key would hide an invisible character (issue 12, item 7)."""

from __future__ import annotations

import uuid

import pytest

from guards import Record
from streams.publish import Publisher, RecordRefused
from streams.settings import KafkaSettings
from fixtures.support import my_number


@pytest.mark.parametrize("record_id", ["\ufeffR-2", "R-\u200b2", "R-2\u202e"])
def test_the_sdk_refuses_an_invisible_character_in_a_key(local_broker, record_id):
    settings = KafkaSettings(kafka_bootstrap=local_broker.bootstrap, local_mode=True,
                             topic_prefix=f"ids{uuid.uuid4().hex[:8]}.")
    good = Record("shintai-techo", "R-1", my_number(1), "山田 花子", "1980-04-01", "2")
    hidden = Record("shintai-techo", record_id, my_number(2), "山田 太郎", "1980-04-01", "1")
    with Publisher(settings) as publisher:
        with pytest.raises(RecordRefused, match=r"record 2 of this call \(record_id\): invisible character U\+"):
            publisher.publish_records([good, hidden])
