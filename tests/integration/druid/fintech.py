"""The fintech system of record with a CDC reader on it, as the Druid tests start it."""

from __future__ import annotations

import psycopg

from pipeline.sor import schema
from pipeline.workload import seed as seeding


def start(pg, cdc_reader, druid, *, customers: int, merchants: int, seed: int):
    """Schema, reference data, an exactly-once reader streaming it; `druid` reads that reader's topics."""
    schema.apply(pg)
    with psycopg.connect(pg.dsn()) as conn:
        seeding.seed(conn, customers=customers, merchants=merchants, seed=seed)
    reader = cdc_reader(pg, delivery="exactly-once").start(timeout_s=180)
    druid.with_topic_prefix(reader.prefix)
    return reader
