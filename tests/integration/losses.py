"""Where records went missing: which had no verdict, and at which stage they were lost.

Used by the tests that kill processes: on a time-out they say which records
lack a verdict, by partition, each group's committed/end offsets, and whether
the lost records reached a repartition batch and a verdict topic.
"""

from __future__ import annotations


def wait_for_verdicts(h, cases, expected: int, what: str, timeout: float = 300) -> None:
    """Wait for ``expected`` rows; on a time-out say which records are missing and where they were."""
    try:
        h.wait_until(lambda: h.verdict_rows() >= expected, what, timeout=timeout)
    except AssertionError as e:
        raise AssertionError(f"{e}\n{missing_report(h, cases, expected)}") from None


def missing_report(h, cases, expected: int) -> str:
    """Rows present, records without a verdict (with their partitions), and the groups' lag."""
    from streams import topics
    from streams.lag import LagReader

    stored = {(r.system, r.record_id) for table in ("intermediate_copies", "held_records", "dead_letters")
              for r in h.rows(f"SELECT system, record_id FROM {table}")}
    missing = [c[0] for c in cases if (c[0].system, c[0].record_id) not in stored]
    n = h.settings.topic_partitions
    where: dict[tuple[int, int], int] = {}
    for r in missing:
        key = (topics.partition_for(topics.record_key(r.system, r.record_id), n),
               topics.partition_for(r.my_number.replace(" ", "").encode(), n))
        where[key] = where.get(key, 0) + 1
    groups = [h.settings.app_id, f"{h.settings.app_id}-sink"]
    with LagReader(h.settings) as reader:
        snap = reader.snapshot(groups)
    lag = {g: {f"{t.rsplit('.', 1)[-1]}[{p}]": f"{c}/{snap.end.get((t, p))}" for (t, p), c in sorted(o.items())}
           for g, o in snap.committed.items()}
    return (f"{h.verdict_rows()} of {expected} rows; {len(missing)} records without a verdict, by "
            f"(records partition, number partition): {dict(sorted(where.items()))}; first: "
            f"{[(r.system, r.record_id) for r in missing[:5]]}\ncommitted/end per group: {lag}\n"
            f"{where_lost(h, {(r.system, r.record_id) for r in missing})}")


def where_lost(h, missing: set[tuple[str, str]]) -> str:
    """Which stage lost them: are they in a repartition batch, and is there a verdict on a verdict topic?"""
    import schemas
    from kafka import KafkaConsumer

    codec = schemas.Codec()
    names = topics_of(h)

    def read(topic: str) -> list:
        consumer = KafkaConsumer(topic, **h.settings.kafka_python_config(), group_id=None,
                                 auto_offset_reset="earliest", consumer_timeout_ms=3000,
                                 fetch_max_bytes=64 << 20, max_partition_fetch_bytes=16 << 20)
        try:
            return list(consumer)
        finally:
            consumer.close()

    batched: dict[tuple[str, str], list[str]] = {}
    by_batch: dict[str, int] = {}  # records-by-number partition@offset → lost records it holds
    from streams.stages.messages import RecordIn, decode_envelope

    for m in read(names.by_number):
        for item in decode_envelope(m.value):
            if not isinstance(item, RecordIn):
                continue
            try:
                event = codec.decode("record_changed", item.event)
            except schemas.DecodeError:
                continue
            key = (event["system"], event["record_id"])
            if key in missing:
                position = f"{m.partition}@{m.offset}"
                by_batch[position] = by_batch.get(position, 0) + 1
                batched.setdefault(key, []).append(
                    f"batch {m.partition}@{m.offset} holds records[{item.partition}]@{item.offset}")
    verdicts = set()
    for topic in (names.verified, names.held):
        for m in read(topic):
            record = codec.decode("verdict", m.value)["record"]
            verdicts.add((record["system"], record["record_id"]))
    return (f"in a repartition batch: {len(batched)} of {len(missing)} ({list(batched.items())[:3]}); "
            f"lost records per records-by-number batch: {by_batch}; "
            f"with a verdict on the verdict topics: {len(missing & verdicts)}")


def topics_of(h):
    from streams import topics

    return topics.names(h.settings)
