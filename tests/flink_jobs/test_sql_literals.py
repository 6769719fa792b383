from decimal import Decimal

import pytest

from flink_jobs import sql


@pytest.mark.parametrize("seconds, literal", [
    (45, "INTERVAL '45' SECOND"), (600, "INTERVAL '10' MINUTE"), (5400, "INTERVAL '90' MINUTE"),
    (3600, "INTERVAL '1' HOUR"), (90 * 86400, "INTERVAL '90' DAY"), (120 * 86400, "INTERVAL '120' DAY(3)"),
    (100, "INTERVAL '100' SECOND(3)"),
])
def test_interval_uses_the_largest_whole_unit(seconds, literal):
    assert sql.interval(seconds) == literal


def test_money_and_strings_are_exact_literals():
    assert sql.money(Decimal("2.1")) == "CAST('2.10' AS DECIMAL(18, 2))"
    assert sql.string("it's") == "'it''s'"
