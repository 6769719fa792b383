"""One writer step as one SQL statement: the new row plus the settlement of an older payment.

A step used to be five statements and a commit, each waiting for the last. As
data-modifying CTEs of a single autocommitted statement, the parts still commit
together (one transaction per step, as CDC should see it) but cost one message
and one commit. Parts: the new row (`payment` or `login`, parameters `n_*`),
and the settlement (`status` only, for a decline; `post`, for status + balance +
ledger entry; parameters `s_*`). A reversal touches the same rows again, which
one statement cannot do, so it is a second `post` statement in the same transaction.
"""

from __future__ import annotations

from functools import cache

_NEW = {
    "payment": "INSERT INTO transactions (transaction_id, account_id, card_id, merchant_id, amount, currency,"
               " direction, channel, country) VALUES (%(n_id)s, %(n_account)s, %(n_card)s, %(n_merchant)s,"
               " %(n_amount)s, %(n_currency)s, %(n_direction)s, %(n_channel)s, %(n_country)s)",
    "login": "INSERT INTO logins (login_id, customer_id, device_id, ip, country, success)"
             " VALUES (%(n_id)s, %(n_customer)s, %(n_device)s, %(n_ip)s, %(n_country)s, %(n_success)s)",
}
_STATUS = "UPDATE transactions SET status = %(s_status)s, updated_at = now() WHERE transaction_id = %(s_tx)s"
_MOVE = ("UPDATE accounts SET balance = balance + %(s_amount)s, last_activity_at = now()"
         " WHERE account_id = %(s_account)s RETURNING balance")
_LEDGER = ("INSERT INTO ledger_entries (account_id, transaction_id, amount, balance_after)"
           " SELECT %(s_account)s, %(s_tx)s, %(s_amount)s, balance FROM moved")


@cache
def step(new: str | None, settle: str | None) -> str:
    """The statement for a step with a new row of kind `new` and a settlement of kind `settle` (either may be None)."""
    if settle not in (None, "status", "post"):
        raise ValueError(f"unknown settlement kind {settle!r}")
    parts = [("new", _NEW[new])] if new else []
    if settle:
        parts.append(("status", _STATUS))
    if settle == "post":
        parts += [("moved", _MOVE), ("ledger", _LEDGER)]
    if not parts:
        raise ValueError("a step needs a new row or a settlement")
    *ctes, (_, main) = parts
    if not ctes:
        return main
    return "WITH " + ", ".join(f"{name} AS ({sql})" for name, sql in ctes) + " " + main
