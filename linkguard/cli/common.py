"""Helpers every command group shares: the consoles, the one way a command fails, Kafka settings, progress bars."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.markup import escape

__all__ = ["console", "err", "fail", "kafka_settings", "progress_bar"]

console = Console()
err = Console(stderr=True)


def fail(message: str, code: int = 1) -> None:
    """Print ``error: <message>`` on stderr (markup in the message shown as text) and exit with ``code``."""
    err.print(f"[red]error:[/] {escape(message)}")
    raise typer.Exit(code)


def kafka_settings():
    """The configured cluster; exit 2 with what to set when there is none."""
    from streams.settings import KafkaSettings

    settings = KafkaSettings()
    if not settings.kafka_bootstrap:
        err.print("[red]No Kafka cluster configured.[/] Set LINKGUARD_KAFKA_BOOTSTRAP=host:port "
                  "(start a local one with `linkguard broker`), or run `linkguard demo`.")
        raise typer.Exit(2)
    return settings


def progress_bar():
    """A progress bar on stderr (stdout stays for results)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), console=err)
