"""Settings: one typed object read from the environment once."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

DEFAULT_SQLITE_URL = "sqlite:///instance/backsoon.db"
DEV_SECRET_KEY = "dev-insecure-secret-key-change-me"  # noqa: S105 - only ever used outside production
DEFAULT_MAIL_FROM = "BackSoon <restock@backsoon.localhost>"


class ConfigError(RuntimeError):
    """Raised when the environment cannot produce valid settings."""


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything the app reads from its environment, validated once."""

    env: str = "development"
    database_url: str = DEFAULT_SQLITE_URL
    redis_url: str | None = None
    secret_key: str = DEV_SECRET_KEY
    app_url: str = "http://127.0.0.1:5000"
    port: int = 5000
    shopify_api_key: str | None = None
    shopify_api_secret: str | None = None
    shopify_api_secret_old: str | None = None
    token_encryption_keys: tuple[str, ...] = ()
    smtp_url: str | None = None
    mail_from: str = DEFAULT_MAIL_FROM
    log_level: str = "INFO"
    log_json: bool = False
    sweep_after_seconds: int = 60
    # SMTP connections (each with its own database connection) a restock fan-out wave is sent over.
    fanout_connections: int = 1
    # Deliveries of one store a drain job applies per transaction (app.services.ingest.batch); 0: one at a time.
    inbox_batch: int = 500
    # The freshness pass per store (app.services.ingest.freshness): every this many seconds, so a change whose
    # webhook was lost lands within 5 minutes even with WooCommerce's 14-23 s delivery delay; and how many failed
    # passes in a row make the admin say the sync is failing.
    fresh_pass_seconds: int = 240
    sync_failing_after: int = 3
    demo: bool = False
    # Development only (refused in production): lets a store live on loopback or a private network.
    allow_private_stores: bool = False
    # Reverse proxies (load balancer, ingress) in front of the app that set X-Forwarded-For/-Proto/-Host: the
    # client address is read that many hops from the right. 0: those headers are ignored (the peer is the client).
    trusted_proxy_hops: int = 0
    extra: Mapping[str, str] = field(default_factory=dict)

    @property
    def production(self) -> bool:
        """True when running with production safeguards."""
        return self.env == "production"

    @property
    def in_process_jobs(self) -> bool:
        """Jobs run inside the web process when no Redis is configured."""
        return not self.redis_url

    @property
    def is_sqlite(self) -> bool:
        """True when the database is the embedded SQLite default."""
        return self.database_url.startswith("sqlite")


_REQUIRED_IN_PRODUCTION = ("DATABASE_URL", "REDIS_URL", "SECRET_KEY", "APP_URL", "TOKEN_ENCRYPTION_KEYS")


def _normalise_db_url(url: str) -> str:
    # Hosted PostgreSQL often hands out postgres:// URLs; SQLAlchemy needs a driver name.
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def _bool(value: str | None, default: bool = False) -> bool:
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Read and validate settings; in production a missing secret stops startup naming it."""
    env = os.environ if environ is None else environ
    mode = env.get("BACKSOON_ENV", env.get("APP_ENV", "development")).strip().lower()
    if mode not in {"development", "production", "test"}:
        raise ConfigError(f"BACKSOON_ENV must be development, production or test, not {mode!r}")
    if mode == "production":
        missing = [name for name in _REQUIRED_IN_PRODUCTION if not env.get(name, "").strip()]
        if missing:
            raise ConfigError(
                "Missing required setting(s) for production: "
                + ", ".join(missing)
                + ". Set them in the environment (see README, Configuration)."
            )
        if env["SECRET_KEY"] == DEV_SECRET_KEY:
            raise ConfigError("SECRET_KEY is the development default; set a real secret in production.")
    allow_private_stores = _bool(env.get("BACKSOON_ALLOW_PRIVATE_STORES"))
    if allow_private_stores and mode == "production":
        # The address guard is what stops a merchant-typed URL from reaching our internal network.
        raise ConfigError(
            "BACKSOON_ALLOW_PRIVATE_STORES is for developing against a local store and is refused in production: "
            "it would let store addresses reach loopback and private networks. Unset it, or run with "
            "BACKSOON_ENV=development."
        )
    try:
        port = int(env.get("PORT", "5000"))
    except ValueError as exc:
        raise ConfigError(f"PORT must be an integer, not {env.get('PORT')!r}") from exc
    try:
        sweep_after = int(env.get("SWEEP_AFTER_SECONDS", "60"))
    except ValueError as exc:
        raise ConfigError("SWEEP_AFTER_SECONDS must be an integer") from exc
    try:
        fanout_connections = max(1, int(env.get("FANOUT_CONNECTIONS", "1")))
    except ValueError as exc:
        raise ConfigError("FANOUT_CONNECTIONS must be an integer") from exc
    try:
        inbox_batch = int(env.get("INBOX_BATCH", "500"))
    except ValueError as exc:
        raise ConfigError(f"INBOX_BATCH must be an integer, not {env.get('INBOX_BATCH')!r}") from exc
    if not 0 <= inbox_batch <= 5000:
        raise ConfigError(f"INBOX_BATCH must be between 0 and 5000, not {inbox_batch}")
    try:
        fresh_pass_seconds = int(env.get("FRESH_PASS_SECONDS", "240"))
        sync_failing_after = int(env.get("SYNC_FAILING_AFTER", "3"))
    except ValueError as exc:
        raise ConfigError("FRESH_PASS_SECONDS and SYNC_FAILING_AFTER must be integers") from exc
    if not 60 <= fresh_pass_seconds <= 3600:
        raise ConfigError(f"FRESH_PASS_SECONDS must be between 60 and 3600, not {fresh_pass_seconds}")
    if sync_failing_after < 1:
        raise ConfigError(f"SYNC_FAILING_AFTER must be at least 1, not {sync_failing_after}")
    try:
        trusted_proxy_hops = int(env.get("TRUSTED_PROXY_HOPS", "0").strip() or "0")
    except ValueError as exc:
        raise ConfigError(f"TRUSTED_PROXY_HOPS must be an integer, not {env.get('TRUSTED_PROXY_HOPS')!r}") from exc
    if not 0 <= trusted_proxy_hops <= 5:
        raise ConfigError(f"TRUSTED_PROXY_HOPS must be between 0 and 5, not {trusted_proxy_hops}")
    keys = tuple(k.strip() for k in env.get("TOKEN_ENCRYPTION_KEYS", "").split(",") if k.strip())
    return Settings(
        env=mode,
        database_url=_normalise_db_url(env.get("DATABASE_URL", "").strip() or DEFAULT_SQLITE_URL),
        redis_url=env.get("REDIS_URL", "").strip() or None,
        secret_key=env.get("SECRET_KEY", "").strip() or DEV_SECRET_KEY,
        app_url=(env.get("APP_URL", "").strip() or f"http://127.0.0.1:{port}").rstrip("/"),
        port=port,
        shopify_api_key=env.get("SHOPIFY_API_KEY") or None,
        shopify_api_secret=env.get("SHOPIFY_API_SECRET") or None,
        shopify_api_secret_old=env.get("SHOPIFY_API_SECRET_OLD") or None,
        token_encryption_keys=keys,
        smtp_url=env.get("SMTP_URL") or None,
        mail_from=env.get("MAIL_FROM") or DEFAULT_MAIL_FROM,
        log_level=env.get("LOG_LEVEL", "INFO").upper(),
        log_json=_bool(env.get("LOG_JSON"), default=mode == "production"),
        sweep_after_seconds=sweep_after,
        fanout_connections=fanout_connections,
        inbox_batch=inbox_batch,
        fresh_pass_seconds=fresh_pass_seconds,
        sync_failing_after=sync_failing_after,
        demo=_bool(env.get("BACKSOON_DEMO")),
        allow_private_stores=allow_private_stores,
        trusted_proxy_hops=trusted_proxy_hops,
        extra={name: env[var].strip() for var, name in _RATE_LIMIT_ENV.items() if env.get(var, "").strip()},
    )


# Rate limits of public inputs ("10/minute;60/hour"), overridable per deployment (app/web/limits.py).
_RATE_LIMIT_ENV = {
    "RATE_LIMIT_SIGNUP_IP": "SIGNUP_IP_LIMIT",
    "RATE_LIMIT_SIGNUP_EMAIL": "SIGNUP_EMAIL_LIMIT",
    "RATE_LIMIT_STATE_IP": "STATE_IP_LIMIT",
}


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Settings for this process, read from the environment once."""
    return load_settings()


def sqlite_path(url: str) -> Path | None:
    """The file behind a sqlite URL, so its folder can be created."""
    if not url.startswith("sqlite:///") or url == "sqlite:///:memory:":
        return None
    return Path(url.removeprefix("sqlite:///"))
