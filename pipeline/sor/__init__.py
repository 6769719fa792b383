"""The fintech system of record: the OLTP schema our platform tails (not part of the pipeline itself)."""
