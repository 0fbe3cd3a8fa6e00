"""Platform settings, read once from the environment.

Nothing is required to start the demo: by default the database is a SQLite file in the
working directory and the secret key is generated once and kept beside it.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import secrets
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DEFAULT_DATABASE_URL = "sqlite:///pingan.sqlite"


@dataclass(frozen=True, slots=True)
class UploadLimits:
    """Caps on a file read by ``survey.tabular.read_table`` (each an environment variable)."""

    max_columns: int = 500
    max_rows: int = 100_000
    max_cells: int = 2_000_000
    max_cell_chars: int = 10_000
    # A CSV line is parsed by one C call that holds the GIL (≈ 40 ns a character): a line of a
    # million characters stalls the event loop ≈ 40 ms, a 10 MB line ≈ 0.4 s. Checked first.
    max_line_chars: int = 1_000_000
    max_xlsx_bytes: int = 50_000_000  # uncompressed size of every member of the archive

    @classmethod
    def from_env(cls) -> UploadLimits:
        """The limits from ``PINGAN_UPLOAD_MAX_COLUMNS``, ``…_ROWS``, ``…_CELLS``,
        ``…_CELL_CHARS``, ``…_LINE_CHARS`` and ``…_XLSX_BYTES`` (unset: the defaults); a bad value is an error."""
        defaults = cls()

        def read(name: str, default: int) -> int:
            raw = os.environ.get(name, "").strip()
            if not raw:
                return default
            if not raw.isdigit() or int(raw) == 0:
                raise ValueError(f"{name} 应为正整数，而不是 {raw!r}")
            return int(raw)

        return cls(
            max_columns=read("PINGAN_UPLOAD_MAX_COLUMNS", defaults.max_columns),
            max_rows=read("PINGAN_UPLOAD_MAX_ROWS", defaults.max_rows),
            max_cells=read("PINGAN_UPLOAD_MAX_CELLS", defaults.max_cells),
            max_cell_chars=read("PINGAN_UPLOAD_MAX_CELL_CHARS", defaults.max_cell_chars),
            max_line_chars=read("PINGAN_UPLOAD_MAX_LINE_CHARS", defaults.max_line_chars),
            max_xlsx_bytes=read("PINGAN_UPLOAD_MAX_XLSX_BYTES", defaults.max_xlsx_bytes),
        )


@dataclass(frozen=True, slots=True)
class Settings:
    """Runtime configuration of one platform process."""

    database_url: str
    secret_key: str
    host: str
    port: int
    secure_cookies: bool
    session_max_age: int  # seconds
    upload_limits: UploadLimits  # caps on imported CSV/XLSX files (survey.tabular)
    # Addresses or networks of reverse proxies whose X-Forwarded-For / -Proto are believed
    # (PINGAN_TRUSTED_PROXIES, comma-separated); none by default: the client is the peer.
    trusted_proxies: tuple[str, ...] = ()

    @property
    def is_postgres(self) -> bool:
        return self.database_url.startswith(("postgresql://", "postgres://"))

    @property
    def sqlite_path(self) -> Path:
        """The SQLite file of a ``sqlite:///path`` URL (relative to the working directory)."""
        if self.is_postgres:
            raise ValueError("not a SQLite database URL")
        return Path(self.database_url.removeprefix("sqlite:///"))


def database_url() -> str:
    """``PINGAN_DATABASE_URL`` as set, or the embedded SQLite default (checked by
    ``load_settings``)."""
    return os.environ.get("PINGAN_DATABASE_URL", "") or DEFAULT_DATABASE_URL


def _sqlite_folder(url: str) -> Path | None:
    """The folder of a ``sqlite:///`` URL's file (None for PostgreSQL)."""
    if not url.startswith("sqlite:///"):
        return None
    return Path(url.removeprefix("sqlite:///")).resolve().parent


def _secret_key(database_url: str) -> str:
    key = os.environ.get("PINGAN_SECRET_KEY", "")
    if key:
        return key
    # Keep a generated key beside the SQLite file (or in the cwd) so sessions survive restarts.
    key_file = (_sqlite_folder(database_url) or Path(".")) / ".pingan-secret"
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
    url = database_url()
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
        upload_limits=UploadLimits.from_env(),
        trusted_proxies=_trusted_proxies(os.environ.get("PINGAN_TRUSTED_PROXIES", "")),
    )


def _trusted_proxies(text: str) -> tuple[str, ...]:
    """``"10.0.0.5, 10.1.0.0/16"`` → the entries, each checked to be an address or network."""
    entries = tuple(e.strip() for e in text.split(",") if e.strip())
    for entry in entries:
        try:
            ipaddress.ip_network(entry, strict=False)
        except ValueError as exc:
            raise ValueError(
                f"PINGAN_TRUSTED_PROXIES 中的 {entry!r} 不是 IP 地址或网段（如 10.0.0.5 或 10.1.0.0/16）"
            ) from exc
    return entries


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


def draw_ahead_on() -> bool:
    """Whether a new revision of a wave's results has its report drawn in the background
    (``PINGAN_DRAW_AHEAD``; ``off`` switches it off; it also needs a cache, ``cache_dir``)."""
    return os.environ.get("PINGAN_DRAW_AHEAD", "").strip().lower() != "off"


def cache_dir() -> Path | None:
    """Where rendered reports are kept between processes (``PINGAN_CACHE_DIR``; ``off``: not
    kept). Default: ``.pingan-cache`` beside the SQLite file (like the secret key), else
    ``$XDG_CACHE_HOME/pingan`` (``~/.cache/pingan``)."""
    raw = os.environ.get("PINGAN_CACHE_DIR", "").strip()
    if raw.lower() == "off":
        return None
    if raw:
        return Path(raw)
    folder = _sqlite_folder(database_url())
    if folder is not None:
        return folder / ".pingan-cache"
    base = os.environ.get("XDG_CACHE_HOME", "") or str(Path.home() / ".cache")
    return Path(base) / "pingan"
