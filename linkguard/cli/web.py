"""``linkguard web``: serve the reviewers' and operators' screen with uvicorn (production use).

Kept free of heavy imports so that the CLI starts fast; the app is built by
uvicorn's factory in each worker process.
"""

from __future__ import annotations

from typing import Annotated, Optional

import typer
from rich.markup import escape

__all__ = ["web"]


def web(
    host: Annotated[Optional[str], typer.Option(help="address to listen on [LINKGUARD_WEB_HOST, 127.0.0.1]")] = None,
    port: Annotated[Optional[int], typer.Option(help="port [LINKGUARD_WEB_PORT, 8000]")] = None,
    workers: Annotated[int, typer.Option(help="uvicorn worker processes")] = 1,
    forwarded_allow_ips: Annotated[str, typer.Option(help="proxies trusted for X-Forwarded-* (TLS terminated there)")]
    = "127.0.0.1",
) -> None:
    """Serve the reviewers' web screen and the operator dashboard (uvicorn).

    Needs LINKGUARD_WEB_SECRET (sessions and record links), LINKGUARD_DATABASE_URL
    (the sink database) and LINKGUARD_KAFKA_BOOTSTRAP (decisions are published
    there). Serve behind TLS; LINKGUARD_WEB_HTTPS_ONLY=0 only for plain-HTTP
    localhost. Create the first account with `linkguard users add`.
    """
    import uvicorn
    from rich.console import Console

    from linkguard.web.settings import WebSettings

    err = Console(stderr=True)
    settings = WebSettings()
    try:
        settings.secret()
    except RuntimeError as e:
        err.print(f"[red]error:[/] {escape(str(e))}")
        raise typer.Exit(2) from e
    host = host or settings.web_host
    port = settings.web_port if port is None else port
    err.print(f"linkage guard web screen on http://{host}:{port}/ (Ctrl-C stops it)")
    uvicorn.run("linkguard.web.app:create_app", factory=True, host=host, port=port, workers=workers,
                proxy_headers=True, forwarded_allow_ips=forwarded_allow_ips, log_level="warning",
                server_header=False)
