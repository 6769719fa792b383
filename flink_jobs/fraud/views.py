"""The event streams the fraud patterns read, as Flink SQL views.

- `payments`: one row per new transaction (op "c"), at its commit time. Rules
  look at a payment when it is made; the later settle/decline updates do not
  make it a new payment. Rows created more than BACKDATED before their commit
  are back-loaded history (the seed's opening deposits, `cdc-olap history`
  COPYs), not payments happening now, and are left out.
- `login_devices`: every login with `device_seen`, how many times this
  customer's device has been seen so far (1 = first time). Snapshot rows
  (op "r", the logins before the reader started) count as seen but never alert.
- `account_activity`: each account update that moved its last activity to
  now: the activity before (from `before`), the debit (balance before - after,
  in the account's currency, which the row carries).
- `payments_with_account` / `payments_with_merchant`: each payment with the
  account (owner, last activity) or merchant (category) as they were at the
  payment's commit, through event-time temporal joins on the versioned
  changelogs. A payment is held until both sides' watermarks pass it, which is
  what makes "as they were" exact (to the millisecond of the commit timestamps).
"""

from __future__ import annotations

from flink_jobs import sql
from flink_jobs.sources import after_fields

BACKDATED_S = 3600

_PAYMENT = after_fields("transactions", {"transaction_id": "tx_id"})
_PAYMENT_COLUMNS = ("p.tx_id, p.account_id, p.card_id, p.merchant_id, p.amount, p.currency, p.direction, "
                    "p.channel, p.country, p.event_time")


def statements() -> list[str]:
    return [
        f"""CREATE TEMPORARY VIEW payments AS
SELECT {_PAYMENT}, `source`.`lsn` AS lsn, event_time FROM transactions_cdc
WHERE op = 'c' AND `after`.`created_at` >= event_time - {sql.interval(BACKDATED_S)}""",
        f"""CREATE TEMPORARY VIEW login_devices AS
SELECT login_id, customer_id, device_id, country, success, op, event_time,
       COUNT(*) OVER (PARTITION BY customer_id, device_id ORDER BY event_time
                      ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS device_seen
FROM (SELECT {after_fields("logins")}, op, event_time FROM logins_cdc WHERE op IN ('c', 'r'))""",
        f"""CREATE TEMPORARY VIEW account_activity AS
SELECT `after`.`account_id` AS account_id, `before`.`last_activity_at` AS last_active_before,
       `before`.`balance` - `after`.`balance` AS debit, `after`.`balance` AS balance_after, `after`.`currency` AS currency,
       `source`.`lsn` AS lsn, event_time
FROM accounts_cdc
WHERE op = 'u' AND `after`.`last_activity_at` > `before`.`last_activity_at`
  AND `after`.`last_activity_at` >= event_time - {sql.interval(BACKDATED_S)}""",
        f"""CREATE TEMPORARY VIEW payments_with_account AS
SELECT {_PAYMENT_COLUMNS}, a.customer_id
FROM payments AS p JOIN accounts_changelog FOR SYSTEM_TIME AS OF p.event_time AS a
  ON p.account_id = a.account_id""",
        f"""CREATE TEMPORARY VIEW payments_with_merchant AS
SELECT {_PAYMENT_COLUMNS}, m.mcc
FROM payments AS p JOIN merchants_changelog FOR SYSTEM_TIME AS OF p.event_time AS m
  ON p.merchant_id = m.merchant_id""",
    ]
