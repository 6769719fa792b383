"""The health job's inputs, as Flink SQL views: account events and the owners' logins.

`account_events` has one row per thing that happens to an account, at its
commit time, with the account, its owner, the currency of its money and a
0/1 (or cents) column per account input: a payment made, a transaction that became declined or
reversed, a balance change. These rows are what triggers a `change` row, and
both kinds of row sum them.

Logins belong to a customer, not an account: `customer_logins` has one row
per login (1) and failed login (0/1) with the customer. The job joins them
to an account by its owner, per window for the schedule rows and through a
per-customer OVER window for the change rows (job.py); a login itself does
not make a change row. Every view filters rows by `op`, so the CDC reader's
watermark records ("m") move the watermarks but never become rows.
"""

from __future__ import annotations

from flink_jobs import sql
from flink_jobs.fraud.views import BACKDATED_S

# The per-event columns of account_events, in order, after account_id and customer_id.
EVENT_COLUMNS = ("payment", "amount_cents", "declined", "reversed", "balance_change_cents")
# The per-login columns of customer_logins, after customer_id.
LOGIN_COLUMNS = ("login", "failed_login")


def _became(status: str) -> str:
    """1 when the change makes the transaction `status` (inserted so, or updated to it), else 0."""
    return (f"CASE WHEN `after`.`status` = '{status}' AND (op = 'c' OR `before`.`status` IS DISTINCT FROM "
            f"'{status}') THEN 1 ELSE 0 END")


def _row(account: str, customer: str, currency: str, event_time: str, **values: str) -> str:
    """A SELECT list in account_events' column order; inputs not given are 0."""
    unknown = set(values) - set(EVENT_COLUMNS)
    if unknown:
        raise ValueError(f"not an account event column: {', '.join(sorted(unknown))}")
    columns = [f"CAST({values.get(name, '0')} AS BIGINT) AS {name}" for name in EVENT_COLUMNS]
    return ", ".join([f"{account} AS account_id", f"{customer} AS customer_id", f"{currency} AS currency", *columns,
                      f"{event_time} AS event_time"])


def statements() -> list[str]:
    is_payment = f"op = 'c' AND `after`.`created_at` >= event_time - {sql.interval(BACKDATED_S)}"
    return [
        f"""CREATE TEMPORARY VIEW tx_changes AS
SELECT `after`.`account_id` AS account_id, CASE WHEN {is_payment} THEN 1 ELSE 0 END AS payment,
       CASE WHEN {is_payment} THEN CAST(`after`.`amount` * 100 AS BIGINT) ELSE 0 END AS amount_cents,
       {_became('declined')} AS declined, {_became('reversed')} AS reversed, `after`.`currency` AS currency, event_time
FROM transactions_cdc WHERE op IN ('c', 'u')""",
        f"""CREATE TEMPORARY VIEW account_events AS
SELECT {_row('t.account_id', 'a.customer_id', 't.currency', 't.event_time', payment='t.payment', amount_cents='t.amount_cents',
             declined='t.declined', reversed='t.reversed')}
FROM tx_changes AS t JOIN accounts_changelog FOR SYSTEM_TIME AS OF t.event_time AS a
  ON t.account_id = a.account_id
UNION ALL
SELECT {_row('`after`.`account_id`', '`after`.`customer_id`', '`after`.`currency`', 'event_time',
             balance_change_cents='(`after`.`balance` - `before`.`balance`) * 100')}
FROM accounts_cdc WHERE op = 'u'""",
        """CREATE TEMPORARY VIEW customer_logins AS
SELECT `after`.`customer_id` AS customer_id, CAST(1 AS BIGINT) AS login,
       CAST(CASE WHEN `after`.`success` THEN 0 ELSE 1 END AS BIGINT) AS failed_login, event_time
FROM logins_cdc WHERE op = 'c'""",
    ]
