-- The legacy reporting layer: what the old nightly ETL built for the finance reports.
-- Materialized views over the system of record, refreshed by `cdc-olap reporting refresh`.
-- Conventions the legacy reports rely on (the shadow comparator must reproduce them):
--   * days are UTC calendar days of transactions.created_at;
--   * only status = 'settled' counts as volume; 'reversed' is excluded entirely (it nets to zero),
--     'declined' is counted separately, 'pending' is ignored;
--   * amounts stay in their own currency (no FX), NUMERIC to the cent.
CREATE SCHEMA IF NOT EXISTS reporting;

CREATE MATERIALIZED VIEW IF NOT EXISTS reporting.daily_currency_totals AS
SELECT (created_at AT TIME ZONE 'UTC')::date                                   AS day,
       currency,
       COUNT(*) FILTER (WHERE status = 'settled')                              AS settled_count,
       COALESCE(SUM(amount) FILTER (WHERE status = 'settled' AND direction = 'debit'), 0)  AS debit_total,
       COALESCE(SUM(amount) FILTER (WHERE status = 'settled' AND direction = 'credit'), 0) AS credit_total,
       COUNT(*) FILTER (WHERE status = 'declined')                             AS declined_count,
       COUNT(*) FILTER (WHERE status = 'reversed')                             AS reversed_count
FROM transactions
GROUP BY 1, 2
WITH NO DATA;
CREATE UNIQUE INDEX IF NOT EXISTS daily_currency_totals_key ON reporting.daily_currency_totals (day, currency);

CREATE MATERIALIZED VIEW IF NOT EXISTS reporting.daily_account_summary AS
SELECT (t.created_at AT TIME ZONE 'UTC')::date                                 AS day,
       t.account_id,
       t.currency,
       COUNT(*) FILTER (WHERE t.status = 'settled')                            AS settled_count,
       COALESCE(SUM(t.amount) FILTER (WHERE t.status = 'settled' AND t.direction = 'debit'), 0)  AS debit_total,
       COALESCE(SUM(t.amount) FILTER (WHERE t.status = 'settled' AND t.direction = 'credit'), 0) AS credit_total,
       COUNT(*) FILTER (WHERE t.status = 'declined')                           AS declined_count
FROM transactions t
GROUP BY 1, 2, 3
WITH NO DATA;
CREATE UNIQUE INDEX IF NOT EXISTS daily_account_summary_key ON reporting.daily_account_summary (day, account_id);

CREATE MATERIALIZED VIEW IF NOT EXISTS reporting.daily_merchant_summary AS
SELECT (t.created_at AT TIME ZONE 'UTC')::date                                 AS day,
       t.merchant_id,
       m.mcc,
       t.currency,
       COUNT(*) FILTER (WHERE t.status = 'settled')                            AS settled_count,
       COALESCE(SUM(t.amount) FILTER (WHERE t.status = 'settled'), 0)          AS settled_total,
       COUNT(DISTINCT d.dispute_id)                                            AS disputes_opened
FROM transactions t
JOIN merchants m USING (merchant_id)
LEFT JOIN disputes d ON d.transaction_id = t.transaction_id
GROUP BY 1, 2, 3, 4
WITH NO DATA;
CREATE UNIQUE INDEX IF NOT EXISTS daily_merchant_summary_key
    ON reporting.daily_merchant_summary (day, merchant_id, currency);
