"""The Confluent Schema Registry framing, as an option (``LINKGUARD_SCHEMA_REGISTRY_URL``).

With a registry, producers write the framing the Confluent serializers (Java, .NET,
Go, Python) read: byte ``00``, the schema id (4 bytes, big-endian), the Avro binary
body. The ``.avsc`` versions in ``schemas/`` are registered, oldest first, under
subjects named after the topics (``<topic>-value``, Confluent's TopicNameStrategy)
with compatibility BACKWARD. Readers accept this framing and the single-object
encoding on every topic whatever the setting (see :class:`schemas.Codec`), so a
deployment switches without a flag day.

The topics' internal repartition traffic (``record_batch``, ``batch_check``) is read
only by the guard and stays single-object.

>>> frame(7, b'body')
b'\\x00\\x00\\x00\\x00\\x07body'
>>> schema_id(frame(7, b'body'))
7
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from typing import Any

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["MAGIC", "HEADER", "SUBJECT_TOPICS", "RegistryFraming", "RegistrySettings", "frame", "schema_id",
           "from_environment"]

MAGIC = b"\x00"
HEADER = 5  # magic byte + 4-byte schema id

#: the topics each schema is written to (without the deployment's topic prefix); a schema
#: not listed here is internal to the guard and never framed for the registry
SUBJECT_TOPICS: dict[str, tuple[str, ...]] = {
    "record_changed": ("linkage.records",),
    "resident": ("registry.residents",),
    "verdict": ("linkage.verified", "linkage.held", "linkage.retracted"),
    "dead_letter": ("linkage.dlq",),
    "decision": ("linkage.decisions", "linkage.decided", "linkage.returned"),
    "process_control": ("linkage.control",),
}


def frame(schema_id: int, body: bytes) -> bytes:
    """A Confluent-framed message: magic byte 0, the schema id, the body."""
    return MAGIC + struct.pack(">I", schema_id) + body


def schema_id(data: bytes) -> int:
    """The schema id of a Confluent-framed message."""
    return struct.unpack(">I", data[1:HEADER])[0]


@dataclass
class RegistryFraming:
    """A registry client (confluent-kafka's ``SchemaRegistryClient``, or its ``mock://`` one) and what it said.

    ``ids`` caches the id each schema name is written with; ``schemas`` caches the
    schema text of each id read.
    """

    client: Any
    topic_prefix: str = ""
    ids: dict[str, int] = dataclass_field(default_factory=dict)
    schemas: dict[int, dict] = dataclass_field(default_factory=dict)

    def subjects(self, name: str) -> list[str]:
        return [f"{self.topic_prefix}{topic}-value" for topic in SUBJECT_TOPICS.get(name, ())]

    def id_for(self, name: str, versions: list[dict]) -> int | None:
        """The registry id of the newest version of ``name`` (registering every version first); None if internal."""
        if name in self.ids:
            return self.ids[name]
        subjects = self.subjects(name)
        if not subjects:
            return None
        from confluent_kafka.schema_registry import Schema

        newest_id = None
        for subject in subjects:
            self._backward(subject)
            for raw in versions:  # oldest first: the subject's history is the files' history
                newest_id = self.client.register_schema(subject, Schema(json.dumps(raw), "AVRO"))
        self.ids[name] = newest_id
        return newest_id

    def schema(self, schema_id: int) -> dict:
        """The writer schema of an id (asked once per id)."""
        if schema_id not in self.schemas:
            self.schemas[schema_id] = json.loads(self.client.get_schema(schema_id).schema_str)
        return self.schemas[schema_id]

    def _backward(self, subject: str) -> None:
        from confluent_kafka.schema_registry._sync.mock_schema_registry_client import MockSchemaRegistryClient

        if not isinstance(self.client, MockSchemaRegistryClient):  # the in-process mock keeps no settings
            self.client.set_compatibility(subject_name=subject, level="BACKWARD")


class RegistrySettings(BaseSettings):
    """Where the schema registry is; unset: every producer writes the single-object encoding."""

    model_config = SettingsConfigDict(env_prefix="LINKGUARD_", extra="ignore")

    schema_registry_url: str = Field("", description="Confluent Schema Registry, e.g. https://registry:8081 "
                                                       "(mock://NAME: confluent-kafka's in-process one, for tests)")
    schema_registry_user_info: SecretStr = Field(SecretStr(""), description="user:password for the registry's basic auth")
    topic_prefix: str = Field("", description="prefix of every topic name; the subjects carry it too")


def from_environment() -> RegistryFraming | None:
    """The framing ``LINKGUARD_SCHEMA_REGISTRY_URL`` asks for (None: single-object only).

    ``LINKGUARD_SCHEMA_REGISTRY_USER_INFO`` (``user:password``) authenticates; the
    subjects carry ``LINKGUARD_TOPIC_PREFIX``.
    """
    settings = RegistrySettings()
    url = settings.schema_registry_url.strip()
    if not url:
        return None
    from confluent_kafka.schema_registry import SchemaRegistryClient

    conf = {"url": url}
    if settings.schema_registry_user_info.get_secret_value():
        conf["basic.auth.user.info"] = settings.schema_registry_user_info.get_secret_value()
    return RegistryFraming(SchemaRegistryClient.new_client(conf), settings.topic_prefix)
