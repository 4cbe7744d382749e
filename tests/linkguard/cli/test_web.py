"""``linkguard web`` and the dashboard when Kafka is away."""

from __future__ import annotations

from typer.testing import CliRunner

from linkguard.cli.root import app

runner = CliRunner()


def test_web_has_help_and_refuses_to_start_without_a_secret(monkeypatch):
    assert "Usage" in runner.invoke(app, ["web", "--help"]).output
    monkeypatch.delenv("LINKGUARD_WEB_SECRET", raising=False)
    result = runner.invoke(app, ["web"])
    assert result.exit_code == 2 and "LINKGUARD_WEB_SECRET" in result.output


def test_the_dashboard_says_when_kafka_cannot_be_read(engine, writer):
    from linkguard.web.dashboard import Sampler
    from streams.settings import KafkaSettings

    away = Sampler(engine, KafkaSettings(kafka_bootstrap="127.0.0.1:1"), keep=3)
    point = away.sample()
    assert point.lag is None and point.committed is None and point.error  # the reason, shown on the page
    assert "reachable" in point.error and point.queue_depth == 0 and point.dead_letters == 0
    unset = Sampler(engine, None, keep=3)
    assert unset.sample().error == "LINKGUARD_KAFKA_BOOTSTRAP is not set"
    for _ in range(4):
        unset.sample()
    assert len(unset.snapshot()) == 3  # a ring buffer
