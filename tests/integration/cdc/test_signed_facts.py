"""Signed facts for Druid: summing `_sign` and `amount_cents * _sign` over the facts topic gives what the same
GROUP BY gives on Postgres, after inserts, updates (of a status, of a dimension, of the key) and deletes;
each fact belongs to its change event. A truncate of a signed table is refused: stop, or dead-letter."""

import json
import re
from collections import Counter
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest

from pipeline.cdc.pgoutput import parse_lsn
from pipeline.cdc.rejections import EXIT_CODE
from pipeline.cdc.state import ReaderState
from pipeline.kafka.changelog import read_all
from pipeline.sor import schema

from topic_checks import assert_each_change_once

PARTITIONS = 3
COLUMNS = "(transaction_id, account_id, card_id, merchant_id, amount, currency, direction, channel, country, status)"
TRUTH = """SELECT merchant_id, status, currency, count(*), (sum(amount) * 100)::bigint
           FROM transactions GROUP BY 1, 2, 3"""


def _pay(conn, tx_id: int, account: int, merchant: int | None, amount: str, currency: str = "USD",
         status: str = "pending") -> None:
    conn.execute(f"INSERT INTO transactions {COLUMNS} VALUES (%s, %s, NULL, %s, %s, %s, 'debit', 'transfer', 'US', %s)",
                 (tx_id, account, merchant, amount, currency, status))


@pytest.fixture(scope="module")
def db(fresh_database):
    schema.apply(fresh_database)
    with psycopg.connect(fresh_database.dsn(), autocommit=True) as conn:
        conn.execute("INSERT INTO customers (customer_id, full_name, email, country) VALUES (1, 'A', 'a@x', 'US')")
        for account, currency in ((1, "USD"), (2, "EUR"), (3, "USD"), (4, "GBP")):
            conn.execute("INSERT INTO accounts (account_id, customer_id, currency, home_timezone) "
                         "VALUES (%s, 1, %s, 'UTC')", (account, currency))
        for merchant in (10, 11, 12):
            conn.execute("INSERT INTO merchants (merchant_id, name, mcc, country) VALUES (%s, 'm', '5411', 'US')",
                         (merchant,))
    return fresh_database


@pytest.fixture(scope="module")
def run(db, cdc_reader):
    with psycopg.connect(db.dsn(), autocommit=True) as conn:
        _pay(conn, 1, 1, 10, "12.30")  # before the reader: a snapshot row (op r)
        reader = cdc_reader(db, tables="public.transactions", partitions=PARTITIONS).start()
        with conn.transaction():
            _pay(conn, 2, 1, 10, "0.10")
            _pay(conn, 3, 2, 11, "1234567890123456.78", "EUR")
            _pay(conn, 4, 3, None, "99.99")
            _pay(conn, 5, 4, 12, "7.00", "GBP", "declined")
            _pay(conn, 6, 1, 11, "45.67")
        conn.execute("UPDATE transactions SET status = 'settled' WHERE transaction_id IN (1, 2, 3)")  # status
        conn.execute("UPDATE transactions SET merchant_id = 12 WHERE transaction_id = 6")  # a dimension
        conn.execute("UPDATE transactions SET merchant_id = 10, amount = 100.01 WHERE transaction_id = 4")
        conn.execute("DELETE FROM transactions WHERE transaction_id = 5")
        conn.execute("UPDATE transactions SET transaction_id = 1000 WHERE transaction_id = 2")  # the key
        with conn.transaction():  # a settled payment reversed, and a new one, in one transaction
            conn.execute("UPDATE transactions SET status = 'reversed' WHERE transaction_id = 1")
            _pay(conn, 7, 3, 10, "0.01")
        truth = {(m, s, c): (n, cents) for m, s, c, n, cents in conn.execute(TRUTH)}
    health = reader.fence()
    return {"reader": reader, "truth": truth, "health": health,
            "facts": list(read_all(reader.bootstrap, f"{reader.prefix}.facts.transactions")),
            "events": list(read_all(reader.bootstrap, f"{reader.prefix}.public.transactions"))}


def test_summed_facts_equal_the_same_group_by_on_postgres(run):
    sums: dict[tuple, list[int]] = {}
    for r in run["facts"]:
        f = r.value
        total = sums.setdefault((f["merchant_id"], f["status"], f["currency"]), [0, 0])
        total[0] += f["_sign"]
        total[1] += f["amount_cents"] * f["_sign"]
    assert {k: tuple(v) for k, v in sums.items() if v != [0, 0]} == run["truth"]
    assert run["truth"][(11, "settled", "EUR")] == (1, 123456789012345678)


def test_each_fact_belongs_to_its_change_event(run):
    events = {(json.dumps(r.key, sort_keys=True), r.value["source"]["lsn"], r.value["op"]): r for r in run["events"]}
    signs: dict[tuple, list[int]] = {}
    for r in run["facts"]:
        f = r.value
        change = events.get((json.dumps(r.key, sort_keys=True), f["_lsn"], f["_op"]))
        assert change is not None, f"fact {f} has no change event with its key, LSN and op"
        assert r.partition == change.partition and f["_commit_ms"] == change.value["source"]["ts_ms"]
        # A snapshot row is as of the slot's consistent point (its source.lsn); a change, as of its
        # transaction's commit (the commit LSN in its transaction id, xid:commit_lsn).
        commit_lsn = change.value["source"]["lsn"] if f["_op"] == "r" else \
            int(change.value["transaction"]["id"].split(":")[1])
        assert f["_commit_lsn"] == commit_lsn >= f["_lsn"]
        row = change.value["after"] if f["_sign"] == 1 else change.value["before"]
        assert {k: v for k, v in f.items() if not k.startswith("_") and k != "amount_cents"} == row
        assert f["amount_cents"] == int(Decimal(row["amount"]) * 100)
        signs.setdefault((r.key["transaction_id"], f["_lsn"], f["_op"]), []).append(f["_sign"])
    expected = {"r": [1], "c": [1], "u": [-1, 1], "d": [-1]}
    assert signs == {(r.key["transaction_id"], r.value["source"]["lsn"], r.value["op"]): expected[r.value["op"]]
                     for r in run["events"]}


def test_a_key_change_retracts_the_old_key_and_adds_the_new(run):
    moved = [r.value for r in run["facts"] if (r.key["transaction_id"], r.value["_op"]) in ((2, "d"), (1000, "c"))]
    assert [(f["transaction_id"], f["_op"], f["_sign"], f["status"]) for f in moved] == [
        (2, "d", -1, "settled"), (1000, "c", 1, "settled")]
    assert moved[0]["_lsn"] == moved[1]["_lsn"]


def test_facts_are_counted_once_and_in_health(run):
    facts = run["facts"]
    assert len({(r.key["transaction_id"], r.value["_lsn"], r.value["_op"], r.value["_sign"]) for r in facts}) \
        == len(facts)
    assert_each_change_once(run["events"], "transaction_id")
    # snapshot 1, inserts 6, status updates 3 x 2, dimension updates 2 x 2, delete 1, key change 2, reversal 2
    assert run["health"]["facts"] == len(facts) == 1 + 6 + 6 + 4 + 1 + 2 + 2


def test_a_truncate_of_a_signed_table_stops_or_is_dead_lettered(run, db, cdc_reader):
    reader = cdc_reader(db, tables="public.disputes", partitions=PARTITIONS).start()
    facts_topic = f"{reader.prefix}.facts.disputes"
    with psycopg.connect(db.dsn(), autocommit=True) as conn:
        conn.execute("INSERT INTO disputes (dispute_id, transaction_id, reason, amount) VALUES (1, 7, 'fraud', 0.01)")
        reader.fence()
        conn.execute("TRUNCATE disputes")
        conn.execute("INSERT INTO disputes (dispute_id, transaction_id, reason, amount) VALUES (2, 7, 'other', 0.01)")
    code = reader.proc.wait(60)
    assert code == EXIT_CODE, reader.log_tail()
    error = ReaderState.load(next(Path(reader.env["CDC_OLAP_CDC_STATE_DIR"]).glob("*.json"))).failure["error"]
    refused = re.search(r"Signed facts refused the change of public.disputes key null at LSN (\S+) \(op t", error)
    assert refused and "TRUNCATE_NOT_RETRACTABLE" in error and "on_rejected = 'dead-letter'" in error
    assert f"re-index the Druid datasource fed by {facts_topic}" in error
    assert [r.value["dispute_id"] for r in read_all(reader.bootstrap, facts_topic)] == [1]

    # The operator's way past it: dead-letter the truncate (on-call is paged to re-index); the reader goes on.
    reader.env["CDC_OLAP_CDC_ON_REJECTED"] = "dead-letter"
    reader.start()
    health = reader.fence()
    (letter,) = [r.value for r in read_all(reader.bootstrap, f"{reader.prefix}.cdc.dead_letter")]
    assert (letter["reason"], letter["op"], letter["table"], letter["topic"]) == (
        "TRUNCATE_NOT_RETRACTABLE", "t", "public.disputes", facts_topic)
    assert letter["lsn"] == parse_lsn(refused.group(1)) and "re-index" in letter["detail"]
    facts = [(r.value["dispute_id"], r.value["_sign"]) for r in read_all(reader.bootstrap, facts_topic)]
    assert sorted(facts) == [(1, 1), (2, 1)]
    events = Counter(r.value["op"] for r in read_all(reader.bootstrap, f"{reader.prefix}.public.disputes"))
    assert events == {"c": 2, "t": PARTITIONS}  # the truncate itself is still published
    assert health["rejected"] == health["dead_letters"] == 1 and health["facts"] == 1
