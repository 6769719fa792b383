"""Fraud scenarios as scripted change streams, shared by the fraud job's tests.

Times are seconds after T0 (commit time = created_at, so nothing looks
back-loaded). A scenario's transaction ids are `account * 100 + 1, 2, ...`,
so the alert it should raise can be written down in the test as a literal.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from pipeline.cdc.scripted import ChangeScript, iso

T0 = datetime(2030, 1, 1, tzinfo=timezone.utc)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def account_row(account: int, last_active: datetime, balance: str = "1000.00") -> dict:
    """An accounts row; its owner is customer `account + 1000`."""
    return {"account_id": account, "customer_id": account + 1000, "currency": "USD", "status": "active",
            "balance": balance, "last_activity_at": iso(last_active)}


class Scenarios:
    def __init__(self, script: ChangeScript, partition: int | None = None) -> None:
        """partition: write every payment there instead of its account's partition. Written in time
        order, one partition gives the job one watermark that never passes a payment still to come;
        across partitions, one read late (counted idle while the job starts) can find the watermark
        already past its payments, and the patterns drop them as late."""
        self.script = script
        self.partition = partition

    def pay(self, tx_id: int, account: int, amount: str, seconds: float, channel: str = "card_present",
            country: str = "US", merchant: int = 500) -> None:
        """A new payment; cards are `account * 10`, transfers have no card or merchant."""
        card = None if channel == "transfer" else account * 10
        self.script.insert("transactions", {
            "transaction_id": tx_id, "account_id": account, "card_id": card,
            "merchant_id": None if channel == "transfer" else merchant, "amount": amount, "currency": "USD",
            "direction": "debit", "channel": channel, "country": country, "status": "pending",
            "created_at": iso(at(seconds))}, at(seconds), partition=self.partition)

    def probes(self, account: int, count: int, seconds: float) -> None:
        """Card testing's first half: `count` online charges of 1.00, 10 s apart from `seconds`
        (tx ids account*100 + 1..count)."""
        for i in range(count):
            self.pay(account * 100 + 1 + i, account, "1.00", seconds + 10 * i, channel="ecommerce")

    def large_charge(self, tx_id: int, account: int, seconds: float) -> None:
        """Card testing's second half: 800.00 online on the probed card."""
        self.pay(tx_id, account, "800.00", seconds, channel="ecommerce")

    def burst(self, account: int, count: int, seconds: float, every_s: float = 1) -> None:
        """`count` 50.00 payments, `every_s` apart from `seconds` (tx ids account*100 + 1..count)."""
        for i in range(count):
            self.pay(account * 100 + 1 + i, account, "50.00", seconds + every_s * i)

    def settle(self, account: int, last_active: datetime, balance_before: str, balance_after: str,
               seconds: float) -> int:
        """The settlement's account update: balance moves, last activity becomes now. Returns its LSN."""
        return self.script.update("accounts", account_row(account, last_active, balance_before),
                                  account_row(account, at(seconds), balance_after), at(seconds))

    def login(self, login_id: int, customer: int, device: str, seconds: float, op: str = "c") -> None:
        row = {"login_id": login_id, "customer_id": customer, "device_id": device, "ip": "23.45.1.1",
               "country": "US", "success": True, "created_at": iso(at(seconds))}
        (self.script.insert if op == "c" else self.script.snapshot)("logins", row, at(seconds))
