"""Avro schemas of the linkage guard and their wire encoding.

The ``.avsc`` files beside this module are the only source of truth; every
version ever published stays here as ``<name>/v<N>.avsc`` so old messages
still decode (readers resolve them to the newest version).

Without a schema registry, messages use the Avro specification's
*single-object encoding*: ``C3 01``, the writer schema's 8-byte CRC-64-AVRO
fingerprint (little-endian), then the binary body. With
``LINKGUARD_SCHEMA_REGISTRY_URL`` set, producers write the Confluent Schema
Registry framing instead (:mod:`schemas.registry`); readers accept both on
every topic, whatever the setting.

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

import datetime as dt
import io
import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Callable, Iterable

import fastavro
from fastavro.schema import fingerprint, to_parsing_canonical_form

from guards.exceptions import LinkguardError
from schemas.registry import HEADER as REGISTRY_HEADER
from schemas.registry import MAGIC as REGISTRY_MAGIC
from schemas.registry import RegistryFraming, frame, schema_id
from schemas.registry import from_environment as registry_from_environment

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
NAMES = ("record_changed", "resident", "verdict", "dead_letter", "decision",
         "process_control")
MAGIC = b"\xc3\x01"
_HEADER = len(MAGIC) + 8


class DecodeError(LinkguardError, ValueError):
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


_FROM_ENVIRONMENT: Any = object()


class Codec:
    """Encode with the newest version; decode any stored version into the newest.

    One instance per process is enough; it holds the parsed schemas. ``registry``
    is the Confluent framing to write (:class:`schemas.registry.RegistryFraming`);
    by default the one ``LINKGUARD_SCHEMA_REGISTRY_URL`` names, else none.
    """

    def __init__(self, registry: RegistryFraming | None = _FROM_ENVIRONMENT) -> None:
        self._by_fingerprint: dict[bytes, SchemaVersion] = {}
        for name in NAMES:
            for version in versions(name):
                self._by_fingerprint[version.fingerprint] = version
        self.registry = registry_from_environment() if registry is _FROM_ENVIRONMENT else registry
        self._verdict_header: bytes | None = None  # encode_verdict's, looked up once
        self._foreign: dict[int, tuple[str, dict]] = {}  # registry id -> (full name, parsed) of a schema not in schemas/

    def _header(self, name: str) -> bytes:
        """What precedes the body: the registry framing where configured, else the single-object header."""
        if self.registry is not None:
            registry_id = self.registry.id_for(name, [v.raw for v in versions(name)])
            if registry_id is not None:
                return frame(registry_id, b"")
        return MAGIC + latest(name).fingerprint

    def encode(self, name: str, record: dict[str, Any]) -> bytes:
        writer = latest(name)
        buffer = io.BytesIO()
        buffer.write(self._header(name))
        fastavro.schemaless_writer(buffer, writer.schema, record)
        return buffer.getvalue()

    def encoder(self, name: str) -> Callable[[dict[str, Any]], bytes]:
        """:meth:`encode` for one schema, its header and parsed schema looked up once (for per-record loops).

        With a schema registry, :meth:`encode` reads every version's file to find the
        header; the encoder does that once.

        >>> codec = Codec(registry=None)
        >>> event = {'my_number': '621498320257', 'name': '山田 花子', 'sex': 2, 'address': '高知市',
        ...          'birth_date': __import__('datetime').date(1980, 4, 1)}
        >>> codec.encoder('resident')(event) == codec.encode('resident', event)
        True
        """
        header = self._header(name)
        schema = latest(name).schema
        write = fastavro.schemaless_writer

        def encode(record: dict[str, Any]) -> bytes:
            buffer = io.BytesIO()
            buffer.write(header)
            write(buffer, schema, record)
            return buffer.getvalue()

        return encode

    def encode_many(self, name: str, records: Iterable[dict[str, Any]]) -> list[bytes]:
        writer = latest(name)
        header = self._header(name)
        out = []
        for record in records:
            buffer = io.BytesIO()
            buffer.write(header)
            fastavro.schemaless_writer(buffer, writer.schema, record)
            out.append(buffer.getvalue())
        return out

    def encode_verdict(self, verdict: dict[str, Any], event: bytes) -> bytes:
        """A verdict whose ``record`` is the event published as ``event``: its Avro body is copied,
        not encoded again (the same bytes as ``encode('verdict', verdict)``, in about a third of
        the time). An event of an older version, or registry-framed, is encoded whole.

        >>> import datetime as dt
        >>> codec = Codec(registry=None)
        >>> event = {'event_id': 'e', 'system': 's', 'record_id': '1', 'operation': 'update',
        ...          'occurred_at': dt.datetime(2024, 4, 1, tzinfo=dt.timezone.utc), 'my_number': '',
        ...          'name': '', 'name_kana': '', 'birth_date': '', 'sex': '', 'address': '', 'atena_no': '',
        ...          'number_source': '', 'entered_by': '', 'batch_id': '', 'payload': {}, 'updated_at': ''}
        >>> verdict = {'event_id': 'e', 'outcome': 'PASS', 'reasons': [], 'suggested_my_number': '',
        ...            'checked_at': dt.datetime(2024, 4, 1, tzinfo=dt.timezone.utc), 'version': 7,
        ...            'record': event, 'registry_person': None, 'suggested_person': None, 'via': 'guard'}
        >>> codec.encode_verdict(verdict, codec.encode('record_changed', event)) == codec.encode('verdict', verdict)
        True
        """
        parts = _verdict_parts()
        if parts is None or event[:_HEADER] != MAGIC + latest("record_changed").fingerprint:
            return self.encode("verdict", verdict)
        head, tail = parts
        if self._verdict_header is None:  # with a schema registry, _header reads every version's file
            self._verdict_header = self._header("verdict")
        plain = _plain_verdict(verdict)
        if plain is not None:
            return b"".join((self._verdict_header, plain[0], memoryview(event)[_HEADER:], plain[1]))
        buffer = io.BytesIO()
        buffer.write(self._verdict_header)
        fastavro.schemaless_writer(buffer, head, verdict)
        buffer.write(memoryview(event)[_HEADER:])
        fastavro.schemaless_writer(buffer, tail, verdict)
        return buffer.getvalue()

    def decode(self, name: str, data: bytes | None) -> dict[str, Any]:
        """Decode a message written with any stored version of ``name``.

        Raises :class:`DecodeError` saying what was wrong (never the content).
        """
        if data is None:
            raise DecodeError("empty message (a tombstone?)")
        reader = latest(name)
        if data[:1] == REGISTRY_MAGIC and len(data) >= REGISTRY_HEADER:
            writer_schema, what, start = self._registry_writer(name, data)
        else:
            if len(data) < _HEADER or data[:2] != MAGIC:
                raise DecodeError("not a single-object Avro message (expected marker C3 01, got "
                                  f"{data[:2].hex() or 'nothing'}) nor a Confluent-framed one (00 + schema id)")
            writer = self._by_fingerprint.get(bytes(data[2:_HEADER]))
            if writer is None:
                raise DecodeError(f"unknown schema fingerprint {bytes(data[2:_HEADER]).hex()}")
            if writer.name != name:
                raise DecodeError(f"message is a {writer.name} v{writer.version}, expected a {name}")
            writer_schema, what, start = writer.schema, f"{name} v{writer.version}", _HEADER
        body = io.BytesIO(data[start:])
        try:
            decoded = fastavro.schemaless_reader(body, writer_schema,
                                                 reader.schema if writer_schema is not reader.schema else None)
        except Exception as e:  # fastavro raises assorted errors on a bad body
            raise DecodeError(f"{what} body does not decode: {type(e).__name__}") from e
        # an Avro body has no length of its own: bytes after it mean the message is not what it claims
        trailing = len(data) - start - body.tell()
        if trailing:
            raise DecodeError(f"{what} body is followed by {trailing} unexpected bytes")
        return decoded

    def _registry_writer(self, name: str, data: bytes) -> tuple[dict, str, int]:
        """The writer schema of a Confluent-framed message, looked up in the registry (once per id)."""
        registry_id = schema_id(data)
        if self.registry is None:
            raise DecodeError(f"not a single-object Avro message (expected marker C3 01, got {data[:2].hex()}); "
                              f"if it has the Confluent Schema Registry framing (schema id {registry_id}), set "
                              "LINKGUARD_SCHEMA_REGISTRY_URL so that the schema can be looked up")
        if registry_id not in self._foreign:
            try:
                raw = self.registry.schema(registry_id)
            except Exception as e:  # the client raises its own errors (not found, unreachable)
                raise DecodeError(f"schema id {registry_id} could not be read from the schema registry: "
                                  f"{type(e).__name__}") from e
            known = self._by_fingerprint.get(bytes.fromhex(fingerprint(to_parsing_canonical_form(raw), "CRC-64-AVRO")))
            if known is not None:
                self._foreign[registry_id] = (known.name, known.schema)
            else:  # registered by someone else (a compatible schema of their own): resolved like any old version
                try:
                    parsed = fastavro.parse_schema(raw, named_schemas={})
                except Exception as e:
                    raise DecodeError(f"schema id {registry_id} is not an Avro schema: {type(e).__name__}") from e
                self._foreign[registry_id] = (_full_name(raw), parsed)
        schema_name, writer_schema = self._foreign[registry_id]
        if schema_name != name and schema_name != _record_name(name):
            raise DecodeError(f"message is a {schema_name} (schema id {registry_id}), expected a {name}")
        return writer_schema, f"{name} (schema id {registry_id})", REGISTRY_HEADER


@cache
def _verdict_parts() -> tuple[dict, dict] | None:
    """The newest verdict schema's fields before and after its ``record``, as two record schemas;
    None unless that ``record`` is exactly the newest RecordChanged (then its body can be copied)."""
    raw = latest("verdict").raw
    fields = raw["fields"]
    at = next((i for i, f in enumerate(fields) if f["name"] == "record"), None)
    if at is None or to_parsing_canonical_form(fields[at]["type"]) != to_parsing_canonical_form(
            latest("record_changed").raw):
        return None
    namespace = raw.get("namespace", "")
    return (fastavro.parse_schema({"type": "record", "name": "VerdictHead", "namespace": namespace,
                                   "fields": fields[:at]}, named_schemas={}),
            fastavro.parse_schema({"type": "record", "name": "VerdictTail", "namespace": namespace,
                                   "fields": fields[at + 1:]}, named_schemas={}))


#: the verdict fields :func:`_plain_verdict` writes itself, in schema order around ``record``
_PLAIN_HEAD = ("event_id", "outcome", "reasons", "suggested_my_number", "checked_at", "version")
_PLAIN_TAIL = ("registry_person", "suggested_person", "via", "decision_id", "requested_by", "approved_by",
               "explanation")
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
_MICROSECOND = dt.timedelta(microseconds=1)
#: the tail of a guard's verdict without persons, decision or explanation
_GUARD_TAIL = b"\x00\x00\x0aguard\x00\x00\x00\x00"


def _avro_long(n: int) -> bytes:
    """An Avro ``long`` (zig-zag, then 7 bits a byte).

    >>> [_avro_long(n).hex() for n in (0, -1, 1, 63, 64, -65, 2 ** 40)]
    ['00', '01', '02', '7e', '8001', '8101', '808080808040']
    """
    if 0 <= n < 64:
        return _SMALL_LONGS[n]
    n = (n << 1) ^ (n >> 63)
    out = bytearray()
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


_SMALL_LONGS = tuple(bytes((n << 1,)) for n in range(64))


def _avro_string(text: str) -> bytes:
    data = text.encode()
    return _avro_long(len(data)) + data


def _plain_verdict(verdict: dict[str, Any]) -> tuple[bytes, bytes] | None:
    """The Avro bytes of a verdict's fields before and after ``record`` when it has no persons
    or explanation (a PASS, with or without informational findings: most of what the guard
    sends), written here without fastavro's per-call overhead; None for any other verdict.
    A test compares it with fastavro.
    """
    symbols = _plain_layout()
    checked_at = verdict["checked_at"]
    if (symbols is None or verdict.get("explanation")
            or verdict.get("registry_person") is not None or verdict.get("suggested_person") is not None
            or not isinstance(checked_at, dt.datetime) or checked_at.tzinfo is None
            or verdict["outcome"] not in symbols):
        return None
    findings = _plain_findings(verdict.get("reasons"))
    if findings is None:
        return None
    micros = (checked_at - _EPOCH) // _MICROSECOND
    head = b"".join((_avro_string(verdict["event_id"]), _SMALL_LONGS[symbols.index(verdict["outcome"])], findings,
                     _avro_string(verdict.get("suggested_my_number", "")), _avro_long(micros),
                     _avro_long(verdict["version"])))
    decision = (verdict.get("decision_id", ""), verdict.get("requested_by", ""), verdict.get("approved_by", ""))
    if decision == ("", "", "") and verdict.get("via", "guard") == "guard":
        return head, _GUARD_TAIL
    tail = b"".join((b"\x00\x00", _avro_string(verdict.get("via", "guard")), *map(_avro_string, decision), b"\x00"))
    return head, tail


def _plain_findings(reasons: Any) -> bytes | None:
    """The Avro array of a verdict's ``reasons`` (code, detail), or None for anything but a
    list of such dicts of text (fastavro then writes it, or says what is wrong).

    >>> _plain_findings([]), _plain_findings([{'code': 'FORMER_NAME', 'detail': ''}])
    (b'\\x00', b'\\x02\\x16FORMER_NAME\\x00\\x00')
    >>> _plain_findings([{'code': 1}]) is None
    True
    """
    if not reasons:
        return b"\x00"
    if type(reasons) is not list:
        return None
    parts = [_avro_long(len(reasons))]
    for reason in reasons:
        if type(reason) is not dict:
            return None
        code, detail = reason.get("code"), reason.get("detail", "")
        if type(code) is not str or type(detail) is not str or len(reason) > 2:
            return None
        parts.append(_avro_string(code))
        parts.append(_avro_string(detail))
    parts.append(b"\x00")
    return b"".join(parts)


@cache
def _plain_layout() -> tuple[str, ...] | None:
    """The outcome symbols, if the newest verdict schema is laid out as :func:`_plain_verdict` writes it."""
    fields = {f["name"]: f["type"] for f in latest("verdict").raw["fields"]}
    names = [f["name"] for f in latest("verdict").raw["fields"]]
    if names != [*_PLAIN_HEAD, "record", *_PLAIN_TAIL]:
        return None
    expected = {"event_id": "string", "suggested_my_number": "string", "version": "long", "via": "string",
                "decision_id": "string", "requested_by": "string", "approved_by": "string"}
    if (any(fields[name] != kind for name, kind in expected.items())
            or fields["checked_at"] != {"type": "long", "logicalType": "timestamp-micros"}
            or fields["reasons"].get("type") != "array" or fields["explanation"].get("type") != "array"
            or [(f["name"], f["type"]) for f in fields["reasons"]["items"].get("fields", ())]
            != [("code", "string"), ("detail", "string")]
            or fields["outcome"].get("type") != "enum"
            or [fields[n][0] for n in ("registry_person", "suggested_person")] != ["null", "null"]):
        return None
    return tuple(fields["outcome"]["symbols"])


@cache
def _record_name(name: str) -> str:
    """The full record name of a schema of ours (``record_changed`` -> ``jp.linkguard.RecordChanged``)."""
    return _full_name(latest(name).raw)


def _full_name(raw: dict) -> str:
    """``namespace.name`` of a named schema (how two files name the same record type).

    >>> _full_name({'type': 'record', 'name': 'Verdict', 'namespace': 'jp.linkguard'})
    'jp.linkguard.Verdict'
    """
    name = raw.get("name", "")
    return name if "." in name or not raw.get("namespace") else f"{raw['namespace']}.{name}"
