"""Where our events follow Debezium: a key change is a delete under the old key and a create under the
new one (with a tombstone when tombstones are on); tombstones after deletes; reference tables' topics
compacted, the others deleted after retention, with min.insync.replicas from [kafka]."""

import psycopg
import pytest

from pipeline.kafka.admin import topic_configs
from pipeline.kafka.changelog import fold, read_all


@pytest.fixture(scope="module")
def run(fresh_database, cdc_reader):
    with psycopg.connect(fresh_database.dsn(), autocommit=True) as conn:
        conn.execute("CREATE TABLE accounts (account_id int PRIMARY KEY, owner text NOT NULL)")
        conn.execute("ALTER TABLE accounts REPLICA IDENTITY FULL")
        conn.execute("CREATE TABLE events (id int PRIMARY KEY, account_id int NOT NULL)")  # default replica identity
        conn.execute("INSERT INTO accounts VALUES (1, 'ann'), (2, 'bob')")
        conn.execute("INSERT INTO events VALUES (10, 1), (11, 2)")
    reader = cdc_reader(fresh_database, tombstones="true", compacted_tables="accounts", retention_ms=3_600_000)
    reader.start()
    with psycopg.connect(fresh_database.dsn(), autocommit=True) as conn:
        conn.execute("UPDATE accounts SET account_id = 3 WHERE account_id = 1")  # key change, FULL identity
        conn.execute("UPDATE events SET id = 12 WHERE id = 10")  # key change, old key only
        conn.execute("UPDATE events SET account_id = 5 WHERE id = 11")  # not a key change
        conn.execute("DELETE FROM accounts WHERE account_id = 2")
    reader.fence()
    topics = {t: f"{reader.prefix}.public.{t}" for t in ("accounts", "events")}
    records = {t: list(read_all(reader.bootstrap, name)) for t, name in topics.items()}
    return reader, topics, records


def _by_key(records) -> dict[str, list]:
    """key -> its streamed ops in order (None: a tombstone); one key's records share a partition."""
    out: dict[str, list] = {}
    for r in records:
        if r.value is None or r.value["op"] != "r":
            out.setdefault(str(r.key), []).append(r.value["op"] if r.value else None)
    return out


def test_key_change_is_delete_tombstone_create_with_full_identity(run):
    _, _, records = run
    ops = _by_key(records["accounts"])
    assert ops[str({"account_id": 1})] == ["d", None] and ops[str({"account_id": 3})] == ["c"]
    delete = next(r.value for r in records["accounts"] if r.value and r.value["op"] == "d"
                  and r.key == {"account_id": 1})
    assert delete["before"] == {"account_id": 1, "owner": "ann"} and delete["after"] is None


def test_key_change_with_default_identity_and_plain_update(run):
    _, _, records = run
    assert _by_key(records["events"]) == {str({"id": 10}): ["d", None], str({"id": 12}): ["c"],
                                          str({"id": 11}): ["u"]}
    assert {k: v["account_id"] for k, v in fold(iter(records["events"])).items()} == {'{"id": 11}': 5, '{"id": 12}': 1}


def test_delete_is_followed_by_a_tombstone(run):
    _, _, records = run
    assert _by_key(records["accounts"])[str({"account_id": 2})] == ["d", None]


def test_topic_policies_come_from_configuration(run):
    reader, topics, _ = run
    configs = topic_configs(reader.bootstrap, list(topics.values()))
    assert configs[topics["accounts"]]["cleanup.policy"] == "compact"
    assert configs[topics["events"]]["cleanup.policy"] == "delete"
    assert configs[topics["events"]]["retention.ms"] == "3600000"
    assert configs[topics["events"]]["min.insync.replicas"] == "1"


def test_truncate_on_a_compacted_topic_is_keyed_per_partition(fresh_database, cdc_reader):
    """Kafka refuses a record without a key on a compacted topic: the truncate carries {"truncate": P}."""
    with psycopg.connect(fresh_database.dsn(), autocommit=True) as conn:
        conn.execute("CREATE TABLE cards (card_id int PRIMARY KEY, account_id int NOT NULL)")
        conn.execute("ALTER TABLE cards REPLICA IDENTITY FULL")
    reader = cdc_reader(fresh_database, tables="public.cards", compacted_tables="cards", partitions=3).start()
    with psycopg.connect(fresh_database.dsn(), autocommit=True) as conn:
        conn.execute("INSERT INTO cards SELECT g, g FROM generate_series(1, 9) g")
        conn.execute("TRUNCATE cards")
        conn.execute("INSERT INTO cards VALUES (100, 1)")
    reader.fence()
    records = list(read_all(reader.bootstrap, f"{reader.prefix}.public.cards"))
    truncates = [r for r in records if r.value and r.value["op"] == "t"]
    assert sorted((r.partition, r.key["truncate"]) for r in truncates) == [(0, 0), (1, 1), (2, 2)]
    assert list(fold(iter(records))) == ['{"card_id": 100}']
