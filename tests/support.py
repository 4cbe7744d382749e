"""Helpers shared by the test suite (importable: tests/ is on pytest's pythonpath)."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
import uuid
from dataclasses import dataclass
from typing import Iterator

import pytest

REQUIRE_SERVICES = os.environ.get("LINKGUARD_REQUIRE_SERVICES") == "1"
DOCKER_REASON = (
    "testcontainers backend (Apache Kafka + PostgreSQL) needs a Docker engine and "
    "LINKGUARD_TEST_BACKEND=docker; neither is available on this machine"
)


def unavailable(reason: str) -> None:
    """Skip, or fail when CI demands every real service."""
    if REQUIRE_SERVICES:
        pytest.fail(f"{reason} (LINKGUARD_REQUIRE_SERVICES=1 forbids skipping)")
    pytest.skip(reason)


def docker_available() -> bool:
    if os.environ.get("LINKGUARD_TEST_BACKEND") != "docker" or not shutil.which("docker"):
        return False
    return subprocess.run(["docker", "info"], capture_output=True).returncode == 0


@dataclass
class KafkaBackend:
    name: str
    bootstrap: str
    local_mode: bool
    postgres_url: str | None = None  # the docker backend brings its own PostgreSQL


def postgres_url() -> str:
    url = os.environ.get("LINKGUARD_TEST_DATABASE_URL")
    if not url:
        unavailable("PostgreSQL: set LINKGUARD_TEST_DATABASE_URL (e.g. postgresql+psycopg://postgres@127.0.0.1:5432/test)")
    return url


def fresh_postgres_database(admin_url: str) -> Iterator[str]:
    import sqlalchemy as sa
    from sqlalchemy.engine import make_url

    name = f"lg_{uuid.uuid4().hex[:12]}"
    try:
        admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except sa.exc.OperationalError as e:
        unavailable(f"PostgreSQL at {make_url(admin_url).render_as_string(hide_password=True)} is not reachable: {e.orig}")
    try:
        yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def my_number(serial: int | str) -> str:
    """A valid My Number from a serial or its first eleven digits (check digit by python-stdnum)."""
    from stdnum.jp.in_ import calc_check_digit

    body = serial if isinstance(serial, str) else f"{serial:011d}"
    return body + calc_check_digit(body)


def birth(year: int) -> dt.date:
    return dt.date(year, 4, 1)


def consume(topic: str, bootstrap: str, expected: int, timeout_ms: int = 5000) -> list:
    """Read a topic from the start until ``expected`` messages or ``timeout_ms`` of silence."""
    from kafka import KafkaConsumer

    consumer = KafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=None, auto_offset_reset="earliest",
                             consumer_timeout_ms=timeout_ms)
    messages = []
    for message in consumer:
        messages.append(message)
        if len(messages) >= expected:
            break
    consumer.close()
    return messages

