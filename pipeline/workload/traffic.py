"""What ordinary customers do, drawn from an rng: the traffic mix shared by the live writers and the history.

Both generators call these functions, so a payment in the 14-month history and
one written live a second ago have the same shape (channels, amounts, decline
and reversal odds), and money moves through the ledger by the same rule.
"""

from __future__ import annotations

import random
from decimal import Decimal

from pipeline.workload import reference as ref
from pipeline.workload.model import Account, Login, Merchant, Payment

REVERSAL_SHARE = 0.01  # of settled payments
DISPUTE_SHARE = 0.003  # of operations (live) / of settled card debits (history)
LOGIN_SHARE = 0.12  # of operations
DECLINE_SHARE = 0.04  # the processor's own declines, before any balance check
DISPUTE_REASONS = ("fraud", "not_received", "duplicate", "other")


def draw_payment(rng: random.Random, account: Account, merchants: dict[str, list[Merchant]]) -> Payment:
    channel = rng.choices(("card_present", "ecommerce", "transfer", "atm"), (0.55, 0.3, 0.1, 0.05))[0]
    card = rng.choice(account.card_ids) if channel in ("card_present", "ecommerce", "atm") else None
    local = merchants.get(account.country) or merchants["online"]
    merchant = rng.choice(local if channel == "card_present" else merchants["online"]).merchant_id
    amount = Decimal(f"{min(rng.lognormvariate(3.3, 1.0), 5000):.2f}") + Decimal("0.01")
    direction = "credit" if channel == "transfer" and rng.random() < 0.4 else "debit"
    outcome = "declined" if rng.random() < DECLINE_SHARE else "settled"
    return Payment(account.account_id, card, merchant if channel != "transfer" else None, amount,
                   account.currency, channel, account.country, direction, outcome)


def draw_login(rng: random.Random, account: Account) -> Login:
    _, _, prefix = ref.COUNTRIES[account.country]
    return Login(account.customer_id, f"dev-{account.customer_id}-{rng.randint(0, 1)}",
                 f"{prefix}.{rng.randint(1, 254)}.{rng.randint(1, 254)}", account.country, rng.random() > 0.03)


def ledger_amount(payment: Payment, *, reversal: bool = False) -> Decimal:
    """The signed balance change a settled payment (or its reversal) posts to the ledger."""
    signed = payment.amount if payment.direction == "credit" else -payment.amount
    return -signed if reversal else signed
