"""The generator's choices are a pure function of (seed, writer): no database needed to check that."""

from pipeline.config import PostgresConfig
from pipeline.workload.generator import WorkloadSpec, Writer
from pipeline.workload.model import Account, Merchant
from pipeline.workload.scenarios import BUILDERS

ACCOUNTS = [Account(i, i, "USD", "US", (10 * i, 10 * i + 1), dormant=(i % 10 == 0)) for i in range(1, 41)]
MERCHANTS = {
    "US": [Merchant(1, "5411", "US"), Merchant(2, "5812", "US")],
    "JP": [Merchant(3, "5411", "JP")], "GB": [Merchant(4, "5411", "GB")], "AU": [Merchant(5, "5411", "AU")],
    "DE": [Merchant(6, "5411", "DE")], "BR": [Merchant(7, "5411", "BR")], "FR": [Merchant(8, "5411", "FR")],
    "CH": [Merchant(9, "5411", "CH")],
    "online": [Merchant(1, "5411", "US"), Merchant(3, "5411", "JP")],
    "high_risk": [Merchant(10, "7995", "US")],
}


def _choices(seed: int, n: int = 300) -> list:
    writer = Writer(0, WorkloadSpec(seed=seed), PostgresConfig(), ACCOUNTS, MERCHANTS)
    made = []
    for i in range(n):
        kind = i % 3
        made.append(writer._payment() if kind == 0 else writer._login() if kind == 1 else writer._scenario())
    return made


def test_same_seed_same_operations():
    assert _choices(7) == _choices(7)


def test_other_seed_other_operations():
    assert _choices(7) != _choices(8)


def test_every_scenario_has_a_builder_and_labels_its_account():
    writer = Writer(0, WorkloadSpec(seed=1), PostgresConfig(), ACCOUNTS, MERCHANTS)
    for name, build in BUILDERS.items():
        scenario = build(writer.rng, ACCOUNTS[1], MERCHANTS)
        assert scenario.name == name and scenario.steps
        assert all(getattr(s, "account_id", ACCOUNTS[1].account_id) == ACCOUNTS[1].account_id for s in scenario.steps)
