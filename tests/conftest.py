"""Real services, started once per test session.

- Kafka: the embedded local broker (Tansu) on a free loopback port; with
  ``LINKGUARD_TEST_BACKEND=docker`` on a machine with a Docker engine, the same
  tests also run against testcontainers' Apache Kafka and PostgreSQL.
- Databases: SQLite files always; PostgreSQL from ``LINKGUARD_TEST_DATABASE_URL``, or else a
  throw-away database on the local server for this run (tests/fixtures/postgres.py).

Under ``LINKGUARD_REQUIRE_SERVICES=1`` (set by ``.ci/run``) a missing
PostgreSQL or broker fails the run instead of skipping.
"""

from __future__ import annotations

from typing import Iterator

import pytest

from fixtures.postgres import RunDatabase, close_run_database, open_run_database
from fixtures.support import (DOCKER_REASON, KafkaBackend, docker_available, fresh_postgres_database,
                              postgres_url, unavailable)

_RUN_DATABASE = pytest.StashKey[RunDatabase]()


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_RUN_DATABASE] = open_run_database()


def pytest_report_header(config: pytest.Config) -> list[str]:
    run = config.stash.get(_RUN_DATABASE, None)
    return [run.note] if run and run.note else []


def pytest_unconfigure(config: pytest.Config) -> None:
    run = config.stash.get(_RUN_DATABASE, None)
    if run:
        close_run_database(run)


@pytest.fixture(scope="session")
def local_broker() -> Iterator[KafkaBackend]:
    from streams.broker import BrokerUnavailable, LocalBroker

    try:
        broker = LocalBroker().start()
    except BrokerUnavailable as e:
        unavailable(f"local broker: {e}")
    try:
        yield KafkaBackend("tansu", broker.bootstrap, local_mode=True)
    finally:
        broker.stop()


@pytest.fixture(scope="session")
def docker_backend() -> Iterator[KafkaBackend]:
    if not docker_available():
        pytest.skip(DOCKER_REASON)
    from testcontainers.kafka import KafkaContainer
    from testcontainers.postgres import PostgresContainer

    with KafkaContainer() as kafka, PostgresContainer("postgres:16", driver="psycopg") as pg:
        yield KafkaBackend("docker", kafka.get_bootstrap_server(), local_mode=False,
                           postgres_url=pg.get_connection_url())


@pytest.fixture(scope="session", params=["tansu", "docker"])
def kafka_backend(request) -> KafkaBackend:
    """Every integration test runs on the local broker, and on Docker where there is one."""
    if request.param == "docker":
        return request.getfixturevalue("docker_backend")
    return request.getfixturevalue("local_broker")


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path) -> Iterator[str]:
    """A fresh, empty database per test: a SQLite file, or a new PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'linkguard.sqlite'}"
        return
    yield from fresh_postgres_database(postgres_url())
