"""Kafka and stream settings (environment prefix ``LINKGUARD_``)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class KafkaSettings(BaseSettings):
    """How to reach Kafka and how the guard's topics are laid out.

    With ``LINKGUARD_KAFKA_BOOTSTRAP`` unset, the commands start the embedded
    local broker (Tansu, memory only) on a free loopback port. In production
    set it to the cluster, plus TLS and SASL/SCRAM settings.
    """

    model_config = SettingsConfigDict(env_prefix="LINKGUARD_", extra="ignore")

    kafka_bootstrap: str | None = Field(None, description="host:port[,host:port]; unset: start a local broker")
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = None
    kafka_ssl_cafile: str | None = Field(None, description="CA bundle (PEM) to verify the brokers")
    kafka_ssl_certfile: str | None = Field(None, description="client certificate (PEM) for mutual TLS")
    kafka_ssl_keyfile: str | None = None
    kafka_client_id: str = "linkguard"
    topic_partitions: int = Field(4, ge=1, description="partitions of every linkage topic (fixed once created)")
    topic_replication: int = Field(1, ge=1, description="replication factor for created topics (3 in production)")
    topic_prefix: str = Field("", description="prefix of every topic name, e.g. 'kochi.' (several deployments on one cluster)")
    app_id: str = Field("linkguard", description="Faust application id = consumer group of the guard")
    table_dump_path: str | None = Field(None, description="write hashed table contents here every second (restart checks)")
    local_mode: bool = Field(False, description="set automatically when the embedded local broker is used")
    max_record_bytes: int = Field(
        1024 * 1024, ge=1024,
        description="largest RecordChanged event the guard accepts (Kafka's default message.max.bytes is 1 MB); "
                    "a larger one is dead-lettered as TOO_LARGE without its bytes")
    # How long the broker may hold a fetch that found nothing new, for the guard workers (Faust hard-codes
    # 1500 ms: streams/faust_fixes/fetch_wait.py) and the sink. Apache Kafka answers a held fetch as soon as
    # data arrives, so there this only bounds idle round trips (100 ms: ten small requests a second per idle
    # consumer, nothing next to the traffic of a busy one). The local broker holds every such fetch for a
    # fixed share of the wait, and each of a record's hops (repartition, by number, identity, batch, sink)
    # pays it: at 1500 ms that was most of make bench-rate's p99 (mean 365 ms per hop, up to 730 ms; 28 ms
    # at 100 ms).
    consumer_fetch_max_wait_ms: int = Field(
        100, ge=0, le=30_000,
        description="longest wait of a consumer fetch that finds no new data (guard workers and sink)")
    # The sink writes each poll in one transaction of about eight statements and a commit, whatever its size:
    # at a steady 1,000 verdicts/s it got ~20 per poll, 50 transactions a second (~13 ms each on PostgreSQL,
    # most of the sink's time). Asking the broker to hold a fetch until this much has come (or the fetch wait
    # above has passed) makes it ~120 per poll and a sixth of the transactions, for at most that wait of
    # latency; a backlog is read in full batches either way.
    sink_fetch_min_bytes: int = Field(
        64 * 1024, ge=1, le=16 * 1024 * 1024,
        description="the sink's fetches wait for this many bytes, or the fetch wait, whichever comes first")

    def kafka_python_config(self) -> dict:
        """Connection options for kafka-python clients."""
        config: dict = {"bootstrap_servers": self.require_bootstrap().split(","),
                        "security_protocol": self.kafka_security_protocol,
                        "client_id": self.kafka_client_id}
        if self.kafka_sasl_mechanism:
            config["sasl_mechanism"] = self.kafka_sasl_mechanism
            config["sasl_plain_username"] = self.kafka_sasl_username
            config["sasl_plain_password"] = (
                self.kafka_sasl_password.get_secret_value() if self.kafka_sasl_password else None
            )
        if self.kafka_ssl_cafile:
            config["ssl_cafile"] = self.kafka_ssl_cafile
        if self.kafka_ssl_certfile:
            config["ssl_certfile"] = self.kafka_ssl_certfile
            config["ssl_keyfile"] = self.kafka_ssl_keyfile
        return config

    def require_bootstrap(self) -> str:
        if not self.kafka_bootstrap:
            raise RuntimeError(
                "no Kafka cluster configured: set LINKGUARD_KAFKA_BOOTSTRAP=host:9092, "
                "or run through a command that starts the local broker (linkguard demo)"
            )
        return self.kafka_bootstrap
