"""Settings come from the environment once; production refuses to start without its secrets."""

from __future__ import annotations

import pytest

from app.config import DEFAULT_SQLITE_URL, ConfigError, load_settings

PROD = {
    "BACKSOON_ENV": "production",
    "DATABASE_URL": "postgres://u:p@db/backsoon",
    "REDIS_URL": "redis://cache:6379/0",
    "SECRET_KEY": "s3cret-value",
    "APP_URL": "https://backsoon.example.com/",
    "TOKEN_ENCRYPTION_KEYS": "k2, k1",
}


def test_defaults_are_the_embedded_demo_setup() -> None:
    s = load_settings({})
    assert s.env == "development"
    assert s.database_url == DEFAULT_SQLITE_URL
    assert s.redis_url is None
    assert s.in_process_jobs is True
    assert s.port == 5000
    assert s.app_url == "http://127.0.0.1:5000"
    assert s.is_sqlite is True


def test_production_reads_everything_and_normalises_urls() -> None:
    s = load_settings({**PROD, "PORT": "8080"})
    assert s.production is True
    assert s.database_url == "postgresql+psycopg://u:p@db/backsoon"
    assert s.redis_url == "redis://cache:6379/0"
    assert s.app_url == "https://backsoon.example.com"
    assert s.token_encryption_keys == ("k2", "k1")
    assert s.port == 8080
    assert s.in_process_jobs is False
    assert s.log_json is True


@pytest.mark.parametrize("missing", ["DATABASE_URL", "REDIS_URL", "SECRET_KEY", "APP_URL", "TOKEN_ENCRYPTION_KEYS"])
def test_production_names_the_missing_secret(missing: str) -> None:
    env = {k: v for k, v in PROD.items() if k != missing}
    with pytest.raises(ConfigError) as info:
        load_settings(env)
    assert str(info.value) == (
        f"Missing required setting(s) for production: {missing}. "
        "Set them in the environment (see README, Configuration)."
    )


def test_bad_values_are_clear_errors() -> None:
    with pytest.raises(ConfigError, match="PORT must be an integer, not 'abc'"):
        load_settings({"PORT": "abc"})
    with pytest.raises(ConfigError, match="BACKSOON_ENV must be development, production or test"):
        load_settings({"BACKSOON_ENV": "staging"})


def test_the_freshness_pass_interval_and_failing_threshold_are_read_and_bounded() -> None:
    defaults = load_settings({})
    # Every 4 minutes by default: with WooCommerce's 14-23 s delivery delay a missed change lands within 5 minutes.
    assert (defaults.fresh_pass_seconds, defaults.sync_failing_after) == (240, 3)
    custom = load_settings({"FRESH_PASS_SECONDS": "120", "SYNC_FAILING_AFTER": "5"})
    assert (custom.fresh_pass_seconds, custom.sync_failing_after) == (120, 5)
    with pytest.raises(ConfigError, match="FRESH_PASS_SECONDS must be between 60 and 3600, not 30"):
        load_settings({"FRESH_PASS_SECONDS": "30"})
    with pytest.raises(ConfigError, match="FRESH_PASS_SECONDS and SYNC_FAILING_AFTER must be integers"):
        load_settings({"FRESH_PASS_SECONDS": "4m"})
    with pytest.raises(ConfigError, match="SYNC_FAILING_AFTER must be at least 1, not 0"):
        load_settings({"SYNC_FAILING_AFTER": "0"})


@pytest.mark.parametrize("mode", ["development", "test"])
def test_private_stores_are_allowed_outside_production_when_asked(mode: str) -> None:
    assert load_settings({"BACKSOON_ENV": mode, "BACKSOON_ALLOW_PRIVATE_STORES": "1"}).allow_private_stores is True
    assert load_settings({"BACKSOON_ENV": mode}).allow_private_stores is False
    assert load_settings({"BACKSOON_ENV": mode, "BACKSOON_ALLOW_PRIVATE_STORES": "0"}).allow_private_stores is False


def test_production_refuses_to_start_with_private_stores_allowed() -> None:
    with pytest.raises(ConfigError) as info:
        load_settings({**PROD, "BACKSOON_ALLOW_PRIVATE_STORES": "true"})
    assert str(info.value) == (
        "BACKSOON_ALLOW_PRIVATE_STORES is for developing against a local store and is refused in production: "
        "it would let store addresses reach loopback and private networks. Unset it, or run with "
        "BACKSOON_ENV=development."
    )
    # Explicitly off is not an error.
    assert load_settings({**PROD, "BACKSOON_ALLOW_PRIVATE_STORES": "0"}).allow_private_stores is False
