"""The stack's Postgres: logical decoding works and the roles the stages need exist."""

import uuid

import psycopg


def test_slot_sees_a_committed_change(test_stack):
    config = test_stack.need("postgres")
    slot = f"smoke_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(config.postgres.dsn(), autocommit=True) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS smoke_pg (id bigint PRIMARY KEY, amount numeric(18,2))")
        conn.execute("SELECT pg_create_logical_replication_slot(%s, 'test_decoding')", (slot,))
        try:
            conn.execute("INSERT INTO smoke_pg VALUES (%s, 12.34)", (hash(slot) & 0xFFFFFFF,))
            changes = [row[0] for row in conn.execute(
                "SELECT data FROM pg_logical_slot_get_changes(%s, NULL, NULL)", (slot,))]
        finally:
            conn.execute("SELECT pg_drop_replication_slot(%s)", (slot,))
    inserts = [c for c in changes if c.startswith("table public.smoke_pg: INSERT")]
    assert len(inserts) == 1 and "amount[numeric]:12.34" in inserts[0]


def test_replication_connection_identifies_the_system(test_stack):
    config = test_stack.need("postgres")
    with psycopg.connect(config.postgres.dsn(), autocommit=True, replication="database") as conn:
        systemid, timeline, xlogpos, dbname = conn.execute("IDENTIFY_SYSTEM").fetchone()
    assert dbname == config.postgres.database and int(timeline) >= 1 and "/" in xlogpos


def test_superset_metadata_database_exists(test_stack):
    config = test_stack.need("postgres")
    for role, password in (("superset", config.superset.db_password),):
        dsn = f"host={config.postgres.host} port={config.postgres.port} dbname={role} user={role} password={password}"
        with psycopg.connect(dsn) as conn:
            assert conn.execute("SELECT current_user").fetchone()[0] == role
