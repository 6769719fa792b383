"""Batch backfill of the analytics side: the system of record's past, as Parquet on S3, for Druid batch ingestion."""
