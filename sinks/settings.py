"""Database settings (environment prefix ``LINKGUARD_``)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATABASE_URL = "sqlite:///var/linkguard.sqlite"


class DatabaseSettings(BaseSettings):
    """Where the intermediate-server copies, review store and dead letters live.

    Set ``LINKGUARD_DATABASE_URL`` to a PostgreSQL URL in production, e.g.
    ``postgresql+psycopg://linkguard@db:5432/linkguard``; the default is a
    SQLite file under ``var/``.
    """

    model_config = SettingsConfigDict(env_prefix="LINKGUARD_", extra="ignore")

    database_url: str = Field(DEFAULT_DATABASE_URL, description="SQLAlchemy URL of the sink database")
    database_pool_size: int = Field(5, description="connections kept open per process (PostgreSQL)")
