"""Platform settings, read once from the environment.

Nothing is required to start the demo: by default the database is a SQLite file in the
working directory and the secret key is generated once and kept beside it.
"""

from __future__ import annotations

import datetime
import os
import secrets
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DEFAULT_DATABASE_URL = "sqlite:///pingan.sqlite"


@dataclass(frozen=True, slots=True)
class Settings:
    """Runtime configuration of one platform process."""

    database_url: str
    secret_key: str
    host: str
    port: int
    secure_cookies: bool
    session_max_age: int  # seconds

    @property
    def is_postgres(self) -> bool:
        return self.database_url.startswith(("postgresql://", "postgres://"))

    @property
    def sqlite_path(self) -> Path:
        """The SQLite file of a ``sqlite:///path`` URL (relative to the working directory)."""
        if self.is_postgres:
            raise ValueError("not a SQLite database URL")
        return Path(self.database_url.removeprefix("sqlite:///"))


def _secret_key(database_url: str) -> str:
    key = os.environ.get("PINGAN_SECRET_KEY", "")
    if key:
        return key
    # Keep a generated key beside the SQLite file (or in the cwd) so sessions survive restarts.
    base = Path(".")
    if database_url.startswith("sqlite:///"):
        base = Path(database_url.removeprefix("sqlite:///")).resolve().parent
    key_file = base / ".pingan-secret"
    try:
        if key_file.exists():
            return key_file.read_text().strip()
        key = secrets.token_urlsafe(48)
        key_file.write_text(key)
        key_file.chmod(0o600)
        return key
    except OSError:
        return secrets.token_urlsafe(48)


def load_settings() -> Settings:
    """Read the settings from ``PINGAN_*`` environment variables (see README)."""
    url = os.environ.get("PINGAN_DATABASE_URL", "") or DEFAULT_DATABASE_URL
    if not url.startswith(("sqlite:///", "postgresql://", "postgres://")):
        raise ValueError(
            f"PINGAN_DATABASE_URL 无法识别: {url!r}（应为 sqlite:///文件 或 postgresql://…）"
        )
    return Settings(
        database_url=url,
        secret_key=_secret_key(url),
        host=os.environ.get("PINGAN_HOST", "127.0.0.1"),
        port=int(os.environ.get("PINGAN_PORT", "8000")),
        secure_cookies=os.environ.get("PINGAN_SECURE_COOKIES", "0") == "1",
        session_max_age=int(os.environ.get("PINGAN_SESSION_MAX_AGE", str(8 * 3600))),
    )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings (read once)."""
    return load_settings()


DEFAULT_TIMEZONE = "Asia/Shanghai"


def installation_timezone() -> ZoneInfo:
    """The installation's time zone for times shown to people (``PINGAN_TIMEZONE``, default
    Asia/Shanghai); times are stored in UTC. ValueError (Chinese) for an unknown zone."""
    name = os.environ.get("PINGAN_TIMEZONE", "") or DEFAULT_TIMEZONE
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(
            f"PINGAN_TIMEZONE 无法识别: {name!r}（应为 IANA 时区名，如 Asia/Shanghai）"
        ) from exc


def local_time(value: datetime.datetime | str | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """A stored time (UTC, or naive = UTC; ISO text accepted) in the installation's time zone."""
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        value = datetime.datetime.fromisoformat(value.replace(" ", "T"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=datetime.UTC)
    return value.astimezone(installation_timezone()).strftime(fmt)
