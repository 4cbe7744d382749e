"""The ``linkguard`` command line: :mod:`.root` holds the typer app and ``main``; one module per command group.

``common`` (consoles, ``fail``, Kafka settings, progress bars), ``dlq`` (dead letters), ``ops`` (lag,
metrics, reconcile), ``review`` (held records and accounts), ``web`` (the web screens).
"""


def main() -> None:
    """The console script ``linkguard`` (pyproject's ``linkguard.cli:main``); the app lives in :mod:`.root`."""
    from linkguard.cli.root import main as run

    run()
