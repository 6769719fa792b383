"""Inserts, updates, deletes and truncates inside multi-statement transactions arrive in commit order
per key, partitioned by account, with transaction metadata that counts them."""

import json

import psycopg
import pytest

from pipeline.kafka.changelog import fold, read_all

DDL = """
CREATE TABLE ledger (id bigint PRIMARY KEY, account_id bigint NOT NULL, amount numeric(12,2) NOT NULL, step int);
ALTER TABLE ledger REPLICA IDENTITY FULL;
CREATE TABLE scratch (id int PRIMARY KEY, v text);
"""


@pytest.fixture(scope="module")
def run(fresh_database, cdc_reader):
    reader = cdc_reader(fresh_database, partitions=4, partition_by="ledger=account_id", heartbeat_interval_s=0.5)
    with psycopg.connect(fresh_database.dsn()) as conn:
        conn.execute(DDL)
        conn.commit()
        reader.start()
        # Two connections interleave statements; commit order, not statement order, decides.
        with psycopg.connect(fresh_database.dsn()) as other:
            for i in range(1, 201):
                conn.execute("INSERT INTO ledger VALUES (%s, %s, %s, 0)", (i, i % 7, f"{i}.01"))
            other.execute("INSERT INTO ledger VALUES (1001, 1, 5.00, 0)")
            conn.execute("UPDATE ledger SET amount = amount + 1, step = 1 WHERE id <= 100")
            other.commit()
            conn.execute("DELETE FROM ledger WHERE id % 10 = 0")
            conn.execute("UPDATE ledger SET step = 2 WHERE id % 3 = 0")
            conn.commit()
            other.execute("UPDATE ledger SET step = 3, amount = 0.5 WHERE id = 1001")
            other.commit()
        conn.execute("INSERT INTO scratch SELECT g, 'x' FROM generate_series(1, 5) g")
        conn.execute("TRUNCATE scratch")
        conn.execute("INSERT INTO scratch VALUES (42, 'after truncate')")
        conn.commit()
        rows = {r[0]: r for r in conn.execute("SELECT id, account_id, amount::text, step FROM ledger")}
    reader.fence()
    prefix = reader.prefix
    return {
        "reader": reader,
        "pg_rows": rows,
        "ledger": list(read_all(reader.bootstrap, f"{prefix}.public.ledger")),
        "scratch": list(read_all(reader.bootstrap, f"{prefix}.public.scratch")),
        "tx": list(read_all(reader.bootstrap, f"{prefix}.transaction")),
        "heartbeat": list(read_all(reader.bootstrap, f"{prefix}.heartbeat")),
    }


def test_per_key_history_is_in_commit_order(run):
    history = {}
    for r in sorted(run["ledger"], key=lambda r: (r.partition, r.offset)):
        history.setdefault(r.key["id"], []).append((r.value["op"], r.value["after"] and r.value["after"]["step"]))
    assert history[30] == [("c", 0), ("u", 1), ("d", None)]
    assert history[99] == [("c", 0), ("u", 1), ("u", 2)]
    assert history[1001] == [("c", 0), ("u", 3)]
    # Along each partition: commit LSNs never go back, and within a transaction events keep their order.
    for p in {r.partition for r in run["ledger"]}:
        order = [(int(r.value["transaction"]["id"].split(":")[1]), r.value["transaction"]["total_order"])
                 for r in run["ledger"] if r.partition == p]
        assert order == sorted(order)


def test_one_account_one_partition(run):
    partitions = {}
    for r in run["ledger"]:
        account = (r.value["after"] or r.value["before"])["account_id"]
        partitions.setdefault(account, set()).add(r.partition)
    assert all(len(p) == 1 for p in partitions.values()) and len(set().union(*partitions.values())) > 1


def test_topic_folds_to_the_table_exactly(run):
    state = fold(iter(run["ledger"]))
    rebuilt = {json.loads(k)["id"]: (v["id"], v["account_id"], v["amount"], v["step"]) for k, v in state.items()}
    assert rebuilt == run["pg_rows"]


def test_truncate_reaches_every_partition_in_place(run):
    truncates = [r for r in run["scratch"] if r.value["op"] == "t"]
    assert len(truncates) == 4 and len({r.partition for r in truncates}) == 4
    assert {json.loads(k)["id"] for k in fold(iter(run["scratch"]))} == {42}


def test_transaction_metadata_counts_events(run):
    ends = [r.value for r in run["tx"] if r.value["status"] == "END"]
    begins = [r.value for r in run["tx"] if r.value["status"] == "BEGIN"]
    assert len(begins) == len(ends) >= 4
    big = max(ends, key=lambda e: e["event_count"])
    ledger_events = [r.value for r in run["ledger"] if r.value["transaction"]["id"] == big["id"]]
    assert big["event_count"] == len(ledger_events) == 200 + 100 + 20 + 60  # inserts, updates, deletes, step=2
    assert sorted(e["transaction"]["total_order"] for e in ledger_events) == list(range(1, len(ledger_events) + 1))


def test_heartbeats_arrive_while_idle(run):
    assert run["heartbeat"] and all(r.value["ts_ms"] > 0 for r in run["heartbeat"])
