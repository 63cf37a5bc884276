"""The suite's own PostgreSQL server: started by the tests, password-protected, restartable."""

from __future__ import annotations

import psycopg
import pytest


def test_a_fresh_database_per_test(postgres_url, postgres_server):
    with psycopg.connect(postgres_url) as conn:
        conn.execute("CREATE TABLE t (x int)")
        conn.execute("INSERT INTO t VALUES (1)")
        assert conn.execute("SELECT count(*) FROM t").fetchone() == (1,)
    other = postgres_server.create_database()
    try:
        with psycopg.connect(other) as conn:
            assert conn.execute("SELECT to_regclass('t')").fetchone() == (None,)
    finally:
        postgres_server.drop_database(other)


def test_a_wrong_password_is_refused(postgres_server):
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(postgres_server.url_for("postgres", password="not-it"), connect_timeout=5)


def test_the_server_can_be_restarted(postgres_url, postgres_server):
    if postgres_server.external:
        pytest.skip("an external server is not restarted by the tests")
    conn = psycopg.connect(postgres_url, autocommit=True)
    postgres_server.restart()
    with pytest.raises(psycopg.OperationalError):
        conn.execute("SELECT 1")
    with psycopg.connect(postgres_url) as again:
        assert again.execute("SELECT 1").fetchone() == (1,)
