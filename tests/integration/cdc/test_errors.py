"""Misconfigurations stop the reader with exit code 2 and a message that names the fix."""

import psycopg
import pytest
from psycopg import sql


@pytest.fixture(scope="module")
def db(fresh_database):
    with psycopg.connect(fresh_database.dsn(), autocommit=True) as conn:
        conn.execute("CREATE TABLE good (id int PRIMARY KEY)")
        conn.execute("CREATE TABLE other (id int PRIMARY KEY)")
        conn.execute("CREATE TABLE nokey (v text)")
    return fresh_database


def test_table_without_key_is_named_with_the_fix(db, cdc_reader):
    code, log = cdc_reader(db).run_to_exit()
    assert code == 2
    assert "public.nokey has no primary key" in log and "REPLICA IDENTITY FULL" in log


def test_role_without_replication_privilege(db, cdc_reader, test_stack):
    admin = test_stack.config.postgres.dsn("postgres", superuser=True)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute("DROP ROLE IF EXISTS cdc_norepl")
        conn.execute("CREATE ROLE cdc_norepl LOGIN PASSWORD 'only-for-this-test'")
    reader = cdc_reader(db, tables="public.good")
    reader.env.update(CDC_OLAP_POSTGRES_USER="cdc_norepl", CDC_OLAP_POSTGRES_PASSWORD="only-for-this-test")
    code, log = reader.run_to_exit()
    assert code == 2 and "lacks the REPLICATION privilege" in log and "ALTER ROLE cdc_norepl WITH REPLICATION" in log


def test_publication_missing_tables_when_not_allowed_to_change_it(db, cdc_reader):
    reader = cdc_reader(db, tables="public.good,public.other", create_publication="false")
    with psycopg.connect(db.dsn(), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE PUBLICATION {} FOR TABLE good").format(sql.Identifier(reader.slot)))
    code, log = reader.run_to_exit()
    assert code == 2 and "lacks public.other" in log and "ALTER PUBLICATION" in log


def test_unknown_table_in_the_include_list(db, cdc_reader):
    code, log = cdc_reader(db, tables="public.good,public.missing").run_to_exit()
    assert code == 2 and "public.missing, which do not exist" in log


def test_kafka_unreachable_at_start(db, cdc_reader):
    reader = cdc_reader(db, tables="public.good")
    reader.env.update(CDC_OLAP_KAFKA_BOOTSTRAP_SERVERS="127.0.0.1:9")
    code, log = reader.run_to_exit(timeout_s=60)
    # `cdc-olap cdc` probes Kafka before the reader starts (pipeline/reachability.py): one line, the key to fix.
    assert code == 2 and "cannot reach kafka at 127.0.0.1:9" in log and "CDC_OLAP_KAFKA_BOOTSTRAP_SERVERS" in log
