"""Versioned migrations: applied once even when several instances start at the same moment."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import Connection, Engine, text

from stepca.config import DBConfig
from stepca.db import migrate as migrations
from stepca.db import schema
from stepca.db.engine import DatabaseTarget, ensure_database, make_engine, resolve_target
from tests.db.backends import Backend, open_backend

INSTANCES = 6


def target_of(backend: Backend, tmp_path: Path) -> DatabaseTarget:
    return resolve_target(DBConfig.model_validate(backend.db_block()), tmp_path / "unused.db")


NEWEST = schema.SCHEMA_VERSION


def _v2_not_idempotent(conn: Connection) -> None:
    """Fails if run twice: proves the lock lets exactly one instance migrate."""
    conn.exec_driver_sql("CREATE TABLE probe_v2 (id INTEGER)")
    conn.exec_driver_sql("INSERT INTO probe_v2 (id) VALUES (1)")


def run_concurrently(fn: Callable[[], object], n: int) -> list[object]:
    barrier = threading.Barrier(n)
    results: list[object] = [None] * n

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = fn()
        except Exception as exc:
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    return results


def test_instances_starting_together_migrate_once(
    db_backend: Backend, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(migrations, "MIGRATIONS", [*migrations.MIGRATIONS, _v2_not_idempotent])
    target = target_of(db_backend, tmp_path)
    # every instance also creates the database: concurrent creation is not an error
    assert run_concurrently(lambda: ensure_database(target), INSTANCES) == [None] * INSTANCES

    def start_instance() -> int:
        engine = make_engine(target, pool_size=1)
        try:
            return migrations.migrate(engine)
        finally:
            engine.dispose()

    found = run_concurrently(start_instance, INSTANCES)
    assert sorted(found) == [0] + [NEWEST + 1] * (INSTANCES - 1), found  # type: ignore[type-var]
    assert db_backend.scalar("SELECT version FROM stepca_schema WHERE id = 1") == NEWEST + 1
    assert db_backend.scalar("SELECT count(*) FROM probe_v2") == 1


def test_upgrade_applies_only_the_missing_versions(
    db_backend: Backend, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = target_of(db_backend, tmp_path)
    ensure_database(target)
    engine = make_engine(target)
    try:
        assert migrations.migrate(engine) == 0
        assert migrations.migrate(engine) == schema.SCHEMA_VERSION  # nothing to do
        monkeypatch.setattr(migrations, "MIGRATIONS", [*migrations.MIGRATIONS, _v2_not_idempotent])
        assert migrations.migrate(engine) == NEWEST
        assert migrations.migrate(engine) == NEWEST + 1
    finally:
        engine.dispose()
    assert db_backend.scalar("SELECT count(*) FROM probe_v2") == 1


def test_a_newer_schema_is_refused(db_backend: Backend, tmp_path: Path) -> None:
    target = target_of(db_backend, tmp_path)
    ensure_database(target)
    engine = make_engine(target)
    try:
        migrations.migrate(engine)
        with engine.begin() as conn:
            conn.execute(text("UPDATE stepca_schema SET version = 99 WHERE id = 1"))
        with pytest.raises(migrations.MigrationError, match="version 99, newer"):
            migrations.migrate(engine)
    finally:
        engine.dispose()


def _hold_lock(engine: Engine, kind: str, database: str) -> Connection:
    conn = engine.connect()
    if kind == "postgresql":
        conn.exec_driver_sql(f"SELECT pg_advisory_lock({migrations._PG_LOCK_ID})")
    else:
        conn.exec_driver_sql("SELECT GET_LOCK(%s, 1)", (f"stepca_migrate.{database}",))
    conn.commit()
    return conn


def test_a_stuck_migration_elsewhere_times_out_clearly(server_backend: Backend, tmp_path: Path) -> None:
    target = target_of(server_backend, tmp_path)
    ensure_database(target)
    holder_engine, engine = make_engine(target), make_engine(target)
    holder = _hold_lock(holder_engine, server_backend.kind, server_backend.database)
    try:
        with pytest.raises(migrations.MigrationError, match="held the migration lock"):
            migrations.migrate(engine, timeout=1)
        holder.close()
        holder_engine.dispose()  # the other instance goes away: its lock goes with its session
        assert migrations.migrate(engine, timeout=5) == 0
    finally:
        holder.close()
        holder_engine.dispose()
        engine.dispose()


# ------------------------------------------------------------------ frozen migrations


def _shape(engine: Engine) -> dict[str, object]:
    """Tables, columns (type, nullability), primary keys and indexes, as the database reports them."""
    from sqlalchemy import inspect

    insp = inspect(engine)
    shape: dict[str, object] = {}
    for table in sorted(insp.get_table_names()):
        shape[table] = {
            "columns": [(c["name"], str(c["type"]), c["nullable"]) for c in insp.get_columns(table)],
            "pk": insp.get_pk_constraint(table)["constrained_columns"],
            "indexes": sorted((tuple(i["column_names"]), bool(i["unique"])) for i in insp.get_indexes(table)),
        }
    return shape


def _engine(backend: Backend, tmp_path: Path) -> Engine:
    target = target_of(backend, tmp_path)
    ensure_database(target)
    return make_engine(target)


def test_a_version_1_database_migrates_to_the_same_schema_as_a_fresh_one(
    db_backend: Backend, tmp_path: Path
) -> None:
    """Each version's DDL is frozen: a database created at version 1 (with data in it), then
    upgraded, equals a fresh one, and both equal the live model the queries use."""
    from sqlalchemy import MetaData

    (tmp_path / "fresh").mkdir()
    other = open_backend(db_backend.kind, tmp_path / "fresh")
    old, fresh = _engine(db_backend, tmp_path), _engine(other, tmp_path / "fresh")
    try:
        assert migrations.migrate(old, target=1) == 0
        with old.begin() as conn:
            assert migrations.current_version(conn) == 1
            assert not conn.dialect.has_table(conn, "job_leases")  # no later table leaked into v1
            assert not conn.dialect.has_table(conn, "crls")
            conn.execute(
                schema.used_tokens.insert().values(token_id="t1", provisioner="p", expires_at=1, used_at=1)
            )
            # a version-1 revocation row: v3 adds a column to its table
            conn.exec_driver_sql(
                "INSERT INTO revocations (serial, kind, reason_code, reason, revoked_at, provisioner, "
                "token_id, mtls, not_after) VALUES ('5', 'x509', 1, '', 10, '', '', false, 20)"
            )
        assert migrations.migrate(old) == 1
        assert migrations.migrate(fresh) == 0
        assert _shape(old) == _shape(fresh)
        with old.connect() as conn:
            assert migrations.current_version(conn) == NEWEST
            assert conn.execute(text("SELECT token_id FROM used_tokens")).scalar_one() in ("t1", b"t1")
            # the old revocation reads back with no invalidity date
            assert conn.execute(text("SELECT invalidity_date FROM revocations")).scalar_one() == 0
        model = MetaData()
        schema_shape = _shape(fresh)
        live_tables = set(schema.metadata.tables)
        assert set(schema_shape) == live_tables, "schema.py and the migrations disagree on tables"
        model.reflect(bind=fresh)
        for name, table in schema.metadata.tables.items():
            assert [c.name for c in table.columns] == [c.name for c in model.tables[name].columns], name
            assert [c.name for c in table.primary_key] == [c.name for c in model.tables[name].primary_key], (
                name
            )
            assert {tuple(c.name for c in i.columns) for i in table.indexes} == {
                tuple(c.name for c in i.columns) for i in model.tables[name].indexes
            }, name
    finally:
        old.dispose()
        fresh.dispose()
        other.close()
