"""cdc-olap: change-data-capture analytics for a fintech's Postgres."""
