"""Web settings (environment prefix ``LINKGUARD_``)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class WebSettings(BaseSettings):
    """The reviewers' and operators' web screen.

    ``LINKGUARD_WEB_SECRET`` signs the session cookies and keys the opaque record
    handles in URLs: set it to a long random value (``python -c "import secrets;
    print(secrets.token_urlsafe(48))"``) and keep it the same across restarts and
    replicas, or every session and bookmarked link is invalidated.
    """

    model_config = SettingsConfigDict(env_prefix="LINKGUARD_", extra="ignore")

    web_secret: SecretStr | None = Field(None, description="signs session cookies and record handles (required)")
    web_https_only: bool = Field(True, description="session cookie only over HTTPS (set 0 for plain-HTTP localhost)")
    web_same_site: Literal["lax", "strict"] = Field("strict", description="SameSite of the session cookie")
    web_session_hours: float = Field(8.0, gt=0, description="a session lasts at most this long (a working day)")
    web_host: str = Field("127.0.0.1", description="address `linkguard web` listens on")
    web_port: int = Field(8000, ge=0, le=65535, description="port `linkguard web` listens on")
    web_sample_seconds: float = Field(15.0, gt=0, description="how often the operator dashboard samples lag and depth")
    web_sample_keep: int = Field(480, ge=2, description="samples kept in memory per series (480 × 15 s = 2 hours)")
    web_timezone: str = Field("Asia/Tokyo", description="times on the screen are shown in this zone")
    web_page_size: int = Field(50, ge=1, le=500, description="held records per queue page")
    web_login_per_client: int = Field(10, ge=1, description="log-in attempts a minute from one client address")
    web_login_total: int = Field(60, ge=1, description="log-in attempts a minute in all (each costs an argon2 hash)")
    web_login_hashing: int = Field(2, ge=1, description="log-ins hashed at the same time (argon2 takes 64 MiB each)")

    def secret(self) -> bytes:
        """The secret as bytes, or an error that says how to set one."""
        if self.web_secret is None or len(self.web_secret.get_secret_value()) < 32:
            raise RuntimeError(
                "LINKGUARD_WEB_SECRET is missing or shorter than 32 characters: set it to a long random value, "
                "e.g. export LINKGUARD_WEB_SECRET=$(python3 -c 'import secrets; print(secrets.token_urlsafe(48))')")
        return self.web_secret.get_secret_value().encode()
