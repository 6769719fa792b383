"""The dashboard and report questions the query benchmark asks, in each engine's SQL.

Every engine answers the same question over the same payments: Druid's
`transactions` and `disputes` (signed facts: SUM of the signed counts and
cents is the current truth) or, for questions over days and months,
`transactions_daily` (the same facts rolled up to a day, without the ids);
Postgres's base tables; the legacy `reporting` materialized views where
they can answer it; DuckDB over the Parquet history export (money as int64
`<column>_cents` there, numeric(18,2) in Postgres).
Each query returns its money or count as the last column, so the
benchmark can check the engines agree (rows and that column's total) before
it times anything: a fast wrong answer does not count.

Placeholders: {day} (one UTC day), {day_end}, {month_ago} (30 days before
{day_end}), {as_of} (the end of the history: dispute ages are counted to it,
not to the wall clock, so every engine counts the same ages).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Question:
    name: str
    asks: str  # the dashboard or report question, as its users put it
    druid: str
    postgres: str
    duckdb: str
    reporting: str | None = None  # the legacy view's answer, where one exists


_AGE = "CASE WHEN {age} <= 30 THEN '0-30' WHEN {age} <= 60 THEN '31-60' WHEN {age} <= 90 THEN '61-90' ELSE '90+' END"

QUESTIONS: tuple[Question, ...] = (
    Question(
        "minute_volume", "payments per minute over one day (Transactions dashboard)",
        druid="""SELECT TIME_FLOOR(__time, 'PT1M') AS "minute", SUM(tx_count) AS payments FROM "transactions"
                 WHERE __time >= TIMESTAMP '{day}' AND __time < TIMESTAMP '{day_end}' GROUP BY 1""",
        postgres="""SELECT date_trunc('minute', created_at) AS minute, count(*) AS payments FROM transactions
                    WHERE created_at >= '{day}+00' AND created_at < '{day_end}+00' GROUP BY 1""",
        duckdb="""SELECT date_trunc('minute', created_at) AS minute, count(*) AS payments FROM transactions
                  WHERE created_at >= TIMESTAMPTZ '{day}+00' AND created_at < TIMESTAMPTZ '{day_end}+00' GROUP BY 1""",
    ),
    Question(
        "top_merchants_day", "the 10 merchants with the most settled money in one day, per currency (Transactions)",
        druid="""SELECT merchant_id, currency, SUM(amount_cents) AS cents FROM "transactions"
                 WHERE __time >= TIMESTAMP '{day}' AND __time < TIMESTAMP '{day_end}' AND status = 'settled'
                 GROUP BY 1, 2 ORDER BY 3 DESC LIMIT 10""",
        postgres="""SELECT merchant_id, currency, sum(amount) * 100 AS cents FROM transactions
                    WHERE created_at >= '{day}+00' AND created_at < '{day_end}+00' AND status = 'settled'
                    GROUP BY 1, 2 ORDER BY 3 DESC LIMIT 10""",
        duckdb="""SELECT merchant_id, currency, sum(amount_cents) AS cents FROM transactions
                  WHERE created_at >= TIMESTAMPTZ '{day}+00' AND created_at < TIMESTAMPTZ '{day_end}+00'
                  AND status = 'settled' GROUP BY 1, 2 ORDER BY 3 DESC LIMIT 10""",
        reporting="""SELECT merchant_id, currency, settled_total * 100 AS cents FROM reporting.daily_merchant_summary
                     WHERE day = '{day}' AND settled_count > 0 ORDER BY 3 DESC LIMIT 10""",
    ),
    Question(
        "declines_by_country", "declined payments per country over the last 30 days (Fraud Operations)",
        druid="""SELECT country, SUM(tx_count) AS declines FROM "transactions_daily"
                 WHERE __time >= TIMESTAMP '{month_ago}' AND __time < TIMESTAMP '{day_end}' AND status = 'declined'
                 GROUP BY 1""",
        postgres="""SELECT country, count(*) AS declines FROM transactions
                    WHERE created_at >= '{month_ago}+00' AND created_at < '{day_end}+00' AND status = 'declined'
                    GROUP BY 1""",
        duckdb="""SELECT country, count(*) AS declines FROM transactions
                  WHERE created_at >= TIMESTAMPTZ '{month_ago}+00' AND created_at < TIMESTAMPTZ '{day_end}+00'
                  AND status = 'declined' GROUP BY 1""",
    ),
    Question(
        "daily_totals_currency", "settled money per day and currency over the whole history (Finance, CFO report)",
        druid="""SELECT TIME_FLOOR(__time, 'P1D') AS "day", currency, SUM(amount_cents) AS cents
                 FROM "transactions_daily" WHERE status = 'settled' GROUP BY 1, 2""",
        postgres="""SELECT (created_at AT TIME ZONE 'UTC')::date AS day, currency, sum(amount) * 100 AS cents
                    FROM transactions WHERE status = 'settled' GROUP BY 1, 2""",
        duckdb="""SELECT CAST(timezone('UTC', created_at) AS DATE) AS day, currency, sum(amount_cents) AS cents
                  FROM transactions WHERE status = 'settled' GROUP BY 1, 2""",
        reporting="""SELECT day, currency, (debit_total + credit_total) * 100 AS cents
                     FROM reporting.daily_currency_totals WHERE settled_count > 0""",
    ),
    Question(
        "dispute_ageing", "open disputes and their money by age bucket and reason (Finance: chargeback exposure)",
        druid=f"""SELECT {_AGE.format(age="TIMESTAMPDIFF(DAY, __time, TIMESTAMP '{as_of}')")} AS age, reason,
                  SUM(amount_cents) AS cents FROM "disputes" WHERE status = 'open' GROUP BY 1, 2""",
        postgres=f"""SELECT {_AGE.format(age="floor(extract(epoch FROM '{as_of}+00'::timestamptz - opened_at) / 86400)")}
                     AS age, reason, sum(amount) * 100 AS cents FROM disputes WHERE status = 'open' GROUP BY 1, 2""",
        duckdb=f"""SELECT {_AGE.format(age="floor(epoch(TIMESTAMPTZ '{as_of}+00' - opened_at) / 86400)")} AS age,
                   reason, sum(amount_cents) AS cents FROM disputes WHERE status = 'open' GROUP BY 1, 2""",
    ),
)


def render(sql: str, values: dict[str, str]) -> str:
    return " ".join(sql.format(**values).split())
