"""The health job's input: one append-only stream of account events, as Flink SQL views.

`account_events` has one row per thing that moves an account's score, at its
commit time, with the account and its owner and a 0/1 (or cents) column per
input: a payment made, a transaction that became declined or reversed, a
balance change, a login or failed login of the owner. Both the 5-minute
windows and the per-change rows sum these same rows, which is what keeps the
two kinds of output consistent.

Logins belong to a customer, not an account. Each login becomes one row per
account the customer owns at the login's commit: `customer_accounts` is a
versioned view keyed by customer (the list of their account ids, grown from
the accounts' inserts and snapshot rows), joined at the login's commit time
and unnested. Flink's event-time temporal join needs the versioned table's
primary key in the condition, so `accounts_changelog` (keyed by account)
cannot be joined by customer directly. Every view filters rows by `op`, so the
CDC reader's watermark records ("m") move the watermarks but never become rows.
"""

from __future__ import annotations

from flink_jobs import sql
from flink_jobs.fraud.views import BACKDATED_S

# The per-event columns of account_events, in order, after account_id and customer_id.
EVENT_COLUMNS = ("payment", "amount_cents", "declined", "reversed", "balance_change_cents", "login", "failed_login")


def _became(status: str) -> str:
    """1 when the change makes the transaction `status` (inserted so, or updated to it), else 0."""
    return (f"CASE WHEN `after`.`status` = '{status}' AND (op = 'c' OR `before`.`status` IS DISTINCT FROM "
            f"'{status}') THEN 1 ELSE 0 END")


def _row(account: str, customer: str, event_time: str, **values: str) -> str:
    """A SELECT list in account_events' column order; inputs not given are 0."""
    unknown = set(values) - set(EVENT_COLUMNS)
    if unknown:
        raise ValueError(f"not an account event column: {', '.join(sorted(unknown))}")
    columns = [f"CAST({values.get(name, '0')} AS BIGINT) AS {name}" for name in EVENT_COLUMNS]
    return ", ".join([f"{account} AS account_id", f"{customer} AS customer_id", *columns, f"{event_time} AS event_time"])


def statements() -> list[str]:
    is_payment = f"op = 'c' AND `after`.`created_at` >= event_time - {sql.interval(BACKDATED_S)}"
    return [
        f"""CREATE TEMPORARY VIEW tx_changes AS
SELECT `after`.`account_id` AS account_id, CASE WHEN {is_payment} THEN 1 ELSE 0 END AS payment,
       CASE WHEN {is_payment} THEN CAST(`after`.`amount` * 100 AS BIGINT) ELSE 0 END AS amount_cents,
       {_became('declined')} AS declined, {_became('reversed')} AS reversed, event_time
FROM transactions_cdc WHERE op IN ('c', 'u')""",
        # Each account once (a resent insert must not list it twice), at its first commit.
        """CREATE TEMPORARY VIEW new_accounts AS
SELECT account_id, customer_id, event_time FROM (
  SELECT `after`.`account_id` AS account_id, `after`.`customer_id` AS customer_id, event_time,
         ROW_NUMBER() OVER (PARTITION BY `after`.`account_id` ORDER BY event_time) AS n
  FROM accounts_cdc WHERE op IN ('r', 'c'))
WHERE n = 1""",
        """CREATE TEMPORARY VIEW customer_account_lists AS
SELECT customer_id, event_time,
       LISTAGG(CAST(account_id AS STRING), ',') OVER (PARTITION BY customer_id ORDER BY event_time
                                                       ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS account_ids
FROM new_accounts""",
        """CREATE TEMPORARY VIEW customer_accounts AS
SELECT customer_id, account_ids, event_time FROM (
  SELECT *, ROW_NUMBER() OVER (PARTITION BY customer_id ORDER BY event_time DESC) AS n
  FROM customer_account_lists)
WHERE n = 1""",
        """CREATE TEMPORARY VIEW customer_logins AS
SELECT `after`.`customer_id` AS customer_id, CASE WHEN `after`.`success` THEN 0 ELSE 1 END AS failed, event_time
FROM logins_cdc WHERE op = 'c'""",
        f"""CREATE TEMPORARY VIEW account_events AS
SELECT {_row('t.account_id', 'a.customer_id', 't.event_time', payment='t.payment', amount_cents='t.amount_cents',
             declined='t.declined', reversed='t.reversed')}
FROM tx_changes AS t JOIN accounts_changelog FOR SYSTEM_TIME AS OF t.event_time AS a
  ON t.account_id = a.account_id
UNION ALL
SELECT {_row('`after`.`account_id`', '`after`.`customer_id`', 'event_time',
             balance_change_cents='(`after`.`balance` - `before`.`balance`) * 100')}
FROM accounts_cdc WHERE op = 'u'
UNION ALL
SELECT {_row('CAST(owned.account_id AS BIGINT)', 'l.customer_id', 'l.event_time', login='1', failed_login='l.failed')}
FROM customer_logins AS l JOIN customer_accounts FOR SYSTEM_TIME AS OF l.event_time AS c
  ON l.customer_id = c.customer_id
CROSS JOIN UNNEST(SPLIT(c.account_ids, ',')) AS owned(account_id)""",
    ]
