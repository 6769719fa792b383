"""Batch backfill of the analytics side: the system of record's past on S3 (Parquet, or JSON signed facts as of a
WAL position), for Druid batch ingestion (pipeline/druid/backfill.py)."""
