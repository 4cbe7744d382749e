"""Committed positions of consumer groups, read with kafka-python's admin client."""

from __future__ import annotations

from kafka.admin import KafkaAdminClient

from streams.settings import KafkaSettings

__all__ = ["committed_offsets"]


def committed_offsets(settings: KafkaSettings, group: str) -> dict[tuple[str, int], int]:
    """Next offset to consume per (topic, partition) that ``group`` has committed."""
    admin = KafkaAdminClient(**settings.kafka_python_config())
    try:
        offsets = admin.list_group_offsets(group).get(group, {})
    finally:
        admin.close()
    return {(tp.topic, tp.partition): meta.offset for tp, meta in offsets.items() if meta.offset >= 0}
