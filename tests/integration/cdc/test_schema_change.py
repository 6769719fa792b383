"""ADD COLUMN, DROP COLUMN and a type change mid-stream: picked up from Relation messages, schema_version
moves, nothing is lost and the reader keeps running."""

import psycopg
import pytest

from pipeline.kafka.changelog import read_all


@pytest.fixture(scope="module")
def events(fresh_database, cdc_reader):
    reader = cdc_reader(fresh_database)
    with psycopg.connect(fresh_database.dsn(), autocommit=True) as conn:
        conn.execute("CREATE TABLE payees (id int PRIMARY KEY, name text, limit_cents int)")
        reader.start()
        conn.execute("INSERT INTO payees VALUES (1, 'a', 100)")
        conn.execute("ALTER TABLE payees ADD COLUMN iban text")
        conn.execute("INSERT INTO payees VALUES (2, 'b', 200, 'DE89')")
        conn.execute("ALTER TABLE payees ALTER COLUMN limit_cents TYPE numeric(12,2)")
        conn.execute("INSERT INTO payees VALUES (3, 'c', 300.5, 'FR76')")
        conn.execute("ALTER TABLE payees DROP COLUMN name")
        conn.execute("INSERT INTO payees VALUES (4, 400, 'NL91')")
        conn.execute("UPDATE payees SET iban = 'X' WHERE id = 1")
    reader.fence()
    assert reader.proc.poll() is None
    return {r.key["id"]: r.value for r in read_all(reader.bootstrap, f"{reader.prefix}.public.payees")
            if r.value["op"] == "c"}, list(read_all(reader.bootstrap, f"{reader.prefix}.public.payees"))


def test_each_shape_gets_the_next_version(events):
    creates, _ = events
    assert [creates[i]["schema_version"] for i in (1, 2, 3, 4)] == [1, 2, 3, 4]


def test_rows_carry_the_columns_of_their_time(events):
    creates, _ = events
    assert creates[1]["after"] == {"id": 1, "name": "a", "limit_cents": 100}
    assert creates[2]["after"] == {"id": 2, "name": "b", "limit_cents": 200, "iban": "DE89"}
    assert creates[3]["after"] == {"id": 3, "name": "c", "limit_cents": "300.50", "iban": "FR76"}
    assert creates[4]["after"] == {"id": 4, "limit_cents": "400.00", "iban": "NL91"}


def test_update_after_the_changes_uses_the_latest_shape(events):
    _, all_events = events
    (update,) = [e.value for e in all_events if e.value["op"] == "u"]
    assert update["after"] == {"id": 1, "limit_cents": "100.00", "iban": "X"} and update["schema_version"] == 4
