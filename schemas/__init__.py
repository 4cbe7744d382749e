"""Avro schemas of the linkage guard and their wire encoding.

The ``.avsc`` files beside this module are the only source of truth; every
version ever published stays here as ``<name>/v<N>.avsc`` so old messages
still decode (readers resolve them to the newest version).

Without a schema registry, messages use the Avro specification's
*single-object encoding*: ``C3 01``, the writer schema's 8-byte CRC-64-AVRO
fingerprint (little-endian), then the binary body.

>>> codec = Codec()
>>> data = codec.encode('resident', {'my_number': '621498320257', 'name': '山田 花子',
...     'birth_date': __import__('datetime').date(1980, 4, 1), 'sex': 2, 'address': '高知市'})
>>> data[:2]
b'\\xc3\\x01'
>>> codec.decode('resident', data)['name']
'山田 花子'
>>> codec.decode('resident', data + b'junk')
Traceback (most recent call last):
...
schemas.DecodeError: resident v1 body is followed by 4 unexpected bytes
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Iterable

import fastavro
from fastavro.schema import fingerprint, to_parsing_canonical_form

__all__ = [
    "SCHEMA_DIR",
    "SchemaVersion",
    "Codec",
    "DecodeError",
    "versions",
    "latest",
    "NAMES",
]

SCHEMA_DIR = Path(__file__).parent
NAMES = ("record_changed", "resident", "verdict", "dead_letter", "record_batch", "batch_check", "decision",
         "process_control")
MAGIC = b"\xc3\x01"
_HEADER = len(MAGIC) + 8


class DecodeError(ValueError):
    """Bytes that are not a single-object Avro message of a known schema."""


@dataclass(frozen=True)
class SchemaVersion:
    name: str
    version: int
    path: Path
    schema: dict  # parsed by fastavro
    fingerprint: bytes

    @property
    def raw(self) -> dict:
        return json.loads(self.path.read_text(encoding="utf-8"))


@cache
def versions(name: str) -> tuple[SchemaVersion, ...]:
    """Every stored version of a schema, oldest first."""
    folder = SCHEMA_DIR / name
    paths = sorted(folder.glob("v*.avsc"), key=lambda p: int(p.stem[1:]))
    if not paths:
        raise FileNotFoundError(f"no schema files in {folder}; expected {folder}/v1.avsc")
    result = []
    for path in paths:
        raw = json.loads(path.read_text(encoding="utf-8"))
        parsed = fastavro.parse_schema(raw)  # the parse mark lets fastavro skip re-parsing per call
        canonical = to_parsing_canonical_form(raw)
        fp = bytes.fromhex(fingerprint(canonical, "CRC-64-AVRO"))
        result.append(SchemaVersion(name, int(path.stem[1:]), path, parsed, fp))
    return tuple(result)


def latest(name: str) -> SchemaVersion:
    return versions(name)[-1]


class Codec:
    """Encode with the newest version; decode any stored version into the newest.

    One instance per process is enough; it holds the parsed schemas.
    """

    def __init__(self) -> None:
        self._by_fingerprint: dict[bytes, SchemaVersion] = {}
        for name in NAMES:
            for version in versions(name):
                self._by_fingerprint[version.fingerprint] = version

    def encode(self, name: str, record: dict[str, Any]) -> bytes:
        writer = latest(name)
        buffer = io.BytesIO()
        buffer.write(MAGIC)
        buffer.write(writer.fingerprint)
        fastavro.schemaless_writer(buffer, writer.schema, record)
        return buffer.getvalue()

    def encode_many(self, name: str, records: Iterable[dict[str, Any]]) -> list[bytes]:
        writer = latest(name)
        header = MAGIC + writer.fingerprint
        out = []
        for record in records:
            buffer = io.BytesIO()
            buffer.write(header)
            fastavro.schemaless_writer(buffer, writer.schema, record)
            out.append(buffer.getvalue())
        return out

    def decode(self, name: str, data: bytes | None) -> dict[str, Any]:
        """Decode a message written with any stored version of ``name``.

        Raises :class:`DecodeError` saying what was wrong (never the content).
        """
        if data is None:
            raise DecodeError("empty message (a tombstone?)")
        if len(data) < _HEADER or data[:2] != MAGIC:
            raise DecodeError(
                f"not a single-object Avro message (expected marker C3 01, got {data[:2].hex() or 'nothing'})"
            )
        writer = self._by_fingerprint.get(bytes(data[2:_HEADER]))
        if writer is None:
            raise DecodeError(f"unknown schema fingerprint {bytes(data[2:_HEADER]).hex()}")
        reader = latest(name)
        if writer.name != name:
            raise DecodeError(f"message is a {writer.name} v{writer.version}, expected a {name}")
        body = io.BytesIO(data[_HEADER:])
        try:
            decoded = fastavro.schemaless_reader(body, writer.schema,
                                                 reader.schema if writer is not reader else None)
        except Exception as e:  # fastavro raises assorted errors on a bad body
            raise DecodeError(f"{name} v{writer.version} body does not decode: {type(e).__name__}") from e
        # an Avro body has no length of its own: bytes after it mean the message is not what it claims
        trailing = len(data) - _HEADER - body.tell()
        if trailing:
            raise DecodeError(f"{name} v{writer.version} body is followed by {trailing} unexpected bytes")
        return decoded
