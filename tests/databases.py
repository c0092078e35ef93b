"""The two kinds of test database behind the ``db`` fixture: rolled back (the default) and truncated.

Rolled back: SQLAlchemy's "Joining a Session into an External Transaction" recipe. One connection begins an outer
transaction, and the Database's own sessionmaker is re-bound to that connection with
``join_transaction_mode="create_savepoint"``: the application's ``session.commit()`` releases a savepoint and its
``session.rollback()`` rolls back to one, and the test's end rolls the outer transaction back. To the Session the
savepoint is its root transaction, so ``after_commit``/``after_rollback`` fire as in production: the listeners
app.queue.enqueue_on_commit put on the sessionmaker stay (only its bind and join mode change), and jobs queued with
``enqueue_after_commit`` go out on that "commit" and are dropped on a rollback.

Both kinds start a test with empty tables and every identity sequence at 1, as TRUNCATE ... RESTART IDENTITY left
them before: ids are the same whichever kind a test has. The sequences are restarted with setval(): ALTER SEQUENCE
would be rolled back too, but would hold a lock that makes every other connection's insert wait until then.

Code that opens connections of its own (``db.engine.connect()``, the webhook front's autocommit engine, forked
senders, a CLI building its own Database, a live server) would see none of the test's rows and write outside the
rollback. The Database's engines refuse any further checkout (SecondConnection), and the fixture fails a test that
tried, or that left rows behind, even when the application swallowed the error. Such tests are marked
``@pytest.mark.truncating("why")`` and get a plain Database whose tables are emptied by TRUNCATE afterwards.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, event, text

from app.db import Base, Database


class SecondConnection(RuntimeError):
    """Raised when code under a rolled-back test opens a connection besides the test's one."""


class RollbackDatabase(Database):
    """A Database whose sessions share one connection in an outer transaction; ``close()`` rolls it all back."""

    connection: Connection

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.refused = 0
        self.connection = self.engine.connect()
        self.outer = self.connection.begin()
        restart_identities(self.connection)
        # The same factory and after-commit listeners: only where its sessions get their connection changes.
        self.sessions.configure(bind=self.connection, join_transaction_mode="create_savepoint")
        for engine in {self.engine, self.autocommit_engine}:
            event.listen(engine, "checkout", self._refuse)

    def _refuse(self, _dbapi_conn: Any, _record: Any, _proxy: Any) -> None:
        self.refused += 1
        raise SecondConnection(
            "this test runs in one rolled-back transaction, but the code opened a connection of its own: "
            'mark the test (or its module) @pytest.mark.truncating("why")'
        )

    def close(self) -> None:
        """Roll back everything the test wrote and release the connection; the engines stay usable for checks."""
        try:
            if self.outer.is_active:
                self.outer.rollback()
        finally:
            self.connection.close()
            for engine in {self.engine, self.autocommit_engine}:
                event.remove(engine, "checkout", self._refuse)


_SEQUENCES: dict[str, list[str]] = {}

# The sequences owned by a column of one of our tables: the ones TRUNCATE ... RESTART IDENTITY restarts.
_OWNED_SEQUENCES = """
SELECT s.relname FROM pg_class s
JOIN pg_depend d ON d.objid = s.oid AND d.classid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')
JOIN pg_class t ON t.oid = d.refobjid
WHERE s.relkind = 'S' AND t.relname = ANY(:tables)
ORDER BY s.relname
"""


def restart_identities(conn: Connection) -> None:
    """Make every identity sequence hand out 1 next (setval is not transactional: a rollback keeps it)."""
    url = conn.engine.url.render_as_string(hide_password=False)
    if url not in _SEQUENCES:
        tables = [t.name for t in Base.metadata.sorted_tables]
        _SEQUENCES[url] = list(conn.execute(text(_OWNED_SEQUENCES), {"tables": tables}).scalars())
    if _SEQUENCES[url]:
        calls = ", ".join(f"setval('\"{name}\"', 1, false)" for name in _SEQUENCES[url])
        conn.exec_driver_sql(f"SELECT {calls}")


def truncate_all(db: Database) -> None:
    """Empty every table and restart the identities."""
    tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    with db.engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))


def tables_with_rows(db: Database) -> list[str]:
    """The tables holding at least one row, in one round trip."""
    probes = " UNION ALL ".join(
        f"SELECT '{t.name}' WHERE EXISTS (SELECT 1 FROM \"{t.name}\")"  # noqa: S608 - our own table names
        for t in Base.metadata.sorted_tables
    )
    with db.engine.connect() as conn:
        return [str(name) for name in conn.execute(text(probes)).scalars()]
