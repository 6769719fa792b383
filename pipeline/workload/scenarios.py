"""The six fraud patterns the rules must catch, as sequences of ordinary operations.

Each builder returns a Scenario whose steps the writer performs back to back
and whose label goes to ground_truth.fraud_labels. Amounts are in the
account's currency; the shapes (counts, sizes, countries) are what a rule
would key on.
"""

from __future__ import annotations

import random
from decimal import Decimal

from pipeline.workload import reference as ref
from pipeline.workload.model import Account, Login, Merchant, Payment, Scenario


def _money(rng: random.Random, low: float, high: float) -> Decimal:
    return Decimal(f"{rng.uniform(low, high):.2f}")


def _card(rng: random.Random, account: Account) -> int:
    return rng.choice(account.card_ids)


def card_testing(rng, account: Account, merchants: dict[str, list[Merchant]]) -> Scenario:
    card = _card(rng, account)
    probes = [Payment(account.account_id, card, rng.choice(merchants["online"]).merchant_id, _money(rng, 0.5, 2.0),
                      account.currency, "ecommerce", account.country, outcome=rng.choice(("settled", "declined")))
              for _ in range(rng.randint(6, 10))]
    big = Payment(account.account_id, card, rng.choice(merchants["online"]).merchant_id, _money(rng, 600, 2500),
                  account.currency, "ecommerce", account.country)
    return Scenario("card_testing", account, [*probes, big], {"card_id": card, "probes": len(probes)})


def velocity_spike(rng, account: Account, merchants: dict[str, list[Merchant]]) -> Scenario:
    card = _card(rng, account)
    steps = [Payment(account.account_id, card, rng.choice(merchants[account.country]).merchant_id, _money(rng, 20, 150),
                     account.currency, "card_present", account.country) for _ in range(rng.randint(15, 22))]
    return Scenario("velocity_spike", account, steps, {"count": len(steps)})


def impossible_travel(rng, account: Account, merchants: dict[str, list[Merchant]]) -> Scenario:
    here, there = rng.choice([pair for pair in ref.FAR_APART if pair[0] in merchants and pair[1] in merchants])
    card = _card(rng, account)
    steps = [Payment(account.account_id, card, rng.choice(merchants[country]).merchant_id, _money(rng, 30, 300),
                     account.currency, "card_present", country) for country in (here, there)]
    return Scenario("impossible_travel", account, steps, {"countries": [here, there]})


def new_device_large_transfer(rng, account: Account, merchants: dict[str, list[Merchant]]) -> Scenario:
    device = f"dev-new-{rng.getrandbits(48):012x}"
    _, _, prefix = ref.COUNTRIES[account.country]
    login = Login(account.customer_id, device, f"{prefix}.{rng.randint(1, 254)}.{rng.randint(1, 254)}", account.country)
    transfer = Payment(account.account_id, None, None, _money(rng, 2500, 9000), account.currency, "transfer",
                       account.country)
    return Scenario("new_device_large_transfer", account, [login, transfer], {"device_id": device})


def mcc_anomaly(rng, account: Account, merchants: dict[str, list[Merchant]]) -> Scenario:
    merchant = rng.choice(merchants["high_risk"])
    step = Payment(account.account_id, _card(rng, account), merchant.merchant_id, _money(rng, 800, 4000),
                   account.currency, "ecommerce", account.country)
    return Scenario("mcc_anomaly", account, [step], {"mcc": merchant.mcc})


def dormant_reactivation(rng, account: Account, merchants: dict[str, list[Merchant]]) -> Scenario:
    steps = [Payment(account.account_id, _card(rng, account), rng.choice(merchants["online"]).merchant_id,
                     _money(rng, 300, 1500), account.currency, "ecommerce", account.country) for _ in range(2)]
    return Scenario("dormant_reactivation", account, steps, {})


BUILDERS = {
    "card_testing": card_testing,
    "velocity_spike": velocity_spike,
    "impossible_travel": impossible_travel,
    "new_device_large_transfer": new_device_large_transfer,
    "mcc_anomaly": mcc_anomaly,
    "dormant_reactivation": dormant_reactivation,
}
