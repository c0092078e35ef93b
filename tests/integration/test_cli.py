"""The `backsoon` commands an operator runs, end to end on a temporary SQLite database."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from app.cli import cli
from app.config import get_settings
from app.db import Database
from app.models import StockState, Store, Variant
from app.runtime import set_runtime
from app.services.merchant.api_keys import hash_api_key


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.delenv("REDIS_URL", raising=False)
    get_settings.cache_clear()
    set_runtime(None)
    yield url
    get_settings.cache_clear()
    set_runtime(None)


def test_migrate_seed_recompute_and_api_key(env: str) -> None:
    runner = CliRunner()
    result = runner.invoke(cli, ["migrate"])
    assert result.exit_code == 0, result.output
    assert "database is at the latest migration" in result.output

    result = runner.invoke(cli, ["seed-demo", "--variants", "60", "--days", "30"])
    assert result.exit_code == 0, result.output
    db = Database(env)
    with db.session() as s:
        store_id = s.execute(select(Store.id).where(Store.platform == "demo")).scalar_one()
        n_variants = s.scalar(select(func.count()).select_from(Variant))
        n_states = s.scalar(select(func.count()).select_from(StockState))
    assert n_variants == n_states
    assert f"demo store {store_id}: {n_variants} variants, stock states computed" in result.output

    result = runner.invoke(cli, ["recompute", "--store", str(store_id)])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"store {store_id}: {n_variants} variants, 0 changed, 0 restocks, 0 sell-outs in ")

    result = runner.invoke(cli, ["create-api-key", "--store", str(store_id)])
    assert result.exit_code == 0, result.output
    key = result.stdout.strip()
    assert key.startswith("bsk_")
    with db.session() as s:
        assert s.execute(select(Store.api_key_hash).where(Store.id == store_id)).scalar_one() == hash_api_key(key)
    db.dispose()


def test_errors_are_clear_and_change_nothing(env: str) -> None:
    runner = CliRunner()
    assert runner.invoke(cli, ["migrate"]).exit_code == 0
    result = runner.invoke(cli, ["recompute"])
    assert result.exit_code == 2
    assert "give --store ID or --all" in result.output
    result = runner.invoke(cli, ["recompute", "--store", "999"])
    assert result.exit_code == 1
    assert "store 999 not found" in result.output
    result = runner.invoke(cli, ["create-api-key", "--store", "999"])
    assert result.exit_code == 1
    assert "store 999 not found" in result.output
    db = Database(env)
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(Store)) == 0
    db.dispose()
