"""What the generator works with: the accounts and merchants it loaded, and the operations it performs."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal


@dataclass(frozen=True)
class Account:
    account_id: int
    customer_id: int
    currency: str
    country: str
    card_ids: tuple[int, ...]
    dormant: bool


@dataclass(frozen=True)
class Merchant:
    merchant_id: int
    mcc: str
    country: str


@dataclass(frozen=True)
class Payment:
    account_id: int
    card_id: int | None
    merchant_id: int | None
    amount: Decimal
    currency: str
    channel: str  # card_present | ecommerce | transfer | atm
    country: str
    direction: str = "debit"
    outcome: str = "settled"  # what the processor will decide: settled | declined


@dataclass(frozen=True)
class Login:
    customer_id: int
    device_id: str
    ip: str
    country: str
    success: bool = True


@dataclass
class Scenario:
    """An injected fraud pattern: its steps, and the label that records it as ground truth."""

    name: str
    account: Account
    steps: list[Payment | Login]
    detail: dict = field(default_factory=dict)
